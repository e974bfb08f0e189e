// Package rawio reads and writes a non-blocking descriptor that waits in
// Go's network poller (a socket, or a device opened non-blocking) with
// system calls the scheduler does not account for.
//
// Every read(2) or write(2) made through the standard library tells the
// scheduler that the thread is entering a system call. That wakes the
// runtime's monitor (sysmon) if it was asleep, and when a call lasts one
// of its 20 µs ticks, as a write to a loopback socket or a pty often does
// on a shared virtual machine, the monitor hands the scheduler slot to
// another thread. With the kernel's one slot (GOMAXPROCS=1) a cell that
// waits for a board then costs several thread wake-ups, each a context
// switch on a machine the board and the client share. On a non-blocking
// descriptor no call can block, so none needs that accounting: a call that
// would block returns EAGAIN, and the wait happens in the poller as
// usual, with deadlines and Close working as for any net.Conn or os.File.
package rawio

import (
	"errors"
	"net"
	"syscall"
)

// ErrUnsupported: this system has no raw path; use the descriptor's own
// Read and Write.
var ErrUnsupported = errors.New("rawio: not supported on this system")

// Conn does raw reads and writes on the descriptor of a syscall.Conn. Its
// methods may be used concurrently as the descriptor's own: one reader
// and one writer at a time.
type Conn struct {
	rc syscall.RawConn
}

// New returns a Conn for c's descriptor, which must be non-blocking and
// in the poller (as every net.Conn's is), and stay so: a raw call on a
// blocking descriptor would hold its thread, and the scheduler slot with
// it, until the call returns. ErrUnsupported on systems without raw calls.
func New(c syscall.Conn) (*Conn, error) {
	if !supported {
		return nil, ErrUnsupported
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &Conn{rc: rc}, nil
}

// netConn is a net.Conn whose Read and Write are raw.
type netConn struct {
	net.Conn
	raw *Conn
}

// WrapConn returns c with raw Read and Write (and WriteBuffers, for
// vectored writes), or c itself when its descriptor cannot be had or the
// system has no raw path. Deadlines, Close and the rest are c's own.
func WrapConn(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	raw, err := New(sc)
	if err != nil {
		return c
	}
	return &netConn{Conn: c, raw: raw}
}

// Read reads raw (see Conn.Read).
func (c *netConn) Read(p []byte) (int, error) { return c.raw.Read(p) }

// Write writes raw (see Conn.Write).
func (c *netConn) Write(p []byte) (int, error) { return c.raw.Write(p) }

// WriteBuffers writes bufs in order with vectored writes.
func (c *netConn) WriteBuffers(bufs [][]byte) (int64, error) { return c.raw.WriteBuffers(bufs) }
