package ws

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The client is checked against coder/websocket's server, an independent
// implementation of RFC 6455, and against hand-made answers for what that
// server never sends.

// serve starts a loopback WebSocket server whose sessions run handle.
func serve(t *testing.T, handle func(ctx context.Context, c *websocket.Conn)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(4 << 20)
		handle(r.Context(), c)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/repl"
}

func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, url string) *Conn {
	t.Helper()
	c, err := Dial(bounded(t), url, nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func TestEchoAllSizes(t *testing.T) {
	url := serve(t, func(ctx context.Context, c *websocket.Conn) {
		for {
			typ, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, data); err != nil {
				return
			}
		}
	})
	c := dial(t, url)
	c.SetReadLimit(2 << 20)
	ctx := bounded(t)
	// Lengths around both length encodings' limits (7, 16 and 64 bits).
	for _, n := range []int{0, 1, 125, 126, 127, 0xffff, 0x10000, 1 << 20} {
		for _, typ := range []MessageType{Text, Binary} {
			msg := bytes.Repeat([]byte{byte(n), 0xff, 0x00, 'a'}, n/4+1)[:n]
			if err := c.Write(ctx, typ, msg); err != nil {
				t.Fatalf("Write %d bytes: %v", n, err)
			}
			gt, got, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("Read %d bytes: %v", n, err)
			}
			if gt != typ || !bytes.Equal(got, msg) {
				t.Fatalf("%d bytes of type %d came back as %d bytes of type %d", n, typ, len(got), gt)
			}
		}
	}
}

func TestFragmentedMessageJoined(t *testing.T) {
	url := serve(t, func(ctx context.Context, c *websocket.Conn) {
		w, err := c.Writer(ctx, websocket.MessageBinary)
		if err != nil {
			return
		}
		// Each Flush of coder/websocket's writer ends a frame.
		for _, part := range []string{"one ", "two ", "three"} {
			w.Write([]byte(part))
			if f, ok := w.(interface{ Flush() error }); ok {
				f.Flush()
			}
		}
		w.Close()
		c.Read(ctx)
	})
	c := dial(t, url)
	typ, got, err := c.Read(bounded(t))
	if err != nil || typ != Binary || string(got) != "one two three" {
		t.Fatalf("Read = %d %q %v, want the three parts as one binary message", typ, got, err)
	}
}

func TestPingAnswered(t *testing.T) {
	pinged := make(chan error, 1)
	url := serve(t, func(ctx context.Context, c *websocket.Conn) {
		// Ping needs a reader running to see the pong.
		ctx = c.CloseRead(ctx)
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		pinged <- c.Ping(pctx)
		c.Write(ctx, websocket.MessageText, []byte("after"))
		<-ctx.Done()
	})
	c := dial(t, url)
	_, got, err := c.Read(bounded(t))
	if err != nil || string(got) != "after" {
		t.Fatalf("Read = %q %v", got, err)
	}
	if err := <-pinged; err != nil {
		t.Fatalf("the server's ping was not answered: %v", err)
	}
}

func TestServerCloseReported(t *testing.T) {
	url := serve(t, func(ctx context.Context, c *websocket.Conn) {
		c.Close(websocket.StatusGoingAway, "rebooting")
	})
	c := dial(t, url)
	_, _, err := c.Read(bounded(t))
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 1001 || ce.Reason != "rebooting" {
		t.Fatalf("Read error = %v, want the server's close (1001 rebooting)", err)
	}
	if !strings.Contains(err.Error(), "status 1001: rebooting") {
		t.Fatalf("error text %q", err)
	}
}

func TestClientCloseHandshake(t *testing.T) {
	got := make(chan error, 1)
	url := serve(t, func(ctx context.Context, c *websocket.Conn) {
		_, _, err := c.Read(ctx)
		got <- err
	})
	c := dial(t, url)
	if err := c.Close(bounded(t), StatusNormalClosure); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if websocket.CloseStatus(<-got) != websocket.StatusNormalClosure {
		t.Fatal("the server did not see a normal closure")
	}
	// The server answers the close; Read reports it.
	_, _, err := c.Read(bounded(t))
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 1000 {
		t.Fatalf("Read after Close = %v", err)
	}
	if err := c.Write(bounded(t), Text, []byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close = %v, want net.ErrClosed", err)
	}
}

func TestReadLimit(t *testing.T) {
	url := serve(t, func(ctx context.Context, c *websocket.Conn) {
		c.Write(ctx, websocket.MessageBinary, make([]byte, 2000))
		c.Read(ctx)
	})
	c := dial(t, url)
	c.SetReadLimit(1000)
	if _, _, err := c.Read(bounded(t)); err == nil || !strings.Contains(err.Error(), "over the limit of 1000 bytes") {
		t.Fatalf("Read of 2000 bytes with a limit of 1000 = %v", err)
	}
	if _, _, err := c.Read(bounded(t)); !errors.Is(err, ErrBroken) {
		t.Fatalf("Read after a failed one = %v, want ErrBroken", err)
	}
}

func TestReadStopsWithContext(t *testing.T) {
	url := serve(t, func(ctx context.Context, c *websocket.Conn) {
		c.Read(ctx) // says nothing
	})
	c := dial(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := c.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read = %v, want the context's deadline", err)
	}
}

func TestWriteAfterContextEndedInTime(t *testing.T) {
	// A context that ends after a write completed leaves no deadline
	// behind for the next write.
	url := serve(t, func(ctx context.Context, c *websocket.Conn) {
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	})
	c := dial(t, url)
	for range 100 {
		ctx, cancel := context.WithCancel(context.Background())
		err := c.Write(ctx, Text, []byte("x"))
		cancel()
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	if err := c.Write(bounded(t), Text, []byte("y")); err != nil {
		t.Fatalf("Write after cancelled contexts: %v", err)
	}
}

// readUpgrade reads a client's upgrade request up to its blank line and
// returns it with its Sec-WebSocket-Key.
func readUpgrade(br *bufio.Reader) (req, key string, err error) {
	var b strings.Builder
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return "", "", err
		}
		b.WriteString(l)
		if v, ok := strings.CutPrefix(l, "Sec-WebSocket-Key: "); ok {
			key = strings.TrimSpace(v)
		}
		if l == "\r\n" {
			return b.String(), key, nil
		}
	}
}

// upgraded starts a loopback TCP server that takes one connection, reads
// its upgrade request and hands it to serve, within 10 s; it returns the
// server's URL.
func upgraded(t *testing.T, serve func(nc net.Conn, br *bufio.Reader, req, key string)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(nc)
		req, key, err := readUpgrade(br)
		if err != nil {
			return
		}
		serve(nc, br, req, key)
	}()
	return "ws://" + ln.Addr().String() + "/"
}

// answer starts a loopback TCP server that reads the request and sends
// reply, with the request's accept key where it says {accept}, then hangs
// up.
func answer(t *testing.T, reply string) (string, <-chan string) {
	t.Helper()
	reqs := make(chan string, 1)
	url := upgraded(t, func(nc net.Conn, _ *bufio.Reader, req, key string) {
		reqs <- req
		// Then the server hangs up: the client has sent all it sends.
		io.WriteString(nc, strings.ReplaceAll(reply, "{accept}", acceptKey(key)))
	})
	return url, reqs
}

func TestHandshakeSpelling(t *testing.T) {
	url, reqs := answer(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n\x81\x02hi")
	c := dial(t, url)
	req := <-reqs
	// MicroPython matches these names case-sensitively.
	for _, h := range []string{"GET / HTTP/1.1\r\n", "\r\nSec-WebSocket-Key: ", "\r\nSec-WebSocket-Version: 13\r\n", "\r\nUpgrade: websocket\r\n", "\r\nConnection: Upgrade\r\n"} {
		if !strings.Contains(req, h) {
			t.Errorf("request lacks %q:\n%s", h, req)
		}
	}
	typ, got, err := c.Read(bounded(t))
	if err != nil || typ != Text || string(got) != "hi" {
		t.Fatalf("Read = %d %q %v", typ, got, err)
	}
}

func TestHandshakeRefusals(t *testing.T) {
	for _, tc := range []struct{ reply, want string }{
		{"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "the server answered HTTP 404 Not Found, not a WebSocket upgrade"},
		{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: bm9wZQ==\r\n\r\n", "Sec-WebSocket-Accept does not match"},
		{"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: {accept}\r\n\r\n", "no 'Upgrade: websocket'"},
		{"SSH-2.0-OpenSSH_9.2\r\n", "is not HTTP"},
		{"HTTP/1.1 101 Switching", "unexpected EOF"},
		{"HTTP/1.1 101 OK\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("a", 300)+"\r\n", 60), "too long"},
		{"HTTP/1.1 101 OK\r\n" + strings.Repeat("X-Pad: a\r\n", 200), "too many headers"},
	} {
		url, _ := answer(t, tc.reply)
		_, err := Dial(bounded(t), url, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("answer %q: Dial error = %v, want %q", clip(tc.reply), err, tc.want)
		}
	}
}

func TestHandshakeBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err == nil {
			defer nc.Close()
			io.Copy(io.Discard, nc) // never answers
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := Dial(ctx, "ws://"+ln.Addr().String()+"/", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial to a silent server = %v, want the context's deadline", err)
	}
}

func TestProtocolErrors(t *testing.T) {
	head := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
	for _, tc := range []struct{ frames, want string }{
		{"\x82\x85abcd12345", "masked frame from the server"},
		{"\xc2\x01x", "reserved bits"},
		{"\x00\x01x", "continuation frame with no message"},
		{"\x02\x01x\x81\x01y", "new message inside a fragmented one"},
		{"\x83\x01x", "unknown opcode 3"},
		{"\x09\x01x", "fragmented or long control frame"},
		{"\x82\x05abc", "unexpected EOF"},
		{"\x82\x7f\xff\xff\xff\xff\xff\xff\xff\xff", "over 2^62"},
	} {
		url, _ := answer(t, head+tc.frames)
		c := dial(t, url)
		if _, _, err := c.Read(bounded(t)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("frames %q: Read error = %v, want %q", tc.frames, err, tc.want)
		}
	}
}

func TestWssRefused(t *testing.T) {
	if _, err := Dial(bounded(t), "wss://127.0.0.1:1/", nil); err == nil || !strings.Contains(err.Error(), `"wss" is not ws://`) {
		t.Fatalf("Dial wss:// = %v", err)
	}
}

// silent starts a loopback server that completes the handshake and then
// neither reads nor writes until the test ends.
func silent(t *testing.T) string {
	t.Helper()
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	return upgraded(t, func(nc net.Conn, _ *bufio.Reader, _, key string) {
		io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+acceptKey(key)+"\r\n\r\n")
		<-done
	})
}

// bigWrites signals on started when a write of more than 1 MB begins.
type bigWrites struct {
	net.Conn
	started chan struct{}
}

func (b *bigWrites) Write(p []byte) (int, error) {
	if len(p) > 1<<20 {
		select {
		case b.started <- struct{}{}:
		default:
		}
	}
	return b.Conn.Write(p)
}

func TestCloseBoundedWhileAWriteIsStuck(t *testing.T) {
	// A peer that does not read leaves a big Write blocked; Close, bounded
	// by its context, must not wait behind it.
	url := silent(t)
	started := make(chan struct{}, 1)
	c, err := Dial(bounded(t), url, func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &bigWrites{Conn: nc, started: started}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	wctx, wcancel := context.WithCancel(context.Background())
	defer wcancel()
	go c.Write(wctx, Binary, make([]byte, 64<<20)) // more than the socket buffers hold
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- c.Close(ctx, StatusNormalClosure) }()
	select {
	case err := <-closed:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close = %v, want the context's deadline", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited past its context behind a stuck Write")
	}
}

func TestEmptyCloseAnsweredWithoutStatus1005(t *testing.T) {
	// 1005 means "no status in the frame"; RFC 6455 section 7.4.1 forbids
	// sending it, so an empty close is answered with an empty close.
	answered := make(chan []byte, 1)
	url := upgraded(t, func(nc net.Conn, br *bufio.Reader, _, key string) {
		io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: "+acceptKey(key)+"\r\n\r\n\x88\x00")
		head := make([]byte, 2)
		if _, err := io.ReadFull(br, head); err != nil {
			return
		}
		rest := make([]byte, 4+int(head[1]&0x7f)) // key, payload
		if _, err := io.ReadFull(br, rest); err != nil {
			return
		}
		answered <- append(head, rest...)
	})
	c := dial(t, url)
	_, _, err := c.Read(bounded(t))
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 1005 {
		t.Fatalf("Read = %v, want the server's close without status", err)
	}
	select {
	case f := <-answered:
		if f[0] != 0x88 || f[1] != 0x80 {
			t.Fatalf("the close was answered with frame % x, want an empty close (88 80 + key)", f)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the close was not answered")
	}
}

func TestPingAfterOurCloseIgnored(t *testing.T) {
	head := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
	url, _ := answer(t, head+"\x89\x00\x88\x02\x03\xe8")
	c := dial(t, url)
	if err := c.Close(bounded(t), StatusNormalClosure); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, _, err := c.Read(bounded(t))
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 1000 {
		t.Fatalf("Read after Close, a ping, then the close answer = %v, want the close answer", err)
	}
}

// pingFlood starts a loopback server that completes the handshake, then
// sends pings as fast as it can and never reads, until the test ends.
func pingFlood(t *testing.T) string {
	t.Helper()
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	return upgraded(t, func(nc net.Conn, _ *bufio.Reader, _, key string) {
		io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: "+acceptKey(key)+"\r\n\r\n")
		// Whole frames only, until the test ends: a write cut short by a
		// deadline would leave the stream mid-frame.
		nc.SetDeadline(time.Time{})
		go func() {
			<-done
			nc.Close()
		}()
		ping := append([]byte{0x89, 125}, make([]byte, 125)...)
		burst := bytes.Repeat(ping, 512)
		for {
			if _, err := nc.Write(burst); err != nil {
				return
			}
		}
	})
}

func TestReadBoundedWhilePongsCannotBeSent(t *testing.T) {
	// The pongs fill the socket buffers of a server that does not read;
	// the pong that no longer fits must not outlast Read's context.
	c := dial(t, pingFlood(t))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Read(ctx)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Read = %v, want its context's deadline", err)
		}
	case <-time.After(20 * time.Second):
		c.CloseNow()
		t.Fatal("Read with a 500 ms deadline still blocked after 20 s, writing a pong nobody reads")
	}
}

func TestCloseAnswerBoundedWhileAWriteIsStuck(t *testing.T) {
	// The server closes while a big Write to it is stuck (it does not
	// read): answering its close waits for that Write, within Read's
	// context only.
	closing := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	url := upgraded(t, func(nc net.Conn, _ *bufio.Reader, _, key string) {
		io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: "+acceptKey(key)+"\r\n\r\n")
		<-closing
		io.WriteString(nc, "\x88\x02\x03\xe8")
		<-done
	})
	started := make(chan struct{}, 1)
	c, err := Dial(bounded(t), url, func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &bigWrites{Conn: nc, started: started}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	wctx, wcancel := context.WithCancel(context.Background())
	defer wcancel()
	go c.Write(wctx, Binary, make([]byte, 64<<20)) // more than the socket buffers hold
	<-started
	close(closing)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	read := make(chan error, 1)
	go func() {
		_, _, err := c.Read(ctx)
		read <- err
	}()
	select {
	case err := <-read:
		if err == nil {
			t.Fatal("Read returned a message; want the close or the deadline")
		}
	case <-time.After(20 * time.Second):
		c.CloseNow()
		t.Fatal("Read with a 500 ms deadline still blocked after 20 s, answering a close behind a stuck Write")
	}
}
