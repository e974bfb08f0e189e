package testboard

import (
	"bytes"
	"context"
	"encoding/binary"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/iot-kernel/iot-kernel/internal/testenv"
)

// startWebREPL starts a board without pacing (the server must pace the
// micro:bit itself, as a board's socket would) and a WebREPL server on it.
func startWebREPL(t *testing.T, kind Kind, password string) (*Board, *Server) {
	t.Helper()
	ctx, cancel := testContext(t)
	defer cancel()
	b, err := Start(ctx, kind, Options{PaceBaud: -1, Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	s, err := StartWebREPL(ctx, b, password)
	if err != nil {
		t.Fatalf("StartWebREPL: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if !strings.HasPrefix(s.URL(), "ws://127.0.0.1:") {
		t.Errorf("URL = %q", s.URL())
	}
	return b, s
}

// wsClient is a test's WebREPL client.
type wsClient struct {
	t    testing.TB
	c    *websocket.Conn
	text []byte
}

func dialWebREPL(t testing.TB, s *Server) *wsClient {
	t.Helper()
	ctx, cancel := testContext(t)
	defer cancel()
	c, _, err := websocket.Dial(ctx, s.URL(), nil)
	if err != nil {
		t.Fatalf("dial %s: %v", s.URL(), err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return &wsClient{t: t, c: c}
}

func (w *wsClient) send(typ websocket.MessageType, p []byte) {
	w.t.Helper()
	ctx, cancel := testContext(w.t)
	defer cancel()
	if err := w.c.Write(ctx, typ, p); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

// expect reads text frames until want has arrived.
func (w *wsClient) expect(want string) string {
	w.t.Helper()
	ctx, cancel := testContext(w.t)
	defer cancel()
	for {
		if i := bytes.Index(w.text, []byte(want)); i >= 0 {
			got := string(w.text[:i+len(want)])
			w.text = w.text[i+len(want):]
			return got
		}
		typ, msg, err := w.c.Read(ctx)
		if err != nil {
			w.t.Fatalf("waiting for %q: %v; got %q", want, err, w.text)
		}
		if typ != websocket.MessageText {
			w.t.Fatalf("waiting for %q: got a binary frame %q", want, msg)
		}
		w.text = append(w.text, msg...)
	}
}

// binary reads the next binary frame. Text frames before it (output of a
// program running beside a file transfer) are kept for expect.
func (w *wsClient) binary() []byte {
	w.t.Helper()
	ctx, cancel := testContext(w.t)
	defer cancel()
	for {
		typ, msg, err := w.c.Read(ctx)
		if err != nil {
			w.t.Fatalf("read: %v", err)
		}
		if typ == websocket.MessageBinary {
			return msg
		}
		w.text = append(w.text, msg...)
	}
}

func (w *wsClient) login(password string) {
	w.t.Helper()
	w.expect("Password: ")
	w.send(websocket.MessageText, []byte(password+"\r"))
	w.expect("\r\nWebREPL connected\r\n>>> ")
}

func webreplHeader(op byte, size int, name string) []byte {
	h := make([]byte, 82)
	copy(h, "WA")
	h[2] = op
	binary.LittleEndian.PutUint32(h[12:], uint32(size))
	binary.LittleEndian.PutUint16(h[16:], uint16(len(name)))
	copy(h[18:], name)
	return h
}

func (w *wsClient) status() int {
	w.t.Helper()
	r := w.binary()
	if len(r) != 4 || string(r[:2]) != "WB" {
		w.t.Fatalf("got %q, want a WB response", r)
	}
	return int(binary.LittleEndian.Uint16(r[2:]))
}

func (w *wsClient) put(name string, data []byte) int {
	w.t.Helper()
	w.send(websocket.MessageBinary, webreplHeader(1, len(data), name))
	if st := w.status(); st != 0 {
		return st
	}
	for off := 0; off < len(data); off += 1024 {
		w.send(websocket.MessageBinary, data[off:min(len(data), off+1024)])
	}
	return w.status()
}

func (w *wsClient) get(name string) ([]byte, int) {
	w.t.Helper()
	w.send(websocket.MessageBinary, webreplHeader(2, 0, name))
	if st := w.status(); st != 0 {
		return nil, st
	}
	var data []byte
	for {
		w.send(websocket.MessageBinary, []byte{0})
		chunk := w.binary()
		n := int(binary.LittleEndian.Uint16(chunk))
		if n > 256 || len(chunk) != 2+n {
			w.t.Fatalf("bad GET chunk of %d bytes announcing %d", len(chunk), n)
		}
		if n == 0 {
			return data, w.status()
		}
		data = append(data, chunk[2:]...)
	}
}

func TestWebREPLLogin(t *testing.T) {
	kinds(t, func(t *testing.T, kind Kind) {
		_, s := startWebREPL(t, kind, "secret")

		bad := dialWebREPL(t, s)
		bad.expect("Password: ")
		bad.send(websocket.MessageText, []byte("wrong\r"))
		bad.expect("\r\nAccess denied\r\n")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, _, err := bad.c.Read(ctx); websocket.CloseStatus(err) == -1 {
			t.Errorf("after a wrong password, read gave %v; want the server to close", err)
		}

		good := dialWebREPL(t, s)
		good.login("secret")
		good.send(websocket.MessageText, []byte("print(1+2)\r"))
		good.expect("3\r\n>>> ")
	})
}

// Only 9 characters of the password count, as on a board.
func TestWebREPLLongPassword(t *testing.T) {
	_, s := startWebREPL(t, Wasm, "123456789abc")
	w := dialWebREPL(t, s)
	w.login("123456789xyz")
	w.send(websocket.MessageText, []byte("\x01"))
	w.expect("raw REPL; CTRL-B to exit\r\n>")
	w.send(websocket.MessageText, []byte("print('raw')\x04"))
	w.expect("OKraw\r\n\x04\x04>")
}

func TestWebREPLFiles(t *testing.T) {
	kinds(t, func(t *testing.T, kind Kind) {
		_, s := startWebREPL(t, kind, "pw")
		w := dialWebREPL(t, s)
		w.login("pw")

		data := make([]byte, 700)
		for i := range data {
			data[i] = byte(i * 7)
		}
		if st := w.put("data.bin", data); st != 0 {
			t.Fatalf("PUT status %d", st)
		}
		// The file is really on the board, and the REPL is as it was.
		w.send(websocket.MessageText, []byte("f=open('data.bin','rb');d=f.read();f.close();print(len(d), sum(d))\r"))
		want := 0
		for _, c := range data {
			want += int(c)
		}
		w.expect("700 " + strconv.Itoa(want) + "\r\n>>> ")

		got, st := w.get("data.bin")
		if st != 0 || !bytes.Equal(got, data) {
			t.Errorf("GET gave status %d and %d bytes; want 0 and the %d bytes put", st, len(got), len(data))
		}
		if _, st := w.get("missing.bin"); st == 0 {
			t.Errorf("GET of a missing file gave status 0")
		}
		w.send(websocket.MessageBinary, webreplHeader(3, 0, ""))
		if v := w.binary(); len(v) != 3 || v[0] != 1 {
			t.Errorf("GET_VER gave %v", v)
		}
		// Still a working REPL after the file operations.
		w.send(websocket.MessageText, []byte("print('after')\r"))
		w.expect("after\r\n>>> ")
	})
}

// Unplugging the board ends the WebREPL session; after a restart a new
// client gets a working REPL.
func TestWebREPLBoardKilled(t *testing.T) {
	b, s := startWebREPL(t, Wasm, "pw")
	w := dialWebREPL(t, s)
	w.login("pw")
	if err := b.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	ctx, cancel := testContext(t)
	defer cancel()
	for {
		if _, _, err := w.c.Read(ctx); err != nil {
			if ctx.Err() != nil {
				t.Fatalf("session outlived the board")
			}
			break
		}
	}
	if err := b.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	w = dialWebREPL(t, s)
	w.login("pw")
	w.send(websocket.MessageText, []byte("print(5*5)\r"))
	w.expect("25\r\n>>> ")
}

// On the wasm board a PUT is served beside the REPL, as modwebrepl.c does
// on a real board: a running program is not interrupted, and sees the file.
func TestWebREPLPutWhileRunning(t *testing.T) {
	_, s := startWebREPL(t, Wasm, "pw")
	w := dialWebREPL(t, s)
	w.login("pw")

	// The program waits for go.txt, then prints it. Ctrl-C would end it
	// with a KeyboardInterrupt instead.
	prog := `exec("import time,os\nprint('started')\nwhile True:\n time.sleep(0.01)\n try:\n  os.stat('go.txt')\n  break\n except OSError:\n  pass\nprint('seen', open('go.txt').read())")`
	w.send(websocket.MessageText, []byte(prog+"\r"))
	w.expect("started\r\n")
	if st := w.put("go.txt", []byte("hello")); st != 0 {
		t.Fatalf("PUT while a program runs: status %d", st)
	}
	if got := w.expect("\r\n>>> "); !strings.Contains(got, "seen hello\r\n") || strings.Contains(got, "KeyboardInterrupt") {
		t.Fatalf("program output after the PUT: %q; want it to see the file and end by itself", got)
	}

	// A second PUT replaces the file and a GET is served too, both while a
	// program runs: it waits for the new content, says so, then waits for
	// stop.txt.
	prog = `exec("import time,os\nprint('waiting')\nwhile open('go.txt').read()!='bye': time.sleep(0.01)\nprint('replaced')\nwhile 'stop.txt' not in os.listdir(): time.sleep(0.01)\nprint('stopped')")`
	w.send(websocket.MessageText, []byte(prog+"\r"))
	w.expect("waiting\r\n")
	if st := w.put("go.txt", []byte("bye")); st != 0 {
		t.Fatalf("second PUT: status %d", st)
	}
	w.expect("replaced\r\n")
	if got, st := w.get("go.txt"); st != 0 || string(got) != "bye" {
		t.Errorf("GET gave %q, status %d; want \"bye\", 0", got, st)
	}
	if st := w.put("stop.txt", nil); st != 0 {
		t.Fatalf("PUT of an empty file: status %d", st)
	}
	if got := w.expect("\r\n>>> "); got != "stopped\r\n>>> " {
		t.Errorf("program ended with %q; want it to end by itself", got)
	}

	// A program waiting in input() does not hold transfers up either.
	w.send(websocket.MessageText, []byte("x = input('name? ')\r"))
	w.expect("name? ")
	if st := w.put("during_input.txt", []byte("ok")); st != 0 {
		t.Fatalf("PUT while input() waits: status %d", st)
	}
	w.send(websocket.MessageText, []byte("bob\r"))
	w.expect(">>> ")

	// A PUT that cannot be done leaves nothing behind.
	if st := w.put("nodir/x.txt", []byte("x")); st == 0 {
		t.Errorf("PUT into a missing directory gave status 0")
	}
	if _, st := w.get("missing.txt"); st == 0 {
		t.Errorf("GET of a missing file gave status 0")
	}
	// Refused transfers do not stop later ones.
	if st := w.put("after.txt", []byte("ok")); st != 0 {
		t.Errorf("PUT after refused transfers: status %d", st)
	}
	// Natively written files are on the board's "flash": they survive a
	// soft reset.
	w.send(websocket.MessageText, []byte("\x04"))
	w.expect("MPY: soft reboot\r\n")
	w.expect(">>> ")
	w.send(websocket.MessageText, []byte("import os;print(sorted(os.listdir()), open('go.txt').read())\r"))
	w.expect("['after.txt', 'during_input.txt', 'go.txt', 'stop.txt'] bye\r\n>>> ")
}
