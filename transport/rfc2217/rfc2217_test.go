package rfc2217

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/internal/testenv"
)

func dialFake(t *testing.T, url string, opt Options) io.ReadWriteCloser {
	t.Helper()
	rw, err := Dial(testCtx(t), url, opt)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { rw.Close() })
	return rw
}

// The client turns on BINARY, SGA and COM-PORT-OPTION, refuses what it
// does not want (a server echo would corrupt the raw REPL), sets 9600 8N1
// and never touches DTR/RTS.
func TestNegotiation(t *testing.T) {
	url, server := listen(t, func(s *fakeServer) {
		s.greeting = []byte{cmdIAC, cmdWILL, optEcho, cmdIAC, cmdWILL, optSGA, cmdIAC, cmdDO, 24 /* terminal type */}
	})
	rw := dialFake(t, url+"?baud=9600", Options{Baud: 57600})
	srv := server()

	// The data after the negotiation shows the server has read it all.
	if _, err := rw.Write([]byte("go")); err != nil {
		t.Fatal(err)
	}
	srv.received(t, 2)
	cmds := srv.commands()
	for _, want := range []string{
		"WILL 0", "DO 0", "WILL 3", "WILL 44", // options on
		"DONT 1", "WONT 24", // options refused
		"SB 44 1 00002580", "SB 44 2 08", "SB 44 3 01", "SB 44 4 01", // 9600 8N1
	} {
		if !slices.Contains(cmds, want) {
			t.Errorf("client never sent %q; it sent %q", want, cmds)
		}
	}
	for _, c := range cmds {
		if strings.HasPrefix(c, "SB 44 5 ") {
			t.Errorf("client sent SET-CONTROL (%s), which may reset the board", c)
		}
	}
}

// The context given to Dial bounds the negotiation only.
func TestLinkOutlivesDialContext(t *testing.T) {
	url, server := listen(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	rw, err := Dial(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	cancel()
	srv := server()
	if _, err := rw.Write([]byte("after")); err != nil {
		t.Fatal(err)
	}
	if got := srv.received(t, 5); string(got) != "after" {
		t.Fatalf("server got %q", got)
	}
	srv.write('o', 'k')
	if got := testenv.ReadFull(t, rw, 2, bound); string(got) != "ok" {
		t.Fatalf("read %q", got)
	}
}

func TestDefaultBaud(t *testing.T) {
	url, server := listen(t, nil)
	rw := dialFake(t, url, Options{})
	rw.Write([]byte("x"))
	srv := server()
	srv.received(t, 1)
	if !slices.Contains(srv.commands(), "SB 44 1 0001c200") {
		t.Errorf("115200 baud not requested: %q", srv.commands())
	}
}

// 0xFF bytes cross the link unchanged both ways, and the server's
// notifications never reach Read.
func TestIACBothWays(t *testing.T) {
	url, server := listen(t, nil)
	rw := dialFake(t, url, Options{})
	srv := server()

	out := []byte{0xFF, 'a', 0xFF, 0xFF, '\r', 0, '\n', 0xFF}
	if _, err := rw.Write(out); err != nil {
		t.Fatal(err)
	}
	if got := srv.received(t, len(out)); !bytes.Equal(got, out) {
		t.Fatalf("server got %x, want %x", got, out)
	}

	srv.write('x', cmdIAC, cmdIAC, 'y')
	srv.write(cmdIAC, cmdSB, optComPort, 107, 0x30, cmdIAC, cmdSE) // NOTIFY-MODEMSTATE
	srv.write(cmdIAC, cmdSB, optComPort, 106, 0x60, cmdIAC, cmdSE) // NOTIFY-LINESTATE
	srv.write(cmdIAC, cmdNOP, 'z', '\r', 0, 0xFF-1)
	if got, want := testenv.ReadFull(t, rw, 6, bound), []byte{'x', 0xFF, 'y', 'z', '\r', 0}; !bytes.Equal(got, want) {
		t.Fatalf("client read %x, want %x", got, want)
	}
}

// Telnet commands cut across reads, down to one byte per read, are still
// understood: over net.Pipe every server write reaches the client as a
// read of its own.
func TestSplitSequences(t *testing.T) {
	client, server := net.Pipe()
	srv := newFakeServer(server)
	go srv.serve()
	t.Cleanup(func() { server.Close() })

	type result struct {
		c   *conn
		err error
	}
	opened := make(chan result, 1)
	go func() {
		c, err := open(testCtx(t), client, "rfc2217://pipe", 115200)
		opened <- result{c, err}
	}()
	var res result
	select {
	case res = <-opened:
	case <-time.After(bound):
		t.Fatal("negotiation over the pipe did not finish")
	}
	if res.err != nil {
		t.Fatalf("open: %v", res.err)
	}
	c := res.c
	defer c.Close()

	stream := []byte{'a', cmdIAC, cmdIAC, 'b',
		cmdIAC, cmdSB, optComPort, 107, cmdIAC, cmdIAC, cmdIAC, cmdSE,
		'c', cmdIAC, cmdWILL, optSGA, 'd', cmdIAC, cmdNOP, 'e'}
	go func() {
		for _, b := range stream {
			srv.write(b)
		}
	}()
	if got, want := testenv.ReadFull(t, c, 6, bound), []byte("a\xffbcde"); !bytes.Equal(got, want) {
		t.Fatalf("read %q, want %q", got, want)
	}
}

func TestServerRefusesRFC2217(t *testing.T) {
	url, _ := listen(t, func(s *fakeServer) { s.refuse = true })
	rw, err := Dial(testCtx(t), url, Options{})
	if err == nil || !strings.Contains(err.Error(), "refused COM-PORT-OPTION") || !strings.Contains(err.Error(), url) {
		t.Fatalf("Dial to a server without RFC 2217 = %v", err)
	}
	// A nil *conn in a non-nil interface passes a caller's rw != nil
	// check, and its Close panics.
	if rw != nil {
		t.Fatalf("a failed Dial returned a non-nil %T", rw)
	}
}

func TestServerSetsOtherBaud(t *testing.T) {
	url, _ := listen(t, func(s *fakeServer) { s.ackValue = map[byte][]byte{cpSetBaud: {0, 0, 0x25, 0x80}} })
	_, err := Dial(testCtx(t), url, Options{})
	if err == nil || !strings.Contains(err.Error(), "baud rate") {
		t.Fatalf("Dial when the server sets another rate = %v", err)
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	url, _ := listen(t, nil)
	rw := dialFake(t, url, Options{})
	wait := testenv.ReadErr(t, rw, bound)
	if err := rw.Close(); err != nil {
		t.Fatal(err)
	}
	if data, err := wait(); len(data) > 0 || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close = %q, %v; want nothing and net.ErrClosed", data, err)
	}
	if _, err := rw.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close = %v", err)
	}
}

// A dropped TCP connection makes Read fail, after the bytes sent before.
func TestConnectionDrop(t *testing.T) {
	url, server := listen(t, nil)
	rw := dialFake(t, url, Options{})
	srv := server()
	srv.write('b', 'y', 'e')
	srv.conn.Close()
	if got := testenv.ReadFull(t, rw, 3, bound); string(got) != "bye" {
		t.Fatalf("read %q", got)
	}
	data, err := testenv.ReadErr(t, rw, bound)()
	if len(data) > 0 || errors.Is(err, net.ErrClosed) || !strings.Contains(err.Error(), "connection lost") {
		t.Fatalf("Read after the drop = %q, %v; want nothing and a lost connection", data, err)
	}
}

func TestNothingListening(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "rfc2217://" + l.Addr().String()
	l.Close()
	_, err = Dial(testCtx(t), url, Options{})
	if err == nil || !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), "cannot connect") {
		t.Fatalf("Dial to a closed port = %v", err)
	}
}

func TestParseURL(t *testing.T) {
	if addr, baud, err := parseURL("rfc2217://pi.local:2217?baud=9600"); err != nil || addr != "pi.local:2217" || baud != 9600 {
		t.Errorf("parseURL = %q, %d, %v", addr, baud, err)
	}
	for _, bad := range []string{"rfc2217://pi.local", "tcp://pi.local:2217", "pi.local:2217", "rfc2217://:2217", "rfc2217://h:1?baud=x", "rfc2217://h:x", "rfc2217://h:1/%zz"} {
		_, _, err := parseURL(bad)
		if err == nil {
			t.Errorf("parseURL(%q) accepted", bad)
		} else if n := strings.Count(err.Error(), bad); n != 1 {
			t.Errorf("parseURL(%q) = %v: the URL is quoted %d times, want once", bad, err, n)
		}
	}
}

// A server that takes a connection and says nothing (ser2net still ending
// the one before) is dialled again, and the next connection works.
func TestSilentServerDialledAgain(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	firstc := make(chan net.Conn, 1)
	t.Cleanup(func() {
		select {
		case c := <-firstc:
			c.Close()
		default:
		}
	})
	go func() {
		first, err := l.Accept()
		if err != nil {
			return
		}
		firstc <- first // read by nobody, answered never
		second, err := l.Accept()
		if err != nil {
			return
		}
		newFakeServer(second).serve()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 4*attemptBound)
	defer cancel()
	rw, err := Dial(ctx, "rfc2217://"+l.Addr().String(), Options{})
	if err != nil {
		t.Fatalf("Dial after a silent first connection: %v", err)
	}
	rw.Close()
}

// A server that answers the other options but not COM-PORT-OPTION within
// an attempt's bound (ser2net on a loaded machine, as the connection
// before ends) is dialled again within Dial's own bound.
func TestHalfAnsweringServerDialledAgain(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for i := 0; ; i++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			srv := newFakeServer(c)
			srv.mute = i == 0
			go srv.serve()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 4*attemptBound)
	defer cancel()
	rw, err := Dial(ctx, "rfc2217://"+l.Addr().String(), Options{})
	if err != nil {
		t.Fatalf("Dial after a first connection that left COM-PORT-OPTION unanswered: %v", err)
	}
	rw.Close()
}

// A server that says something and hangs up during the negotiation: the
// error quotes it (the socket's error alone says nothing of why).
func TestHangUpQuotesServer(t *testing.T) {
	for _, tc := range []struct{ says, want string }{
		{"Port already in use\r\n", `the server said "Port already in use" and hung up (another client holds the port?)`},
		{"\r\nGo away\r\n\x00", `the server said "Go away" and hung up during option negotiation`},
		{"", "the server closed the connection during option negotiation"},
	} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(tc.says))
			c.Close()
		}()
		_, err = Dial(testCtx(t), "rfc2217://"+l.Addr().String(), Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Dial of a server that says %q and hangs up = %v; want %q", tc.says, err, tc.want)
		}
	}
}
