package cells

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
	"github.com/iot-kernel/iot-kernel/testboard"
	"github.com/iot-kernel/iot-kernel/transport"
	"github.com/iot-kernel/iot-kernel/transport/serialport"
)

// bareREPL is the simplest raw REPL client: code, Ctrl-D, and the board's
// answer cut at its two Ctrl-Ds. It is what the cells are compared with.
type bareREPL struct {
	t    testing.TB
	rd   transport.TimedReader
	w    io.Writer
	pace bool // the micro:bit's 64-byte receive buffer
	buf  []byte
}

func newBareREPL(t testing.TB, b *testboard.Board) *bareREPL {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rwc, err := serialport.Dial(ctx, b.Path(), serialport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rwc.Close() })
	r := &bareREPL{t: t, rd: rwc.(transport.TimedReader), w: rwc, pace: b.Kind() == testboard.Microbit}
	r.write("\r\x03\x03\r\x01")
	r.until("raw REPL; CTRL-B to exit\r\n>")
	return r
}

func (r *bareREPL) write(s string) {
	for len(s) > 0 {
		n := len(s)
		if r.pace {
			n = min(n, 32)
		}
		if _, err := r.w.Write([]byte(s[:n])); err != nil {
			r.t.Fatal(err)
		}
		s = s[n:]
		if r.pace && len(s) > 0 {
			time.Sleep(2 * time.Millisecond) // pacing a board without flow control
		}
	}
}

// until reads up to and including pat and returns what came before it.
func (r *bareREPL) until(pat string) string {
	deadline := time.Now().Add(20 * time.Second)
	tmp := make([]byte, 4096)
	for {
		if i := bytes.Index(r.buf, []byte(pat)); i >= 0 {
			s := string(r.buf[:i])
			r.buf = append(r.buf[:0], r.buf[i+len(pat):]...)
			return s
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("bare REPL: no %q within 20 s; got %q", pat, r.buf)
		}
		n, err := r.rd.ReadTimeout(tmp, time.Until(deadline))
		if err != nil {
			r.t.Fatal(err)
		}
		r.buf = append(r.buf, tmp[:n]...)
	}
}

// exec runs code and returns its stdout and the exception text.
func (r *bareREPL) exec(code string) (stdout, stderr string) {
	r.write(code + "\x04")
	r.until("OK")
	stdout = r.until("\x04")
	stderr = r.until("\x04")
	// The prompt, or (where SystemExit soft-resets) the reboot and the raw
	// banner that ends with it.
	if after := r.until(">"); after != "" && !strings.HasSuffix(after, "raw REPL; CTRL-B to exit\r\n") {
		r.until("raw REPL; CTRL-B to exit\r\n>")
	}
	return stdout, stderr
}

// propertyCorpus is small programs of every kind a cell holds. None prints
// Ctrl-D, which ends the raw REPL's output for any client.
var propertyCorpus = []string{
	"print('hello')",
	"print(1); print(2)",
	"a = 1; print(a); a",
	"for i in range(3):\n    print(i, end=' ')\nprint()",
	"x = 1 / 0",
	"print('before')\nint('x')\nprint('after')",
	"def f(n):\n    return 10 // n\n\nf(5)\nf(0)",
	"raise ValueError('two\\nlines')",
	"raise KeyboardInterrupt",
	"import sys\nprint('a')\nsys.exit()",
	"print('b')\nraise SystemExit(2)\nprint('not reached')",
	"def g():\n    yield 1\n    yield 2\nprint(list(g()))",
	"(x for x in range(3))",
	"x for x in range(3)",
	"print('h\\u00e9llo \\u20ac \\u65e5\\u672c')",
	"'\\u65e5\\u672c'",
	"print('nul\\x00ctl\\x01\\x02\\x03\\x05\\x1b[1m\\x07\\r')",
	"print('x' * 3000)",
	"s = '" + strings.Repeat("y", 600) + "'\nprint(len(s))",
	"1 + 1",
	"[1, 2, 3]",
	"None",
	"print(repr(b'\\x00\\xff'))",
	"y = = 2",
	"if True:\n    print('block')\nelse:\n    print('no')",
	"print('\\x1b]iot-input;', end='')",
}

var (
	stdinLine = regexp.MustCompile(`File "<stdin>", line (\d+)`)
	cellLine  = regexp.MustCompile(`Cell In\[\d+\], line (\d+)`)
)

// For every program of the corpus, a cell's stdout and error are what the
// board prints for it through a bare raw REPL exchange: the same output
// (with "\r\n" as "\n", as every cell shows it), the same exception and
// the same line numbers.
func TestCellIsTheBoardsProgram(t *testing.T) {
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			it, _ := connected(t, kind)
			bare := newBareREPL(t, startBoard(t, kind))
			for _, prog := range propertyCorpus {
				wantOut, wantErr := bare.exec(prog)
				wantOut = strings.ReplaceAll(wantOut, "\r\n", "\n")
				out := &kerneltest.Recorder{}
				_, err := run(t, it, prog, out)
				if got := out.Stdout(); got != wantOut {
					t.Errorf("%q: cell stdout %q, board %q", prog, got, wantOut)
				}
				gotErr, gotLines := "", ""
				if err != nil {
					ee, ok := err.(*kernel.ExecError)
					if !ok {
						t.Errorf("%q: error %v (%T)", prog, err, err)
						continue
					}
					gotErr = ee.Name
					if ee.Value != "" {
						gotErr += ": " + ee.Value
					}
					var ls []string
					for _, l := range ee.Traceback {
						if m := cellLine.FindStringSubmatch(l); m != nil {
							ls = append(ls, m[1])
						}
					}
					gotLines = strings.Join(ls, ",")
				}
				var ls []string
				for _, m := range stdinLine.FindAllStringSubmatch(wantErr, -1) {
					ls = append(ls, m[1])
				}
				if gotLines != strings.Join(ls, ",") {
					t.Errorf("%q: cell traceback lines %q, board %q", prog, gotLines, strings.Join(ls, ","))
				}
				if g, w := trimExc(gotErr), trimExc(exceptionText(wantErr)); g != w {
					t.Errorf("%q: cell error %q, board %q", prog, g, w)
				}
			}
		})
	}
}

// exceptionText is the exception line(s) of a board traceback.
func exceptionText(tb string) string {
	lines := strings.Split(strings.ReplaceAll(strings.TrimRight(tb, "\r\n"), "\r\n", "\n"), "\n")
	i := 0
	if len(lines) > 0 && strings.HasPrefix(lines[0], "Traceback") {
		i = 1
		for i < len(lines) && strings.HasPrefix(lines[i], " ") {
			i++
		}
	}
	return strings.Join(lines[min(i, len(lines)):], "\n")
}

// trimExc drops what the two sides write differently for an exception
// without a message ("KeyboardInterrupt: " on the board).
func trimExc(s string) string { return strings.TrimRight(s, ": ") }
