package webrepl

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// A fuzz target of the WebREPL file protocol's records as the client reads
// them: the "WB" status answers, GET's length-prefixed chunks, GET_VER's
// three bytes, whatever frames they come in. Seeds live in
// testdata/fuzz/FuzzWebREPLRecords/; run it with
//
//	go test ./transport/webrepl -run '^$' -fuzz '^FuzzWebREPLRecords$' -fuzztime 30s

// recordBoard is a WebREPL on 127.0.0.1 that logs in anyone and answers
// the first file request with a fixed byte stream. It ends the session
// once the client has sent what the protocol has it send while reading
// that answer (PUT's data, GET's one zero byte per chunk), so a client
// left waiting for more gets a lost connection rather than a hang.
type recordBoard struct {
	url string

	mu     sync.Mutex
	answer [][]byte // binary frames; nil entries are a text frame of REPL noise
	expect int      // binary frames the client sends after the header
}

func startRecordBoard(f *testing.F) *recordBoard {
	b := &recordBoard{}
	srv := httptest.NewServer(http.HandlerFunc(b.serve))
	f.Cleanup(srv.Close)
	b.url = "ws://" + srv.Listener.Addr().String() + "/"
	return b
}

func (b *recordBoard) serve(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer ws.CloseNow()
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if ws.Write(ctx, websocket.MessageText, []byte(passwordPrompt)) != nil {
		return
	}
	for {
		_, p, err := ws.Read(ctx)
		if err != nil {
			return
		}
		if bytes.ContainsAny(p, "\r\n") {
			break
		}
	}
	if ws.Write(ctx, websocket.MessageText, []byte(greeting+">>> ")) != nil {
		return
	}
	for { // up to the request header
		typ, p, err := ws.Read(ctx)
		if err != nil {
			return
		}
		if typ == websocket.MessageBinary && bytes.HasPrefix(p, []byte("WA")) {
			break
		}
	}
	b.mu.Lock()
	answer, expect := b.answer, b.expect
	b.mu.Unlock()
	for _, fr := range answer {
		typ := websocket.MessageBinary
		if fr == nil {
			typ, fr = websocket.MessageText, []byte("noise\r\n")
		}
		if ws.Write(ctx, typ, fr) != nil {
			return
		}
	}
	for expect > 0 {
		typ, _, err := ws.Read(ctx)
		if err != nil {
			return
		}
		if typ == websocket.MessageBinary {
			expect--
		}
	}
	_ = ws.Close(websocket.StatusNormalClosure, "")
}

// reference is what the protocol says an answer means, read by hand.
type reference struct {
	sends  int    // binary frames the client sends after the header
	ok     bool   // the operation succeeds
	status uint16 // a non-zero status the board answered, when !ok
	data   []byte // GET's file, GET_VER's version
}

// refStatus reads a WB record at p[*at:].
func refStatus(p []byte, at *int) (st uint16, ok bool) {
	if len(p) < *at+4 || p[*at] != 'W' || p[*at+1] != 'B' {
		return 0, false
	}
	st = binary.LittleEndian.Uint16(p[*at+2:])
	*at += 4
	return st, true
}

func refAnswer(op byte, p []byte) reference {
	at := 0
	switch op {
	case opGetVer:
		if len(p) < 3 {
			return reference{}
		}
		return reference{ok: true, data: []byte(fmt.Sprintf("%d.%d.%d", p[0], p[1], p[2]))}
	case opPut:
		st, ok := refStatus(p, &at)
		if !ok || st != 0 {
			return reference{status: st}
		}
		// then the data, in one frame
		if st, ok := refStatus(p, &at); !ok || st != 0 {
			return reference{sends: 1, status: st}
		}
		return reference{sends: 1, ok: true}
	}
	st, ok := refStatus(p, &at)
	if !ok || st != 0 {
		return reference{status: st}
	}
	var data []byte
	sends := 0
	for {
		sends++ // a zero byte asks for the next chunk
		if len(p) < at+2 {
			return reference{sends: sends}
		}
		n := int(binary.LittleEndian.Uint16(p[at:]))
		at += 2
		if n == 0 {
			break
		}
		if len(p) < at+n {
			return reference{sends: sends}
		}
		data = append(data, p[at:at+n]...)
		at += n
	}
	if st, ok := refStatus(p, &at); !ok || st != 0 {
		return reference{sends: sends, status: st}
	}
	return reference{sends: sends, ok: true, data: data}
}

// frames cuts p into binary frames whose sizes come from cuts (1 to 1021
// bytes); a cut of 255 first sends an empty binary frame, one of 254 a
// text frame of REPL output, which a transfer must leave alone.
func frames(p []byte, cuts []byte) [][]byte {
	out := [][]byte{}
	for i := 0; len(p) > 0; i++ {
		n := len(p)
		if len(cuts) > 0 {
			c := cuts[i%len(cuts)]
			switch c {
			case 255:
				out = append(out, []byte{})
			case 254:
				out = append(out, nil)
			}
			n = min(n, 1+int(c)*4)
		}
		out = append(out, p[:n])
		p = p[n:]
	}
	return out
}

var errHang = errors.New("no end within 10 s")

// recordOp logs in at url, runs op and logs out, within a bound.
func recordOp(url string, op byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		got []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := Dial(ctx, url, "pw")
		if err != nil {
			done <- result{nil, fmt.Errorf("dial: %w", err)}
			return
		}
		defer c.Close()
		var r result
		switch op {
		case opPut:
			r.err = c.PutFile(ctx, "f.bin", []byte("data"), nil)
		case opGet:
			r.got, r.err = c.GetFile(ctx, "f.bin", -1, nil)
		case opGetVer:
			var v string
			v, r.err = c.Version(ctx)
			r.got = []byte(v)
		}
		if ctx.Err() != nil {
			r.err = fmt.Errorf("%w (%v)", errHang, r.err)
		}
		done <- r
	}()
	select {
	case r := <-done:
		return r.got, r.err
	case <-time.After(15 * time.Second):
		return nil, fmt.Errorf("%w: stuck past its context", errHang)
	}
}

// Whatever the board answers to a PUT, a GET or a GET_VER, the client
// ends (no hang, no panic), and it succeeds exactly when the answer is a
// complete, well-formed one with status 0, giving back the file's bytes
// or the version; a non-zero status becomes a *StatusError with that
// status, and anything else an error.
func FuzzWebREPLRecords(f *testing.F) {
	b := startRecordBoard(f)
	f.Fuzz(func(t *testing.T, op byte, answer []byte, cuts []byte) {
		op = opPut + op%3
		want := refAnswer(op, answer)
		b.mu.Lock()
		b.answer, b.expect = frames(answer, cuts), want.sends
		b.mu.Unlock()
		got, err := recordOp(b.url, op)
		if errors.Is(err, errHang) {
			t.Fatalf("op %d on answer %q: %v", op, answer, err)
		}
		var st *StatusError
		switch {
		case want.ok:
			if err != nil || !bytes.Equal(got, want.data) {
				t.Fatalf("op %d on answer %q: got %q, %v; want %q", op, answer, got, err, want.data)
			}
		case want.status != 0:
			if !errors.As(err, &st) || st.Status != want.status {
				t.Fatalf("op %d on answer %q: error %v, want status %d", op, answer, err, want.status)
			}
		default:
			if err == nil {
				t.Fatalf("op %d on a malformed answer %q succeeded with %q", op, answer, got)
			}
			if errors.As(err, &st) {
				t.Fatalf("op %d on a malformed answer %q: status error %v", op, answer, err)
			}
		}
	})
}
