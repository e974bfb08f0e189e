package serialport

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"go.bug.st/serial"
)

// pollInterval bounds each wait inside Read, so that a device that vanished
// without waking the read is still noticed.
const pollInterval = 500 * time.Millisecond

// conn adapts a serial.Port to the io.ReadWriteCloser the engine expects:
// Read never returns (0, nil), and a vanished device is an error.
type conn struct {
	port   serial.Port
	path   string
	ident  os.FileInfo // the device node at open, to notice a replug
	closed atomic.Bool
}

func newConn(p serial.Port, path string) *conn {
	c := &conn{port: p, path: path}
	if fi, err := os.Stat(path); err == nil {
		c.ident = fi
	}
	if err := p.SetReadTimeout(pollInterval); err != nil {
		// Without a timeout Read still returns on data, close and hangup;
		// only the replug check is lost.
		c.ident = nil
	}
	return c
}

// Read blocks until at least one byte arrives, the port is closed, or the
// device goes away.
func (c *conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if c.closed.Load() {
			return 0, c.closedErr()
		}
		n, err := c.port.Read(p)
		if n > 0 {
			return n, nil
		}
		if c.closed.Load() {
			return 0, c.closedErr()
		}
		var pe *serial.PortError
		switch {
		case errors.As(err, &pe) && pe.Code() == serial.PortClosed:
			// The library's name for a port that hung up (unplugged USB).
			return 0, fmt.Errorf("serial %s: device disconnected (the line hung up)", c.path)
		case err != nil:
			// A pty whose master closed answers EIO.
			return 0, fmt.Errorf("serial %s: device disconnected: %w", c.path, err)
		}
		if err := c.stillThere(); err != nil {
			return 0, err
		}
	}
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
		n, err := c.port.Write(p[done:])
		done += n
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
	if err := c.port.Close(); err != nil {
		return fmt.Errorf("serial %s: close: %w", c.path, err)
	}
	return nil
}

func (c *conn) closedErr() error {
	return fmt.Errorf("serial %s: %w", c.path, os.ErrClosed)
}
