package rfc2217

import (
	"net"
	"time"
)

// FakeServer serves one RFC 2217 connection on 127.0.0.1 with the tests'
// fake server, so that the examples run without a serial server. It returns
// the rfc2217:// URL, a function that waits (up to the tests' bound) for
// the next n data bytes the client sent, and one that stops the server.
func FakeServer() (url string, received func(n int) []byte, stop func()) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	accepted := make(chan *fakeServer, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		s := newFakeServer(conn)
		accepted <- s
		s.serve()
	}()
	var srv *fakeServer
	timeout := time.After(bound)
	received = func(n int) []byte {
		if srv == nil {
			select {
			case srv = <-accepted:
			case <-timeout:
			}
		}
		var got []byte
		for srv != nil && len(got) < n {
			select {
			case b, ok := <-srv.data:
				if !ok {
					return got
				}
				got = append(got, b)
			case <-timeout:
				return got
			}
		}
		return got
	}
	stop = func() {
		l.Close()
		if srv != nil {
			srv.conn.Close()
		}
	}
	return "rfc2217://" + l.Addr().String(), received, stop
}
