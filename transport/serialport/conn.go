package serialport

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"go.bug.st/serial"

	"github.com/iot-kernel/iot-kernel/internal/rawio"
)

// pollInterval is how often a waiting read checks that the device node is
// still the one opened.
const pollInterval = 500 * time.Millisecond

// wakeSlice bounds each wait inside ReadTimeout in the library's select:
// go.bug.st/serial cannot end a read early, so Wake is noticed within this
// time. It costs a few system calls per 100 ms, and only while an
// operation waits for the board. A wait in the poller needs no slices.
const wakeSlice = 25 * time.Millisecond

// conn adapts a serial.Port to the io.ReadWriteCloser the engine expects:
// Read never returns (0, nil), and a vanished device is an error. It is a
// transport.TimedReader, so the engine reads it without a goroutine.
type conn struct {
	port    serial.Port
	fd      int         // the port's descriptor, non-blocking; -1 when unknown
	pf      *os.File    // fd duplicated into Go's poller (see pollable); nil: none
	raw     *rawio.Conn // reads and writes on pf, with raw system calls (see rawio)
	noPoll  atomic.Bool // pf read 0 bytes at once: wait in the library's select instead
	path    string
	ident   os.FileInfo // the device node at open, to notice a replug
	checked time.Time   // when ident was last compared
	closed  atomic.Bool
	woken   atomic.Bool
}

func newConn(p serial.Port, fd int, path string) *conn {
	c := &conn{port: p, fd: fd, pf: pollable(fd, path), path: path, checked: time.Now()}
	if c.pf != nil {
		raw, err := rawio.New(c.pf)
		if err != nil {
			_ = c.pf.Close() // the library's reads and writes, then
			c.pf = nil
		}
		c.raw = raw
	}
	if fi, err := os.Stat(path); err == nil {
		c.ident = fi
	}
	return c
}

// Read blocks until at least one byte arrives, the port is closed, or the
// device goes away.
func (c *conn) Read(p []byte) (int, error) {
	for {
		n, err := c.read(p, pollInterval, pollInterval, false)
		if n > 0 || err != nil || len(p) == 0 {
			return n, err
		}
	}
}

// ReadTimeout reads like Read, waiting at most d for the first byte (d <=
// 0: only what has already arrived). It returns (0, nil) when nothing came
// in time or Wake was called.
func (c *conn) ReadTimeout(p []byte, d time.Duration) (int, error) {
	return c.read(p, d, wakeSlice, true)
}

// Wake makes the ReadTimeout in progress (at once when it waits in the
// poller, else within wakeSlice), or else the next one, return.
func (c *conn) Wake() {
	c.woken.Store(true)
	if c.pf != nil {
		_ = c.pf.SetReadDeadline(time.Now())
	}
}

// read waits up to d for bytes, in waits of at most slice. A wakeable read
// returns (0, nil) after Wake, but bytes already here come first.
func (c *conn) read(p []byte, d, slice time.Duration, wakeable bool) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	end := time.Now().Add(d)
	for {
		if c.closed.Load() {
			return 0, c.closedErr()
		}
		polled := c.pf != nil && !c.noPoll.Load()
		limit := slice
		if polled {
			limit = max(slice, pollInterval) // Wake ends a wait in the poller at once
		}
		wait := min(time.Until(end), limit)
		if wait < 0 || wakeable && c.woken.Load() {
			wait = 0 // only take what is here
		}
		var n int
		var err error
		if polled {
			n, err = c.pollRead(p, wait, wakeable)
		} else {
			if err := c.port.SetReadTimeout(wait); err != nil {
				if c.closed.Load() {
					return 0, c.closedErr()
				}
				return 0, fmt.Errorf("serial %s: set read timeout: %w", c.path, err)
			}
			n, err = c.port.Read(p)
		}
		if n > 0 {
			if wakeable {
				c.woken.Store(false) // this return is the one asked for
			}
			return n, nil
		}
		if c.closed.Load() {
			return 0, c.closedErr()
		}
		var pe *serial.PortError
		switch {
		case errors.Is(err, syscall.EAGAIN):
			// Another reader of the device took the byte that woke the
			// wait (see newFD): nothing came for us.
		case errors.As(err, &pe) && pe.Code() == serial.PortClosed:
			// The library's name for a port that hung up (unplugged USB).
			return 0, fmt.Errorf("serial %s: device disconnected (the line hung up)", c.path)
		case err != nil:
			// A pty whose master closed answers EIO.
			return 0, fmt.Errorf("serial %s: device disconnected: %w", c.path, err)
		}
		if now := time.Now(); now.Sub(c.checked) >= pollInterval {
			c.checked = now
			if err := c.stillThere(); err != nil {
				return 0, err
			}
		}
		if wakeable && c.woken.Swap(false) || !time.Now().Before(end) {
			return 0, nil
		}
	}
}

// pollRead reads what arrives within wait through the poller (wait 0:
// only what is here). Nothing in time is (0, nil); a descriptor that
// answers 0 bytes at once (another program set the device's VMIN to 0,
// or it hung up) sends this and later reads to the library, whose select
// waits in either case and which reports a hang-up.
func (c *conn) pollRead(p []byte, wait time.Duration, wakeable bool) (int, error) {
	var n int
	var err error
	if wait <= 0 {
		// A deadline already passed (a Wake's) would fail the read
		// before it is tried; this read does not wait anyway, and the
		// woken flag still ends the next wait.
		_ = c.pf.SetReadDeadline(time.Time{})
		n, err = c.raw.ReadNow(p)
	} else {
		_ = c.pf.SetReadDeadline(time.Now().Add(wait))
		if wakeable && c.woken.Load() {
			// Wake came between the caller's check and the deadline
			// above, which replaced its own.
			_ = c.pf.SetReadDeadline(time.Now())
		}
		n, err = c.raw.Read(p)
	}
	switch {
	case n > 0:
		return n, nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return 0, nil
	case err != nil && c.closed.Load():
		return 0, c.closedErr()
	case err == io.EOF:
		c.noPoll.Store(true)
		if err := c.port.SetReadTimeout(0); err != nil {
			return 0, fmt.Errorf("serial %s: set read timeout: %w", c.path, err)
		}
		return c.port.Read(p)
	case err != nil:
		return 0, &os.PathError{Op: "read", Path: c.path, Err: err}
	}
	return 0, nil
}

// stillThere checks that the device node opened is still in place; some
// USB drivers leave a read waiting after the device is unplugged.
func (c *conn) stillThere() error {
	if c.ident == nil {
		return nil
	}
	fi, err := os.Stat(c.path)
	if err != nil {
		return fmt.Errorf("serial %s: device disconnected: %w", c.path, err)
	}
	if !os.SameFile(fi, c.ident) {
		return fmt.Errorf("serial %s: device disconnected: a new device took its place", c.path)
	}
	return nil
}

// Write sends all of p or returns an error.
func (c *conn) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		if c.closed.Load() {
			return done, c.closedErr()
		}
		var n int
		var err error
		if c.raw != nil {
			n, err = c.raw.WriteNow(p[done:])
		} else {
			n, err = c.port.Write(p[done:])
		}
		done += n
		if errors.Is(err, syscall.EAGAIN) {
			// The descriptor is non-blocking: wait for room. A board that
			// never takes the bytes is the caller's bound to end (it
			// closes the port).
			waitWritable(c.fd, wakeSlice)
			continue
		}
		if err != nil {
			if c.closed.Load() {
				return done, c.closedErr()
			}
			return done, fmt.Errorf("serial %s: write: %w", c.path, err)
		}
		if n == 0 {
			return done, fmt.Errorf("serial %s: write: device accepted no bytes", c.path)
		}
	}
	return done, nil
}

// Close releases the port and unblocks a pending Read. Closing twice is
// harmless.
func (c *conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if c.pf != nil {
		_ = c.pf.Close() // ends a read waiting in the poller
	}
	if err := c.port.Close(); err != nil {
		return fmt.Errorf("serial %s: close: %w", c.path, err)
	}
	return nil
}

func (c *conn) closedErr() error {
	return fmt.Errorf("serial %s: %w", c.path, os.ErrClosed)
}
