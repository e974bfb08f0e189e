package webrepl

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
)

// fakeBoard is an in-process WebREPL server that follows modwebrepl.c: the
// password dialogue, REPL bytes in text frames (echoed back), and the
// binary file protocol over a byte stream joined from binary frames.
type fakeBoard struct {
	password string
	// binaryOutput sends REPL output in binary frames, as webrepl.py does
	// in its non-legacy mode.
	binaryOutput bool
	// noise is REPL output sent in the middle of every GET, in a text
	// frame, to show that transfers and Read do not steal each other's
	// frames.
	noise string

	mu    sync.Mutex
	files map[string][]byte
	heads []string // raw request heads, to check header spelling
}

// dropCommand at the end of REPL input makes the fake board echo the rest
// and then cut the connection, as a board that resets does.
const dropCommand = "\x00DROP"

// stallName is a file the fake board never answers a GET for.
const stallName = "/stall"

type rawConnKey struct{}

// recConn remembers the first bytes the server reads: the request head.
type recConn struct {
	net.Conn
	mu   sync.Mutex
	head []byte
}

func (c *recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if len(c.head) < 4096 {
		c.head = append(c.head, p[:n]...)
	}
	c.mu.Unlock()
	return n, err
}

type recListener struct{ net.Listener }

func (l recListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &recConn{Conn: c}, nil
}

// start serves the board on 127.0.0.1 until t ends and returns its ws:// URL.
func (b *fakeBoard) start(t *testing.T) string {
	t.Helper()
	url, stop := b.listen()
	t.Cleanup(stop)
	return url
}

// listen serves the board on 127.0.0.1 and returns its ws:// URL and the
// function that stops it.
func (b *fakeBoard) listen() (string, func()) {
	if b.files == nil {
		b.files = map[string][]byte{}
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(b.serve))
	srv.Listener = recListener{srv.Listener}
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, rawConnKey{}, c)
	}
	srv.Start()
	return "ws://" + srv.Listener.Addr().String() + "/", srv.Close
}

func (b *fakeBoard) serve(w http.ResponseWriter, r *http.Request) {
	rc := r.Context().Value(rawConnKey{}).(*recConn)
	rc.mu.Lock()
	head := string(rc.head)
	rc.mu.Unlock()
	b.mu.Lock()
	b.heads = append(b.heads, head)
	b.mu.Unlock()
	// MicroPython matches these header names case-sensitively.
	for _, h := range []string{"\r\nSec-WebSocket-Key: ", "\r\nConnection: ", "\r\nUpgrade: websocket"} {
		if !strings.Contains(head, h) {
			http.Error(w, "Not a websocket request", http.StatusBadRequest)
			return
		}
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 20)
	b.session(r.Context(), ws)
}

func (b *fakeBoard) session(ctx context.Context, ws *websocket.Conn) {
	if ws.Write(ctx, websocket.MessageText, []byte("Password: ")) != nil {
		return
	}
	var typed []byte
	for !bytes.ContainsAny(typed, "\r\n") {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		typed = append(typed, data...)
	}
	typed = typed[:bytes.IndexAny(typed, "\r\n")]
	if string(typed) != b.password {
		ws.Write(ctx, websocket.MessageText, []byte("\r\nAccess denied\r\n"))
		ws.Close(websocket.StatusNormalClosure, "")
		return
	}
	if ws.Write(ctx, websocket.MessageText, []byte("\r\nWebREPL connected\r\n>>> ")) != nil {
		return
	}
	fs := &fileProto{b: b, ws: ws, ctx: ctx}
	for {
		typ, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		if typ == websocket.MessageText {
			data, drop := bytes.CutSuffix(data, []byte(dropCommand))
			out := websocket.MessageText
			if b.binaryOutput {
				out = websocket.MessageBinary
			}
			if ws.Write(ctx, out, data) != nil || drop {
				return // CloseNow: the TCP connection ends without a close frame
			}
			continue
		}
		if !fs.feed(data) {
			return
		}
	}
}

// fileProto is the board's side of the binary file protocol.
type fileProto struct {
	b   *fakeBoard
	ws  *websocket.Conn
	ctx context.Context

	in   []byte // binary bytes not yet used
	op   byte   // transfer in progress, 0 when waiting for a header
	name string
	left int    // PUT bytes still to come
	data []byte // PUT data so far, or GET data still to send
}

func (f *fileProto) send(p []byte) bool {
	return f.ws.Write(f.ctx, websocket.MessageBinary, p) == nil
}

func (f *fileProto) status(code uint16) bool {
	return f.send([]byte{'W', 'B', byte(code), byte(code >> 8)})
}

// feed takes a binary frame and acts on every complete request in the
// stream so far.
func (f *fileProto) feed(frame []byte) bool {
	f.in = append(f.in, frame...)
	for {
		switch {
		case f.op == 0:
			if len(f.in) < headerLen {
				return true
			}
			h := f.in[:headerLen]
			f.in = f.in[headerLen:]
			if string(h[:2]) != "WA" {
				return false
			}
			nameLen := int(binary.LittleEndian.Uint16(h[16:]))
			f.op, f.name = h[2], string(h[18:18+nameLen])
			switch f.op {
			case opGetVer:
				f.op = 0
				if !f.send([]byte{1, 27, 0}) {
					return false
				}
			case opPut:
				f.left, f.data = int(binary.LittleEndian.Uint32(h[12:])), nil
				if !f.status(0) {
					return false
				}
				if f.left == 0 && !f.finishPut() {
					return false
				}
			case opGet:
				f.b.mu.Lock()
				data, ok := f.b.files[f.name]
				f.b.mu.Unlock()
				if f.name == stallName {
					f.op = 0 // never answer
					continue
				}
				if !ok {
					f.op = 0
					if !f.status(2) { // ENOENT
						return false
					}
					continue
				}
				f.data = data
				if !f.status(0) {
					return false
				}
			default:
				return false
			}
		case f.op == opPut:
			if len(f.in) == 0 {
				return true
			}
			n := min(len(f.in), f.left)
			f.data = append(f.data, f.in[:n]...)
			f.in, f.left = f.in[n:], f.left-n
			if f.left == 0 && !f.finishPut() {
				return false
			}
		case f.op == opGet:
			if len(f.in) == 0 {
				return true
			}
			if f.in[0] != 0 {
				return false
			}
			f.in = f.in[1:]
			if !f.sendChunk() {
				return false
			}
		}
	}
}

func (f *fileProto) finishPut() bool {
	f.b.mu.Lock()
	f.b.files[f.name] = f.data
	f.b.mu.Unlock()
	f.op = 0
	return f.status(0)
}

// sendChunk answers one request byte of a GET: up to 256 bytes, split over
// two frames to show that the client joins frames into a stream.
func (f *fileProto) sendChunk() bool {
	n := min(len(f.data), 256)
	var l [2]byte
	binary.LittleEndian.PutUint16(l[:], uint16(n))
	if !f.send(l[:]) {
		return false
	}
	if n == 0 {
		f.op = 0
		return f.status(0)
	}
	if !f.send(f.data[:n]) {
		return false
	}
	f.data = f.data[n:]
	if f.b.noise != "" {
		return f.ws.Write(f.ctx, websocket.MessageText, []byte(f.b.noise)) == nil
	}
	return true
}
