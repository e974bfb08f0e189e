package transport

import (
	"bytes"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// faultConn is a link with faults injected between the engine and a real
// (test) board: its hooks see every write and every read and may change,
// drop, duplicate or delay the bytes, or cut the connection. It keeps the
// underlying link's TimedReader, so the engine reads it as it would the
// real one.
type faultConn struct {
	io.ReadWriteCloser
	tr TimedReader // nil when the underlying link has none

	mu   sync.Mutex
	sent bytes.Buffer // everything written, for hooks that look back
	// onWrite, when set, is given each write and returns what to send
	// instead (nil or empty: drop it). cut makes the write fail as a
	// broken link's would, after the bytes returned were sent.
	onWrite func(c *faultConn, p []byte) (send []byte, cut bool)
	// onRead, when set, sees what each read returned (it may only look).
	onRead func(c *faultConn, p []byte)
	// rewrite, when set, is given what each read returned and returns
	// what the engine gets instead (it may drop, add or hold back bytes);
	// what does not fit the engine's buffer waits in held for its next
	// read.
	rewrite func(c *faultConn, p []byte) []byte
	held    []byte
	cut     bool
	woken   atomic.Bool // see faultTimed
}

func newFaultConn(rwc io.ReadWriteCloser) *faultConn {
	c := &faultConn{ReadWriteCloser: rwc}
	c.tr, _ = rwc.(TimedReader)
	return c
}

// errCut is what reads and writes of a cut faultConn return.
var errCut = io.ErrClosedPipe

func (c *faultConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.cut {
		c.mu.Unlock()
		return 0, errCut
	}
	c.sent.Write(p)
	hook := c.onWrite
	c.mu.Unlock()
	send, cut := p, false
	if hook != nil {
		send, cut = hook(c, p)
	}
	if len(send) > 0 {
		if _, err := c.ReadWriteCloser.Write(send); err != nil {
			return 0, err
		}
	}
	if cut {
		c.cutNow()
		return 0, errCut
	}
	return len(p), nil
}

// cutNow ends the connection as an unplugged cable would: the underlying
// link is closed and every later read and write fails.
func (c *faultConn) cutNow() {
	c.mu.Lock()
	c.cut = true
	c.mu.Unlock()
	_ = c.ReadWriteCloser.Close()
}

func (c *faultConn) isCut() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cut
}

func (c *faultConn) Read(p []byte) (int, error) {
	if c.isCut() {
		return 0, errCut
	}
	if n := c.takeHeld(p); n > 0 {
		return n, nil
	}
	n, err := c.ReadWriteCloser.Read(p)
	n = c.filter(p, n)
	c.seen(p[:n])
	if c.isCut() {
		return n, errCut
	}
	return n, err
}

// takeHeld gives the engine bytes a rewrite held back.
func (c *faultConn) takeHeld(p []byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := copy(p, c.held)
	c.held = c.held[n:]
	return n
}

// filter passes the n bytes a read put in p through rewrite and returns
// how many p holds now.
func (c *faultConn) filter(p []byte, n int) int {
	c.mu.Lock()
	rw := c.rewrite
	c.mu.Unlock()
	if rw == nil || n == 0 {
		return n
	}
	out := rw(c, append([]byte(nil), p[:n]...))
	k := copy(p, out)
	c.mu.Lock()
	c.held = append(c.held, out[k:]...)
	c.mu.Unlock()
	return k
}

func (c *faultConn) seen(p []byte) {
	c.mu.Lock()
	hook := c.onRead
	c.mu.Unlock()
	if hook != nil && len(p) > 0 {
		hook(c, p)
	}
}

// faultTimed is a faultConn over a TimedReader link. It waits in slices
// of a millisecond, so that a Wake (an interrupt) takes effect at once even
// on a link whose own reads wake only every few tens of milliseconds (a
// serial port): a fault's timing is then the test's, not the link's.
type faultTimed struct{ *faultConn }

const faultSlice = time.Millisecond

func (c faultTimed) ReadTimeout(p []byte, d time.Duration) (int, error) {
	end := time.Now().Add(d)
	for {
		if c.isCut() {
			return 0, errCut
		}
		if c.woken.Swap(false) {
			return 0, nil
		}
		if n := c.takeHeld(p); n > 0 {
			return n, nil
		}
		n, err := c.tr.ReadTimeout(p, min(time.Until(end), faultSlice))
		n = c.filter(p, n)
		c.seen(p[:n])
		if c.isCut() {
			return n, errCut
		}
		if n > 0 || err != nil || !time.Now().Before(end) {
			return n, err
		}
	}
}

func (c faultTimed) Wake() { c.woken.Store(true); c.tr.Wake() }

// stream is the faultConn as the engine should see it: a TimedReader when
// the link under it is one.
func (c *faultConn) stream() io.ReadWriteCloser {
	if c.tr != nil {
		return faultTimed{c}
	}
	return c
}

// sentSince returns what was written after the first len(mark) bytes
// recorded at the time mark was taken (see sentLen).
func (c *faultConn) sentTail(n int) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.sent.Bytes()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return append([]byte(nil), b...)
}
