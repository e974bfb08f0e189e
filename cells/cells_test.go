package cells

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
	"github.com/iot-kernel/iot-kernel/testboard"
	"github.com/iot-kernel/iot-kernel/transport"
)

func TestNoBoard(t *testing.T) {
	it, _ := newInterp(t)
	for _, code := range []string{"", "  \n\t\n", "# just a comment\n"} {
		out := &kerneltest.Recorder{}
		res, err := run(t, it, code, out)
		if err != nil || res.Data != nil || len(out.Streams()) > 0 {
			t.Errorf("cell %q: %v, %v, %v; want a silent no-op", code, res, err, out.Streams())
		}
	}
	ee, _ := execError(t, it, "print(1)")
	if ee.Name != NoBoardError || !strings.Contains(ee.Value, "%connect") {
		t.Errorf("error = %+v, want %s that says to %%connect", ee, NoBoardError)
	}
	if len(ee.Traceback) == 0 || !strings.HasPrefix(ee.Traceback[0], NoBoardError+": ") {
		t.Errorf("traceback = %q", ee.Traceback)
	}
	// a magic that needs no board still runs before the board code fails
	ee, out := execError(t, it, "%loglevel\nprint(1)")
	if ee.Name != NoBoardError || !strings.Contains(out.Stdout(), "Log level") {
		t.Errorf("error %+v, stdout %q", ee, out.Stdout())
	}
}

func TestCells(t *testing.T) {
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			it, _ := connected(t, kind)

			t.Run("print streams", func(t *testing.T) {
				out, res := mustRun(t, it, "print('hello')\nfor i in range(3):\n    print(i)")
				if got := out.Stdout(); got != "hello\n0\n1\n2\n" {
					t.Errorf("stdout = %q", got)
				}
				if res.Data != nil {
					t.Errorf("result = %v, want none", res.Data)
				}
			})

			t.Run("exception has cell line numbers", func(t *testing.T) {
				ee, out := execError(t, it, "x = 1\nprint('before')\n\ny = x / 0\nprint('after')")
				if ee.Name != "ZeroDivisionError" {
					t.Errorf("ename = %q", ee.Name)
				}
				tb := strings.Join(ee.Traceback, "\n")
				if !strings.Contains(tb, "Cell In[7], line 4") || !strings.Contains(tb, "y = x / 0") {
					t.Errorf("traceback:\n%s", tb)
				}
				if strings.Contains(tb, "<stdin>") || strings.Contains(tb, "\x1b") {
					t.Errorf("traceback has <stdin> or ANSI codes:\n%s", tb)
				}
				if got := out.Stdout(); got != "before\n" {
					t.Errorf("stdout = %q (code after the error must not run)", got)
				}
			})

			t.Run("a Ctrl-D byte in the output is output", func(t *testing.T) {
				// The raw REPL ends the output with \x04: one printed by
				// the program is told apart by what follows it (two in a
				// row are not: that is how the output ends).
				out, res := mustRun(t, it, "print('a\\x04b')\nprint('x\\x04y\\x04')\n5")
				if got := out.Stdout(); got != "a\x04b\nx\x04y\x04\n" || res.Data["text/plain"] != "5" {
					t.Errorf("stdout %q, value %v; want the bytes as printed and 5", got, res.Data)
				}
				ee, out := execError(t, it, "print('p\\x04q')\n1/0")
				if ee.Name != "ZeroDivisionError" || out.Stdout() != "p\x04q\n" {
					t.Errorf("%s: %s, stdout %q; want ZeroDivisionError after p\\x04q", ee.Name, ee.Value, out.Stdout())
				}
				// Output ending in \x04, then an exception: two \x04 in a
				// row, and the traceback after them.
				ee, out = execError(t, it, "print('x\\x04', end='')\nraise ValueError('v')")
				if ee.Name != "ValueError" || ee.Value != "v" || out.Stdout() != "x\x04" {
					t.Errorf("%s: %s, stdout %q; want ValueError: v after x\\x04", ee.Name, ee.Value, out.Stdout())
				}
				// Output ending in \x04, no exception: three \x04 in a
				// row, and the prompt; and a \x04 then what looks like
				// an exception's line, but is printed.
				out, _ = mustRun(t, it, "print('x\\x04', end='')")
				if got := out.Stdout(); got != "x\x04" {
					t.Errorf("stdout %q; want x\\x04", got)
				}
				out, _ = mustRun(t, it, "print('\\x04Error: none really')")
				if got := out.Stdout(); got != "\x04Error: none really\n" {
					t.Errorf("stdout %q; want the line as printed, and no error", got)
				}
				// An exception whose message holds a \x04 (the board's
				// report ends there) is still the error, and the cell ends.
				ee, _ = execError(t, it, "raise ValueError('a' + chr(4) + 'b')")
				if ee.Name != "ValueError" || !strings.HasPrefix(ee.Value, "a") {
					t.Errorf("%s: %s; want the ValueError", ee.Name, ee.Value)
				}
				mustRun(t, it, "print('next')")
			})

			t.Run("a function's frame names the cell that defined it", func(t *testing.T) {
				cell := func(count int, code string) error {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					_, err := it.Execute(ctx, kernel.ExecuteRequest{Code: code, ExecutionCount: count}, &kerneltest.Recorder{})
					return err
				}
				if err := cell(2, "def div(x):\n    y = 1\n    return y / x"); err != nil {
					t.Fatal(err)
				}
				var ee *kernel.ExecError
				if err := cell(3, "print('call')\ndiv(0)"); !errors.As(err, &ee) {
					t.Fatalf("div(0): %v, want a board error", err)
				}
				tb := strings.Join(ee.Traceback, "\n")
				for _, want := range []string{"Cell In[3], line 2, in <module>", "div(0)", "Cell In[2], line 3, in div", "return y / x"} {
					if !strings.Contains(tb, want) {
						t.Errorf("traceback lacks %q:\n%s", want, tb)
					}
				}
			})

			t.Run("exception after a magic", func(t *testing.T) {
				ee, out := execError(t, it, "print('a')\n%loglevel\n\n\nint('x')\nprint('b')")
				tb := strings.Join(ee.Traceback, "\n")
				if ee.Name != "ValueError" || !strings.Contains(tb, "line 5") {
					t.Errorf("error %s\n%s", ee.Name, tb)
				}
				if got := out.Stdout(); !strings.HasPrefix(got, "a\nLog level") || strings.Contains(got, "b\n") {
					t.Errorf("stdout = %q", got)
				}
			})

			t.Run("exception in a function", func(t *testing.T) {
				ee, _ := execError(t, it, "def f(n):\n    return 10 // n\n\nf(5)\nf(0)")
				tb := strings.Join(ee.Traceback, "\n")
				if !strings.Contains(tb, "line 5, in <module>") || !strings.Contains(tb, "line 2, in f") || !strings.Contains(tb, "  f(0)") {
					t.Errorf("traceback:\n%s", tb)
				}
			})

			t.Run("syntax error", func(t *testing.T) {
				ee, _ := execError(t, it, "x = 1\n\ny = = 2\n")
				tb := strings.Join(ee.Traceback, "\n")
				if ee.Name != "SyntaxError" || !strings.Contains(tb, "Cell In[7], line 3") || !strings.Contains(tb, "y = = 2") {
					t.Errorf("error %+v\n%s", ee, strings.Join(ee.Traceback, "\n"))
				}
			})

			t.Run("last expression is the result", func(t *testing.T) {
				_, res := mustRun(t, it, "x = 21\nx * 2")
				if res.Data["text/plain"] != "42" {
					t.Errorf("result = %v", res.Data)
				}
				_, res = mustRun(t, it, "'a' + \\\n  'b'  # a comment")
				if res.Data["text/plain"] != "'ab'" {
					t.Errorf("result = %v", res.Data)
				}
				_, res = mustRun(t, it, "[i * i\n for i in range(4)]")
				if res.Data["text/plain"] != "[0, 1, 4, 9]" {
					t.Errorf("result = %v", res.Data)
				}
				_, res = mustRun(t, it, "_ + [16]")
				if res.Data["text/plain"] != "[0, 1, 4, 9, 16]" {
					t.Errorf("_ after a result: %v", res.Data)
				}
			})

			t.Run("no result", func(t *testing.T) {
				for _, code := range []string{"x * 2;", "None", "print('p')", "y = 3", "if x:\n    x", "x\n%loglevel"} {
					out, res := mustRun(t, it, code)
					if res.Data != nil {
						t.Errorf("%q: result %v, want none", code, res.Data)
					}
					if code == "print('p')" && out.Stdout() != "p\n" {
						t.Errorf("%q: stdout %q", code, out.Stdout())
					}
				}
			})

			t.Run("magics between code", func(t *testing.T) {
				out, res := mustRun(t, it, "a = 5\nprint('one')\n%loglevel info\nprint(a + 1)\n!echo from the host\na * 3")
				if got := out.Stdout(); got != "one\nLog level: INFO\n6\nfrom the host\n" {
					t.Errorf("stdout = %q", got)
				}
				if res.Data["text/plain"] != "15" {
					t.Errorf("result = %v", res.Data)
				}
			})

			t.Run("bad magic stops the cell", func(t *testing.T) {
				ee, out := execError(t, it, "print('x')\n%nosuchmagic\nprint('y')")
				if ee.Name != "UsageError" || out.Stdout() != "x\n" {
					t.Errorf("error %+v, stdout %q", ee, out.Stdout())
				}
			})

			t.Run("cell magic not on the first line", func(t *testing.T) {
				ee, out := execError(t, it, "print(1)\n%%connect --all\nprint(2)")
				if ee.Name != "UsageError" || !strings.Contains(ee.Value, "%%connect: a cell magic must be on the first line of the cell (it is on line 2)") {
					t.Errorf("error %+v", ee)
				}
				if out.Stdout() != "" {
					t.Errorf("stdout %q, want nothing run: the cell cannot run whole", out.Stdout())
				}
			})

			t.Run("completion", func(t *testing.T) {
				mustRun(t, it, "my_long_variable = 1\nclass K:\n    attr_one = 1\n    attr_two = 2")
				c := complete(t, it, "x = my_long_v")
				if !has(c.Matches, "my_long_variable") || c.CursorStart != 4 || c.CursorEnd != 13 {
					t.Errorf("completion = %+v", c)
				}
				c = complete(t, it, "K.attr_")
				if strings.Join(c.Matches, ",") != "attr_one,attr_two" || c.CursorStart != 2 {
					t.Errorf("attribute completion = %+v", c)
				}
				c = complete(t, it, "pri")
				if !has(c.Matches, "print") {
					t.Errorf("builtin completion = %+v", c)
				}
				c = complete(t, it, "%lsma")
				if strings.Join(c.Matches, ",") != "%lsmagic" || c.CursorStart != 0 {
					t.Errorf("magic completion = %+v", c)
				}
				mustRun(t, it, "f = open('notes.txt', 'w')\nf.write('x')\nf.close()")
				c = complete(t, it, "%cat :no")
				if strings.Join(c.Matches, ",") != ":notes.txt" || c.CursorStart != 5 {
					t.Errorf("board path completion = %+v", c)
				}
				c = complete(t, it, "nosuch.x")
				if len(c.Matches) != 0 {
					t.Errorf("completion of an unknown object = %+v", c)
				}
			})

			t.Run("inspection", func(t *testing.T) {
				mustRun(t, it, "my_long_variable = 1")
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				ins, err := it.Inspect(ctx, "my_long_variable + 1", 3, 0)
				if err != nil || !ins.Found || ins.Data["text/plain"] != "Type:  int\nValue: 1" {
					t.Errorf("inspect = %+v, %v", ins, err)
				}
				ins, err = it.Inspect(ctx, "undefined_name", 3, 0)
				if err != nil || ins.Found {
					t.Errorf("inspect of an undefined name = %+v, %v", ins, err)
				}
			})
		})
	}
}

func complete(t *testing.T, it *Interpreter, code string) kernel.Completion {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := it.Complete(ctx, code, len([]rune(code)))
	if err != nil {
		t.Fatalf("Complete(%q): %v", code, err)
	}
	return c
}

func has(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// input() on the board asks the notebook for the line, and the cell shows
// only what it prints: the answer is not echoed a second time.
func TestInputRoundTrip(t *testing.T) {
	echo := map[testboard.Kind]string{testboard.Microbit: "", testboard.Wasm: ""}
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			it, _ := connected(t, kind)
			out := &kerneltest.Recorder{Answer: func(prompt string) (string, error) { return "Ada", nil }}
			res, err := run(t, it, "name = input('Name? ')\nprint('hi', name)\nlen(name)", out)
			if err != nil {
				t.Fatalf("cell: %v (stdout %q)", err, out.Stdout())
			}
			if p := out.Prompts(); len(p) != 1 || p[0] != "Name? " {
				t.Errorf("prompts = %q, want the one input() asked with", p)
			}
			if got, want := out.Stdout(), echo[kind]+"hi Ada\n"; got != want {
				t.Errorf("stdout = %q, want %q", got, want)
			}
			if res.Data["text/plain"] != "3" {
				t.Errorf("result = %v", res.Data)
			}

			// without stdin, input() fails instead of hanging, and the board
			// stays usable
			ee, _ := execError(t, it, "input('x')")
			if ee.Name == "" {
				t.Errorf("error = %+v", ee)
			}
			if _, res := mustRun(t, it, "name"); res.Data["text/plain"] != "'Ada'" {
				t.Errorf("after input() without stdin: %v", res.Data)
			}
		})
	}
}

// A stop pressed while input() waits ends the cell with KeyboardInterrupt
// and nothing else: the board keeps its variables and the next cell prints
// nothing of it. (The stop and the abandoned prompt's answer come together;
// an EOF answer sent after the Ctrl-C was read as a soft reset.)
func TestStopWhileInputWaits(t *testing.T) {
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			it, _ := connected(t, kind)
			mustRun(t, it, "k = 3")
			for i := range 10 { // the two came in either order
				ctx, cancel := context.WithCancelCause(context.Background())
				ctx, stop := context.WithTimeout(ctx, 30*time.Second)
				out := &kerneltest.Recorder{Answer: func(string) (string, error) {
					cancel(kernel.ErrInterrupted) // stop, as the prompt shows
					<-ctx.Done()
					return "", context.Cause(ctx)
				}}
				_, err := it.Execute(ctx, kernel.ExecuteRequest{Code: "print('a')\ninput('x? ')", ExecutionCount: 2, AllowStdin: true}, out)
				stop()
				cancel(nil)
				var ee *kernel.ExecError
				if !errors.As(err, &ee) || ee.Name != "KeyboardInterrupt" {
					t.Fatalf("try %d: %v; want KeyboardInterrupt", i, err)
				}
				next := &kerneltest.Recorder{}
				res, err := run(t, it, "k", next)
				if err != nil || res.Data["text/plain"] != "3" || next.Stdout() != "" || next.Stderr() != "" {
					t.Fatalf("try %d, the next cell: value %v, err %v, stdout %q, stderr %q; want 3 alone",
						i, res.Data, err, next.Stdout(), next.Stderr())
				}
			}
		})
	}
}

// A stop pressed as a code part ends stops the cell there: the magic after
// it does not run, even one that never looks at the stop (%cd).
func TestStopBetweenParts(t *testing.T) {
	it, _ := connected(t, testboard.Wasm)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, it, "%cd "+dir)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	ctx, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	out := &kerneltest.Recorder{OnStream: func(_, text string) {
		if strings.Contains(text, "first") {
			cancel(kernel.ErrInterrupted)
		}
	}}
	_, err := it.Execute(ctx, kernel.ExecuteRequest{Code: "print('first')\n%cd sub\nprint('then')", ExecutionCount: 3}, out)
	var ee *kernel.ExecError
	if !errors.As(err, &ee) || ee.Name != "KeyboardInterrupt" {
		t.Errorf("cell: %v; want KeyboardInterrupt", err)
	}
	if o, _ := mustRun(t, it, "!pwd"); strings.TrimSpace(o.Stdout()) != dir {
		t.Errorf("after the stop, !pwd says %q; want %s (the %%cd after the stop ran)", o.Stdout(), dir)
	}
}

func TestInterrupt(t *testing.T) {
	// The wasm board runs Python on node's only thread: a pure busy loop
	// cannot be stopped there, a loop that sleeps can (TESTBED).
	loops := map[testboard.Kind]string{
		testboard.Microbit: "while True:\n    pass",
		testboard.Wasm:     "import time\nwhile True:\n    time.sleep(0.01)",
	}
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			it, _ := connected(t, kind)
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			out := &kerneltest.Recorder{}
			out.OnStream = func(string, string) {
				// All the output so far: the board's may come in pieces.
				if strings.Contains(out.Stdout(), "looping") {
					cancel(kernel.ErrInterrupted)
				}
			}
			ctx, stop := context.WithTimeout(ctx, 30*time.Second)
			defer stop()
			code := "kept = 123\nprint('looping')\n" + loops[kind]
			_, err := it.Execute(ctx, kernel.ExecuteRequest{Code: code, ExecutionCount: 3}, out)
			var ee *kernel.ExecError
			if !errors.As(err, &ee) || ee.Name != "KeyboardInterrupt" {
				t.Fatalf("error = %v, want KeyboardInterrupt", err)
			}
			_, res := mustRun(t, it, "kept")
			if res.Data["text/plain"] != "123" {
				t.Errorf("state after the interrupt: %v", res.Data)
			}
		})
	}
}

func TestCellTraceback(t *testing.T) {
	for _, c := range []struct {
		what    string
		cell    ranCell
		earlier []ranCell
		tb      []string // the board's lines, without the first and the last
		want    []string // the notebook's, likewise
	}{{
		// Cell 12 calls g (cell 5), which calls lib.py's helper, which
		// calls back f (cell 7, and an older f in cell 5), which calls h,
		// whose cell is not known.
		what: "each function's frame in the cell that defined it",
		cell: ranCell{"import os, lib\n\nlib.helper(g)\n", 12},
		earlier: []ranCell{
			{"\n\ndef f(x):\n    return h(x)\n", 7},
			{"def f(x):\n    pass\n\ndef g(cb):\n    return cb(1)\n", 5},
		},
		tb: []string{
			`  File "<stdin>", line 3, in <module>`,
			`  File "<stdin>", line 5, in g`,
			`  File "lib.py", line 9, in helper`,
			`  File "<stdin>", line 4, in f`,
			`  File "<stdin>", line 2, in h`,
		},
		want: []string{
			"  Cell In[12], line 3, in <module>",
			"    lib.helper(g)",
			"  Cell In[5], line 5, in g",
			"    return cb(1)",
			`  File "lib.py", line 9, in helper`,
			"  Cell In[7], line 4, in f",
			"    return h(x)",
			"  Earlier cell, line 2, in h",
		},
	}, {
		what: "the same method name in two cells: the one whose body holds the line; a lambda on a line of the current cell that has none",
		cell: ranCell{"a = A()\nf = g\nf(1)\n", 4},
		earlier: []ranCell{
			{"class B:\n    x = 1\n\n\n    def __init__(self):\n        pass\n", 3},
			{"class A:\n    def __init__(self):\n        self.v = 1 / 0\ng = lambda x:\\\n    x / 0\n", 2},
		},
		tb: []string{
			`  File "<stdin>", line 1, in <module>`,
			`  File "<stdin>", line 3, in __init__`,
			`  File "<stdin>", line 5, in <lambda>`,
		},
		want: []string{
			"  Cell In[4], line 1, in <module>",
			"    a = A()",
			"  Cell In[2], line 3, in __init__",
			"    self.v = 1 / 0",
			"  Earlier cell, line 5, in <lambda>",
		},
	}, {
		what:    "a docstring at column 0 does not end the def; a nested def of the same name is looked past; format is not for",
		cell:    ranCell{"def f():\n    \"\"\"Doc,\nat column 0.\"\"\"\n    return 1 / 0\nx = '{}'.format(f())\n", 9},
		earlier: []ranCell{{"def g():\n    def g():\n        pass\n    return 1 / 0\nh = '{}'.format(1)\n", 8}},
		tb: []string{
			`  File "<stdin>", line 4, in f`,
			`  File "<stdin>", line 4, in g`,
			`  File "<stdin>", line 5, in <listcomp>`,
		},
		want: []string{
			"  Cell In[9], line 4, in f",
			"    return 1 / 0",
			"  Cell In[8], line 4, in g",
			"    return 1 / 0",
			"  Earlier cell, line 5, in <listcomp>",
		},
	}} {
		const head, exc = "Traceback (most recent call last):", "ZeroDivisionError: divide by zero"
		tb := cellTraceback(append(append([]string{head}, c.tb...), exc), c.cell, c.earlier)
		want := append(append([]string{head}, c.want...), exc)
		if strings.Join(tb, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: got\n%s\nwant\n%s", c.what, strings.Join(tb, "\n"), strings.Join(want, "\n"))
		}
	}

	// An exception without a message ends with its bare name, as in Python.
	tb := cellTraceback([]string{"Traceback (most recent call last):",
		`  File "<stdin>", line 1, in <module>`, "KeyboardInterrupt: "}, ranCell{"while True: pass", 3}, nil)
	if last := tb[len(tb)-1]; last != "KeyboardInterrupt" {
		t.Errorf("last line %q, want %q", last, "KeyboardInterrupt")
	}
}

// A magic's snippet that runs out of memory says what mends it.
func TestMagicMemoryErrorSaysWhatToDo(t *testing.T) {
	it, _ := newInterp(t)
	err := it.magicError(t.Context(), fmt.Errorf("info: %w", &transport.BoardError{Name: "MemoryError", Value: "memory allocation failed, allocating 880 bytes"}))
	var ee *kernel.ExecError
	if !errors.As(err, &ee) || ee.Name != "MemoryError" || !strings.Contains(ee.Value, "allocating 880 bytes") || !strings.Contains(ee.Value, "%softreset frees it") {
		t.Errorf("magicError = %v", err)
	}
}
