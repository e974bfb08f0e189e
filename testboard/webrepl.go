package testboard

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// WebREPL protocol constants, from MicroPython's extmod/modwebrepl.c.
const (
	webreplPrompt    = "Password: "
	webreplConnected = "\r\nWebREPL connected\r\n>>> "
	webreplDenied    = "\r\nAccess denied\r\n"
	webreplHdrLen    = 82 // struct <2sBBQLH64s>
	webreplPut       = 1
	webreplGet       = 2
	webreplGetVer    = 3
	webreplChunk     = 256 // GET chunk size
	webreplOpTimeout = 60 * time.Second
)

// StartWebREPL serves MicroPython's WebREPL protocol on 127.0.0.1 (a free
// port, any path) in front of the board's REPL, as a board with network
// would. Only the first 9 characters of the password count. One client at
// a time: a second concurrent one is turned away, as a real board does.
// File transfers (PUT/GET) really read and write the board's filesystem.
// On the wasm board they are served natively beside the REPL, as
// extmod/modwebrepl.c does on a real board: neither the REPL nor a running
// program notices (a PUT while a program runs is fine). The micro:bit has
// no WebREPL in reality (no network); its transfers go through its raw
// REPL, interrupting whatever runs. ctx bounds the start only.
func StartWebREPL(ctx context.Context, b *Board, password string) (*Server, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("webrepl: %w", err)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("webrepl: %w", err)
	}
	w := &webrepl{
		board:    b,
		password: truncate9(password),
		log:      b.log.With("server", "webrepl"),
		conns:    map[*websocket.Conn]struct{}{},
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	srv := &http.Server{Handler: w, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			w.log.Warn("serve", "err", err)
		}
	}()
	url := "ws://" + ln.Addr().String() + "/"
	w.log.Info("WebREPL listening", "url", url)
	return &Server{url: url, close: func() error {
		w.cancel()
		err := srv.Close()
		w.mu.Lock()
		for c := range w.conns {
			_ = c.CloseNow()
		}
		w.mu.Unlock()
		w.sessions.Wait()
		<-done
		if err != nil {
			return fmt.Errorf("webrepl: %w", err)
		}
		return nil
	}}, nil
}

func truncate9(s string) string {
	if len(s) > 9 {
		return s[:9]
	}
	return s
}

// webrepl is the server's state.
type webrepl struct {
	board    *Board
	password string
	log      *slog.Logger
	ctx      context.Context
	cancel   context.CancelFunc
	sessions sync.WaitGroup

	mu    sync.Mutex
	conns map[*websocket.Conn]struct{}
	busy  bool // a client is logged in
}

func (w *webrepl) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(rw, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // browsers on any origin may connect, as to a board
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		w.log.Debug("accept", "err", err)
		return
	}
	c.SetReadLimit(1 << 20)
	w.mu.Lock()
	if w.ctx.Err() != nil {
		w.mu.Unlock()
		_ = c.CloseNow()
		return
	}
	w.conns[c] = struct{}{}
	w.sessions.Add(1)
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.conns, c)
		w.mu.Unlock()
		w.sessions.Done()
	}()
	ctx, cancel := context.WithCancel(w.ctx)
	defer cancel()
	if err := w.session(ctx, c); err != nil {
		w.log.Debug("session ended", "err", err)
	}
	_ = c.CloseNow()
}

// session serves one client: login, then the bridge.
func (w *webrepl) session(ctx context.Context, c *websocket.Conn) error {
	if err := c.Write(ctx, websocket.MessageText, []byte(webreplPrompt)); err != nil {
		return err
	}
	var typed []byte
	for {
		_, msg, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if i := bytes.IndexAny(msg, "\r\n"); i >= 0 {
			typed = append(typed, msg[:i]...)
			break
		}
		typed = append(typed, msg...)
	}
	if truncate9(string(typed)) != w.password {
		w.log.Info("WebREPL access denied")
		_ = c.Write(ctx, websocket.MessageText, []byte(webreplDenied))
		return c.Close(websocket.StatusNormalClosure, "")
	}
	w.mu.Lock()
	if w.busy {
		w.mu.Unlock()
		w.log.Info("concurrent WebREPL connection rejected")
		return c.Close(websocket.StatusTryAgainLater, "concurrent WebREPL connection rejected")
	}
	w.busy = true
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.busy = false
		w.mu.Unlock()
	}()

	port, err := OpenRaw(w.board.Path())
	if err != nil {
		_ = c.Close(websocket.StatusInternalError, "board not connected")
		return err
	}
	defer port.Close()
	s := &bridge{
		w:    w,
		ws:   c,
		port: port,
		out:  port,
	}
	// A board with networking has flow control on its socket; the
	// micro:bit's UART has none, so pace what we send it ourselves.
	if w.board.Kind() == Microbit && !w.board.Paced() {
		s.out = newPacedWriter(port, UARTBaud, nil, ctx.Done())
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(webreplConnected)); err != nil {
		return err
	}
	w.log.Info("WebREPL client connected")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer cancel()
		s.fromBoard(ctx)
	}()
	err = s.fromClient(ctx)
	cancel()
	_ = port.Close()
	<-readerDone
	return err
}

// bridge copies between a logged-in client and the board.
type bridge struct {
	w    *webrepl
	ws   *websocket.Conn
	port *os.File
	out  io.Writer // to the board, paced when needed

	mu      sync.Mutex
	capture *capture // set while a file operation runs
	tail    []byte   // recent board output, to tell the REPL mode
	raw     bool     // the board is in its raw REPL
}

// capture takes the board's output while a file operation runs.
type capture struct {
	ch   chan []byte
	done chan struct{}
}

// fromBoard forwards board output to the client as text frames, as a board
// does, or to a running file operation.
func (s *bridge) fromBoard(ctx context.Context) {
	buf := make([]byte, 4096)
	for {
		n, err := s.port.Read(buf)
		if n > 0 {
			chunk := append([]byte(nil), buf[:n]...)
			s.mu.Lock()
			c := s.capture
			if c == nil {
				s.watch(chunk)
			}
			s.mu.Unlock()
			if c != nil {
				select {
				case c.ch <- chunk:
				case <-c.done: // the operation is over: this is its leftover
				case <-ctx.Done():
				}
			} else if werr := s.ws.Write(ctx, websocket.MessageText, chunk); werr != nil {
				return
			}
		}
		if err != nil {
			// The board was unplugged: the network goes with it.
			s.w.log.Debug("board read ended", "err", err)
			_ = s.ws.Close(websocket.StatusGoingAway, "board disconnected")
			return
		}
	}
}

// watch follows which REPL the board is in, from its own output.
func (s *bridge) watch(chunk []byte) {
	s.tail = append(s.tail, chunk...)
	rawAt := bytes.LastIndex(s.tail, []byte("raw REPL; CTRL-B to exit\r\n"))
	friendlyAt := bytes.LastIndex(s.tail, []byte("\r\n>>> "))
	switch {
	case rawAt > friendlyAt:
		s.raw = true
	case friendlyAt > rawAt:
		s.raw = false
	}
	if len(s.tail) > 64 {
		s.tail = append(s.tail[:0], s.tail[len(s.tail)-64:]...)
	}
}

// fromClient reads the client's frames: REPL input, or file operations.
func (s *bridge) fromClient(ctx context.Context) error {
	var hdr []byte // a file operation header arriving in pieces
	for {
		typ, msg, err := s.ws.Read(ctx)
		if err != nil {
			return err
		}
		if typ == websocket.MessageBinary && (hdr != nil || bytes.HasPrefix(msg, []byte("WA"))) {
			hdr = append(hdr, msg...)
			if len(hdr) < webreplHdrLen {
				continue
			}
			if err := s.fileOp(ctx, hdr[:webreplHdrLen]); err != nil {
				return err
			}
			hdr = nil
			continue
		}
		if _, err := s.out.Write(msg); err != nil {
			return fmt.Errorf("write to board: %w", err)
		}
	}
}

// fileOp serves one file operation; an error ends the session.
func (s *bridge) fileOp(ctx context.Context, hdr []byte) error {
	op := hdr[2]
	size := int(binary.LittleEndian.Uint32(hdr[12:16]))
	nameLen := int(binary.LittleEndian.Uint16(hdr[16:18]))
	name := string(hdr[18 : 18+min(nameLen, 64)])
	log := s.w.log.With("op", op, "file", name, "size", size)
	switch op {
	case webreplGetVer:
		return s.ws.Write(ctx, websocket.MessageBinary, s.version())
	case webreplPut:
		data, err := s.receive(ctx, size)
		if err != nil {
			return err
		}
		status := 0
		if err := s.put(ctx, name, data); err != nil {
			log.Info("PUT failed", "err", err)
			status = 1
		} else {
			log.Info("PUT done")
		}
		return s.ws.Write(ctx, websocket.MessageBinary, webreplResp(status))
	case webreplGet:
		data, err := s.get(ctx, name)
		if err != nil {
			log.Info("GET failed", "err", err)
			return s.ws.Write(ctx, websocket.MessageBinary, webreplResp(1))
		}
		log.Info("GET", "bytes", len(data))
		return s.send(ctx, data)
	default:
		log.Info("unknown file operation")
		return s.ws.Write(ctx, websocket.MessageBinary, webreplResp(1))
	}
}

// put writes a file on the board: natively on the wasm board, through the
// raw REPL on the micro:bit.
func (s *bridge) put(ctx context.Context, name string, data []byte) error {
	if s.w.board.Kind() == Wasm {
		ctx, cancel := context.WithTimeout(ctx, webreplOpTimeout)
		defer cancel()
		_, err := s.w.board.nativeFile(ctx, fileOpPut, name, data)
		return err
	}
	return s.onBoard(ctx, func(ctx context.Context, r *rawREPL) error { return putFile(ctx, r, name, data) })
}

// get reads a file from the board, as put writes one.
func (s *bridge) get(ctx context.Context, name string) ([]byte, error) {
	if s.w.board.Kind() == Wasm {
		ctx, cancel := context.WithTimeout(ctx, webreplOpTimeout)
		defer cancel()
		return s.w.board.nativeFile(ctx, fileOpGet, name, nil)
	}
	var data []byte
	err := s.onBoard(ctx, func(ctx context.Context, r *rawREPL) error {
		var err error
		data, err = getFile(ctx, r, name)
		return err
	})
	return data, err
}

func webreplResp(status int) []byte {
	return []byte{'W', 'B', byte(status), byte(status >> 8)}
}

// version answers GET_VER with the board's MicroPython version.
func (s *bridge) version() []byte {
	if s.w.board.Kind() == Microbit {
		return []byte{1, 9, 2}
	}
	return []byte{1, 27, 0}
}

// receive answers a PUT header and collects its data. A real board opens
// the file first; here the data is written once it is all in (under a
// temporary name, then renamed, on the wasm board), and the final status
// tells whether that worked.
func (s *bridge) receive(ctx context.Context, size int) ([]byte, error) {
	if err := s.ws.Write(ctx, websocket.MessageBinary, webreplResp(0)); err != nil {
		return nil, err
	}
	data := make([]byte, 0, size)
	for len(data) < size {
		typ, msg, err := s.ws.Read(ctx)
		if err != nil {
			return nil, err
		}
		if typ != websocket.MessageBinary {
			continue // REPL input in the middle of a transfer: a board would mix it in; drop it
		}
		data = append(data, msg[:min(len(msg), size-len(data))]...)
	}
	return data, nil
}

// send serves a GET whose data is known: WB 0, then one chunk per \x00 the
// client sends, a zero-length chunk, and WB 0.
func (s *bridge) send(ctx context.Context, data []byte) error {
	if err := s.ws.Write(ctx, websocket.MessageBinary, webreplResp(0)); err != nil {
		return err
	}
	for {
		typ, msg, err := s.ws.Read(ctx)
		if err != nil {
			return err
		}
		if typ != websocket.MessageBinary || len(msg) == 0 || msg[0] != 0 {
			continue
		}
		n := min(len(data), webreplChunk)
		frame := make([]byte, 2+n)
		binary.LittleEndian.PutUint16(frame, uint16(n))
		copy(frame[2:], data[:n])
		data = data[n:]
		if err := s.ws.Write(ctx, websocket.MessageBinary, frame); err != nil {
			return err
		}
		if n == 0 {
			return s.ws.Write(ctx, websocket.MessageBinary, webreplResp(0))
		}
	}
}

// onBoard runs f against the board's raw REPL while the client sees none
// of it, then puts the board back in the REPL mode it was in.
func (s *bridge) onBoard(ctx context.Context, f func(ctx context.Context, r *rawREPL) error) error {
	ctx, cancel := context.WithTimeout(ctx, webreplOpTimeout)
	defer cancel()
	c := &capture{ch: make(chan []byte), done: make(chan struct{})}
	s.mu.Lock()
	s.capture = c
	wasRaw := s.raw
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.capture = nil
		s.mu.Unlock()
		close(c.done)
	}()
	r := &rawREPL{w: s.out, next: func(ctx context.Context) ([]byte, error) {
		select {
		case b := <-c.ch:
			return b, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}}
	if err := r.enter(ctx); err != nil {
		return err
	}
	err := f(ctx, r)
	if !wasRaw {
		if lerr := r.leave(ctx); lerr != nil && err == nil {
			err = lerr
		}
	}
	return err
}

// microbitChunk is how many file bytes one exec carries: the micro:bit has
// about 9 KB of RAM and compiles at most about 2 KB of code. (Only the
// micro:bit moves files through its raw REPL; wasm serves them natively.)
const microbitChunk = 64

func putFile(ctx context.Context, r *rawREPL, name string, data []byte) (err error) {
	if _, err := r.exec(ctx, "_wr_f=open("+pyStr(name)+",'wb')"); err != nil {
		return err
	}
	defer func() {
		if _, cerr := r.exec(ctx, "_wr_f.close()\ndel _wr_f"); cerr != nil && err == nil {
			err = cerr
		}
	}()
	for off := 0; off < len(data); off += microbitChunk {
		chunk := data[off:min(len(data), off+microbitChunk)]
		if _, err := r.exec(ctx, "_wr_f.write("+pyBytes(chunk)+")"); err != nil {
			return err
		}
	}
	return nil
}

func getFile(ctx context.Context, r *rawREPL, name string) ([]byte, error) {
	code := fmt.Sprintf("_wr_f=open(%s,'rb')\n_wr_b=None\ntry:\n while True:\n  _wr_b=_wr_f.read(%d)\n  if not _wr_b:\n   break\n  print(list(_wr_b))\nfinally:\n _wr_f.close()\n del _wr_f,_wr_b\n",
		pyStr(name), microbitChunk)
	out, err := r.exec(ctx, code)
	if err != nil {
		return nil, err
	}
	return parseByteLists(out)
}
