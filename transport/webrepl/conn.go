package webrepl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iot-kernel/iot-kernel/transport/internal/inbox"
	"github.com/iot-kernel/iot-kernel/transport/internal/ws"
)

// Frame sizes. The board reads a frame's payload as a stream, never the
// whole frame at once (extmod/modwebsocket.c; modwebrepl.c writes file data
// through a 512-byte buffer), so a frame's size costs it no RAM; it takes
// 16-bit frame lengths only (it asserts on 64-bit ones), so frames stay
// below 64 KB. REPL input goes in 1 KB text frames, as webrepl_cli.py sends
// it. File data goes in 16 KB binary frames: every frame costs the client a
// masking key, a header and a flush, which with 1 KB frames was about 40%
// of a 64 KB PUT on a local link. 16 KB still reports progress about once
// a second on a 20 KB/s WebREPL.
const (
	maxFrame     = 1024
	putFrame     = 16 << 10
	closeTimeout = time.Second // for the board to answer our close frame
)

// Conn is a logged-in WebREPL session. It is an io.ReadWriteCloser of REPL
// bytes, and does file transfers with PutFile, GetFile and Version.
type Conn struct {
	ws  *ws.Conn
	url string // without user info, safe to show

	ctx    context.Context // ends when the session does
	cancel context.CancelFunc
	in     *inbox.Inbox
	done   chan struct{} // closed when the socket reader has returned

	mu    sync.Mutex
	route chan []byte // binary frames for the transfer in progress, or nil
	lost  error       // why the socket reader stopped, without the URL

	xfer      chan struct{} // holds a token while a transfer runs
	closeOnce sync.Once
	closed    atomic.Bool // Close was called
}

func newConn(wc *ws.Conn, url string, early []byte) *Conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Conn{
		ws: wc, url: url, ctx: ctx, cancel: cancel,
		in:   inbox.New(),
		done: make(chan struct{}),
		xfer: make(chan struct{}, 1),
	}
	if len(early) > 0 {
		c.in.Put(early)
	}
	go c.readLoop()
	return c
}

// URL is the address of the board, without any password.
func (c *Conn) URL() string { return c.url }

// readLoop owns reading the socket: binary frames go to the transfer in
// progress, everything else to Read.
func (c *Conn) readLoop() {
	defer close(c.done)
	for {
		typ, data, err := c.ws.Read(c.ctx)
		if err != nil {
			c.stop(err)
			return
		}
		if typ == ws.Binary {
			sent, err := c.toTransfer(data)
			if err != nil {
				c.stop(err)
				return
			}
			if sent {
				continue
			}
		}
		if !c.in.Put(data) {
			return
		}
	}
}

// toTransfer hands a binary frame to the transfer in progress, if there is
// one, and reports whether it did; it fails only when the session ends.
// A frame it sent after the transfer ended (which then took what its
// channel held, and queued it as output) is output too, queued here behind
// it: c.mu orders the two.
func (c *Conn) toTransfer(data []byte) (bool, error) {
	c.mu.Lock()
	route := c.route
	if route == nil {
		c.mu.Unlock()
		return false, nil
	}
	select {
	case route <- data:
		c.mu.Unlock()
		return true, nil
	default: // the transfer is behind: wait for it without c.mu, which it takes to end
	}
	c.mu.Unlock()
	select {
	case route <- data:
	case <-c.ctx.Done():
		return false, c.ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.route == route {
		return true, nil // the transfer takes it, or finds it when it ends
	}
	var left []byte
	for more := true; more; {
		select {
		case b := <-route:
			left = append(left, b...)
		default:
			more = false
		}
	}
	if len(left) > 0 {
		// Without waiting for room: c.mu is held, which a transfer
		// takes to start and to end.
		c.in.PutNow(left)
	}
	return true, nil
}

// stop records why the session ended and wakes its readers.
func (c *Conn) stop(cause error) {
	lost := fmt.Errorf("connection lost: %w", cause)
	err := fmt.Errorf("webrepl %s: %w", c.url, lost)
	if c.ctx.Err() != nil {
		lost, err = net.ErrClosed, c.closedErr()
	}
	c.mu.Lock()
	if c.lost == nil {
		c.lost = lost
	}
	c.mu.Unlock()
	c.in.Fail(err)
}

// Read returns the board's REPL output. It blocks until some arrives or
// the session ends.
func (c *Conn) Read(p []byte) (int, error) {
	return c.in.Read(p)
}

// ReadTimeout reads like Read, waiting at most d for the first byte (d <=
// 0: only what has already arrived). It returns (0, nil) when nothing came
// in time or Wake was called.
func (c *Conn) ReadTimeout(p []byte, d time.Duration) (int, error) {
	return c.in.ReadTimeout(p, d)
}

// Wake makes the ReadTimeout in progress, or else the next one, return at
// once.
func (c *Conn) Wake() { c.in.Wake() }

// Write sends REPL input (text frames of at most 1 KB).
func (c *Conn) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n := min(len(p)-done, maxFrame)
		if err := c.send(c.ctx, ws.Text, p[done:done+n]); err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

// send writes one frame, naming the session in errors.
func (c *Conn) send(ctx context.Context, typ ws.MessageType, p []byte) error {
	err := c.ws.Write(ctx, typ, p)
	switch {
	case err == nil:
		return nil
	case c.ctx.Err() != nil:
		return c.endErr()
	case ctx.Err() != nil:
		return fmt.Errorf("webrepl %s: write: %w", c.url, ctx.Err())
	default:
		return fmt.Errorf("webrepl %s: write: %w", c.url, err)
	}
}

// Close ends the session: it says goodbye to the board, waits a moment for
// its answer (the socket reader ends on it), and unblocks pending Reads,
// Writes and transfers.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.in.Shut(c.closedErr())
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		if c.ws.Close(ctx, ws.StatusNormalClosure) == nil {
			select {
			case <-c.done:
			case <-ctx.Done():
			}
		}
		c.end()
	})
	return nil
}

// abort ends the session after a failure that leaves the board's protocol
// state unknown.
func (c *Conn) abort() {
	lost := errors.New("session closed after an interrupted file transfer")
	c.mu.Lock()
	if c.lost == nil {
		c.lost = lost
	}
	c.mu.Unlock()
	c.in.Fail(fmt.Errorf("webrepl %s: %w", c.url, lost))
	c.end()
}

// end stops the socket reader and closes the TCP connection, whatever state
// the WebSocket is in.
func (c *Conn) end() {
	c.cancel()
	c.ws.CloseNow()
	<-c.done
}

// endErr says why an operation on an ended session fails.
func (c *Conn) endErr() error {
	if c.closed.Load() {
		return c.closedErr()
	}
	return fmt.Errorf("webrepl %s: %w", c.url, c.lostErr())
}

func (c *Conn) closedErr() error {
	return fmt.Errorf("webrepl %s: %w", c.url, net.ErrClosed)
}

// lostErr is why the socket reader stopped, for transfers.
func (c *Conn) lostErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lost != nil {
		return c.lost
	}
	return errors.New("connection lost")
}

// readerDone reports whether the socket reader has stopped.
func (c *Conn) readerDone() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}
