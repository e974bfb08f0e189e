package hostkernel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/internal/testenv"
	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
)

// testSpec finds a python with ipykernel for the tests: $IOT_TEST_PYTHON,
// else the project's .venv, else python3 on PATH, else /usr/bin/python3.
// It skips the test when none has ipykernel.
func testSpec(t *testing.T) *Spec {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if p := os.Getenv("IOT_TEST_PYTHON"); p != "" {
		spec, err := SpecForPython(ctx, p)
		if err != nil {
			t.Fatalf("IOT_TEST_PYTHON=%s: %v", p, err)
		}
		return spec
	}
	cands := []string{"python3", "/usr/bin/python3"}
	if wd, err := os.Getwd(); err == nil {
		cands = append([]string{filepath.Join(filepath.Dir(wd), ".venv", "bin", "python")}, cands...)
	}
	var why []string
	for _, p := range cands {
		spec, err := SpecForPython(ctx, p)
		if err == nil {
			return spec
		}
		why = append(why, err.Error())
	}
	testenv.SkipOrFail(t, "no python with ipykernel (set IOT_TEST_PYTHON): %s", strings.Join(why, "; "))
	return nil
}

// startKernel starts a kernel that the test stops.
func startKernel(t *testing.T, spec *Spec) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := Start(ctx, spec, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func execCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestExecute(t *testing.T) {
	c := startKernel(t, testSpec(t))

	t.Run("stream", func(t *testing.T) {
		var out kerneltest.Recorder
		status, err := c.Execute(execCtx(t), "import sys\nprint('hello')\nprint('oops', file=sys.stderr)", &out)
		if status != "ok" || err != nil {
			t.Fatalf("Execute = %q, %v", status, err)
		}
		if got := out.Stdout(); got != "hello\n" {
			t.Errorf("stdout = %q, want %q", got, "hello\n")
		}
		if got := out.Stderr(); got != "oops\n" {
			t.Errorf("stderr = %q, want %q", got, "oops\n")
		}
	})

	t.Run("state kept between executions", func(t *testing.T) {
		var out kerneltest.Recorder
		if _, err := c.Execute(execCtx(t), "x = 41", &out); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Execute(execCtx(t), "print(x + 1)", &out); err != nil {
			t.Fatal(err)
		}
		if got := out.Stdout(); got != "42\n" {
			t.Errorf("stdout = %q", got)
		}
	})

	t.Run("display_data and execute_result", func(t *testing.T) {
		var out kerneltest.Recorder
		code := "from IPython.display import HTML, display\ndisplay(HTML('<b>x</b>'))\nHTML('<i>y</i>')"
		if _, err := c.Execute(execCtx(t), code, &out); err != nil {
			t.Fatal(err)
		}
		ds := out.Displays()
		if len(ds) != 2 {
			t.Fatalf("displays = %+v, want 2", ds)
		}
		if ds[0].Data["text/html"] != "<b>x</b>" || ds[1].Data["text/html"] != "<i>y</i>" {
			t.Errorf("text/html = %q, %q", ds[0].Data["text/html"], ds[1].Data["text/html"])
		}
		if _, ok := ds[0].Data["text/plain"]; !ok {
			t.Errorf("bundle lost text/plain: %v", ds[0].Data)
		}
	})

	t.Run("update_display_data and clear_output", func(t *testing.T) {
		var out kerneltest.Recorder
		code := "from IPython.display import display, clear_output\nh = display('a', display_id=True)\nh.update('b')\nclear_output()"
		if _, err := c.Execute(execCtx(t), code, &out); err != nil {
			t.Fatal(err)
		}
		ds := out.Displays()
		if len(ds) != 2 || ds[0].Update || !ds[1].Update {
			t.Fatalf("displays = %+v", ds)
		}
		if ds[0].DisplayID == "" || ds[1].DisplayID != ds[0].DisplayID {
			t.Errorf("display ids %q, %q: want equal and set", ds[0].DisplayID, ds[1].DisplayID)
		}
		if ds[1].Data["text/plain"] != "'b'" {
			t.Errorf("update = %v", ds[1].Data)
		}
		ev := out.Events()
		if last := ev[len(ev)-1].Kind; last != "clear" {
			t.Errorf("last event %q, want clear", last)
		}
	})

	t.Run("exception", func(t *testing.T) {
		var out kerneltest.Recorder
		status, err := c.Execute(execCtx(t), "def f():\n    return 1/0\nf()", &out)
		var ee *kernel.ExecError
		if status != "error" || !errors.As(err, &ee) {
			t.Fatalf("Execute = %q, %v; want error status and *kernel.ExecError", status, err)
		}
		if ee.Name != "ZeroDivisionError" || ee.Value != "division by zero" {
			t.Errorf("ename/evalue = %q/%q", ee.Name, ee.Value)
		}
		tb := strings.Join(ee.Traceback, "\n")
		if strings.Contains(tb, "\x1b") {
			t.Errorf("traceback keeps ANSI codes: %q", tb)
		}
		if !strings.Contains(tb, "return 1/0") {
			t.Errorf("traceback does not show the failing line: %q", tb)
		}
	})

	t.Run("input", func(t *testing.T) {
		out := kerneltest.Recorder{Answer: func(string) (string, error) { return "bob", nil }}
		_, err := c.Execute(execCtx(t), "name = input('name? ')\nprint('hi', name)", &out)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Prompts()) != 1 || out.Prompts()[0] != "name? " {
			t.Errorf("prompts = %q", out.Prompts())
		}
		if got := out.Stdout(); !strings.HasSuffix(got, "hi bob\n") {
			t.Errorf("stdout = %q", got)
		}
	})

	t.Run("input without stdin raises", func(t *testing.T) {
		var out kerneltest.Recorder // Input fails with ErrNoStdin
		_, err := c.Execute(execCtx(t), "input('name? ')", &out)
		var ee *kernel.ExecError
		if !errors.As(err, &ee) || ee.Name != "KeyboardInterrupt" {
			t.Fatalf("err = %v, want KeyboardInterrupt", err)
		}
		if got := out.Stderr(); !strings.Contains(got, kernel.ErrNoStdin.Error()) {
			t.Errorf("stderr = %q, want the reason", got)
		}
	})

	t.Run("interrupt", func(t *testing.T) {
		ctx, cancel := context.WithCancelCause(execCtx(t))
		defer cancel(nil)
		out := kerneltest.Recorder{OnStream: func(_, text string) {
			if strings.Contains(text, "sleeping") {
				cancel(kernel.ErrInterrupted)
			}
		}}
		status, err := c.Execute(ctx, "import time\nprint('sleeping', flush=True)\ntime.sleep(30)\nprint('woke')", &out)
		var ee *kernel.ExecError
		if status != "error" || !errors.As(err, &ee) || ee.Name != "KeyboardInterrupt" {
			t.Fatalf("Execute = %q, %v; want KeyboardInterrupt", status, err)
		}
		if strings.Contains(out.Stdout(), "woke") {
			t.Error("the sleep was not interrupted")
		}
		// The kernel is usable afterwards.
		var out2 kerneltest.Recorder
		if _, err := c.Execute(execCtx(t), "print('after')", &out2); err != nil || out2.Stdout() != "after\n" {
			t.Errorf("after interrupt: %v, %q", err, out2.Stdout())
		}
	})
}

func TestInterruptMessageMode(t *testing.T) {
	spec := *testSpec(t)
	spec.InterruptMode = "message"
	c := startKernel(t, &spec)
	ctx, cancel := context.WithCancelCause(execCtx(t))
	defer cancel(nil)
	out := kerneltest.Recorder{OnStream: func(_, text string) { cancel(kernel.ErrInterrupted) }}
	_, err := c.Execute(ctx, "import time\nprint('sleeping', flush=True)\ntime.sleep(30)", &out)
	var ee *kernel.ExecError
	if !errors.As(err, &ee) || ee.Name != "KeyboardInterrupt" {
		t.Fatalf("err = %v, want KeyboardInterrupt", err)
	}
}

// A stop the kernel does not honour the first time is sent again before
// the kernel is killed, as a user presses stop twice: here the cell's
// program ignores the first Ctrl-C, in both interrupt modes.
func TestInterruptSentAgain(t *testing.T) {
	for _, mode := range []string{"signal", "message"} {
		t.Run(mode, func(t *testing.T) {
			spec := *testSpec(t)
			spec.InterruptMode = mode
			c := startKernel(t, &spec)
			ctx, cancel := context.WithCancelCause(execCtx(t))
			defer cancel(nil)
			out := kerneltest.Recorder{OnStream: func(_, text string) { cancel(kernel.ErrInterrupted) }}
			code := "import signal, time\nseen = []\n" +
				"def once(*a):\n    seen.append(1)\n    if len(seen) > 1:\n        raise KeyboardInterrupt\n" +
				"signal.signal(signal.SIGINT, once)\nprint('ready', flush=True)\ntime.sleep(30)"
			_, err := c.Execute(ctx, code, &out)
			var ee *kernel.ExecError
			if !errors.As(err, &ee) || ee.Name != "KeyboardInterrupt" {
				t.Fatalf("err = %v, want KeyboardInterrupt from the second interrupt", err)
			}
			var after kerneltest.Recorder
			if _, err := c.Execute(execCtx(t), "print(len(seen))", &after); err != nil || after.Stdout() != "2\n" {
				t.Errorf("after the stop: %v, stdout %q: want the kernel alive, having seen 2 interrupts", err, after.Stdout())
			}
		})
	}
}

func TestCloseStopsProcess(t *testing.T) {
	c := startKernel(t, testSpec(t))
	pid := c.Pid()
	// A child of the kernel must go too (process group).
	var out kerneltest.Recorder
	if _, err := c.Execute(execCtx(t), "import subprocess\np = subprocess.Popen(['sleep', '300'])\nprint(p.pid)", &out); err != nil {
		t.Fatal(err)
	}
	var child int
	if _, err := fmt.Sscan(out.Stdout(), &child); err != nil {
		t.Fatalf("child pid from %q: %v", out.Stdout(), err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kernel pid %d still exists after Close (kill 0: %v)", pid, err)
	}
	if !testenv.WaitGone(t, child, 10*time.Second) {
		t.Errorf("kernel's child %d survived Close", child)
		_ = syscall.Kill(child, syscall.SIGKILL)
	}
	if _, err := c.Execute(execCtx(t), "1", &out); !errors.Is(err, ErrClosed) {
		t.Errorf("Execute after Close = %v, want ErrClosed", err)
	}
}

func TestKernelDeath(t *testing.T) {
	c := startKernel(t, testSpec(t))
	var out kerneltest.Recorder
	if _, err := c.Execute(execCtx(t), "import os\nget_ipython().kernel.log.error('an earlier cell')", &out); err != nil {
		t.Fatal(err)
	}
	_, err := c.Execute(execCtx(t), "get_ipython().kernel.log.error('its last words')\nos._exit(3)", &out)
	if !errors.Is(err, ErrDied) {
		t.Fatalf("err = %v, want ErrDied", err)
	}
	if !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("err = %v, want the exit status", err)
	}
	// The end of its output is the dying cell's, not the kernel's start
	// warnings or an earlier cell's.
	if msg := err.Error(); !strings.Contains(msg, "its last words") || strings.Contains(msg, "an earlier cell") {
		t.Errorf("err = %v; want the dying cell's stderr alone", err)
	}
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed within 10 s of the kernel's death")
	}
	if _, err := c.Execute(execCtx(t), "1", &out); !errors.Is(err, ErrDied) {
		t.Errorf("Execute on a dead kernel = %v, want ErrDied", err)
	}
}

func TestStartFailure(t *testing.T) {
	spec := &Spec{Argv: []string{"/bin/sh", "-c", "echo no such module >&2; exit 1", "{connection_file}"}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := Start(ctx, spec, Options{})
	if !errors.Is(err, ErrDied) || !strings.Contains(err.Error(), "no such module") {
		t.Fatalf("err = %v, want ErrDied with the kernel's stderr", err)
	}
}

func TestFindIn(t *testing.T) {
	ctx := context.Background()
	empty := t.TempDir()
	if _, err := FindIn(ctx, []string{empty}); !errors.Is(err, ErrNoKernel) {
		t.Errorf("empty dir: err = %v, want ErrNoKernel", err)
	}
	if _, err := FindIn(ctx, []string{empty}, "/nonexistent/python3"); !errors.Is(err, ErrNoKernel) {
		t.Errorf("no python: err = %v, want ErrNoKernel", err)
	}

	// A venv-style prefix: share/jupyter/kernels/python3 with argv[0]
	// "python" means the prefix's bin/python.
	prefix := t.TempDir()
	specDir := filepath.Join(prefix, "share", "jupyter", "kernels", "python3")
	must(t, os.MkdirAll(specDir, 0o755))
	must(t, os.MkdirAll(filepath.Join(prefix, "bin"), 0o755))
	must(t, os.WriteFile(filepath.Join(prefix, "bin", "python"), []byte("#!/bin/sh\n"), 0o755))
	must(t, os.WriteFile(filepath.Join(specDir, "kernel.json"), []byte(`{"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
		"display_name": "Python 3 (ipykernel)", "interrupt_mode": "message", "env": {"A": "1"}}`), 0o644))
	broken := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(broken, "kernels", "python3"), 0o755))
	must(t, os.WriteFile(filepath.Join(broken, "kernels", "python3", "kernel.json"), []byte("{"), 0o644))

	spec, err := FindIn(ctx, []string{empty, broken, filepath.Join(prefix, "share", "jupyter")})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(prefix, "bin", "python"); spec.Argv[0] != want {
		t.Errorf("argv[0] = %q, want %q", spec.Argv[0], want)
	}
	if spec.InterruptMode != "message" || spec.Env["A"] != "1" || spec.ResourceDir != specDir {
		t.Errorf("spec = %+v", spec)
	}
}

func TestDataDirs(t *testing.T) {
	env := map[string]string{"JUPYTER_PATH": "/a:/b"}
	got := DataDirs(func(k string) string { return env[k] }, "/data", "/venv/share/jupyter")
	want := []string{"/a", "/b", "/data", "/venv/share/jupyter", "/usr/local/share/jupyter", "/usr/share/jupyter"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("DataDirs = %q, want %q", got, want)
	}
	if got := DataDirs(func(k string) string { return env[k] }, "", "/venv/share/jupyter"); len(got) != len(want)-1 || got[2] != "/venv/share/jupyter" {
		t.Errorf("with no user directory: %q", got)
	}
}

func TestStripANSI(t *testing.T) {
	in := "\x1b[0;31mZeroDivisionError\x1b[0m: division by zero\x1b]8;;http://x\x07link\x1b]8;;\x07"
	if got := StripANSI(in); got != "ZeroDivisionError: division by zero"+"link" {
		t.Errorf("StripANSI = %q", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A port clash at start is recognised by asking the system whether one of
// the kernel's ports is bound by someone else, not by the kernel's text.
func TestPortTaken(t *testing.T) {
	ci, err := newConnInfo()
	if err != nil {
		t.Fatal(err)
	}
	if portTaken(ci) {
		t.Fatal("fresh ports reported taken")
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ci.IP, strconv.Itoa(ci.StdinPort)))
	if err != nil {
		t.Fatalf("take the stdin port: %v", err)
	}
	defer l.Close()
	if !portTaken(ci) {
		t.Error("a port bound by another listener is not reported taken")
	}
}

// Output the kernel sent before it died reaches the cell, even when the
// notebook takes it more slowly than the kernel printed it: its last
// output says most about why it died.
func TestOutputBeforeDeathIsKept(t *testing.T) {
	c := startKernel(t, testSpec(t))
	var out kerneltest.Recorder
	out.SetOnStream(func(name, text string) { time.Sleep(50 * time.Millisecond) }) // a slow front end
	code := "import os, time\nfor i in range(30):\n print('line', i, flush=True); time.sleep(0.01)\ntime.sleep(0.5)\nos._exit(3)"
	_, err := c.Execute(execCtx(t), code, &out)
	if !errors.Is(err, ErrDied) {
		t.Fatalf("err = %v, want ErrDied", err)
	}
	if got := out.Stdout(); !strings.Contains(got, "line 29") {
		t.Errorf("output lost: got %d bytes, ending %q", len(got), got[max(0, len(got)-60):])
	}
}

// Once Run says the kernel was killed (it ignored the interrupts), the
// client is done, so the next %%host cell starts a new kernel instead of
// getting this one, dead: even when a process the cell started in its own
// session still holds the kernel's output pipe.
func TestKilledKernelIsDone(t *testing.T) {
	c := startKernel(t, testSpec(t))
	ctx, cancel := context.WithCancel(execCtx(t))
	defer cancel()
	var out kerneltest.Recorder
	out.SetOnStream(func(name, text string) {
		if f := strings.Fields(text); len(f) == 2 && f[0] == "go" {
			if pid, err := strconv.Atoi(f[1]); err == nil {
				// Outside the kernel's process group: the test ends it.
				t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
			}
			cancel() // the user presses stop
		}
	})
	code := "import signal, subprocess, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\np = subprocess.Popen(['sleep', '30'], start_new_session=True)\nprint('go', p.pid, flush=True)\nwhile True: time.sleep(1)"
	if _, err := c.Execute(ctx, code, &out); err == nil || !strings.Contains(err.Error(), "was killed") {
		t.Fatalf("err = %v; want the kernel killed", err)
	}
	select {
	case <-c.Done():
	default:
		t.Error("Run said the kernel was killed, but Done is not closed")
	}
}
