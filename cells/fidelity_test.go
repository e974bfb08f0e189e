package cells

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
	"github.com/iot-kernel/iot-kernel/testboard"
	"github.com/iot-kernel/iot-kernel/transport"
	"github.com/iot-kernel/iot-kernel/transport/serialport"
)

// A cell that ends the program early (sys.exit(), raise SystemExit) does
// what the board's REPL does: its output, status ok. Where SystemExit
// soft-resets the board (MicroPython 1.27, as on an ESP32), the user is
// told once, and input() works in the next cell: the kernel put its shim
// back.
func TestSystemExit(t *testing.T) {
	resets := map[testboard.Kind]bool{testboard.Microbit: false, testboard.Wasm: true}
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			it, _ := connected(t, kind)
			out, res := mustRun(t, it, "import sys\nprint('a')\nsys.exit()")
			if out.Stdout() != "a\n" || res.Data != nil {
				t.Errorf("stdout %q, result %v; want a and no result", out.Stdout(), res.Data)
			}
			told := strings.Count(out.Stderr(), "soft-reset")
			if want := map[bool]int{true: 1, false: 0}[resets[kind]]; told != want {
				t.Errorf("stderr %q: told of a reset %d times, want %d", out.Stderr(), told, want)
			}
			out, res = mustRun(t, it, "x = 1\nif x:\n    raise SystemExit(3)\n42")
			if res.Data != nil || out.Stdout() != "" {
				t.Errorf("raise SystemExit then an expression: %q %v", out.Stdout(), res.Data)
			}
			out, res = mustRun(t, it, "'after'")
			if res.Data["text/plain"] != "'after'" || out.Stderr() != "" {
				t.Errorf("next cell: %v, stderr %q (a reset is told once)", res.Data, out.Stderr())
			}
			in := &kerneltest.Recorder{Answer: func(string) (string, error) { return "Ada", nil }}
			res, err := run(t, it, "name = input('Name? ')\nname", in)
			if err != nil || res.Data["text/plain"] != "'Ada'" {
				t.Fatalf("input() after SystemExit: %v %v", err, res.Data)
			}
			if p := in.Prompts(); len(p) != 1 || p[0] != "Name? " {
				t.Errorf("prompts %q: input() did not reach the notebook", p)
			}
		})
	}
}

// machine.reset() reboots the micro:bit, whose link survives it: the cell
// ends with an error that says so (it does not wait for an end that never
// comes), and the next cells work, input() included.
func TestHardResetDuringCell(t *testing.T) {
	it, _ := connected(t, testboard.Microbit)
	mustRun(t, it, "kept = 1")
	ee, out := execError(t, it, "import machine\nprint('bye')\nmachine.reset()")
	if !strings.Contains(ee.Value, "reset while the code ran") || !strings.HasPrefix(out.Stdout(), "bye\n") {
		t.Errorf("error %+v, stdout %q", ee, out.Stdout())
	}
	if ee, _ := execError(t, it, "kept"); ee.Name != "NameError" {
		t.Errorf("kept after the reset: %+v, want NameError (state gone)", ee)
	}
	in := &kerneltest.Recorder{Answer: func(string) (string, error) { return "Ada", nil }}
	res, err := run(t, it, "input('Name? ')", in)
	if err != nil || res.Data["text/plain"] != "'Ada'" || len(in.Prompts()) != 1 {
		t.Fatalf("input() after the reset: %v %v %q", err, res.Data, in.Prompts())
	}
}

// Every line ending is one: "\r\n", "\n" and a bare "\r" alike, in cells
// and in cell magics' bodies.
func TestLineEndings(t *testing.T) {
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			b := startBoard(t, kind)
			it, cfg := newInterp(t)
			mustRun(t, it, "%connect -q "+b.Path())
			for code, want := range map[string]string{
				"print(1)\rprint(2)\r":             "1\n2\n",
				"# c\rprint(5)\r":                  "5\n",
				"for i in (1, 2):\r    print(i)":   "1\n2\n",
				"print(3)\r\nprint(4)\nprint(5)\r": "3\n4\n5\n",
			} {
				out, _ := mustRun(t, it, code)
				if out.Stdout() != want {
					t.Errorf("%q: stdout %q, want %q", code, out.Stdout(), want)
				}
			}
			_, res := mustRun(t, it, "x = 6\ry = 7\rx * y")
			if res.Data["text/plain"] != "42" {
				t.Errorf("value after \\r lines: %v", res.Data)
			}
			ee, _ := execError(t, it, "a = 1\r\rb = 1 / 0\r")
			if tb := strings.Join(ee.Traceback, "\n"); ee.Name != "ZeroDivisionError" || !strings.Contains(tb, "line 3") {
				t.Errorf("line numbers over \\r lines: %s\n%s", ee.Name, tb)
			}
			mustRun(t, it, "%%writefile notes.txt\ra\rb\r\nc")
			got, err := os.ReadFile(filepath.Join(cfg.WorkDir, "notes.txt"))
			if err != nil || string(got) != "a\nb\nc\n" {
				t.Errorf("%%%%writefile with \\r lines wrote %q, %v", got, err)
			}
		})
	}
}

func TestNormalizeNewlines(t *testing.T) {
	for in, want := range map[string]string{
		"a\rb\r\nc\nd\r": "a\nb\nc\nd\n",
		"\r\r\n\n":       "\n\n\n",
		"plain":          "plain",
	} {
		if got := normalizeNewlines(in); got != want {
			t.Errorf("normalizeNewlines(%q) = %q, want %q", in, got, want)
		}
	}
}

// countingConn counts what the kernel writes to the board, and the
// exchanges (each ends with one Ctrl-D).
type countingConn struct {
	transport.TimedReader
	rwc          io.ReadWriteCloser
	bytes, execs *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) { return c.rwc.Read(p) }
func (c countingConn) Close() error               { return c.rwc.Close() }
func (c countingConn) Write(p []byte) (int, error) {
	c.bytes.Add(int64(len(p)))
	c.execs.Add(int64(strings.Count(string(p), "\x04")))
	return c.rwc.Write(p)
}

// countedInterp is an interpreter whose boards count what is sent to them.
func countedInterp(t testing.TB, kind testboard.Kind) (it *Interpreter, sent, execs *atomic.Int64) {
	t.Helper()
	b := startBoard(t, kind)
	it, _ = newInterp(t)
	sent, execs = new(atomic.Int64), new(atomic.Int64)
	it.sess.open = func(ctx context.Context, url string, opts transport.Options) (*transport.Board, error) {
		dial := func(ctx context.Context) (io.ReadWriteCloser, error) {
			rwc, err := serialport.Dial(ctx, url, serialport.Options{})
			if err != nil {
				return nil, err
			}
			return countingConn{TimedReader: rwc.(transport.TimedReader), rwc: rwc, bytes: sent, execs: execs}, nil
		}
		return transport.New(url, dial, opts), nil
	}
	mustRun(t, it, "%connect -q "+b.Path())
	mustRun(t, it, "warm = 1\nwarm") // the link opens, the kernel's helpers go on the board
	return it, sent, execs
}

// A cell is one exchange per code part, its value included, and costs the
// board its own code and a few bytes more.
func TestOneExchangePerPart(t *testing.T) {
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			it, sent, execs := countedInterp(t, kind)
			for _, tc := range []struct{ code, value string }{
				{"print(1)", ""},
				{"x = 21\nx * 2", "42"},
				{"'a' + 'b'  # a comment", "'ab'"},
				{"1, 2", "(1, 2)"},
				{"(1,)", "(1,)"},
				{"[i * i\n for i in range(4)]", "[0, 1, 4, 9]"},
				{"None", ""},
			} {
				sent.Store(0)
				execs.Store(0)
				_, res := mustRun(t, it, tc.code)
				if got := res.Data["text/plain"]; got != tc.value && !(tc.value == "" && res.Data == nil) {
					t.Errorf("%q: value %v, want %q", tc.code, res.Data, tc.value)
				}
				if n := execs.Load(); n != 1 {
					t.Errorf("%q: %d exchanges, want 1", tc.code, n)
				}
				if n, limit := sent.Load(), int64(len(tc.code)+24); n > limit {
					t.Errorf("%q: %d bytes sent, want at most %d (its code + 24)", tc.code, n, limit)
				}
			}
		})
	}
}

// The value is found whatever the program prints, and errors in it are the
// program's own.
func TestValueRobust(t *testing.T) {
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			it, _ := connected(t, kind)
			// A program printing what looks like the hook's frame.
			out, res := mustRun(t, it, "print('\\x1b]iot-v;41\\x07', end='')\nNone")
			if out.Stdout() != "\x1b]iot-v;41\x07" || res.Data != nil {
				t.Errorf("fake frame: stdout %q, value %v", out.Stdout(), res.Data)
			}
			out, res = mustRun(t, it, "print('\\x1b]iot-v', end='')\n7")
			if out.Stdout() != "\x1b]iot-v" || res.Data["text/plain"] != "7" {
				t.Errorf("marker prefix then a value: stdout %q, value %v", out.Stdout(), res.Data)
			}
			// A repr that raises: the error is the program's, without the
			// kernel's frame.
			ee, _ := execError(t, it, "class A:\n    def __repr__(self):\n        raise ValueError('no repr')\nA()")
			tb := strings.Join(ee.Traceback, "\n")
			if ee.Name != "ValueError" || ee.Value != "no repr" || !strings.Contains(tb, "line 4") || strings.Contains(tb, transport.DisplayHook) {
				t.Errorf("repr raising: %s: %s\n%s", ee.Name, ee.Value, tb)
			}
			// KeyboardInterrupt before the expression: no value.
			ee, out = execError(t, it, "print('k')\nraise KeyboardInterrupt\n5")
			if ee.Name != "KeyboardInterrupt" || out.Stdout() != "k\n" {
				t.Errorf("KeyboardInterrupt: %+v %q", ee, out.Stdout())
			}
			// Reprs with the frame's own end byte, and over several lines.
			_, res = mustRun(t, it, "class B:\n    def __repr__(self):\n        return 'a\\x07b\\nc'\nB()")
			if res.Data["text/plain"] != "a\x07b\nc" {
				t.Errorf("repr with \\x07 and a newline: %q", res.Data["text/plain"])
			}
			// _ is the last value, as in the REPL.
			mustRun(t, it, "6 * 7")
			if _, res = mustRun(t, it, "_ + 1"); res.Data["text/plain"] != "43" {
				t.Errorf("_ + 1 = %v", res.Data)
			}
			// A bare generator expression is the board's SyntaxError, a
			// parenthesised one a value.
			if ee, _ := execError(t, it, "x for x in range(3)"); ee.Name != "SyntaxError" {
				t.Errorf("bare generator: %+v", ee)
			}
			if _, res = mustRun(t, it, "(x for x in range(3))"); !strings.HasPrefix(fmt.Sprint(res.Data["text/plain"]), "<generator") {
				t.Errorf("generator value: %v", res.Data)
			}
		})
	}
}

// %%host's body has the same line endings as a cell: a bare "\r" ends a
// line for the host's Python too.
func TestHostLineEndings(t *testing.T) {
	it, _ := newInterp(t)
	useHostPython(t, it)
	for code, want := range map[string]string{
		"%%host\rprint(1)\rprint(2)\r":                "1\n2\n",
		"%%host\r\n# c\rfor i in (3, 4):\r  print(i)": "3\n4\n",
	} {
		if out, _ := mustRun(t, it, code); out.Stdout() != want {
			t.Errorf("%q: stdout %q, want %q", code, out.Stdout(), want)
		}
	}
}

// A board reset from elsewhere while no cell runs (here a Ctrl-D written to
// its port by another program, as a stray byte or a second terminal
// would) is noticed: the user is told once that the board was reset, its
// variables are gone, and input() works (the kernel's helpers were
// installed again). The next cell starts at once, so it may find the
// board at any point of its reboot: when the reset was seen before the
// cell went, the cell runs as usual; when it came as the cell went, the
// board ran the cell after its reboot (the micro:bit drops the bytes that
// come meanwhile), and the user is told so, not shown a value as if
// nothing had happened.
func TestResetWhileIdle(t *testing.T) {
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			it, b := connected(t, kind)
			mustRun(t, it, "kept = 1")
			if err := resetFromElsewhere(b.Path()); err != nil {
				t.Fatal(err)
			}
			out := &kerneltest.Recorder{}
			res, err := run(t, it, "'after'", out)
			if told := strings.Count(out.Stderr(), "soft-reset"); told != 1 {
				t.Errorf("stderr %q: the reset told %d times, want once", out.Stderr(), told)
			}
			if err != nil || res.Data["text/plain"] != "'after'" {
				// Only when the reset came as the cell went, and said so.
				var ee *kernel.ExecError
				if !strings.Contains(out.Stderr(), "just as the cell was sent") ||
					err != nil && (!errors.As(err, &ee) || !strings.Contains(ee.Value, "ran the cell after that reset")) {
					t.Errorf("the cell after the reset: %v, %v; stderr %q", res.Data, err, out.Stderr())
				}
				t.Logf("the reset came as the cell went: %v, %v", res.Data, err)
			}
			if ee, _ := execError(t, it, "kept"); ee.Name != "NameError" {
				t.Errorf("kept after the reset: %+v, want NameError (state gone)", ee)
			}
			in := &kerneltest.Recorder{Answer: func(string) (string, error) { return "Ada", nil }}
			res, err = run(t, it, "name = input('Name? ')\nname", in)
			if err != nil || res.Data["text/plain"] != "'Ada'" || len(in.Prompts()) != 1 || strings.Contains(in.Stderr(), "reset") {
				t.Fatalf("input() after the reset: %v %v, prompts %q, stderr %q", err, res.Data, in.Prompts(), in.Stderr())
			}

			// The same reset just before a cell that calls input(): told
			// before the cell waits, so that the user, told to, stops a
			// cell left waiting at the board's own input() (the kernel's
			// is gone until the next cell); the cell after works.
			if err := resetFromElsewhere(b.Path()); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			stop, stopped := context.WithCancel(ctx)
			defer stopped()
			in = &kerneltest.Recorder{Answer: func(string) (string, error) { return "Ada", nil }}
			in.OnStream = func(name, text string) {
				if name == "stderr" && strings.Contains(text, "no input box comes, stop it") {
					stopped() // as the user, told so
				}
			}
			res, err = it.Execute(stop, kernel.ExecuteRequest{Code: "name = input('Name? ')\nname", ExecutionCount: 8, AllowStdin: true}, in)
			if ctx.Err() != nil {
				t.Fatalf("the cell did not end when stopped: %v", err)
			}
			t.Logf("the input() cell after a reset: %v, %v", res.Data, err)
			if told := strings.Count(in.Stderr(), "soft-reset"); told != 1 || err != nil && !strings.Contains(in.Stderr(), "stop it") {
				t.Errorf("input() cell after a reset: %v, %v; stderr %q", res.Data, err, in.Stderr())
			}
			if res, err := run(t, it, "'next'", &kerneltest.Recorder{}); err != nil || res.Data["text/plain"] != "'next'" {
				t.Errorf("the cell after: %v, %v", res.Data, err)
			}
		})
	}
}

// resetFromElsewhere writes a Ctrl-D to the board's port, as another
// program would: at the raw prompt, a soft reset.
func resetFromElsewhere(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte{4})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
