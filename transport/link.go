package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"
)

// errTimeout is an internal wait that ran past its bound; callers turn it
// into an error wrapping ErrNoResponse with what the board printed last.
var errTimeout = errors.New("timed out")

// errLost marks a read or write failure of the byte stream; Board turns it
// into a *LinkError wrapping ErrLinkLost.
type errLost struct{ err error }

func (e *errLost) Error() string { return fmt.Sprintf("%v: %v", ErrLinkLost, e.err) }
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

// link is one open byte stream to a board and what was learnt about the
// board over it. Only the reader goroutine reads rwc; everything else is
// done by the operation holding the Board's lock (Close excepted, which
// only closes).
type link struct {
	rwc     io.ReadWriteCloser
	timeout time.Duration

	data      chan []byte   // chunks read by the reader goroutine
	done      chan struct{} // closed when the reader goroutine exits
	rerr      error         // why it exited; valid once done is closed
	quit      chan struct{} // closed by close()
	closeOnce sync.Once

	pend []byte // received but not yet consumed
	tail []byte // the last tailSize bytes received

	// Learnt state, reset with a new link.
	inRaw    bool      // at the raw REPL prompt, in step with us
	paste    pasteMode // raw-paste support
	platform string    // sys.platform
	memFree  int       // gc.mem_free() when the link opened; 0 unknown
	shim     bool      // input() shim installed in this raw-REPL session
	dirty    bool      // the raw line may hold stray bytes (a late answer)
	caps     *fsCaps   // filesystem capabilities, probed on first file op
}

func newLink(rwc io.ReadWriteCloser, timeout time.Duration) *link {
	l := &link{
		rwc:     rwc,
		timeout: timeout,
		data:    make(chan []byte, 16),
		done:    make(chan struct{}),
		quit:    make(chan struct{}),
	}
	go l.readLoop()
	return l
}

// readLoop owns all reads of rwc: a serial Read may block forever, so
// nobody else can wait on it with a deadline. close() unblocks it.
func (l *link) readLoop() {
	defer close(l.done)
	buf := make([]byte, 4096)
	zero := 0
	for {
		n, err := l.rwc.Read(buf)
		if n > 0 {
			zero = 0
			chunk := append([]byte(nil), buf[:n]...)
			select {
			case l.data <- chunk:
			case <-l.quit:
				l.rerr = errors.New("link closed")
				return
			}
			// Let the waiting operation run now on this P rather than
			// after this goroutine is back in its system call: it saves
			// tens of microseconds per exchange.
			runtime.Gosched()
		}
		if err != nil {
			l.rerr = err
			return
		}
		if n == 0 {
			// A serial port with a read timeout returns (0, nil); only
			// back off if a broken reader spins.
			if zero++; zero > 100 {
				time.Sleep(time.Millisecond)
			}
		}
	}
}

// close closes the stream, which ends the reader goroutine.
func (l *link) close() {
	l.closeOnce.Do(func() {
		close(l.quit)
		_ = l.rwc.Close()
	})
}

// dead reports whether the reader has stopped (the link is unusable).
func (l *link) dead() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

func (l *link) lostErr() error {
	err := l.rerr
	if err == nil || err == io.EOF {
		err = errors.New("end of stream (board gone or link closed)")
	}
	return &errLost{err}
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
	return fmt.Sprintf("%q", t)
}

// noResponse builds the error for a wait that ran past its bound.
func (l *link) noResponse(what string) error {
	return fmt.Errorf("%s: no answer within %v (board printed last: %s): %w",
		what, l.timeout, l.lastPrinted(), ErrNoResponse)
}

// discard drops everything received so far that nobody asked for.
func (l *link) discard() {
	l.pend = l.pend[:0]
	for {
		select {
		case c := <-l.data:
			l.got(c)
			l.pend = l.pend[:0]
		default:
			return
		}
	}
}

// wait receives one more chunk into pend. It returns errTimeout at the
// deadline (zero: none), ctx's error, or an *errLost.
func (l *link) wait(ctx context.Context, deadline time.Time) error {
	var tc <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			// Still take what is already there.
			if l.poll() {
				return nil
			}
			return errTimeout
		}
		t := time.NewTimer(d)
		defer t.Stop()
		tc = t.C
	}
	select {
	case c := <-l.data:
		l.got(c)
		return nil
	case <-l.done:
		return l.drainDone()
	case <-tc:
		return errTimeout
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// drainDone is called once the reader has exited: deliver what it left in
// the channel before reporting the loss.
func (l *link) drainDone() error {
	select {
	case c := <-l.data:
		l.got(c)
		return nil
	default:
		return l.lostErr()
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
	for {
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
			l.pend = l.pend[:0]
			return nil
		}
	}
}

// write sends p. A write that does not complete within the timeout (the
// board stopped reading and the buffers filled up) closes the link, so no
// operation hangs in Write.
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
		return &errLost{err}
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

// writePaced sends p in paceChunk pieces, one every paceGap at most. It
// stops early, returning ctx's error, when ctx is done. The wasm port reads
// its input from a pipe, which never drops bytes: it gets p in one write.
func (l *link) writePaced(ctx context.Context, p []byte) error {
	if l.platform == "webassembly" {
		return l.write(p)
	}
	start := time.Now()
	for i := 0; i < len(p); i += paceChunk {
		if i > 0 {
			due := start.Add(time.Duration(i/paceChunk) * paceGap)
			if d := time.Until(due); d > 0 {
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
	}
	return nil
}
