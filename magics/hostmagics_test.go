package magics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/hostkernel"
	"github.com/iot-kernel/iot-kernel/internal/testenv"
	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
	"github.com/iot-kernel/iot-kernel/testboard"
	"github.com/iot-kernel/iot-kernel/transport"
)

// hostEnv is an Env for the host magics in a temporary working directory.
type hostEnv struct {
	t   *testing.T
	env *Env
	out *kerneltest.Recorder
	reg *Registry
	dir string
}

func newHostEnv(t *testing.T, d hostDeps) *hostEnv {
	t.Helper()
	dir := t.TempDir()
	out := &kerneltest.Recorder{}
	reg := NewRegistry(hostMagics(d)...)
	h := NewHost(dir, nil)
	t.Cleanup(func() { h.Close() })
	return &hostEnv{t: t, env: &Env{Out: out, Host: h, Magics: reg}, out: out, reg: reg, dir: dir}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func (h *hostEnv) line(l string) error {
	return h.reg.Run(testCtx(h.t), h.env, l, Line, "")
}

func (h *hostEnv) cell(l, body string) error {
	return h.reg.Run(testCtx(h.t), h.env, l, Cell, body)
}

// useTestKernel points the Host at a python with ipykernel, or skips.
func (h *hostEnv) useTestKernel() {
	h.t.Helper()
	py := testPython(h.t, true)
	h.env.Host.FindKernel = func(ctx context.Context) (*hostkernel.Spec, error) {
		return hostkernel.SpecForPython(ctx, py)
	}
}

// testPython finds a python for the tests: $IOT_TEST_PYTHON, else the
// project's .venv, else python3 on PATH, else /usr/bin/python3. With
// ipykernel, it must import ipykernel. It skips the test when there is none.
func testPython(t *testing.T, ipykernel bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cands := []string{"python3", "/usr/bin/python3"}
	if wd, err := os.Getwd(); err == nil {
		cands = append([]string{filepath.Join(filepath.Dir(wd), ".venv", "bin", "python")}, cands...)
	}
	if p := os.Getenv("IOT_TEST_PYTHON"); p != "" {
		cands = []string{p}
	}
	check := "import json"
	if ipykernel {
		check = "import ipykernel"
	}
	for _, p := range cands {
		if exec.CommandContext(ctx, p, "-c", check).Run() == nil {
			return p
		}
	}
	testenv.SkipOrFail(t, "no python that can %q among %q (set IOT_TEST_PYTHON)", check, cands)
	return ""
}

func TestHostMagicsHelp(t *testing.T) {
	h := newHostEnv(t, hostDeps{})
	for _, c := range []struct {
		line string
		kind Kind
		want string
	}{
		{"cd -h", Line, "Usage: %cd [DIR|-]"},
		{"bash -h", Cell, "--no-raise-error"},
		{"host --help", Cell, "Usage: %%host"},
		{"store -h", Line, "Usage: %store NAME..."},
	} {
		if err := h.reg.Run(testCtx(t), h.env, c.line, c.kind, ""); err != nil {
			t.Errorf("%s: %v", c.line, err)
			continue
		}
		if out, _ := h.out.TakeText(); !strings.Contains(out, c.want) {
			t.Errorf("%s printed %q, want %q in it", c.line, out, c.want)
		}
	}
	var ue *UsageError
	if err := h.line("store"); !errors.As(err, &ue) {
		t.Errorf("%%store without names: %v, want a usage error", err)
	}
	if err := h.line("store 1x"); !errors.As(err, &ue) {
		t.Errorf("%%store 1x: %v, want a usage error", err)
	}
	if err := h.cell("bash extra", "true"); !errors.As(err, &ue) {
		t.Errorf("%%%%bash extra: %v, want a usage error", err)
	}
}

func TestRunShell(t *testing.T) {
	h := newHostEnv(t, hostDeps{})

	t.Run("stderr joins stdout in order", func(t *testing.T) {
		// As IPython's !cmd shows it: in the order the command wrote it.
		cmd := "for i in 1 2 3 4 5 6 7 8; do echo out$i; echo err$i >&2; done; printf 'caf\\303\\251\\n'"
		if err := RunShell(testCtx(t), h.env, cmd); err != nil {
			t.Fatal(err)
		}
		var want strings.Builder
		for i := 1; i <= 8; i++ {
			fmt.Fprintf(&want, "out%d\nerr%d\n", i, i)
		}
		want.WriteString("café\n")
		if out, errOut := h.out.TakeText(); out != want.String() || errOut != "" {
			t.Errorf("stdout %q stderr %q, want stdout %q", out, errOut, want.String())
		}
	})

	t.Run("runs in the host directory", func(t *testing.T) {
		sub := filepath.Join(h.dir, "sub dir")
		hostMust(t, os.Mkdir(sub, 0o755))
		hostMust(t, h.line(`cd "sub dir"`))
		h.out.TakeText()
		hostMust(t, RunShell(testCtx(t), h.env, "pwd"))
		if out, _ := h.out.TakeText(); out != sub+"\n" {
			t.Errorf("pwd = %q, want %q", out, sub)
		}
		hostMust(t, h.line("cd -"))
		h.out.TakeText()
	})

	t.Run("output streams while the command runs", func(t *testing.T) {
		// The command waits for a file that the test creates only once the
		// first line has reached the notebook.
		flag := filepath.Join(h.dir, "flag")
		h.out.SetOnStream(func(_, text string) {
			if strings.Contains(text, "first") {
				os.WriteFile(flag, nil, 0o644)
			}
		})
		defer h.out.SetOnStream(nil)
		err := RunShell(testCtx(t), h.env, "echo first; while [ ! -e flag ]; do sleep 0.01; done; echo second")
		if err != nil {
			t.Fatal(err)
		}
		if out, _ := h.out.TakeText(); out != "first\nsecond\n" {
			t.Errorf("stdout = %q", out)
		}
	})

	t.Run("failure does not fail the cell", func(t *testing.T) {
		// As in IPython: the output is the report.
		if err := RunShell(testCtx(t), h.env, "echo partial; ls /nonexistent-dir; exit 3"); err != nil {
			t.Errorf("err = %v, want nil as in IPython", err)
		}
		out, _ := h.out.TakeText()
		if !strings.HasPrefix(out, "partial\n") || !strings.Contains(out, "nonexistent-dir") {
			t.Errorf("output %q, want partial then ls's complaint", out)
		}
		if err := RunShell(testCtx(t), h.env, "no-such-command-xyz"); err != nil {
			t.Errorf("err = %v", err)
		}
		if out, _ := h.out.TakeText(); !strings.Contains(out, "not found") {
			t.Errorf("output = %q, want the shell's not found", out)
		}
	})

	t.Run("interrupt stops the process group", func(t *testing.T) {
		ctx, cancel := context.WithCancelCause(testCtx(t))
		defer cancel(nil)
		var pid string
		h.out.SetOnStream(func(_, text string) {
			pid = strings.TrimSpace(text)
			cancel(kernel.ErrInterrupted)
		})
		defer h.out.SetOnStream(nil)
		// The background sleep is in the command's process group.
		err := RunShell(ctx, h.env, "sleep 60 & echo $!; wait")
		if !errors.Is(err, kernel.ErrInterrupted) {
			t.Fatalf("err = %v, want the interrupt", err)
		}
		h.out.TakeText()
		n, err := strconv.Atoi(pid)
		if err != nil {
			t.Fatalf("pid %q: %v", pid, err)
		}
		if !testenv.WaitGone(t, n, 10*time.Second) {
			t.Errorf("background sleep %d survived the interrupt", n)
		}
	})
}

// !cmd and %%bash in a working directory removed since %cd name the
// directory and what to do, not the shell as missing (os/exec's
// "fork/exec /bin/sh: no such file or directory").
func TestShellInRemovedDir(t *testing.T) {
	h := newHostEnv(t, hostDeps{})
	gone := filepath.Join(h.dir, "gone")
	hostMust(t, os.Mkdir(gone, 0o755))
	hostMust(t, h.line("cd gone"))
	hostMust(t, os.Remove(gone))
	want := "the working directory " + gone + " no longer exists: %cd to another"
	if err := RunShell(testCtx(t), h.env, "ls"); err == nil || err.Error() != "!ls: "+want {
		t.Errorf("!ls in a removed directory: %v; want %q", err, "!ls: "+want)
	}
	if err := h.cell("bash", "ls"); err == nil || err.Error() != "%%bash: "+want {
		t.Errorf("%%%%bash in a removed directory: %v; want %q", err, "%%bash: "+want)
	}
	hostMust(t, h.line("cd .."))
	hostMust(t, RunShell(testCtx(t), h.env, "true"))
}

func TestBash(t *testing.T) {
	h := newHostEnv(t, hostDeps{})
	hostMust(t, h.cell("bash", "echo hi\n[[ 1 == 1 ]] && echo bashism\npwd"))
	if out, _ := h.out.TakeText(); out != "hi\nbashism\n"+h.dir+"\n" {
		t.Errorf("stdout = %q", out)
	}
	err := h.cell("bash", "echo before\nexit 2")
	if err == nil || !strings.Contains(err.Error(), "status 2") {
		t.Errorf("err = %v, want exit status 2", err)
	}
	if out, _ := h.out.TakeText(); out != "before\n" {
		t.Errorf("stdout = %q", out)
	}
	if err := h.cell("bash --no-raise-error", "exit 2"); err != nil {
		t.Errorf("--no-raise-error: %v", err)
	}
}

func TestCd(t *testing.T) {
	h := newHostEnv(t, hostDeps{})
	hostMust(t, os.Mkdir(filepath.Join(h.dir, "a"), 0o755))
	hostMust(t, os.WriteFile(filepath.Join(h.dir, "f"), nil, 0o644))

	if err := h.line("cd -"); err == nil || err.Error() != "%cd -: no previous directory" {
		t.Errorf("%%cd - with no previous directory: %v", err)
	}
	hostMust(t, h.line("cd a"))
	if out, _ := h.out.TakeText(); out != filepath.Join(h.dir, "a")+"\n" {
		t.Errorf("%%cd a printed %q", out)
	}
	hostMust(t, h.line("cd .."))
	if h.env.Host.Dir() != h.dir {
		t.Errorf("dir = %q after cd ..", h.env.Host.Dir())
	}
	if err := h.line("cd missing"); err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("cd missing: %v", err)
	}
	if err := h.line("cd f"); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("cd f: %v", err)
	}
	if h.env.Host.Dir() != h.dir {
		t.Errorf("a failed cd moved to %q", h.env.Host.Dir())
	}
	home, err := os.UserHomeDir()
	if err == nil {
		hostMust(t, h.line("cd"))
		if h.env.Host.Dir() != home {
			t.Errorf("cd with no argument: %q, want %q", h.env.Host.Dir(), home)
		}
		hostMust(t, h.line("cd -"))
		if h.env.Host.Dir() != h.dir {
			t.Errorf("cd -: %q, want %q", h.env.Host.Dir(), h.dir)
		}
	}
}

func TestHostCell(t *testing.T) {
	h := newHostEnv(t, hostDeps{})
	h.useTestKernel()

	hostMust(t, h.cell("host", "from IPython.display import HTML, display\nprint('plain')\ndisplay(HTML('<b>x</b>'))\nHTML('<i>y</i>')"))
	ds := h.out.Displays()
	if len(ds) != 2 || ds[0].Data["text/html"] != "<b>x</b>" || ds[1].Data["text/html"] != "<i>y</i>" {
		t.Errorf("displays = %+v", ds)
	}
	if out, _ := h.out.TakeText(); out != "plain\n" {
		t.Errorf("stdout = %q", out)
	}

	// State is kept, and the exception of a cell is the cell's error.
	hostMust(t, h.cell("host", "v = 6 * 7"))
	err := h.cell("host", "print(v)\nraise ValueError('bad ' + str(v))")
	var ee *kernel.ExecError
	if !errors.As(err, &ee) || ee.Name != "ValueError" || ee.Value != "bad 42" {
		t.Errorf("err = %v, want ValueError: bad 42", err)
	}
	if out, _ := h.out.TakeText(); out != "42\n" {
		t.Errorf("stdout = %q", out)
	}

	// A front end without stdin: input() says so, as ipykernel does,
	// with no stop the user never pressed.
	h.env.NoStdin = true
	err = h.cell("host", "input('name? ')")
	h.env.NoStdin = false
	if !errors.As(err, &ee) || ee.Name != "StdinNotImplementedError" {
		t.Errorf("input() without stdin: %v, want StdinNotImplementedError", err)
	}
	if _, errOut := h.out.TakeText(); errOut != "" {
		t.Errorf("input() without stdin: stderr %q, want only the error", errOut)
	}

	// A missing module: which python to install it into, and how.
	err = h.cell("host", "import iot_no_such_module")
	if !errors.As(err, &ee) || ee.Name != "ModuleNotFoundError" || len(ee.Traceback) == 0 {
		t.Fatalf("err = %v, want ModuleNotFoundError", err)
	}
	if last := ee.Traceback[len(ee.Traceback)-1]; !strings.Contains(last, "-m pip install iot_no_such_module") ||
		!strings.Contains(last, "%%host runs /") {
		t.Errorf("last traceback line %q: want which python and its pip command", last)
	}

	// %cd moves the host kernel too.
	sub := filepath.Join(h.dir, "sub")
	hostMust(t, os.Mkdir(sub, 0o755))
	hostMust(t, h.line("cd sub"))
	h.out.TakeText()
	hostMust(t, h.cell("host", "import os; print(os.getcwd())"))
	if out, _ := h.out.TakeText(); out != sub+"\n" {
		t.Errorf("host cwd = %q, want %q", out, sub)
	}

	// A dead host kernel is restarted by the next %%host, with a note.
	err = h.cell("host", "import os; os._exit(1)")
	if !errors.Is(err, hostkernel.ErrDied) || !strings.Contains(err.Error(), "the next %%host cell starts a new host kernel") {
		t.Errorf("err = %v, want ErrDied and what happens next", err)
	}
	hostMust(t, h.cell("host", "print('back', 'v' in globals())"))
	out, errOut := h.out.TakeText()
	if out != "back False\n" || !strings.Contains(errOut, "starting a new one") {
		t.Errorf("after restart: stdout %q stderr %q", out, errOut)
	}
}

// A %%host cell after its working directory was removed says which
// directory and what to do, as a plain error: not the kernel's own chdir
// snippet as if it were the cell's exception. Its variables survive, and
// a %cd elsewhere mends it.
func TestHostCellRemovedDir(t *testing.T) {
	h := newHostEnv(t, hostDeps{})
	h.useTestKernel()
	hostMust(t, h.cell("host", "x = 1"))
	gone := filepath.Join(h.dir, "gone")
	hostMust(t, os.Mkdir(gone, 0o755))
	hostMust(t, h.line("cd gone"))
	hostMust(t, os.Remove(gone))
	h.out.TakeText()
	for range 2 { // and not only the first time
		err := h.cell("host", "print(x)")
		var ee *kernel.ExecError
		if errors.As(err, &ee) {
			t.Fatalf("%%%%host in a removed directory: an ExecError %s: %s %q", ee.Name, ee.Value, ee.Traceback)
		}
		want := "%%host: move the host kernel: the working directory " + gone + " no longer exists: %cd to another"
		if err == nil || err.Error() != want {
			t.Errorf("%%%%host in a removed directory: %v; want %q", err, want)
		}
	}
	hostMust(t, h.line("cd .."))
	h.out.TakeText()
	hostMust(t, h.cell("host", "import os; print(x, os.getcwd())"))
	if out, _ := h.out.TakeText(); out != "1 "+h.dir+"\n" {
		t.Errorf("after %%cd ..: %q", out)
	}
}

// A host kernel started after its directory was removed (no kernel yet)
// says so too.
func TestHostCellStartInRemovedDir(t *testing.T) {
	h := newHostEnv(t, hostDeps{})
	h.useTestKernel()
	gone := filepath.Join(h.dir, "gone")
	hostMust(t, os.Mkdir(gone, 0o755))
	hostMust(t, h.line("cd gone"))
	hostMust(t, os.Remove(gone))
	want := "%%host: start the host kernel: the working directory " + gone + " no longer exists: %cd to another"
	if err := h.cell("host", "1"); err == nil || err.Error() != want {
		t.Errorf("%%%%host in a removed directory: %v; want %q", err, want)
	}
}

func TestHostCellNoKernel(t *testing.T) {
	h := newHostEnv(t, hostDeps{})
	empty := t.TempDir()
	h.env.Host.FindKernel = func(ctx context.Context) (*hostkernel.Spec, error) {
		return hostkernel.FindIn(ctx, []string{empty})
	}
	err := h.cell("host", "print(1)")
	if err == nil || !strings.Contains(err.Error(), "%%host needs a python3 Jupyter kernel (pip install ipykernel)") {
		t.Errorf("err = %v", err)
	}
}

func TestHostClose(t *testing.T) {
	h := newHostEnv(t, hostDeps{})
	h.useTestKernel()
	hostMust(t, h.cell("host", "1"))
	k, err := h.env.Host.Kernel(testCtx(t), h.out)
	if err != nil {
		t.Fatal(err)
	}
	hostMust(t, h.env.Host.Close())
	select {
	case <-k.Done(): // Close returns after the process is gone
	default:
		t.Error("Host.Close returned before the kernel process ended")
	}
	if err := h.cell("host", "1"); err == nil {
		t.Error("%%host after Close succeeded")
	}
}

// pythonBoard fakes a board's exec with CPython: the prelude defines the
// board's globals, then the code runs in the same namespace.
func pythonBoard(t *testing.T, prelude string) func(ctx context.Context, env *Env, code string, stdout io.Writer) error {
	py := testPython(t, false)
	return func(ctx context.Context, env *Env, code string, stdout io.Writer) error {
		cmd := exec.CommandContext(ctx, py, "-c", prelude+"\n"+code)
		cmd.Stdout = stdout
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return &transport.BoardError{Name: "Error", Value: stderr.String()}
		}
		return nil
	}
}

func TestStore(t *testing.T) {
	prelude := `a = (1, 2)
b = {'k': [1.5, None, True], 2: 'two'}
c = b'\x00hi'
s = 'héllo\n'
n = float('nan')
ba = bytearray(b'ab')
obj = object()`
	h := newHostEnv(t, hostDeps{boardExec: pythonBoard(t, prelude)})
	h.useTestKernel()

	hostMust(t, h.line("store a b c s n ba"))
	out, _ := h.out.TakeText()
	want := "Stored in the host kernel: a (tuple), b (dict), c (bytes), s (str), n (float), ba (bytearray)\n"
	if out != want {
		t.Errorf("%%store printed %q, want %q", out, want)
	}
	hostMust(t, h.cell("host", "print(a, b, c, repr(s), n != n, ba)"))
	if out, _ := h.out.TakeText(); out != "(1, 2) {'k': [1.5, None, True], 2: 'two'} b'\\x00hi' 'héllo\\n' True bytearray(b'ab')\n" {
		t.Errorf("host sees %q", out)
	}

	err := h.line("store obj")
	if err == nil || !strings.Contains(err.Error(), "obj: its value <object object at") {
		t.Errorf("%%store obj: %v", err)
	}
	err = h.line("store a missing")
	if err == nil || !strings.Contains(err.Error(), "not defined on the board: missing") {
		t.Errorf("%%store missing: %v", err)
	}
}

func TestStoreNoBoard(t *testing.T) {
	h := newHostEnv(t, hostDeps{boardExec: execOnBoard})
	h.env.Boards = noBoards{}
	err := h.line("store a")
	if !errors.Is(err, ErrNoBoard) {
		t.Errorf("err = %v, want ErrNoBoard", err)
	}
}

func TestStoreWasm(t *testing.T) {
	if testing.Short() {
		testenv.SkipOrFail(t, "test boards are not started with -short")
	}
	ctx := testCtx(t)
	tb, err := testboard.Start(ctx, testboard.Wasm, testboard.Options{})
	if testenv.Missing(err) {
		testenv.SkipOrFail(t, "cannot start the wasm test board here: %v", err)
	}
	if err != nil {
		t.Fatalf("start the wasm test board: %v", err)
	}
	t.Cleanup(func() { tb.Close() })
	b, err := transport.Open(ctx, tb.Path(), transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	hostMust(t, b.Exec(ctx, "t = (1, 'x')\nd = {'a': [1.5, None, False], 3: b'\\x01'}\nf = float('inf')\nba = bytearray(b'z')", transport.ExecOptions{}))

	h := newHostEnv(t, hostDeps{boardExec: func(ctx context.Context, _ *Env, code string, stdout io.Writer) error {
		return b.Exec(ctx, code, transport.ExecOptions{Stdout: stdout})
	}})
	h.useTestKernel()
	hostMust(t, h.line("store t d f ba"))
	if out, _ := h.out.TakeText(); out != "Stored in the host kernel: t (tuple), d (dict), f (float), ba (bytearray)\n" {
		t.Errorf("%%store printed %q", out)
	}
	hostMust(t, h.cell("host", "print(t, d, f, ba)"))
	if out, _ := h.out.TakeText(); out != "(1, 'x') {'a': [1.5, None, False], 3: b'\\x01'} inf bytearray(b'z')\n" {
		t.Errorf("host sees %q", out)
	}
}

func hostMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
