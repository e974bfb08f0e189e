package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fuzz targets of the raw REPL engine's stream parser (link.run and what it
// calls: the raw-paste answer, flow control, the OK / output / \x04 /
// exception / \x04 / > phases, input() markers) and of the traceback
// parser. Seeds live in testdata/fuzz/<FuzzName>/; run one with
//
//	go test ./transport -run '^$' -fuzz '^FuzzRawREPLStream$' -fuzztime 30s

// scriptLink plays a board whose answer is fixed in advance: it hands out
// the chunks in order, then ends the stream. It never waits, except when
// it has delivered an input() request whose answer is not in yet: then it
// waits (bounded) for the Wake that the answering goroutine sends, as a
// real link's read would be woken.
type scriptLink struct {
	chunks    [][]byte
	markers   bool   // the engine looks for input() requests
	delivered []byte // what the engine has read so far
	woken     int    // wakes taken
	wakeBound time.Duration
	wakes     chan struct{}
	wrote     bytes.Buffer
}

// newScriptLink plays chunks; wakeBound bounds the wait for an input()
// answer (a request the engine did not take, one before "OK" say, costs
// that much).
func newScriptLink(chunks [][]byte, markers bool, wakeBound time.Duration) *scriptLink {
	return &scriptLink{chunks: chunks, markers: markers, wakes: make(chan struct{}, 64), wakeBound: wakeBound}
}

// requests counts the input() requests in p, as the engine finds them.
func requests(p []byte) int {
	n := 0
	for {
		i := bytes.Index(p, []byte(inputMarker))
		if i < 0 {
			return n
		}
		p = p[i+len(inputMarker):]
		j := bytes.IndexByte(p, inputEnd)
		if j < 0 {
			return n
		}
		if j <= maxPrompt {
			n++
			p = p[j+1:]
		}
	}
}

func (s *scriptLink) ReadTimeout(p []byte, _ time.Duration) (int, error) {
	for len(s.chunks) > 0 && len(s.chunks[0]) == 0 {
		s.chunks = s.chunks[1:]
	}
	if len(s.chunks) == 0 {
		if s.markers && s.woken < requests(s.delivered) {
			select {
			case <-s.wakes:
				s.woken++
				return 0, nil
			case <-time.After(s.wakeBound):
			}
		}
		return 0, io.EOF
	}
	n := copy(p, s.chunks[0])
	s.chunks[0] = s.chunks[0][n:]
	s.delivered = append(s.delivered, p[:n]...)
	return n, nil
}

func (s *scriptLink) Read(p []byte) (int, error) { return s.ReadTimeout(p, forever) }

func (s *scriptLink) Wake() {
	select {
	case s.wakes <- struct{}{}:
	default:
	}
}

func (s *scriptLink) Write(p []byte) (int, error) { return s.wrote.Write(p) }
func (s *scriptLink) Close() error                { return nil }

// cutInto splits stream into chunks whose sizes come from cuts (1 to 64
// bytes each, cycling), as a serial line delivers a board's output.
func cutInto(stream []byte, cuts []byte) [][]byte {
	var out [][]byte
	for i := 0; len(stream) > 0; i++ {
		n := len(stream)
		if len(cuts) > 0 {
			n = min(n, 1+int(cuts[i%len(cuts)]%64))
		}
		out = append(out, stream[:n])
		stream = stream[n:]
	}
	return out
}

// scriptedRun runs code on a link whose board answers with chunks. mode
// picks what the link knows: bit 0 set, raw-paste still to be tried (else
// the board is known to have none); bit 1 set, the input() shim is
// installed (its markers are looked for).
func scriptedRun(t *testing.T, chunks [][]byte, mode byte, input InputFunc, wakeBound time.Duration) (stdout string, wrote []byte, err error) {
	t.Helper()
	s := newScriptLink(chunks, mode&2 != 0, wakeBound)
	l := newLink(s, 50*time.Millisecond)
	l.platform = "webassembly" // unpaced writes
	l.inRaw = true
	l.paste = pasteNo
	if mode&1 != 0 {
		l.paste = pasteUnknown
	}
	l.shim = mode&2 != 0
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- l.run(context.Background(), execReq{code: []byte("pass"), stdout: &out, input: input})
	}()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		// The script has ended, so every wait is bounded by the link's
		// 50 ms timeout: this is a hang.
		t.Fatalf("exec did not return within 10 s on a board answer of %q", chunks)
	}
	return out.String(), s.wrote.Bytes(), err
}

// Whatever the board sends, an exec returns (no panic, no hang), its
// output is a run of what the board sent, and its error is one the caller
// can tell apart: a board exception, a lost link, no response, or
// "too large" (never an internal sentinel).
func FuzzRawREPLStream(f *testing.F) {
	f.Fuzz(func(t *testing.T, stream []byte, mode byte, cuts []byte) {
		input := func(string) (string, error) { return "typed", nil }
		out, _, err := scriptedRun(t, cutInto(stream, cuts), mode, input, 5*time.Millisecond)
		if mode&2 == 0 && !bytes.Contains(stream, []byte(out)) {
			t.Fatalf("output %q is not part of what the board sent (%q)", out, stream)
		}
		if len(out) > len(stream) {
			t.Fatalf("output %q is longer than what the board sent (%q)", out, stream)
		}
		var be *BoardError
		switch {
		case err == nil:
		case errors.As(err, &be):
			if be.Name == "" {
				t.Fatalf("board error without a name: %#v", be)
			}
		case errors.Is(err, ErrLinkLost), errors.Is(err, ErrNoResponse), errors.Is(err, ErrReset):
		default:
			t.Fatalf("exec failed with an error the caller cannot classify: %v (%T)", err, err)
		}
		for _, internal := range []error{errTimeout, errStuck, errRestart, errCodeLost} {
			if errors.Is(err, internal) {
				t.Fatalf("internal error %v reached the caller", err)
			}
		}
	})
}

// strip removes the bytes in cut from s.
func strip(s string, cut string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(cut, r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
}

// A well-formed answer, however it is cut into reads, gives exactly the
// board's output, the prompt of an input() request and the exception the
// board printed, in either raw REPL mode.
func FuzzRawREPLAnswer(f *testing.F) {
	f.Fuzz(func(t *testing.T, out, errText, prompt string, paste bool, cuts []byte) {
		// What a board's answer cannot contain: \x04 ends a phase; the
		// escape starts an input() marker; \x07 ends a prompt.
		out = strip(out, "\x04\x1b")
		errText = strip(errText, "\x04")
		if errText != "" {
			// What a board prints there: a traceback, its lines ended
			// (other text after a \x04 is the program's output).
			errText = tracebackStart + "\r\n" + errText + "\r\n"
		}
		prompt = strip(prompt, "\x04\x1b\x07")
		if len(prompt) > maxPrompt {
			prompt = prompt[:maxPrompt]
		}
		asking := prompt != ""
		var stream strings.Builder
		mode := byte(0)
		if paste {
			mode |= 1
			stream.WriteString("R\x01\x00\x01\x04") // window 256 > len("pass"), reception ended
		} else {
			stream.WriteString("OK")
		}
		half := len(out) / 2
		for half > 0 && half < len(out) && out[half]&0xC0 == 0x80 {
			half-- // keep the characters whole, as a board's UTF-8 is
		}
		stream.WriteString(out[:half])
		if asking {
			mode |= 2
			stream.WriteString(inputMarker + prompt + string(rune(inputEnd)))
		}
		stream.WriteString(out[half:] + "\x04" + errText + "\x04>")

		var mu sync.Mutex
		var asked []string
		input := func(p string) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, p)
			return "answer\x03\r\nignored", nil
		}
		got, wrote, err := scriptedRun(t, cutInto([]byte(stream.String()), cuts), mode, input, 5*time.Second)
		mu.Lock()
		defer mu.Unlock()
		if got != out {
			t.Errorf("output %q, want %q", got, out)
		}
		if asking {
			if len(asked) != 1 || asked[0] != prompt {
				t.Errorf("input() prompts %q, want [%q]", asked, prompt)
			}
			if !bytes.Contains(wrote, []byte("answer\r")) || bytes.Contains(wrote, []byte("ignored")) {
				t.Errorf("the board was sent %q: want the first line of the answer, without control bytes, ended by \\r", wrote)
			}
		} else if len(asked) > 0 {
			t.Errorf("input() asked %q with no request on the line", asked)
		}
		if errText == "" {
			if err != nil {
				t.Errorf("exec of a clean answer failed: %v", err)
			}
			return
		}
		var be *BoardError
		if !errors.As(err, &be) {
			t.Fatalf("exec of an answer with an exception returned %v (%T), want a *BoardError", err, err)
		}
		want := parseTraceback(errText)
		if be.Name != want.Name || be.Value != want.Value || strings.Join(be.Traceback, "\n") != strings.Join(want.Traceback, "\n") {
			t.Errorf("board error %#v, want %#v", be, want)
		}
	})
}

// Any text the board prints as an exception gives a named error whose
// traceback keeps every line; a MicroPython traceback gives back its
// exception's name and message exactly.
func FuzzParseTraceback(f *testing.F) {
	f.Fuzz(func(t *testing.T, text, name, value string, frames int) {
		e := parseTraceback(text)
		if e.Name == "" || (e.Name != "Error" && !isExceptionName(e.Name)) {
			t.Errorf("parseTraceback(%q): name %q is not an exception name", text, e.Name)
		}
		for _, l := range e.Traceback {
			if strings.Contains(l, "\n") {
				t.Errorf("parseTraceback(%q): traceback line %q holds a line end", text, l)
			}
		}
		if strings.TrimSpace(text) != "" && len(e.Traceback) == 0 {
			t.Errorf("parseTraceback(%q) lost the board's text", text)
		}

		// A traceback as MicroPython prints it.
		if !isExceptionName(name) || strings.ContainsAny(value, "\r") || strings.TrimSpace(value) != value {
			return
		}
		var b strings.Builder
		b.WriteString("Traceback (most recent call last):\r\n")
		for i := range min(max(frames, 0), 5) {
			b.WriteString("  File \"<stdin>\", line " + strings.Repeat("1", i+1) + ", in f\r\n")
		}
		b.WriteString(name)
		if value != "" {
			b.WriteString(": " + strings.ReplaceAll(value, "\n", "\r\n"))
		}
		b.WriteString("\r\n")
		e = parseTraceback(b.String())
		if e.Name != name || e.Value != value {
			t.Errorf("parseTraceback(%q) = %q, %q; want %q, %q", b.String(), e.Name, e.Value, name, value)
		}
	})
}
