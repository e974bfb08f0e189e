package rfc2217

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// bound is the most any single wait in these tests may take.
const bound = 10 * time.Second

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	t.Cleanup(cancel)
	return ctx
}

// fakeServer is the server side of one RFC 2217 connection, written
// independently of the client's parser. It answers the client's options,
// acknowledges line settings, records what the client negotiated and
// hands on the client's data with IAC doubling undone.
type fakeServer struct {
	conn net.Conn
	// greeting is sent as soon as the client connects.
	greeting []byte
	// ackValue, if set, replaces the value acknowledged for a setting.
	ackValue map[byte][]byte
	// refuse answers DONT to the client's WILL COM-PORT-OPTION.
	refuse bool
	// mute never answers the client's WILL COM-PORT-OPTION (the other
	// options it does), as ser2net did on a loaded machine.
	mute bool

	mu   sync.Mutex
	cmds []string // "DONT 1", "SB 44 1 0001c200", ...
	data chan byte
}

func newFakeServer(conn net.Conn) *fakeServer {
	return &fakeServer{conn: conn, data: make(chan byte, 1<<16)}
}

func (s *fakeServer) record(format string, args ...any) {
	s.mu.Lock()
	s.cmds = append(s.cmds, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

func (s *fakeServer) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

func (s *fakeServer) write(b ...byte) { s.conn.Write(b) }

// serve runs until the client goes away.
func (s *fakeServer) serve() {
	defer close(s.data)
	if len(s.greeting) > 0 {
		s.write(s.greeting...)
	}
	r := &byteReader{r: s.conn}
	names := map[byte]string{cmdWILL: "WILL", cmdWONT: "WONT", cmdDO: "DO", cmdDONT: "DONT"}
	for {
		b, err := r.next()
		if err != nil {
			return
		}
		if b != cmdIAC {
			s.data <- b
			continue
		}
		if b, err = r.next(); err != nil {
			return
		}
		switch b {
		case cmdIAC:
			s.data <- cmdIAC
		case cmdWILL, cmdWONT, cmdDO, cmdDONT:
			opt, err := r.next()
			if err != nil {
				return
			}
			s.record("%s %d", names[b], opt)
			switch {
			case b == cmdWILL && opt == optComPort && s.refuse:
				s.write(cmdIAC, cmdDONT, opt)
			case b == cmdWILL && opt == optComPort && s.mute:
			case b == cmdWILL:
				s.write(cmdIAC, cmdDO, opt)
			case b == cmdDO && opt != optSGA: // WILL SGA was in the greeting
				s.write(cmdIAC, cmdWILL, opt)
			}
		case cmdSB:
			var sb []byte
			for {
				c, err := r.next()
				if err != nil {
					return
				}
				if c == cmdIAC {
					if c, err = r.next(); err != nil {
						return
					}
					if c == cmdSE {
						break
					}
				}
				sb = append(sb, c)
			}
			s.record("SB %d %d %x", sb[0], sb[1], sb[2:])
			if sb[0] == optComPort && sb[1] >= cpSetBaud && sb[1] <= cpSetStopSize {
				val := sb[2:]
				if v, ok := s.ackValue[sb[1]]; ok {
					val = v
				}
				s.write(subneg(sb[1]+serverOffset, val)...)
			}
		}
	}
}

// received waits for n data bytes from the client.
func (s *fakeServer) received(t *testing.T, n int) []byte {
	t.Helper()
	var got []byte
	timeout := time.After(bound)
	for len(got) < n {
		select {
		case b, ok := <-s.data:
			if !ok {
				t.Fatalf("client went away after %x", got)
			}
			got = append(got, b)
		case <-timeout:
			t.Fatalf("server got %x, waiting for %d bytes", got, n)
		}
	}
	return got
}

type byteReader struct {
	r   io.Reader
	buf [1]byte
}

func (b *byteReader) next() (byte, error) {
	_, err := io.ReadFull(b.r, b.buf[:])
	return b.buf[0], err
}

// listen starts a TCP server on 127.0.0.1 that serves one connection with
// a fakeServer configured by setup. It returns the URL and a function that
// waits for that connection's fakeServer.
func listen(t *testing.T, setup func(*fakeServer)) (string, func() *fakeServer) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan *fakeServer, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		s := newFakeServer(conn)
		if setup != nil {
			setup(s)
		}
		accepted <- s
		s.serve()
	}()
	var once sync.Once
	var srv *fakeServer
	wait := func() *fakeServer {
		once.Do(func() {
			select {
			case srv = <-accepted:
			case <-time.After(bound):
			}
		})
		if srv == nil {
			t.Fatal("no client connected")
		}
		return srv
	}
	t.Cleanup(func() {
		l.Close()
		once.Do(func() {
			select {
			case srv = <-accepted:
			default:
			}
		})
		if srv != nil {
			srv.conn.Close()
		}
	})
	return "rfc2217://" + l.Addr().String(), wait
}
