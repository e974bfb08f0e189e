package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/iot-kernel/iot-kernel/transport/internal/inbox"
)

// errTimeout is an internal wait that ran past its bound; callers turn it
// into an error wrapping ErrNoResponse with what the board printed last.
var errTimeout = errors.New("timed out")

// errLost marks a read or write failure of the byte stream; Board turns it
// into a *LinkError wrapping ErrLinkLost.
type errLost struct {
	err     error
	virtual bool // the board is a process the kernel runs: nothing to plug in
}

func (e *errLost) Error() string {
	if e.virtual {
		return fmt.Sprintf("%v: %v (the next cell starts it again: its variables are gone, its files kept)", ErrLinkLost, e.err)
	}
	return fmt.Sprintf("%v: %v (check that the board is plugged in and on; the next cell connects it again)", ErrLinkLost, e.err)
}
func (e *errLost) Unwrap() error { return ErrLinkLost }

// pasteMode is what a link learnt about raw-paste support.
type pasteMode int

const (
	pasteUnknown pasteMode = iota
	pasteYes
	pasteNo
)

// tailSize is how many received bytes a link keeps for error messages.
const tailSize = 160

// forever stands for "no bound" in a read of the link.
const forever = 24 * time.Hour

// link is one open byte stream to a board and what was learnt about the
// board over it. It is read and written by the operation holding the
// Board's lock (Close excepted, which only closes); between operations
// only the idle poller (see idle.go) reads it, and drops what it reads.
type link struct {
	rwc     io.ReadWriteCloser
	rd      TimedReader // rwc itself, or the pump in front of it
	pump    *pump       // nil when rwc is a TimedReader
	timeout time.Duration

	rbuf      []byte
	lost      error // an *errLost once a read failed: the link is unusable
	closeOnce sync.Once

	pend []byte // received but not yet consumed
	tail []byte // the last tailSize bytes received

	// Learnt state, reset with a new link.
	inRaw    bool      // at the raw REPL prompt, in step with us
	paste    pasteMode // raw-paste support
	platform string    // sys.platform
	memFree  int       // gc.mem_free() when the link opened; 0 unknown
	shim     bool      // input() shim and display hook installed in this raw-REPL session
	nonce    string    // the link's part of the value marker (see displayHook)
	// resetSeen tells of a reset the kernel noticed by the board's banner,
	// until an Exec tells the user.
	resetSeen string
	dirty     bool // the raw line may hold stray bytes (a late answer)
	sent      int  // execs whose code went out whole, for Board.op
	// rebooted: the board soft-reset while the last exec waited for it
	// to take the code (see rebootAfterOK).
	rebooted bool
	// dropped is the end of what the last discard dropped, when it showed
	// no reset: a reboot's line may have begun there, and the next exec's
	// answer goes on with it. droppedReset: that discard noticed a reset,
	// whose banner the exec may see the rest of (not a second reset).
	dropped      []byte
	droppedReset bool
	// intrPending: the last exec was interrupted with Ctrl-C and ended
	// otherwise than by KeyboardInterrupt, so the interrupt may still be
	// pending on the board (see run).
	intrPending bool
	caps        *fsCaps // filesystem capabilities, probed on first file op

	// grace is how long the board gets to stop after each Ctrl-C.
	grace time.Duration
	// restartable: an interrupt the board ignores ends in a restart of
	// the board (see Board.restart) rather than a soft reset.
	restartable bool
}

func newLink(rwc io.ReadWriteCloser, timeout time.Duration) *link {
	l := &link{rwc: rwc, timeout: timeout, rbuf: make([]byte, 4096), grace: interruptGrace, nonce: newNonce()}
	if tr, ok := rwc.(TimedReader); ok {
		l.rd = tr
	} else {
		l.pump = startPump(rwc)
		l.rd = l.pump.in
	}
	return l
}

// pump gives a link that cannot bound its reads a reader goroutine, which
// queues what it reads for the engine.
type pump struct {
	in   *inbox.Inbox
	done chan struct{} // closed when the goroutine exits
}

func startPump(r io.Reader) *pump {
	p := &pump{in: inbox.New(), done: make(chan struct{})}
	go p.run(r)
	return p
}

// run reads r until it fails; closing the link ends it.
func (p *pump) run(r io.Reader) {
	defer close(p.done)
	buf := make([]byte, 4096)
	zero := 0
	for {
		n, err := r.Read(buf)
		if n > 0 {
			zero = 0
			if !p.in.Put(buf[:n]) { // Put copies
				return
			}
		}
		if err != nil {
			p.in.Fail(err)
			return
		}
		if n == 0 {
			// Only back off if a broken reader spins on (0, nil).
			if zero++; zero > 100 {
				time.Sleep(time.Millisecond)
			}
		}
	}
}

// close closes the stream; a pump ends with it.
func (l *link) close() {
	l.closeOnce.Do(func() {
		if l.pump != nil {
			l.pump.in.Shut(errors.New("link closed"))
		}
		_ = l.rwc.Close()
	})
}

// stopped is closed once nothing reads the link any more (after close).
func (l *link) stopped() <-chan struct{} {
	if l.pump != nil {
		return l.pump.done
	}
	done := make(chan struct{})
	close(done)
	return done
}

// dead reports whether a read of the link failed.
func (l *link) dead() bool { return l.lost != nil }

// recv reads what the board sent into pend, waiting until deadline at the
// most (zero: without bound). It reports whether bytes came; (false, nil)
// means the wait was woken. It returns errTimeout once the deadline has
// passed with nothing, and an *errLost when the link failed.
func (l *link) recv(deadline time.Time) (bool, error) {
	if l.lost != nil {
		return false, l.lost
	}
	d := forever
	if !deadline.IsZero() {
		d = time.Until(deadline)
	}
	n, err := l.rd.ReadTimeout(l.rbuf, d)
	if err != nil {
		l.fail(err)
	}
	if n > 0 {
		l.got(l.rbuf[:n])
		return true, nil
	}
	if l.lost != nil {
		return false, l.lost
	}
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		return false, errTimeout
	}
	return false, nil
}

// errPollStuck: a poll of the link did not return.
var errPollStuck = errors.New("a poll of the link did not return; link closed")

// fail records that reading the link failed with err; the first failure
// counts.
func (l *link) fail(err error) {
	if l.lost != nil {
		return
	}
	if err == io.EOF {
		err = errors.New("end of stream (board gone or link closed)")
	}
	l.lost = &errLost{err: err}
}

// poll takes what has already arrived into pend, without waiting, and
// reports whether anything did.
func (l *link) poll() bool {
	got, _ := l.recv(time.Now())
	return got
}

func (l *link) got(chunk []byte) {
	l.pend = append(l.pend, chunk...)
	l.tail = append(l.tail, chunk...)
	if len(l.tail) > 2*tailSize {
		l.tail = append(l.tail[:0], l.tail[len(l.tail)-tailSize:]...)
	}
}

// lastPrinted is the end of what the board sent, for error messages.
func (l *link) lastPrinted() string {
	t := l.tail
	if len(t) > tailSize {
		t = t[len(t)-tailSize:]
	}
	if len(t) == 0 {
		return "nothing"
	}
	text := readable(t)
	if text == "" {
		return "only the raw REPL's own bytes"
	}
	return fmt.Sprintf("%q", text)
}

// rawREPLWords are what the raw REPL itself prints: no news to a user.
var rawREPLWords = map[string]bool{"OK": true, ">": true, "OK>": true, ">OK": true,
	"raw REPL; CTRL-B to exit": true, "raw REPL; CTRL-B to exit>": true, ">>>": true}

// ansiSeq matches a terminal's colour and cursor sequences.
var ansiSeq = regexp.MustCompile(`\x1b\[[0-?]*[ -/]*[@-~]`)

// readable is what a user can read of bytes a board printed: its text
// without the raw REPL's own words and control bytes, spaces collapsed.
func readable(b []byte) string {
	s := ansiSeq.ReplaceAllString(strings.ToValidUTF8(string(b), ""), "")
	parts := strings.FieldsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
	var keep []string
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p != "" && !rawREPLWords[p] {
			keep = append(keep, p)
		}
	}
	return strings.Join(strings.Fields(strings.Join(keep, " ")), " ")
}

// noResponse builds the error for a wait that ran past its bound.
func (l *link) noResponse(what string) error { return l.noResponseAfter(what, l.timeout) }

// noResponseAfter is noResponse for a wait bounded by d.
func (l *link) noResponseAfter(what string, d time.Duration) error {
	return withHint(fmt.Errorf("%s: no answer within %v (board printed last: %s): %w",
		what, d, l.lastPrinted(), ErrNoResponse))
}

// discardMax bounds how many reads discard makes, so that a board that
// never stops printing cannot hold an operation there.
const discardMax = 64

// discard drops everything received so far that nobody asked for,
// noticing a reset banner among it.
func (l *link) discard() { l.discardTo(nil) }

// discardTo is discard that passes what it reads on to bg (nil: none),
// the board's output between operations.
func (l *link) discardTo(bg *between) {
	var w resetWatch
	w.see(l.dropped) // a reboot's line may have begun in what was read before
	w.see(l.pend)
	bg.see(l.pend)
	l.pend = l.pend[:0]
	for i := 0; i < discardMax && l.poll(); i++ {
		w.see(l.pend)
		bg.see(l.pend)
		l.pend = l.pend[:0]
	}
	l.noticeReset(w.kind, false)
	l.keepDropped(&w)
}

// keepDropped records, for the next exec, how what w saw dropped ended: a
// reset it showed (whose banner may yet come), or the bytes a reboot's
// line may have begun with.
func (l *link) keepDropped(w *resetWatch) {
	l.dropped = l.dropped[:0]
	if w.kind != noReset {
		l.droppedReset = true
		return
	}
	l.dropped = append(l.dropped, w.tail[max(0, len(w.tail)-len(softRebootLine)):]...)
}

// wait receives more bytes into pend. It returns errTimeout at the
// deadline (zero: none), ctx's cause once ctx is done, or an *errLost.
func (l *link) wait(ctx context.Context, deadline time.Time) error {
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, l.rd.Wake)
		defer stop()
	}
	for {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		got, err := l.recv(deadline)
		if got || err != nil {
			return err
		}
	}
}

// readUntil waits for pat and consumes pend up to and including it,
// returning what came before.
func (l *link) readUntil(ctx context.Context, pat string, deadline time.Time) ([]byte, error) {
	for {
		if i := bytes.Index(l.pend, []byte(pat)); i >= 0 {
			before := append([]byte(nil), l.pend[:i]...)
			l.pend = append(l.pend[:0], l.pend[i+len(pat):]...)
			return before, nil
		}
		if err := l.wait(ctx, deadline); err != nil {
			return nil, err
		}
	}
}

// readN waits for n bytes and consumes them.
func (l *link) readN(ctx context.Context, n int, deadline time.Time) ([]byte, error) {
	for len(l.pend) < n {
		if err := l.wait(ctx, deadline); err != nil {
			return nil, err
		}
	}
	out := append([]byte(nil), l.pend[:n]...)
	l.pend = append(l.pend[:0], l.pend[n:]...)
	return out, nil
}

// drainQuiet discards input until the board has been quiet for quiet, or
// max has passed.
func (l *link) drainQuiet(ctx context.Context, quiet, max time.Duration) error {
	end := time.Now().Add(max)
	// A banner among what is dropped means the helpers on the board are
	// gone (a board reset while it was out of step with the kernel). On a
	// new link (nothing sent yet) a banner is just the board's boot.
	var w resetWatch
	defer func() {
		if l.sent > 0 {
			l.noticeReset(w.kind, false)
		}
	}()
	for {
		w.see(l.pend)
		l.pend = l.pend[:0]
		d := time.Now().Add(quiet)
		if d.After(end) {
			d = end
		}
		err := l.wait(ctx, d)
		if err == errTimeout {
			return nil
		}
		if err != nil {
			return err
		}
		if time.Now().After(end) {
			w.see(l.pend)
			l.pend = l.pend[:0]
			return nil
		}
	}
}

// write sends p. A write that does not complete within the timeout (the
// board stopped reading and the buffers filled up) closes the link, so no
// operation hangs in Write. A write that fails marks the link lost, as a
// failed read does.
func (l *link) write(p []byte) error {
	stalled := false
	var mu sync.Mutex
	t := time.AfterFunc(l.timeout, func() {
		mu.Lock()
		stalled = true
		mu.Unlock()
		l.close()
	})
	_, err := l.rwc.Write(p)
	t.Stop()
	if err != nil {
		mu.Lock()
		s := stalled
		mu.Unlock()
		if s {
			return fmt.Errorf("write stalled for %v (board not reading): %w", l.timeout, ErrNoResponse)
		}
		l.fail(err)
		return l.lost
	}
	return nil
}

// Pacing for the classic raw REPL, which has no flow control: the micro:bit
// has a 64-byte receive buffer and loses bytes when written to at full
// speed (TESTBED). 32 bytes every 2 ms is 16 kB/s, above a 115200 baud
// line, so a real serial link is not slowed down.
const (
	paceChunk = 32
	paceGap   = 2 * time.Millisecond
)

// writePaced sends p in paceChunk pieces, each at least paceGap after the
// one before. The gap counts from when the last piece actually left: a
// process the machine descheduled for a while must not catch up with a
// burst, which is exactly what the board's buffer cannot take. It stops
// early, returning ctx's error, when ctx is done. The wasm port reads its
// input from a pipe, which never drops bytes: it gets p in one write.
func (l *link) writePaced(ctx context.Context, p []byte) error {
	if l.platform == "webassembly" {
		return l.write(p)
	}
	var last time.Time
	for i := 0; i < len(p); i += paceChunk {
		if i > 0 {
			if d := time.Until(last.Add(paceGap)); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return context.Cause(ctx)
				}
			} else if err := ctx.Err(); err != nil {
				return context.Cause(ctx)
			}
		}
		end := min(i+paceChunk, len(p))
		if err := l.write(p[i:end]); err != nil {
			return err
		}
		last = time.Now()
	}
	return nil
}
