package testboard

import (
	"bytes"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// telnetConn strips telnet commands (IAC sequences) from what it reads and
// doubles 0xff in what it writes: enough of telnet to talk to the board.
type telnetConn struct {
	net.Conn
	pending []byte
	inSB    bool
}

func (c *telnetConn) Read(p []byte) (int, error) {
	for {
		buf := make([]byte, len(p))
		n, err := c.Conn.Read(buf)
		c.pending = append(c.pending, buf[:n]...)
		var out []byte
		i := 0
		for i < len(c.pending) {
			b := c.pending[i]
			if b != 0xff {
				if !c.inSB {
					out = append(out, b)
				}
				i++
				continue
			}
			if i+1 >= len(c.pending) {
				break // incomplete command: wait for more
			}
			switch cmd := c.pending[i+1]; {
			case cmd == 0xff: // escaped 0xff
				if !c.inSB {
					out = append(out, 0xff)
				}
				i += 2
			case cmd == 0xfa: // SB
				c.inSB = true
				i += 2
			case cmd == 0xf0: // SE
				c.inSB = false
				i += 2
			case cmd >= 0xfb && cmd <= 0xfe: // WILL WONT DO DONT + option
				if i+2 >= len(c.pending) {
					goto done
				}
				i += 3
			default:
				i += 2
			}
		}
	done:
		c.pending = c.pending[i:]
		if len(out) > 0 || err != nil {
			return copy(p, out), err
		}
	}
}

func (c *telnetConn) Write(p []byte) (int, error) {
	if _, err := c.Conn.Write(bytes.ReplaceAll(p, []byte{0xff}, []byte{0xff, 0xff})); err != nil {
		return 0, err
	}
	return len(p), nil
}

func TestRFC2217(t *testing.T) {
	kinds(t, func(t *testing.T, kind Kind) {
		b := startBoard(t, kind)
		ctx, cancel := testContext(t)
		defer cancel()
		s, err := StartRFC2217(ctx, b)
		if err != nil {
			t.Fatalf("StartRFC2217: %v", err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		addr, ok := strings.CutPrefix(s.URL(), "rfc2217://")
		if !ok {
			t.Fatalf("URL = %q", s.URL())
		}
		dial := func() *conn {
			nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			return newConn(t, &telnetConn{Conn: nc})
		}
		c := dial()
		c.enterRaw()
		if out, _ := c.exec("print(3*3)"); out != "9\r\n" {
			t.Errorf("exec over RFC 2217 printed %q", out)
		}

		// ser2net reaches the board through Path, so it follows a restart.
		if err := b.Restart(ctx); err != nil {
			t.Fatalf("Restart: %v", err)
		}
		if got, err := c.until("never", 10*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("connection survived the board's restart: got %q, err %v", got, err)
		}
		c = dial()
		c.enterRaw()
		if out, _ := c.exec("print(4*4)"); out != "16\r\n" {
			t.Errorf("exec after restart printed %q", out)
		}
	})
}
