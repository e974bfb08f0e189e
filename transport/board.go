package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrClosed is returned by operations on a Board after Close.
var ErrClosed = errors.New("board closed")

// ErrInterrupted is the cause given to an operation's context when
// Interrupt is called.
var ErrInterrupted = errors.New("interrupted")

// ErrReset is wrapped by the errors that report a reset of the board in
// the middle of an operation: reset to stop code that ignored Ctrl-C, or
// by the code itself (machine.reset() on a virtual board). Its Python
// state is gone.
var ErrReset = errors.New("the board was reset")

// resetError is an error that says how the board was reset; it wraps
// ErrReset without repeating it.
type resetError struct{ msg string }

func (e *resetError) Error() string { return e.msg }

func (e *resetError) Unwrap() error { return ErrReset }

// boardResetter is implemented by errors of a link's stream that mean the
// board reset itself (sim.ResetError), not that the link failed.
type boardResetter interface{ BoardReset() bool }

// DefaultTimeout bounds each wait for the board when Options.Timeout is 0.
const DefaultTimeout = 5 * time.Second

// Board runs code on a MicroPython board through its raw REPL. It is safe
// for concurrent use: operations run one at a time, and Interrupt may be
// called while one runs. The link is opened on first use and reopened after
// it is lost.
type Board struct {
	url       string
	dial      Dialer
	resetDial Dialer // opens the link with a hard reset; nil if the link cannot
	// restartable: resetDial is quick and always works (a virtual board's
	// process is restarted), so an interrupt the board ignores ends in it.
	restartable bool
	release     func() error // frees what the dialer holds, on Close; may be nil
	opt         Options
	log         *slog.Logger

	// sem is the operation lock; a channel so that waiting for it
	// honours the caller's context.
	sem chan struct{}

	mu        sync.Mutex // guards the fields below
	ln        *link
	cancel    context.CancelCauseFunc // of the operation in progress
	closed    bool
	idleTimer *time.Timer // starts drain once the link has been idle
	drain     *drain      // reads the link between operations

	// bg passes on what the board prints between operations; nil: it is
	// dropped. Used by the drain, then by the operation that halts it.
	bg *between
}

// New returns a Board for url that opens its link with dial on first use.
// url is only used in messages, and in URL, without any password it holds
// (see SafeURL).
func New(url string, dial Dialer, opt Options) *Board {
	url = SafeURL(url)
	b := &Board{
		url:  url,
		dial: dial,
		opt:  opt,
		log:  opt.logger().With("board", url),
		sem:  make(chan struct{}, 1),
	}
	if opt.Background != nil {
		b.bg = &between{w: opt.Background}
	}
	return b
}

// URL is the board's address as given to New or Open, without any password
// (see SafeURL).
func (b *Board) URL() string { return b.url }

func (b *Board) timeout() time.Duration {
	if b.opt.Timeout > 0 {
		return b.opt.Timeout
	}
	return DefaultTimeout
}

// begin takes the operation lock and returns the context the operation
// runs under (cancelled by Interrupt and Close) and the function that ends
// it.
func (b *Board) begin(ctx context.Context) (context.Context, func(), error) {
	if ctx.Err() != nil {
		return nil, nil, context.Cause(ctx)
	}
	select {
	case b.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("waiting for the board: %w", context.Cause(ctx))
	}
	if d := b.stopIdle(); d != nil {
		d.halt(b.timeout())
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		<-b.sem
		return nil, nil, ErrClosed
	}
	ctx, cancel := context.WithCancelCause(ctx)
	b.cancel = cancel
	b.mu.Unlock()
	return ctx, func() {
		b.mu.Lock()
		b.cancel = nil
		b.idle()
		b.mu.Unlock()
		cancel(nil)
		<-b.sem
	}, nil
}

// op runs fn with the lock held on a link at the raw prompt.
func (b *Board) op(ctx context.Context, fn func(context.Context, *link) error) error {
	ctx, end, err := b.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	l, err := b.ensure(ctx)
	if err != nil {
		return err
	}
	sent := l.sent
	err = fn(ctx, l)
	if b.restartable && l.dead() && l.sent == sent && errors.Is(err, ErrNotSent) && ctx.Err() == nil {
		// The board's program ended before any code of the operation
		// reached it: it died between operations, before a read showed
		// it. ensure starts it again, saying so, and the operation runs
		// there from its start.
		if l, err = b.ensure(ctx); err != nil {
			return err
		}
		err = fn(ctx, l)
	}
	if errors.Is(err, errResetBeforeCode) && l.sent == sent && ctx.Err() == nil {
		// The board reset just before it took the operation's first
		// code: nothing of it ran. Again, once, on the board as it is now
		// (ensure enters its raw REPL again; the reset is told once).
		if l, err = b.ensure(ctx); err != nil {
			return err
		}
		err = fn(ctx, l)
	}
	var wedged *wedgedError
	if errors.As(err, &wedged) {
		// Nothing of the operation ran: restart the board and run it
		// there, saying so once.
		if l, err = b.revive(ctx, l, wedged.err); err != nil {
			return err
		}
		l.resetSeen = "The virtual board did not answer (still running earlier code?), so it was restarted: its variables are gone, its files kept."
		err = fn(ctx, l)
	}
	if errors.Is(err, errRestart) {
		rerr := b.restart(ctx, l)
		var wf WriteFailure
		if errors.As(err, &wf) {
			// The upload said what it left on the board: keep that.
			return &restartedWrite{rerr, wf}
		}
		return rerr
	}
	return b.fail(l, err)
}

// restartedWrite is a restart that ended an upload: the restart is the
// error, and what the upload left on the board is told with it.
type restartedWrite struct {
	restart error
	write   WriteFailure
}

func (e *restartedWrite) Error() string { return e.restart.Error() + "; " + e.write.Left() }

// Left says what the upload left on the board.
func (e *restartedWrite) Left() string { return e.write.Left() }

// Unwrap gives the restart's error (the upload's holds an internal cause).
func (e *restartedWrite) Unwrap() error { return e.restart }

// wedgedError is a restartable board that did not answer the kernel's own
// code sent before an operation's: the operation has not started, and
// can run on the board restarted.
type wedgedError struct{ err error }

func (e *wedgedError) Error() string { return e.err.Error() }
func (e *wedgedError) Unwrap() error { return e.err }

// restart ends an interrupt the board ignored on a restartable link: the
// link is closed (which kills the board's process) and opened again, the
// board booted afresh with its files. The lock is held.
func (b *Board) restart(ctx context.Context, l *link) error {
	b.drop(l)
	if errors.Is(context.Cause(ctx), ErrClosed) {
		return ErrClosed // closing: no need for a board again
	}
	b.log.Info("the board ignored Ctrl-C: restarting it")
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.timeout())
	defer cancel()
	rwc, err := b.resetDial(rctx)
	if err == nil {
		if _, err = b.adopt(rwc); err == nil {
			_, err = b.ensure(rctx)
		}
	}
	if err != nil {
		b.log.Warn("restart after an ignored Ctrl-C failed", "err", err)
		return &resetError{fmt.Sprintf("the board ignored Ctrl-C, so it was hard-reset, but it did not come back yet (%v): its variables are gone; the next cell tries again", err)}
	}
	return &resetError{"the board ignored Ctrl-C, so it was hard-reset (restarted, its files kept): its variables are gone"}
}

// restartWedged restarts a restartable board that does not answer at all
// (a busy loop left running, which never reads its input), so that the
// next operation finds it booted afresh. It reports what happened.
func (b *Board) restartWedged(ctx context.Context, l *link, cause error) error {
	if _, err := b.revive(ctx, l, cause); err != nil {
		return err
	}
	return &resetError{"the board did not answer (still running earlier code?), so it was hard-reset (restarted, its files kept): its variables are gone; run the cell again"}
}

// revive restarts a restartable board that does not answer and returns
// its new link at the raw prompt.
func (b *Board) revive(ctx context.Context, l *link, cause error) (*link, error) {
	b.log.Warn("the board does not answer: restarting it", "err", cause)
	b.drop(l)
	// The dial, the raw REPL's entry and the probe are each bounded by the
	// timeout: one bound for all three would end the entry by the context
	// just before its own bound says what failed.
	rctx, cancel := context.WithTimeout(ctx, 3*b.timeout())
	defer cancel()
	rwc, err := b.resetDial(rctx)
	if err != nil {
		return nil, &LinkError{URL: b.url, Err: fmt.Errorf("the board did not answer, and restarting it failed: %w", err)}
	}
	if l, err = b.adopt(rwc); err != nil {
		return nil, err
	}
	if err := l.enterRaw(rctx); err != nil {
		return nil, b.fail(l, fmt.Errorf("the board did not answer, and not after a hard reset either: %w", err))
	}
	if err := b.probe(rctx, l); err != nil {
		return nil, b.fail(l, fmt.Errorf("the board did not answer, and not after a hard reset either: %w", err))
	}
	return l, nil
}

// ensure returns the link, dialled and at the raw prompt.
func (b *Board) ensure(ctx context.Context) (*link, error) {
	b.mu.Lock()
	l := b.ln
	b.mu.Unlock()
	var died error // the link that died between operations: why
	if l != nil {
		// Take what the board sent between operations; that read also
		// shows a link that died meanwhile, which is then reopened.
		l.discardTo(b.bg)
		b.bg.end()
		if l.dead() {
			died = l.lost
			b.drop(l)
			l = nil
		}
	}
	if l == nil {
		rwc, err := b.dial(ctx)
		if err != nil {
			return nil, &LinkError{URL: b.url, Err: err} // a dial's error says what failed
		}
		if l, err = b.adopt(rwc); err != nil {
			return nil, err
		}
		b.log.Debug("link opened")
		if died != nil && b.restartable {
			// A virtual board's new link is a new process: say so
			// once, as for a reset.
			why := died
			if lost, ok := died.(*errLost); ok {
				why = lost.err
			}
			l.resetSeen = fmt.Sprintf("Since the last cell, %v; it was started again: its variables are gone, its files kept.", why)
		}
	}
	if !l.inRaw {
		if err := l.enterRaw(ctx); err != nil {
			if l.restartable && errors.Is(err, ErrNoResponse) && ctx.Err() == nil {
				return nil, b.restartWedged(ctx, l, err)
			}
			return nil, b.fail(l, err)
		}
		// Also after re-entering: the probe's exec takes any interrupt
		// left pending by the Ctrl-C.
		if err := b.probe(ctx, l); err != nil {
			return nil, b.fail(l, err)
		}
	}
	return l, nil
}

// probe learns the board's platform and free RAM on a new link. It runs in
// the classic raw REPL; whether the board has raw-paste is learnt by the
// first exec that asks (the wasm boards answer for themselves: the test
// board has none, the virtual board may). A board that entered the raw
// REPL but does not answer, or a link lost meanwhile, is an error; any
// other failure leaves the platform unknown.
func (b *Board) probe(ctx context.Context, l *link) error {
	var out bytes.Buffer
	var err error
	for try := 0; try < 2; try++ {
		// A second try absorbs a KeyboardInterrupt left pending on the
		// board by the Ctrl-C that entered the raw REPL (seen on the
		// micro:bit, whose 1.9.2 firmware raises it in the next exec).
		out.Reset()
		err = l.run(ctx, execReq{code: []byte("print(__import__('sys').platform,__import__('gc').mem_free())"), stdout: &out, classic: true, kernel: true})
		var be *BoardError
		if !errors.As(err, &be) || be.Name != "KeyboardInterrupt" {
			break
		}
	}
	if err != nil && ctx.Err() != nil {
		// Stopped during the probe: probe again, from the raw REPL's
		// entry, next time, or every helper is built for no platform.
		l.inRaw = false
		return &notSentError{"interrupted before the code started: " + context.Cause(ctx).Error(), context.Cause(ctx)}
	}
	f := strings.Fields(out.String())
	if err != nil || len(f) != 2 {
		l.platform = "?"
		var lost *errLost
		if errors.Is(err, ErrNoResponse) || errors.As(err, &lost) {
			l.inRaw = false
			return fmt.Errorf("the board entered its raw REPL but did not answer a first command: %w", err)
		}
		b.log.Warn("board probe failed", "err", err, "out", out.String(), "last", l.lastPrinted())
		return nil
	}
	l.platform = f[0]
	l.memFree, _ = strconv.Atoi(f[1])
	return nil
}

// fail turns the engine's errors into the package's: a lost link becomes a
// *LinkError wrapping ErrLinkLost and is dropped, so the next operation
// redials.
func (b *Board) fail(l *link, err error) error {
	if err == nil {
		return nil
	}
	var lost *errLost
	var reset boardResetter
	switch {
	case errors.As(err, &lost) && errors.As(lost.err, &reset) && reset.BoardReset():
		// The board reset itself (machine.reset()); the next operation
		// reaches it booted afresh.
		b.drop(l)
		return &LinkError{URL: b.url, Err: &resetError{reset.(error).Error() + ": its variables are gone, its files kept"}}
	case errors.As(err, &lost):
		b.drop(l)
		if b.restartable && !lost.virtual {
			err = &errLost{err: lost.err, virtual: true}
		}
		return &LinkError{URL: b.url, Err: err}
	case errors.Is(err, ErrNoResponse):
		if l.dead() {
			b.drop(l)
		}
		return &LinkError{URL: b.url, Err: err}
	}
	return err
}

// adopt makes a newly dialled stream the board's link, unless the board
// was closed meanwhile.
func (b *Board) adopt(rwc io.ReadWriteCloser) (*link, error) {
	l := newLink(rwc, b.timeout())
	if b.restartable {
		l.restartable, l.grace = true, restartGrace
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		l.close()
		return nil, ErrClosed
	}
	b.ln = l
	return l, nil
}

// drop forgets a link that is gone.
func (b *Board) drop(l *link) {
	l.close()
	b.mu.Lock()
	if b.ln == l {
		b.ln = nil
	}
	b.mu.Unlock()
	b.log.Debug("link dropped")
}

// Exec runs code on the board, streaming its output to opt.Stdout. An
// exception raised by the code comes back as a *BoardError. Cancelling ctx
// interrupts the code (Ctrl-C); Exec then returns the board's
// KeyboardInterrupt, or an error saying how the board was stopped. The
// code goes to the board in one exchange, its value (opt.Result) included.
func (b *Board) Exec(ctx context.Context, code string, opt ExecOptions) error {
	if err := rawSendable(code); err != nil {
		return err
	}
	return b.op(ctx, func(ctx context.Context, l *link) error {
		tellReset(l, opt.Reset)
		if err := l.installHelpers(ctx, opt.Input != nil || opt.Result != nil); err != nil {
			return err
		}
		err := l.run(ctx, execReq{code: []byte(code), stdout: opt.Stdout, input: opt.Input, value: opt.Result, reset: opt.Reset})
		if l.restartable && errors.Is(err, ErrNotSent) && errors.Is(err, ErrNoResponse) && ctx.Err() == nil {
			return &wedgedError{err} // the code never went: op restarts the board and runs it
		}
		tellReset(l, opt.Reset)
		var be *BoardError
		if opt.Result != nil && errors.As(err, &be) && be.Name == "NameError" && strings.Contains(be.Value, DisplayHook) {
			l.shim = false // installed again by the next Exec
			if l.rebooted {
				return &resetError{"the board ran the cell after that reset, without the kernel's display hook: its value was not shown; run the cell again if it did not run in full"}
			}
			// Gone from the board behind the kernel's back (a reset whose
			// banner never came).
			return &resetError{"the kernel's display hook was gone from the board (was it reset?); it is installed again with the next cell: run the cell again"}
		}
		return err
	})
}

// installHelpers installs the kernel's helpers (input() and the display
// hook) when the code needs them and the board does not have them.
func (l *link) installHelpers(ctx context.Context, need bool) error {
	if !need || l.shim {
		return nil
	}
	if err := l.run(ctx, execReq{code: []byte(kernelHelpers(l.platform, l.nonce)), kernel: true}); err != nil {
		if l.restartable && errors.Is(err, ErrNoResponse) && ctx.Err() == nil {
			return &wedgedError{err} // before the cell's code: op restarts the board and runs it
		}
		return fmt.Errorf("installing input() and the display hook: %w", err)
	}
	l.shim = true
	return nil
}

// rawCommands names the bytes that the raw REPL reads as commands while it
// receives code (Ctrl-A resets it, Ctrl-B leaves it, Ctrl-C drops what
// came, Ctrl-D ends the code): code holding one would be cut or lost.
var rawCommands = [...]string{1: "Ctrl-A", 2: "Ctrl-B", 3: "Ctrl-C", 4: "Ctrl-D"}

// rawSendable refuses code the raw REPL cannot receive as it is.
func rawSendable(code string) error {
	i := strings.IndexAny(code, "\x01\x02\x03\x04")
	if i < 0 {
		return nil
	}
	c := code[i]
	return &notSentError{fmt.Sprintf("line %d holds a %s character (byte 0x%02x), which the board's raw REPL takes as a command, so the code cannot be sent: write it as an escape, '\\x%02x', in a string",
		strings.Count(code[:i], "\n")+1, rawCommands[c], c, c), nil}
}

// notSentError is an Exec refused or stopped before its code went out.
type notSentError struct {
	msg   string
	cause error
}

func (e *notSentError) Error() string { return e.msg }

// Unwrap gives ErrNotSent and the cause.
func (e *notSentError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrNotSent}
	}
	return []error{ErrNotSent, e.cause}
}

// tellReset passes on, once, a reset the link noticed.
func tellReset(l *link, tell func(string)) {
	if tell != nil && l.resetSeen != "" {
		tell(l.resetSeen)
		l.resetSeen = ""
	}
}

// DisplayHook is the name of the function on the board that shows a value: it sets _
// as the REPL does and, unless the value is None, prints its repr framed
// by the link's value marker.
const DisplayHook = "_iotv"

// InputHelper is the name of the kernel's input() on the board (see
// kernelHelpers): its frames in a traceback are the kernel's, not the
// user's.
const InputHelper = "_iotin"

// ShowValue returns code that evaluates expr and gives its value to the
// display hook, for ExecOptions.Result. expr is one Python expression,
// possibly over several lines, without a trailing comment; a tuple must be
// in parentheses.
func ShowValue(expr string) string { return DisplayHook + "(" + expr + ")" }

// kernelHelpers returns the code that installs the kernel's helpers on the
// board: the input() shim and the display hook, whose marker carries
// nonce.
//
// The shim replaces input() on the board by one that asks the host: it
// prints inputMarker, the prompt and inputEnd, then reads a line from
// stdin without echo; \x00-\x04 (or end of input) raise EOFError, and
// Ctrl-C works as during any read. It is small, for the micro:bit's RAM.
// The micro:bit has no sys.stdin, so there it reads the UART (the same
// bytes); a board whose stdin cannot be read falls back to its own input()
// (which echoes).
//
// Both go in builtins where they can be set (name lookups find them there
// from any scope), else in the globals.
func kernelHelpers(platform, nonce string) string {
	hook := `def _iotv(v):
 global _
 if v is not None:
  r=repr(v);_=v
  print('` + valueMarkerEsc + nonce + `;'+r+'\x07',end='')
`
	if platform == "microbit" {
		return `def _iotin(p=''):
 from microbit import uart as u
 print('\x1b]iot-input;%s\x07'%p,end='')
 r=bytearray()
 while 1:
  while not u.any():pass
  c=u.read(1)[0]
  if c<5:raise EOFError
  if c in(10,13):return str(r,'utf-8')
  r.append(c)
` + hook + `b=__import__('builtins')
b.input=_iotin
b._iotv=_iotv
del _iotin,_iotv,b
`
	}
	// _iotin0 keeps the board's own input().
	return `def _iotin(p='',s=__import__('sys').stdin):
 print('\x1b]iot-input;%s\x07'%p,end='')
 r=''
 while 1:
  try:c=s.read(1)
  except OSError:return _iotin0()
  if c<'\x05':raise EOFError
  if c in'\r\n':return r
  r+=c
` + hook + `_iotb=__import__('builtins')
try:_iotin0
except NameError:
 try:_iotb._iotin0=input
 except:_iotin0=input
try:_iotb.input=_iotin;_iotb._iotv=_iotv;del _iotv
except:input=_iotin
del _iotin,_iotb
`
}

// Eval evaluates a Python expression on the board and returns its repr().
func (b *Board) Eval(ctx context.Context, expr string) (string, error) {
	if err := rawSendable(expr); err != nil {
		return "", err
	}
	var out bytes.Buffer
	err := b.op(ctx, func(ctx context.Context, l *link) error {
		return l.run(ctx, execReq{code: []byte("print(repr((" + expr + ")))"), stdout: &out})
	})
	if err != nil {
		return "", err
	}
	return strings.TrimRight(out.String(), "\r\n"), nil
}

// Interrupt stops the operation in progress, as cancelling its context
// would (Ctrl-C, escalating to a soft reset). It does not wait for it to
// end. Without an operation in progress it does nothing.
func (b *Board) Interrupt(ctx context.Context) error {
	b.mu.Lock()
	cancel := b.cancel
	b.mu.Unlock()
	if cancel != nil {
		cancel(ErrInterrupted)
	}
	return nil
}

// SoftReset soft-resets the board (Ctrl-D in the raw REPL): its Python
// state is cleared, and boot.py runs again; what it prints (its traceback
// included) goes to bootOut (nil: dropped). It returns at the raw prompt.
// boot.py may take long (30 s of silence, 2 min in all, with the default
// timeout); one that takes longer is interrupted, and that is the error,
// as is a stop (ctx), which interrupts it too.
func (b *Board) SoftReset(ctx context.Context, bootOut io.Writer) error {
	return b.op(ctx, func(ctx context.Context, l *link) error {
		return l.softReset(ctx, bootOut, bootMax*b.timeout())
	})
}

// ErrNoHardReset reports a link that cannot reset the board by its pins.
var ErrNoHardReset = errors.New("this link cannot reset the board by its pins (only a serial port's RTS line can)")

// HardReset resets the board through the serial link's RTS line (the EN pin
// of ESP32 and ESP8266 boards), which works even when the board no longer
// answers, waits for it to boot (and for its USB device to come back), and
// returns at the raw prompt. The board's state is gone, as after a power
// cycle. A link that cannot do it returns an error wrapping ErrNoHardReset;
// when the reset fails, the next operation reopens the link without one.
func (b *Board) HardReset(ctx context.Context) error {
	if b.resetDial == nil {
		return ErrNoHardReset
	}
	ctx, end, err := b.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	b.mu.Lock()
	old := b.ln
	b.mu.Unlock()
	if old != nil {
		// The port is opened exclusively: let go of it first.
		b.drop(old)
	}
	rwc, err := b.resetDial(ctx)
	if err != nil {
		return &LinkError{URL: b.url, Err: err}
	}
	if _, err := b.adopt(rwc); err != nil {
		return err
	}
	b.log.Debug("link reopened with a hard reset")
	_, err = b.ensure(ctx)
	return err
}

// Close interrupts any operation, leaves the board in the friendly REPL
// (Ctrl-B) and closes the link (a virtual board's process ends with it).
// Later operations return ErrClosed.
func (b *Board) Close() (err error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	// Last, once the link is closed: free what the dialer holds.
	defer func() {
		if rerr := b.releaseDialer(); rerr != nil && err == nil {
			err = rerr
		}
	}()
	if b.cancel != nil {
		b.cancel(ErrClosed)
	}
	b.mu.Unlock()

	t := time.NewTimer(b.timeout() + 3*interruptGrace)
	defer t.Stop()
	acquired := false
	select {
	case b.sem <- struct{}{}:
		acquired = true
		defer func() { <-b.sem }()
	case <-t.C:
	}
	if d := b.stopIdle(); d != nil {
		d.halt(time.Second)
	}
	b.mu.Lock()
	l := b.ln
	b.ln = nil
	b.mu.Unlock()
	if l == nil {
		return nil
	}
	if acquired && !l.dead() {
		// \x03 clears the raw line (or stops what runs); Ctrl-B goes to
		// the friendly REPL, which greets with ">>> ".
		l.discard()
		if err := l.write([]byte("\r\x03\x03\x02")); err == nil {
			_, _ = l.readUntil(context.Background(), ">>> ", time.Now().Add(500*time.Millisecond))
		}
	}
	l.close()
	select {
	case <-l.stopped():
	case <-time.After(time.Second):
		b.log.Warn("link reader did not stop after close")
	}
	return nil
}

// releaseDialer frees what the dialer holds (a virtual board's folder).
func (b *Board) releaseDialer() error {
	if b.release == nil {
		return nil
	}
	return b.release()
}
