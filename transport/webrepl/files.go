package webrepl

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"github.com/iot-kernel/iot-kernel/transport/internal/ws"
)

// Request types of the binary file protocol.
const (
	opPut    = 1
	opGet    = 2
	opGetVer = 3
)

const (
	headerLen = 82 // struct webrepl_file: <2sBBQLH64s>
	// MaxNameLen is the longest board path a transfer accepts. The header
	// has 64 bytes for it, but MicroPython's C code reads it with strlen,
	// so it needs a NUL inside those 64.
	MaxNameLen = 63
)

// StatusError is a non-zero status the board answered to a file request.
type StatusError struct {
	Op     string // "put" or "get"
	Name   string // board path
	Status uint16
}

// Error gives the status; the wrapping error names the URL and the file.
func (e *StatusError) Error() string {
	return fmt.Sprintf("board answered status %d", e.Status)
}

// header encodes a request record.
func header(op byte, size uint32, name string) []byte {
	h := make([]byte, headerLen)
	copy(h, "WA")
	h[2] = op
	// h[3] flags and h[4:12] offset stay 0.
	binary.LittleEndian.PutUint32(h[12:], size)
	binary.LittleEndian.PutUint16(h[16:], uint16(len(name)))
	copy(h[18:], name)
	return h
}

func checkName(op, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%s: empty file name", op)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%s %q: the name is %d bytes, WebREPL takes at most %d", op, name, len(name), MaxNameLen)
	}
	return nil
}

// PutFile writes data to the file name on the board. progress, if not nil,
// is told the bytes sent so far.
func (c *Conn) PutFile(ctx context.Context, name string, data []byte, progress func(done, total int64)) error {
	if err := checkName("put", name); err != nil {
		return fmt.Errorf("webrepl %s: %w", c.url, err)
	}
	if int64(len(data)) > 1<<32-1 {
		return fmt.Errorf("webrepl %s: put %q: %d bytes is more than WebREPL can send", c.url, name, len(data))
	}
	return c.transfer(ctx, fmt.Sprintf("put %q", name), func(s *stream) error {
		if err := s.send(header(opPut, uint32(len(data)), name)); err != nil {
			return err
		}
		if err := s.status("put", name); err != nil {
			return err
		}
		total := int64(len(data))
		for done := 0; done < len(data); {
			n := min(len(data)-done, putFrame)
			if err := s.send(data[done : done+n]); err != nil {
				return err
			}
			done += n
			if progress != nil {
				progress(int64(done), total)
			}
		}
		return s.status("put", name)
	})
}

// DefaultGetLimit bounds a GetFile given no limit of its own.
const DefaultGetLimit = 64 << 20

// GetFile reads the file name from the board, at most limit bytes of it
// (limit < 0: DefaultGetLimit): WebREPL does not announce a file's size, so
// a board that sends more ends the transfer with an error rather than fill
// the host's memory. progress, if not nil, is told the bytes received so
// far; its total is -1. MicroPython's C WebREPL ends the session when the
// file does not exist, so GetFile then fails with a lost connection.
func (c *Conn) GetFile(ctx context.Context, name string, limit int64, progress func(done, total int64)) ([]byte, error) {
	if err := checkName("get", name); err != nil {
		return nil, fmt.Errorf("webrepl %s: %w", c.url, err)
	}
	if limit < 0 {
		limit = DefaultGetLimit
	}
	var out []byte
	err := c.transfer(ctx, fmt.Sprintf("get %q", name), func(s *stream) error {
		if err := s.send(header(opGet, 0, name)); err != nil {
			return err
		}
		if err := s.status("get", name); err != nil {
			return err
		}
		lenBuf := make([]byte, 2)
		for {
			// The board sends one chunk for each zero byte.
			if err := s.send([]byte{0}); err != nil {
				return err
			}
			if err := s.readFull(lenBuf); err != nil {
				return err
			}
			n := int(binary.LittleEndian.Uint16(lenBuf))
			if n == 0 {
				break
			}
			if int64(len(out)+n) > limit {
				return fmt.Errorf("the board sent more than %d bytes for %s", limit, name)
			}
			start := len(out)
			out = append(out, make([]byte, n)...)
			if err := s.readFull(out[start:]); err != nil {
				return err
			}
			if progress != nil {
				progress(int64(len(out)), -1)
			}
		}
		return s.status("get", name)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Version asks the board for its MicroPython version, e.g. "1.27.0".
func (c *Conn) Version(ctx context.Context) (string, error) {
	var v [3]byte
	err := c.transfer(ctx, "get version", func(s *stream) error {
		if err := s.send(header(opGetVer, 0, "")); err != nil {
			return err
		}
		return s.readFull(v[:])
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]), nil
}

// transfer runs one file operation with the binary frames routed to it.
// Operations run one at a time. A failure other than a status from the
// board leaves the board mid-transfer, so it ends the session.
func (c *Conn) transfer(ctx context.Context, what string, op func(*stream) error) error {
	select {
	case c.xfer <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("webrepl %s: %s: waiting for another transfer: %w", c.url, what, ctx.Err())
	case <-c.ctx.Done():
		return c.endErr()
	}
	defer func() { <-c.xfer }()

	route := make(chan []byte, 16)
	c.mu.Lock()
	c.route = route
	c.mu.Unlock()
	s := &stream{c: c, ctx: ctx, in: route}
	defer func() {
		// Binary frames after the last answer are REPL output.
		c.mu.Lock()
		c.route = nil
		left := s.buf
		for more := true; more; {
			select {
			case b := <-route:
				left = append(left, b...)
			default:
				more = false
			}
		}
		if len(left) > 0 {
			// Under c.mu, so that no frame the socket reader reads
			// next is queued before these. And without waiting for
			// room: this goroutine is the inbox's reader now, which
			// would have to make the room itself.
			c.in.PutNow(left)
		}
		c.mu.Unlock()
	}()

	err := op(s)
	var st *StatusError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &st):
		return fmt.Errorf("webrepl %s: %s: %w", c.url, what, err)
	case c.closed.Load():
		return fmt.Errorf("webrepl %s: %s: %w", c.url, what, net.ErrClosed)
	case c.readerDone():
		return fmt.Errorf("webrepl %s: %s: %w", c.url, what, err)
	default:
		c.abort()
		return fmt.Errorf("webrepl %s: %s: %w (session closed: the board was left mid-transfer)", c.url, what, err)
	}
}

// stream is the binary side of the socket during a transfer: frames are
// joined into one byte stream, as the board's C code reads and writes it.
type stream struct {
	c   *Conn
	ctx context.Context
	in  <-chan []byte
	buf []byte
}

func (s *stream) send(p []byte) error {
	if err := s.c.ws.Write(s.ctx, ws.Binary, p); err != nil {
		if s.ctx.Err() != nil {
			return s.ctx.Err()
		}
		return err
	}
	return nil
}

func (s *stream) readFull(p []byte) error {
	for len(p) > 0 {
		if len(s.buf) == 0 {
			b, err := s.next()
			if err != nil {
				return err
			}
			s.buf = b
			continue
		}
		n := copy(p, s.buf)
		p, s.buf = p[n:], s.buf[n:]
	}
	return nil
}

// next waits for the next binary frame. Frames that arrived before the
// connection dropped are still delivered.
func (s *stream) next() ([]byte, error) {
	select {
	case b := <-s.in:
		return b, nil
	case <-s.ctx.Done():
		return nil, s.ctx.Err()
	case <-s.c.done:
		select {
		case b := <-s.in:
			return b, nil
		default:
			return nil, s.c.lostErr()
		}
	}
}

// status reads a "WB" answer and turns a non-zero status into an error.
func (s *stream) status(op, name string) error {
	var r [4]byte
	if err := s.readFull(r[:]); err != nil {
		return err
	}
	if r[0] != 'W' || r[1] != 'B' {
		return fmt.Errorf("%s %q: expected a WB answer, got %q", op, name, r[:])
	}
	if st := binary.LittleEndian.Uint16(r[2:]); st != 0 {
		return &StatusError{Op: op, Name: name, Status: st}
	}
	return nil
}
