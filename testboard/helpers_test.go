package testboard

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/internal/testenv"
)

// startBoard starts a board for one test and stops it when the test ends.
// The micro:bit is paced like its UART (the default).
func startBoard(t *testing.T, kind Kind) *Board {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opt := Options{Logger: testenv.Logger(t)}
	start := time.Now()
	b, err := Start(ctx, kind, opt)
	if err != nil {
		t.Fatalf("Start(%s): %v", kind, err)
	}
	t.Logf("%s booted to its prompt in %v", kind, time.Since(start))
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// conn is a test's serial connection: one goroutine reads, the test waits
// for expected text with a deadline.
type conn struct {
	t    *testing.T
	rw   io.ReadWriteCloser
	data chan []byte
	err  error // set before data is closed
	buf  []byte
}

func newConn(t *testing.T, rw io.ReadWriteCloser) *conn {
	c := &conn{t: t, rw: rw, data: make(chan []byte, 64)}
	done := make(chan struct{})
	go func() {
		defer close(c.data)
		for {
			b := make([]byte, 4096)
			n, err := rw.Read(b)
			if n > 0 {
				select {
				case c.data <- b[:n]:
				case <-done: // the test stopped reading
					return
				}
			}
			if err != nil {
				c.err = err
				return
			}
		}
	}()
	t.Cleanup(func() { close(done); _ = rw.Close() })
	return c
}

// openBoard opens the board's serial device.
func openBoard(t *testing.T, b *Board) *conn {
	t.Helper()
	f, err := OpenRaw(b.Path())
	if err != nil {
		t.Fatalf("open board: %v", err)
	}
	return newConn(t, f)
}

func (c *conn) write(s string) {
	c.t.Helper()
	if _, err := c.rw.Write([]byte(s)); err != nil {
		c.t.Fatalf("write %q: %v", s, err)
	}
}

var errEOF = errors.New("connection ended")

// until reads until want has arrived and returns everything read up to and
// including it; the rest stays buffered.
func (c *conn) until(want string, timeout time.Duration) (string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if i := bytes.Index(c.buf, []byte(want)); i >= 0 {
			got := string(c.buf[:i+len(want)])
			c.buf = c.buf[i+len(want):]
			return got, nil
		}
		select {
		case b, ok := <-c.data:
			if !ok {
				if c.err != nil {
					return string(c.buf), c.err
				}
				return string(c.buf), errEOF
			}
			c.buf = append(c.buf, b...)
		case <-deadline.C:
			return string(c.buf), os.ErrDeadlineExceeded
		}
	}
}

// expect is until that fails the test.
func (c *conn) expect(want string) string {
	c.t.Helper()
	got, err := c.until(want, 20*time.Second)
	if err != nil {
		c.t.Fatalf("waiting for %q: %v; got %q", want, err, got)
	}
	return got
}

// enterRaw interrupts whatever runs and enters the raw REPL.
func (c *conn) enterRaw() {
	c.t.Helper()
	c.write("\r\x03\x03")
	c.expect(">>> ")
	c.write("\x01")
	c.expect("raw REPL; CTRL-B to exit\r\n>")
}

// exec runs code in the raw REPL and returns its output and error output.
func (c *conn) exec(code string) (string, string) {
	c.t.Helper()
	c.write(code + "\x04")
	c.expect("OK")
	out := c.expect("\x04")
	errOut := c.expect("\x04")
	c.expect(">")
	return out[:len(out)-1], errOut[:len(errOut)-1]
}

// kinds runs a test on every board.
func kinds(t *testing.T, f func(t *testing.T, kind Kind)) {
	for _, k := range []Kind{Microbit, Wasm} {
		t.Run(string(k), func(t *testing.T) { f(t, k) })
	}
}

// testContext bounds one step of a test.
func testContext(t testing.TB) (context.Context, context.CancelFunc) {
	t.Helper()
	return context.WithTimeout(context.Background(), 30*time.Second)
}
