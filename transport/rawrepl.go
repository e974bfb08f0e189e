package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// The raw REPL protocol is specified in MicroPython's docs/reference/repl.rst.
const (
	// rawGreeting is the raw REPL's first line, printed on entering it
	// and again after a soft reset there.
	rawGreeting = "raw REPL; CTRL-B to exit"
	rawBanner   = rawGreeting + "\r\n>"
	// interruptGrace is how long the board gets to stop after each Ctrl-C.
	interruptGrace = time.Second
	// restartGrace is that for a restartable board: the contract of the
	// virtual board is that Ctrl-C works within 100 ms when it can work
	// at all, and the whole escalation, restart included, takes at most
	// 3 s.
	restartGrace = 400 * time.Millisecond
)

// sharedHint is what to do about a board that does not answer the raw
// REPL's protocol: most often another program, or another link to the same
// board, takes its bytes or drives its REPL.
const sharedHint = "if another program or link uses this board (a terminal, mpremote, an earlier connection to it over another link), close it and try again; else reset the board"

// hintError is err followed by what the user can do about it.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() + "; " + e.hint }

func (e *hintError) Unwrap() error { return e.err }

// withHint adds sharedHint to err, unless it says it already.
func withHint(err error) error {
	var h *hintError
	if errors.As(err, &h) {
		return err
	}
	return &hintError{err, sharedHint}
}

// enterRaw brings the board from whatever it is doing to the raw REPL
// prompt: interrupt (main.py, a running cell, boot noise), drain, Ctrl-A,
// and retry until the banner comes or the timeout passes.
func (l *link) enterRaw(ctx context.Context) error {
	l.inRaw, l.dirty = false, false
	deadline := time.Now().Add(l.timeout)
	for attempt := 0; ; attempt++ {
		if err := l.write([]byte("\r\x03\x03")); err != nil {
			return err
		}
		if err := l.drainQuiet(ctx, 30*time.Millisecond, 500*time.Millisecond); err != nil {
			return err
		}
		if err := l.write([]byte("\r\x01")); err != nil {
			return err
		}
		step := time.Now().Add(time.Second)
		if step.After(deadline) {
			step = deadline
		}
		_, err := l.readUntil(ctx, rawBanner, step)
		if err == nil {
			if attempt > 0 {
				// An earlier Ctrl-A may still be answered: swallow the
				// extra banner now rather than in the next exec.
				if err := l.drainQuiet(ctx, 30*time.Millisecond, 300*time.Millisecond); err != nil {
					return err
				}
			}
			l.inRaw = true
			return nil
		}
		if err != errTimeout {
			return err
		}
		if !time.Now().Before(deadline) {
			return withHint(fmt.Errorf("could not enter the raw REPL within %v (board printed last: %s): %w",
				l.timeout, l.lastPrinted(), ErrNoResponse))
		}
	}
}

// How long a soft reset waits for boot.py, in multiples of the link's
// timeout (30 s and 2 min by default): boot.py may connect to Wi-Fi, in
// silence, or print as it sets things up. The wait ends bootIdle after the
// board last printed, bootMax after the reset at the latest.
const (
	bootIdle = 6
	bootMax  = 24
)

// softReset does Ctrl-D on an empty raw-REPL line and waits until the board
// is back at the raw prompt, passing what it prints as it boots (boot.py's
// output, its traceback included) to out (nil: dropped). boot.py gets
// bootIdle and bootMax, or at most maxBoot when that is shorter; one that
// runs longer is interrupted, and that is the error. A stop (ctx) also
// interrupts boot.py.
func (l *link) softReset(ctx context.Context, out io.Writer, maxBoot time.Duration) error {
	l.discard()
	l.shim = false
	if err := l.write([]byte("\x03\x04")); err != nil {
		return err
	}
	echo := &bootEcho{w: out}
	if _, err := l.readUntil(ctx, "OK", time.Now().Add(l.timeout)); err != nil {
		if err == errTimeout {
			l.inRaw = false
			return l.noResponse("soft reset")
		}
		return l.stoppedInReset(ctx, err, echo)
	}
	// A board prints "soft reboot", maybe boot.py output, then the raw
	// banner again. A board that stays silent after OK (the wasm port does
	// not reboot) is brought back with Ctrl-A.
	if len(l.pend) == 0 {
		err := l.wait(ctx, time.Now().Add(500*time.Millisecond))
		if err == errTimeout {
			return l.enterRaw(ctx)
		}
		if err != nil {
			return l.stoppedInReset(ctx, err, echo)
		}
	}
	idle := min(bootIdle*l.timeout, maxBoot)
	end := time.Now().Add(min(bootMax*l.timeout, maxBoot))
	for {
		if i := bytes.Index(l.pend, []byte(rawBanner)); i >= 0 {
			echo.write(l.pend[:i])
			echo.end()
			l.pend = append(l.pend[:0], l.pend[i+len(rawBanner):]...)
			l.inRaw = true
			return nil
		}
		// Pass on all but what may be the start of the banner.
		if n := len(l.pend) - partialSuffix(l.pend, rawBanner); n > 0 {
			echo.write(l.pend[:n])
			l.pend = append(l.pend[:0], l.pend[n:]...)
		}
		deadline := time.Now().Add(idle)
		if deadline.After(end) {
			deadline = end
		}
		err := l.wait(ctx, deadline)
		if err == errTimeout {
			echo.write(l.pend)
			echo.end()
			l.pend = l.pend[:0]
			why := fmt.Sprintf("printed nothing for %v", idle)
			if !time.Now().Before(end) {
				why = fmt.Sprintf("had not finished %v after the reset", min(bootMax*l.timeout, maxBoot))
			}
			if err := l.enterRaw(context.WithoutCancel(ctx)); err != nil {
				return fmt.Errorf("boot.py %s, and after a Ctrl-C the board did not come back: %w", why, err)
			}
			return fmt.Errorf("boot.py %s, so it was interrupted (Ctrl-C): what it had still to do is not done; check boot.py (a loop that never ends, a wait for something that does not come)", why)
		}
		if err != nil {
			return l.stoppedInReset(ctx, err, echo)
		}
	}
}

// partialSuffix is the length of the longest end of p that begins pat
// (pat itself not in p): bytes that may be the start of pat.
func partialSuffix(p []byte, pat string) int {
	for n := min(len(p), len(pat)-1); n > 0; n-- {
		if bytes.HasPrefix([]byte(pat), p[len(p)-n:]) {
			return n
		}
	}
	return 0
}

// stoppedInReset ends a soft reset that err cut short. A stop interrupts
// boot.py and brings the board to the raw prompt; what it printed by then
// goes to echo (nil: none).
func (l *link) stoppedInReset(ctx context.Context, err error, echo *bootEcho) error {
	if echo != nil {
		// What came before the stop is boot.py's output too.
		for i := 0; i < discardMax && l.poll(); i++ {
		}
		echo.write(l.pend)
		echo.end()
	}
	l.pend = l.pend[:0]
	l.inRaw = false
	cause := context.Cause(ctx)
	if ctx.Err() == nil || errors.Is(cause, ErrClosed) {
		return err // the link failed, or Board.Close takes the board back
	}
	// The reset's own lines are read here, not left for the next
	// operation to take as output between cells.
	if rerr := l.enterRaw(context.WithoutCancel(ctx)); rerr != nil {
		return fmt.Errorf("stopped during the soft reset, and the board did not come back to its prompt: %w", rerr)
	}
	return errors.New("stopped during the soft reset: the board was soft-reset (its variables are gone, its files kept), and its boot.py interrupted")
}

// bootEcho passes on what a board prints as it soft-reboots: what comes
// after its soft reboot line (boot.py's output), NUL bytes dropped (a
// micro:bit may send one before its banner).
type bootEcho struct {
	w     io.Writer // nil: dropped
	head  []byte    // before the soft reboot line: the REPL's own
	begun bool      // the soft reboot line came
}

func (e *bootEcho) write(p []byte) {
	if !e.begun {
		e.head = append(e.head, p...)
		i := bytes.Index(e.head, []byte(softRebootLine))
		if i < 0 {
			return
		}
		p, e.head, e.begun = e.head[i+len(softRebootLine):], nil, true
	}
	p = bytes.ReplaceAll(p, []byte{0}, nil)
	if e.w != nil && len(p) > 0 {
		_, _ = e.w.Write(p)
	}
}

// end passes on what came without a soft reboot line before it, its
// leading newlines left out.
func (e *bootEcho) end() {
	if e.begun || len(e.head) == 0 {
		return
	}
	p := bytes.TrimLeft(bytes.ReplaceAll(e.head, []byte{0}, nil), "\r\n")
	e.head, e.begun = nil, true
	if e.w != nil && len(p) > 0 {
		_, _ = e.w.Write(p)
	}
}

// execReq is one piece of code to run.
type execReq struct {
	code   []byte
	stdout io.Writer
	input  InputFunc
	// value receives the repr the display hook printed, when the code
	// ran to its end; nil: no value is looked for.
	value   func(repr string)
	classic bool // never try raw-paste (used for the link's first probe)
	resent  bool // sent again after a reboot lost it (see errCodeLost)
	// kernel: the code is the kernel's own (the probe, the helpers), which
	// ends at once: its whole answer is bounded by the link's timeout, so
	// that a board whose answer never comes (its bytes taken by another
	// program reading the same port) cannot hold the kernel. A user's
	// code may run as long as it likes.
	kernel bool
	// idle, when set, bounds the wait for each next byte of the answer,
	// for the kernel's own code whose answer can take long as a whole (a
	// file's download, its checksum) but never stops coming for long.
	idle time.Duration
	// reset, when set, is told at once of a reset that came just as the
	// code went (the cell then runs on the rebooted board: the user sees
	// why before its output, or its wait at an input() prompt).
	reset func(note string)
}

// errStuck: the board ignored two Ctrl-C; the caller resets it.
var errStuck = errors.New("board did not stop after Ctrl-C")

// errRestart: the board ignored two Ctrl-C and its link is restartable:
// Board.op restarts it.
var errRestart = errors.New("board did not stop after Ctrl-C; restart it")

// phase of the board's answer to an exec.
type phase int

const (
	phaseOK      phase = iota // classic: waiting for "OK"
	phaseAfterOK              // classic: was that OK a soft reset's? (see rebootAfterOK)
	phaseAck                  // raw-paste: waiting for the \x04 that ends reception
	phaseStdout               // output, until \x04
	phaseStderr               // exception text, until \x04
	phasePrompt               // the ">" that ends it all
	phaseDone
)

// run executes r on a link at the raw prompt and returns the board's
// exception as a *BoardError. Cancelling ctx interrupts the board.
func (l *link) run(ctx context.Context, r execReq) error {
	if ctx.Err() != nil {
		// Stopped already: send nothing. A board that had the code and a
		// Ctrl-C after it would run the code in full (the Ctrl-C reaches
		// it at the prompt), so an operation of many execs, an upload in
		// chunks, would never stop.
		return &notSentError{"interrupted before the code started: " + context.Cause(ctx).Error(), context.Cause(ctx)}
	}
	if l.intrPending {
		// A Ctrl-C that reached the board as the last code ended on its
		// own: old firmware (the micro:bit's) keeps it pending and
		// raises it in the next code. A no-op takes it, so that this
		// code does not get a KeyboardInterrupt nobody asked for.
		l.intrPending = false
		if err := l.run(ctx, execReq{code: []byte("pass"), classic: true, kernel: true}); err != nil {
			var be *BoardError
			if !errors.As(err, &be) || be.Name != "KeyboardInterrupt" {
				return &notSentError{err.Error(), err}
			}
		}
	}
	// Stray bytes were read and dropped when the operation began (see
	// Board.ensure); what is left after the last prompt is dropped here.
	l.pend = l.pend[:0]
	ph := phaseOK
	interrupted := false
	usePaste := !r.classic && l.paste != pasteNo
	if usePaste {
		var err error
		ph, interrupted, err = l.sendRawPaste(ctx, r.code)
		if err != nil {
			return err
		}
		usePaste = l.paste == pasteYes
	}
	if !usePaste {
		if l.memFree > 0 && len(r.code) > l.memFree/2 {
			// The classic raw REPL collects the code in RAM outside any
			// exception handler: a micro:bit that runs out of memory there
			// hangs for good instead of raising MemoryError.
			return &BoardError{Name: "MemoryError", Value: fmt.Sprintf(
				"the code is %d bytes, too large for this board (%d bytes of RAM were free): not sent; split it into smaller cells",
				len(r.code), l.memFree)}
		}
		// \x04 ends the code; a \x03 first clears the raw line when a
		// late input() answer may be on it.
		msg := make([]byte, 0, len(r.code)+2)
		if l.dirty {
			msg = append(msg, 3)
		}
		msg = append(append(msg, r.code...), 4)
		if err := l.writePaced(ctx, msg); err != nil {
			if ctx.Err() != nil {
				// The \x04 was not sent, so nothing runs: clear the line.
				if werr := l.write([]byte{3}); werr != nil {
					return werr
				}
				return &notSentError{"interrupted before the code started: " + err.Error(), err}
			}
			if l.dead() {
				// Without its \x04 the code does not run.
				return &notSentError{err.Error(), err}
			}
			return err
		}
		ph = phaseOK
	}
	l.dirty = false
	l.rebooted = false
	l.sent++
	err := l.follow(ctx, ph, r, interrupted)
	var be *BoardError
	switch {
	case errors.Is(err, errStuck):
		return l.unstick(ctx, r.stdout)
	case l.rebooted && !r.resent && errors.As(err, &be) && be.Name == "SyntaxError":
		// The reboot swallowed the start of the code, and the board
		// compiled the rest; a SyntaxError means none of it ran.
		r.resent, r.classic = true, true
		return l.resend(ctx, r)
	case errors.Is(err, errCodeLost) && !r.resent:
		// The board soft-reset as the code went (see rebootAfterOK) and
		// never took it: send it again, once, after a Ctrl-C that clears
		// what part of it reached the new raw line.
		r.resent, r.classic, l.dirty = true, true, true
		return l.resend(ctx, r)
	case errors.Is(err, errCodeLost):
		l.inRaw = false
		l.resetSeen = "" // told here
		return &resetError{"the board soft-reset twice just as the code was sent (it answered with its reboot banner: a stray Ctrl-D, a watchdog or a timer's machine.soft_reset()), so the code did not run: its variables are gone, its files kept; run it again"}
	}
	return err
}

// resend runs r again, in full, after a reboot lost it; the helpers it
// may call went with the reboot, so they are installed again first.
func (l *link) resend(ctx context.Context, r execReq) error {
	if err := l.installHelpers(ctx, r.input != nil || r.value != nil); err != nil {
		return err // none of r ran: Board.op may run it again
	}
	return l.run(ctx, r)
}

// errResetBeforeCode: the board was reset (its banner came) before it took
// any of the code: Board.op runs the operation again, once, on the board
// as it is now.
var errResetBeforeCode = fmt.Errorf("board reset before the code went: %w", ErrReset)

// errCodeLost: the board soft-reset as the code was sent, and the code did
// not survive the reboot (no "OK" came for it).
var errCodeLost = errors.New("code lost in a reboot")

// unstick is the last step of an interrupt: the board ignored Ctrl-C
// twice, so get back to the raw prompt and soft-reset it; what boot.py
// prints goes to stdout. The user stopped the code: boot.py gets only the
// link's timeout.
func (l *link) unstick(ctx context.Context, stdout io.Writer) error {
	if l.restartable {
		// A virtual board's busy loop never reads its input: a soft reset
		// could not reach it. Restarting it is quick and always works.
		l.inRaw = false
		return errRestart
	}
	bg := context.WithoutCancel(ctx)
	if err := l.enterRaw(bg); err != nil {
		l.inRaw = false
		if errors.Is(err, ErrNoResponse) {
			return fmt.Errorf("the board ignored Ctrl-C and could not be soft-reset (it may need a hard reset; board printed last: %s): %w",
				l.lastPrinted(), ErrNoResponse)
		}
		return err
	}
	if err := l.softReset(bg, stdout, l.timeout); err != nil {
		return fmt.Errorf("the board ignored Ctrl-C; soft reset failed: %w", err)
	}
	return &resetError{"the board ignored Ctrl-C, so it was soft-reset: its variables are gone"}
}

// sendRawPaste sends code in raw-paste mode, with the board's flow
// control. When the board answers that it has no raw-paste, it records
// that (l.paste = pasteNo) and returns so the caller sends classic.
func (l *link) sendRawPaste(ctx context.Context, code []byte) (ph phase, interrupted bool, err error) {
	bg := context.WithoutCancel(ctx)
	req := []byte("\x05A\x01")
	if l.dirty {
		req = []byte("\x03\x05A\x01")
	}
	if err := l.write(req); err != nil {
		return 0, false, &notSentError{err.Error(), err}
	}
	deadline := time.Now().Add(l.timeout)
	answer, err := l.pasteAnswer(bg, deadline)
	if errors.Is(err, errResetBeforeCode) {
		return 0, false, &notSentError{"the board was reset (its banner came) as the code was about to go: none of it ran; run it again", err}
	}
	if err != nil {
		err = l.timeoutOr(err, "raw-paste request")
		if errors.Is(err, ErrNoResponse) {
			// No answer to the request: the code was not sent.
			return 0, false, &notSentError{err.Error(), err}
		}
		return 0, false, err
	}
	switch answer {
	case "R\x01":
		l.paste = pasteYes
	case "R\x00":
		// Understood, not supported. Real firmware then prints a fresh
		// ">" (some emulations do not): the classic exec that follows
		// skips it while it waits for "OK".
		l.paste = pasteNo
		return phaseOK, false, nil
	default:
		// Old firmware: the Ctrl-A reset the raw REPL ("raw REPL; ...").
		l.paste = pasteNo
		return phaseOK, false, nil
	}
	w, err := l.readN(bg, 2, deadline)
	if err != nil {
		return 0, false, l.timeoutOr(err, "raw-paste window")
	}
	window := int(w[0]) | int(w[1])<<8
	if window == 0 {
		l.inRaw = false
		return 0, false, fmt.Errorf("board offered a raw-paste window of 0: %w", ErrNoResponse)
	}
	remain := window
	for sent := 0; sent < len(code); {
		// Take the flow-control bytes that are here; wait for one when
		// the window is used up.
		for {
			if len(l.pend) == 0 {
				if remain > 0 {
					if !l.poll() {
						break
					}
				} else if err := l.wait(ctx, time.Now().Add(l.timeout)); err != nil {
					if ctx.Err() != nil {
						// Interrupt while the board compiles: Ctrl-C ends
						// reception with a KeyboardInterrupt.
						if werr := l.write([]byte{3}); werr != nil {
							return 0, false, werr
						}
						return phaseAck, true, nil
					}
					return 0, false, l.timeoutOr(err, "raw-paste flow control")
				}
				continue
			}
			c := l.pend[0]
			l.pend = l.pend[1:]
			switch c {
			case 1:
				remain += window
			case 4:
				// The board ends reception early (a syntax error):
				// acknowledge, and its answer follows as usual.
				if err := l.write([]byte{4}); err != nil {
					return 0, false, err
				}
				return phaseStdout, false, nil
			default:
				// Output of a callback (a timer printing) while the
				// board waits for code: not part of the protocol. (A
				// callback writing raw \x01 or \x04 bytes would still
				// be taken for flow control; text never contains them.)
			}
		}
		if ctx.Err() != nil {
			if err := l.write([]byte{3}); err != nil {
				return 0, false, err
			}
			return phaseAck, true, nil
		}
		n := min(remain, len(code)-sent)
		if err := l.write(code[sent : sent+n]); err != nil {
			return 0, false, err
		}
		sent += n
		remain -= n
	}
	if err := l.write([]byte{4}); err != nil {
		return 0, false, err
	}
	return phaseAck, false, nil
}

// pasteAnswers are the board's possible answers to the raw-paste request:
// entered, not supported, and (old firmware, whose raw REPL the Ctrl-A
// restarts) the raw banner.
var pasteAnswers = []string{"R\x01", "R\x00", rawBanner}

// pasteAnswer waits for the answer to the raw-paste request and consumes
// it. Bytes before it are dropped: a board may print from a callback (a
// timer) while it waits for input.
func (l *link) pasteAnswer(ctx context.Context, deadline time.Time) (string, error) {
	var w resetWatch
	w.see(l.dropped) // a reboot's line may have begun there
	seen := 0        // how much of pend w has seen
	for {
		w.see(l.pend[seen:])
		seen = len(l.pend)
		if w.kind == hardReset {
			// Its boot banner: the board was reset as the request went,
			// and waits at its friendly REPL. No code went.
			l.noticeReset(hardReset, false)
			l.pend = l.pend[:0] // seen: not to be told again
			return "", errResetBeforeCode
		}
		first, at := "", -1
		for _, a := range pasteAnswers {
			if i := bytes.Index(l.pend, []byte(a)); i >= 0 && (at < 0 || i < at) {
				first, at = a, i
			}
		}
		if at >= 0 {
			if first == rawBanner && w.kind == softReset {
				// Not old firmware's answer: the board soft-reset as the
				// request went, and is back at its raw prompt.
				l.pend = append(l.pend[:0], l.pend[at+len(first):]...)
				l.noticeReset(softReset, false)
				return "", errResetBeforeCode
			}
			l.pend = append(l.pend[:0], l.pend[at+len(first):]...)
			return first, nil
		}
		if bytes.Contains(l.pend, []byte("paste mode; Ctrl-C")) {
			// The board is in the friendly REPL (reset behind our back),
			// whose Ctrl-E is paste mode: fail now, not at the timeout.
			l.inRaw = false
			return "", fmt.Errorf("the board answered the raw-paste request from its friendly REPL (was it reset?; board printed last: %s): %w",
				l.lastPrinted(), ErrNoResponse)
		}
		// Keep only what could still start an answer.
		if keep := len(rawBanner) + len("paste mode; Ctrl-C"); len(l.pend) > keep {
			l.pend = append(l.pend[:0], l.pend[len(l.pend)-keep:]...)
			seen = len(l.pend)
		}
		if err := l.wait(ctx, deadline); err != nil {
			return "", err
		}
	}
}

// timeoutOr turns errTimeout into ErrNoResponse (and marks the link out of
// step with the board); other errors pass.
func (l *link) timeoutOr(err error, what string) error {
	if err == errTimeout {
		l.inRaw = false
		return l.noResponse(what)
	}
	return err
}

type inputResult struct {
	line string
	err  error
}

// follower reads the board's answer to one exec.
type follower struct {
	l       *link
	r       execReq
	out     *outFilter
	ph      phase
	stderr  []byte
	inputCh chan inputResult // set while the user is asked for a line
	stage   int              // Ctrl-C sent so far
	stageDL time.Time        // when to escalate the interrupt
	phaseDL time.Time        // bound for the phases that cannot take long
	// rebooted: the board soft-reset behind our back as the code was sent
	// (an "OK" and its reboot banner came instead of the answer).
	rebooted bool
	after    []byte // what came between the answer's end and the prompt
	// rebootLine: a reboot's line came right after "OK", and no banner
	// within the timeout, so it was taken for the code's output.
	rebootLine bool
	// beforeOK watches what comes before the "OK" that answers the code,
	// which may come in pieces (the first among what the discard before
	// it dropped: link.dropped): a reboot's line among it is a reset as
	// the code went.
	beforeOK resetWatch
	// resetBefore: the discard just before the exec noticed a reset, so
	// a reboot banner that follows is that reset's, told already.
	resetBefore bool
}

// follow reads the board's answer from phase ph on: output streamed to
// r.stdout, input() requests answered, the exception parsed. Cancelling ctx
// sends Ctrl-C, then Ctrl-C again after interruptGrace; if the board is
// still busy after that, follow returns errStuck.
func (l *link) follow(ctx context.Context, ph phase, r execReq, interrupted bool) (res error) {
	f := &follower{l: l, r: r, ph: ph, out: &outFilter{w: r.stdout, markers: l.shim}, resetBefore: l.droppedReset}
	f.beforeOK.see(l.dropped)
	l.dropped, l.droppedReset = l.dropped[:0], false
	if r.value != nil && l.shim {
		f.out.value = []byte(valueMarkerPrefix + l.nonce + ";")
	}
	f.phaseDL = time.Now().Add(l.timeout)
	cancelled := ctx.Done()
	if interrupted {
		f.stage, f.stageDL, cancelled = 1, time.Now().Add(l.grace), nil
	}
	defer func() {
		var be *BoardError
		if f.stage > 0 && !(errors.As(res, &be) && be.Name == "KeyboardInterrupt") {
			// The code ended before the Ctrl-C took: old firmware (the
			// micro:bit's) keeps it pending for the next code (see run).
			l.intrPending = true
		}
	}()
	bg := context.WithoutCancel(ctx)
	if cancelled != nil {
		// An interrupt ends the read in progress at once.
		stop := context.AfterFunc(ctx, l.rd.Wake)
		defer stop()
	}
	for {
		if err := f.consume(); err != nil {
			return err
		}
		if f.ph == phaseDone {
			break
		}
		var err error
		select {
		case res := <-f.inputCh:
			f.inputCh = nil
			if res.err != nil && cancelled != nil && ctx.Err() != nil {
				// The stop abandoned the prompt: Ctrl-C alone ends it. A
				// Ctrl-D answer would wait in the board's input buffer
				// while the Ctrl-C, taken as it arrives, ends input(); the
				// raw prompt would then read it as a soft reset.
				cancelled, l.dirty = nil, true
				f.stage, f.stageDL = 1, time.Now().Add(l.grace)
				err = l.write([]byte{3})
				break
			}
			answer := []byte{4} // EOFError on the board
			if res.err == nil {
				answer = append([]byte(sanitizeLine(res.line)), '\r')
			}
			err = l.writePaced(bg, answer)
		case <-cancelled:
			// Ctrl-C also ends an input() in progress: the answer is
			// abandoned.
			cancelled, f.inputCh, l.dirty = nil, nil, true
			f.stage, f.stageDL = 1, time.Now().Add(l.grace)
			err = l.write([]byte{3})
		default:
			deadline := f.stageDL
			// Once stopped, a file step's answer is the interrupt's to
			// bound (its stages), not the pause bound's.
			pauseBound := f.r.idle == 0 || f.stage == 0
			if !f.phaseDL.IsZero() && pauseBound && (deadline.IsZero() || f.phaseDL.Before(deadline)) {
				deadline = f.phaseDL
			}
			var got bool
			if got, err = l.recv(deadline); err == errTimeout {
				err = f.timedOut()
			} else if got && f.r.idle > 0 && f.ph != phaseOK && f.ph != phaseAck {
				// Once the code runs (the board's "OK" to it keeps its
				// own bound), each byte restarts the pause bound.
				f.phaseDL = time.Now().Add(f.r.idle)
			}
		}
		if err != nil {
			return err
		}
	}
	if len(f.stderr) > 0 {
		return parseTraceback(string(f.stderr))
	}
	if f.out.err == nil && f.out.hasValue {
		r.value(f.out.repr)
	}
	return f.out.err
}

// timedOut handles the deadline: escalate an interrupt, or give up.
func (f *follower) timedOut() error {
	if !f.stageDL.IsZero() && !time.Now().Before(f.stageDL) {
		if f.stage >= 2 {
			return errStuck
		}
		// \r ends a blocking read so that the pending interrupt fires.
		f.stage, f.stageDL = 2, time.Now().Add(f.l.grace)
		return f.l.write([]byte("\r\x03"))
	}
	if f.rebooted && f.ph == phaseOK {
		return errCodeLost // the board is at its raw prompt, without the code
	}
	if f.ph == phaseAfterOK {
		// No banner after the reboot line: the code printed it, and runs
		// (unless the banner still comes: see rebootLine).
		f.ph, f.rebootLine = phaseStdout, true
		f.unbound()
		return nil
	}
	f.l.inRaw = false
	if f.ph == phaseOK || f.ph == phaseAck {
		// The board never took the code, so none of it ran.
		err := f.l.noResponse("waiting for the board to accept the code")
		return &notSentError{err.Error(), err}
	}
	if f.r.idle > 0 {
		return f.l.noResponseAfter("waiting for the end of the board's answer", f.r.idle)
	}
	return f.l.noResponse("waiting for the end of the board's answer")
}

// unbound lifts the bound of the phases that cannot take long once the
// code runs, unless the code is the kernel's own (execReq.kernel), whose
// whole answer stays bounded.
func (f *follower) unbound() {
	switch {
	case f.r.idle > 0:
		f.phaseDL = time.Now().Add(f.r.idle)
	case !f.r.kernel:
		f.phaseDL = time.Time{}
	}
}

// consume processes the received bytes until it needs more.
func (f *follower) consume() error {
	l := f.l
	for f.ph != phaseDone {
		switch f.ph {
		case phaseOK:
			i := bytes.Index(l.pend, []byte("OK"))
			if i >= 0 {
				f.beforeOK.see(l.pend[:i])
			} else {
				f.beforeOK.see(l.pend)
			}
			if i >= 0 && f.beforeOK.kind == softReset {
				l.noticeReset(softReset, false) // before the code came
				f.rebootAsSent()
			}
			if i < 0 && endsInBanner(l.tail) {
				// Reset before it took the code (a watchdog, the
				// button): it waits at its friendly REPL; none ran.
				l.noticeReset(hardReset, false)
				l.pend = l.pend[:0]
				l.sent-- // it never took the code
				return &notSentError{"the board was reset (its banner came) as the code went: none of it ran; run it again", errResetBeforeCode}
			}
			if i < 0 && len(l.pend) > 0 && endsInRawReboot(l.tail) {
				// The board soft-reset (the OK of that reset came before
				// this exec): the code may have been lost in the reboot.
				if !f.resetBefore {
					l.noticeReset(softReset, false)
				}
				f.rebooted, f.phaseDL = true, time.Now().Add(l.timeout)
				f.rebootAsSent()
				l.pend = l.pend[:0]
				return nil
			}
			if i < 0 {
				// Keep a trailing "O" that may start "OK".
				if n := len(l.pend); n > 0 && l.pend[n-1] == 'O' {
					l.pend = append(l.pend[:0], 'O')
				} else {
					l.pend = l.pend[:0]
				}
				return nil
			}
			l.pend = l.pend[i+2:]
			f.ph = phaseAfterOK
			f.unbound()
		case phaseAfterOK:
			switch f.rebootAfterOK() {
			case rebootMaybe:
				return nil
			case rebootNo:
				f.ph = phaseStdout
				f.unbound()
			case rebootYes:
				// That OK was the reset's: ours may still come, if the
				// code survived the reboot in the board's input buffer.
				l.noticeReset(softReset, false)
				f.rebooted = true
				f.rebootAsSent()
				f.ph, f.phaseDL = phaseOK, time.Now().Add(l.timeout)
			}
		case phaseAck:
			i := bytes.IndexByte(l.pend, 4)
			if i < 0 {
				l.pend = l.pend[:0] // \x01 window grants
				return nil
			}
			l.pend = l.pend[i+1:]
			f.ph = phaseStdout
			f.unbound()
		case phaseStdout:
			if f.inputCh != nil {
				if endsInBanner(l.tail) {
					// Reset while input() waited (a watchdog): no answer
					// goes, or the friendly REPL would run it as Python.
					f.inputCh = nil
					return f.resetDuring()
				}
				return nil // the board waits for the answer
			}
			i := bytes.IndexByte(l.pend, 4)
			seg := l.pend
			if i >= 0 {
				seg = l.pend[:i]
			}
			// feed also goes on with bytes it held after an earlier marker.
			prompt, found := f.out.feed(seg)
			l.pend = l.pend[len(seg):]
			if found {
				if err := f.ask(prompt); err != nil {
					return err
				}
				continue
			}
			if i < 0 {
				if f.rebootLine && bytes.HasSuffix(l.tail, []byte(rawBanner)) {
					// A reboot after all, whose boot.py took its time:
					// that OK was the reset's, and ours may still come.
					f.rebootLine = false
					l.noticeReset(softReset, false)
					f.rebooted = true
					f.rebootAsSent()
					f.ph, f.phaseDL = phaseOK, time.Now().Add(l.timeout)
					l.pend = l.pend[:0]
					continue
				}
				if endsInBanner(l.tail) {
					return f.resetDuring()
				}
				return nil
			}
			f.out.flush()
			l.pend = l.pend[1:]
			f.ph = phaseStderr
			if !f.r.kernel && f.r.idle == 0 {
				f.phaseDL = time.Now().Add(l.timeout)
			}
		case phaseStderr:
			i := bytes.IndexByte(l.pend, 4)
			seg := l.pend
			if i >= 0 {
				seg = l.pend[:i]
			}
			f.stderr = append(f.stderr, seg...)
			if !errorReportSoFar(f.stderr) || i >= 0 && !errorReport(f.stderr) {
				// Not the board's error report: the \x04 before it was the
				// program's own output. Back to the output, with it.
				f.backToOutput(append(f.stderr, l.pend[len(seg):]...))
				continue
			}
			if i < 0 {
				l.pend = l.pend[:0]
				return nil
			}
			l.pend = l.pend[i+1:]
			f.ph = phasePrompt
		case phasePrompt:
			if len(f.after) == 0 && len(l.pend) > 0 && l.pend[0] == 4 && !bytes.HasPrefix(f.stderr, []byte(tracebackStart)) {
				// A \x04 where the prompt must be, after no traceback:
				// the first \x04 was the program's, and what followed it
				// was its output too (sys.stdout.write('x\x04')). Back
				// to the output. (After a traceback, the \x04 are in
				// the exception's message.)
				f.backToOutput(append(append(f.stderr, 4), l.pend...)) // with the \x04 that ended it
				continue
			}
			if len(f.stderr) == 0 && len(f.after) == 0 && len(l.pend) > 0 && l.pend[0] != '>' {
				// Two \x04 with nothing between, then not the prompt: if
				// a traceback follows, the first \x04 was the program's
				// (as in sys.stdout.write('x\x04'), then an exception).
				n := min(len(l.pend), len(tracebackStart))
				if string(l.pend[:n]) == tracebackStart[:n] {
					if n < len(tracebackStart) {
						return nil // not decided yet
					}
					f.out.feed([]byte{4})
					f.ph = phaseStderr
					continue
				}
			}
			if !f.prompt() {
				return nil
			}
			f.ph = phaseDone
		}
	}
	return nil
}

// resetAsSentNote is what the user is told of a soft reset that came just
// as a cell's code went to the board. It is true whether the board then
// runs what it kept of the code or the kernel sends the code again.
const resetAsSentNote = "The board soft-reset just as the cell was sent (a Ctrl-D from elsewhere, a watchdog or a timer's machine.soft_reset()): its variables are gone, its files kept. The cell runs on the board as it is after the reboot, which may have dropped part of it: check its output; if it prints an input() prompt and no input box comes, stop it and run it again."

// rebootAsSent records a soft reset noticed before the board took the
// code, and tells the user of it at once, as one that came as the code
// went, when the exec can tell. The watch starts afresh: a later OK is
// not that reset's.
func (f *follower) rebootAsSent() {
	l := f.l
	l.rebooted = true
	f.beforeOK = resetWatch{}
	if f.r.reset == nil || l.resetSeen == "" {
		return
	}
	l.resetSeen = ""
	f.r.reset(resetAsSentNote)
}

// backToOutput goes back to the output after a \x04 that turned out to be
// the program's: it is output, and rest (what came after it) is read
// again as output.
func (f *follower) backToOutput(rest []byte) {
	f.l.pend = append(f.l.pend[:0], rest...)
	f.stderr = nil
	f.out.feed([]byte{4})
	f.ph = phaseStdout
	f.unbound()
}

// tracebackStart begins the board's report of an exception, after the
// \x04 that ends the output; an exception without a traceback is just its
// line, exceptionLine.
const tracebackStart = "Traceback (most recent call last):"

var exceptionLine = regexp.MustCompile(`^[\p{L}_][\p{L}\p{N}_.]*(?::(?: |$)|$)`)

// errorReportSoFar reports whether b, what came after the \x04 that seems
// to end the output, can be the start of the board's error report: empty,
// a traceback, or an exception's line. Anything else shows that the \x04
// was printed by the program (a byte of binary data, say).
func errorReportSoFar(b []byte) bool {
	n := min(len(b), len(tracebackStart))
	return string(b[:n]) == tracebackStart[:n] || exceptionLine.Match(b)
}

// errorReport reports whether b, all that came between the two \x04, can
// be an error report: empty, or a traceback or an exception's line. Its
// end is not checked: an exception's message may hold a \x04 itself.
func errorReport(b []byte) bool {
	return len(b) == 0 || bytes.HasPrefix(b, []byte(tracebackStart)) || exceptionHead.Match(b)
}

var exceptionHead = regexp.MustCompile(`^[\p{L}_][\p{L}\p{N}_.]*:`)

// What a board that soft-resets in its raw REPL prints after the "OK" of
// the Ctrl-D that reset it, before its raw banner.
var rebootLines = [][]byte{[]byte("\r\n" + softRebootLine), []byte("\r\nMPY: " + softRebootLine)}

type rebootAnswer int

const (
	rebootNo rebootAnswer = iota
	rebootMaybe
	rebootYes
)

// endsInRawReboot reports whether what the board sent ends in a soft
// reboot's line and the raw REPL's banner.
func endsInRawReboot(tail []byte) bool {
	if !bytes.HasSuffix(tail, []byte(rawBanner)) {
		return false
	}
	i := len(tail) - len(rawBanner)
	return bytes.Contains(tail[max(0, i-len(softRebootLine)-8):i], []byte(softRebootLine))
}

// rebootAfterOK tells an "OK" that answers our code from one that answers
// a stray Ctrl-D (a byte doubled on the line, a board's own reset): the
// latter is followed by the reboot line and the raw banner, which it then
// consumes. Output that only starts like the reboot line (print() of an
// empty line) is held until it differs, which costs no wait: the bytes
// that settle it are the code's own next output or its end.
func (f *follower) rebootAfterOK() rebootAnswer {
	l := f.l
	for _, line := range rebootLines {
		n := min(len(l.pend), len(line))
		if !bytes.Equal(l.pend[:n], line[:n]) {
			continue
		}
		if n < len(line) {
			return rebootMaybe
		}
		i := bytes.Index(l.pend, []byte(rawBanner))
		if j := bytes.IndexByte(l.pend, 4); j >= 0 && (i < 0 || j < i) {
			return rebootNo // the output ended first: the code printed that line
		}
		if i < 0 {
			if f.phaseDL.IsZero() {
				f.phaseDL = time.Now().Add(l.timeout) // the banner comes at once
			}
			return rebootMaybe
		}
		l.pend = append(l.pend[:0], l.pend[i+len(rawBanner):]...)
		return rebootYes
	}
	return rebootNo
}

// resetDuring ends an exec whose board printed its boot banner while the
// code ran: it was reset (the reset button, a watchdog, machine.reset()),
// and it waits at its friendly REPL.
func (f *follower) resetDuring() error {
	f.out.flush()
	f.l.pend = f.l.pend[:0]
	f.l.shim, f.l.inRaw = false, false
	return &resetError{"the board was reset while the code ran (it printed its boot banner: the reset button, a watchdog or machine.reset()): its variables are gone, its files kept"}
}

// prompt consumes the raw REPL's ">" that ends an answer, and reports
// whether it came. Before it, where nothing else ever comes, a board that
// soft-resets at the end of the code (SystemExit on MicroPython 1.27, as
// on an ESP32) prints "soft reboot", boot.py's output and the banner of
// the REPL it returns to: the kernel's helpers on the board are gone.
func (f *follower) prompt() bool {
	l := f.l
	if len(f.after) == 0 && len(l.pend) > 0 && l.pend[0] == '>' {
		l.pend = l.pend[1:]
		return true
	}
	f.after = append(f.after, l.pend...)
	l.pend = l.pend[:0]
	switch {
	case bytes.Contains(f.after, []byte(rawBanner)):
		i := bytes.Index(f.after, []byte(rawBanner)) + len(rawBanner)
		l.pend = append(l.pend, f.after[i:]...)
		l.noticeReset(softReset, true)
		return true
	case bytes.Contains(f.after, []byte(friendlyPrompt)):
		// Back at the friendly REPL: enter the raw one again next time.
		i := bytes.Index(f.after, []byte(friendlyPrompt)) + len(friendlyPrompt)
		l.pend = append(l.pend, f.after[i:]...)
		l.noticeReset(hardReset, true)
		return true
	case bytes.Contains(f.after, []byte(softRebootLine)):
		return false // rebooting; its prompt follows (phaseDL bounds the wait)
	}
	i := bytes.IndexByte(f.after, '>')
	if i < 0 {
		return false
	}
	l.pend = append(l.pend, f.after[i+1:]...)
	return true
}

// ask answers an input() request from the board's shim.
func (f *follower) ask(prompt string) error {
	switch {
	case f.stage > 0:
		// Interrupted already: no answer (EOFError) so the board stops.
		return f.l.write([]byte{4})
	case f.r.input == nil:
		// Nobody can answer: the shim raises EOFError.
		return f.l.write([]byte{4})
	}
	f.l.dirty = true // an answer may arrive after the code ended
	ch := make(chan inputResult, 1)
	f.inputCh = ch
	go func(in InputFunc, wake func()) {
		s, err := in(prompt)
		ch <- inputResult{s, err}
		wake() // the exec may be waiting for the board's bytes
	}(f.r.input, f.l.rd.Wake)
	return nil
}

// sanitizeLine keeps one line of input without the control characters that
// the board's shim or REPL would act on.
func sanitizeLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' {
			return -1
		}
		return r
	}, s)
}
