package sim_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/internal/testenv"
	"github.com/iot-kernel/iot-kernel/sim"
	"github.com/iot-kernel/iot-kernel/transport"
)

// opTimeout bounds every wait for the board in these tests.
const opTimeout = 30 * time.Second

// microPython finds the npm package's micropython.mjs: IOT_NODE_MODULES, or
// node_modules in a folder above this one (up to the one holding go.mod).
func microPython(t *testing.T) string {
	t.Helper()
	const rel = "@micropython/micropython-webassembly-pyscript/micropython.mjs"
	if nm := os.Getenv("IOT_NODE_MODULES"); nm != "" {
		p := filepath.Join(nm, filepath.FromSlash(rel))
		if _, err := os.Stat(p); err != nil {
			testenv.SkipOrFail(t, "npm package missing: %v", err)
		}
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "node_modules", filepath.FromSlash(rel))
		if _, err := os.Stat(p); err == nil {
			return p
		}
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil || filepath.Dir(dir) == dir {
			break
		}
		dir = filepath.Dir(dir)
	}
	testenv.SkipOrFail(t, "npm package %s not found (npm install at the repository root)", rel)
	return ""
}

// program writes the board program once per test and returns node and the
// entry point.
func program(t *testing.T) (node, entry string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.SkipOrFail(t, "node not found: %v", err)
	}
	entry, err = sim.WriteProgram(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return node, entry
}

// board is one run of the board program, driven by the kernel's raw REPL
// engine over the process's stdin and stdout.
type board struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   io.ReadCloser
	done  chan struct{} // closed when the process has exited
	eng   *transport.Board
	state *os.ProcessState
}

type env struct {
	dir  string // IOT_SIM_DIR; "" = none
	name string // IOT_SIM_NAME; "" = default
	more []string
}

// start starts the program with IOT_SIM=1; the test stops it.
func start(t *testing.T, e env) *board {
	t.Helper()
	mod := microPython(t)
	node, entry := program(t)
	cmd := exec.Command(node, entry)
	cmd.Env = append(os.Environ(), "IOT_SIM=1", "IOT_MPY_MODULE="+mod)
	if e.dir != "" {
		cmd.Env = append(cmd.Env, "IOT_SIM_DIR="+e.dir)
	}
	if e.name != "" {
		cmd.Env = append(cmd.Env, "IOT_SIM_NAME="+e.name)
	}
	cmd.Env = append(cmd.Env, e.more...)
	cmd.Stderr = tlog{t}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &board{t: t, cmd: cmd, in: in, out: out, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		b.state = cmd.ProcessState
		close(b.done)
	}()
	var once sync.Once
	dial := func(ctx context.Context) (io.ReadWriteCloser, error) {
		var rwc io.ReadWriteCloser
		once.Do(func() { rwc = pipes{b.out, b.in} })
		if rwc == nil {
			return nil, errors.New("the board process is gone")
		}
		return rwc, nil
	}
	b.eng = transport.New("sim", dial, transport.Options{Timeout: opTimeout})
	t.Cleanup(b.stop)
	return b
}

// stop ends the process: stdin EOF first (a clean exit), then SIGKILL.
func (b *board) stop() {
	_ = b.eng.Close()
	_ = b.in.Close()
	select {
	case <-b.done:
		return
	case <-time.After(5 * time.Second):
	}
	_ = b.cmd.Process.Kill()
	select {
	case <-b.done:
	case <-time.After(opTimeout):
		b.t.Errorf("board process %d did not exit", b.cmd.Process.Pid)
	}
}

// kill kills the process with SIGKILL, as a crash or the launcher would.
func (b *board) kill() {
	b.t.Helper()
	_ = b.cmd.Process.Signal(syscall.SIGKILL)
	b.waitExit()
}

// waitExit waits for the process to end and returns its exit code (-1 for
// a signal).
func (b *board) waitExit() int {
	b.t.Helper()
	select {
	case <-b.done:
		return b.state.ExitCode()
	case <-time.After(opTimeout):
		b.t.Fatalf("board process did not exit")
		return 0
	}
}

func (b *board) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	b.t.Cleanup(cancel)
	return ctx
}

// exec runs code and returns its output; an exception fails the test.
func (b *board) exec(code string) string {
	b.t.Helper()
	var out bytes.Buffer
	if err := b.eng.Exec(b.ctx(), code, transport.ExecOptions{Stdout: &out}); err != nil {
		b.t.Fatalf("exec %q: %v (output %q)", code, err, out.String())
	}
	return out.String()
}

// eval returns repr(expr) on the board.
func (b *board) eval(expr string) string {
	b.t.Helper()
	got, err := b.eng.Eval(b.ctx(), expr)
	if err != nil {
		b.t.Fatalf("eval %q: %v", expr, err)
	}
	return got
}

type pipes struct {
	io.ReadCloser
	w io.WriteCloser
}

func (p pipes) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p pipes) Close() error {
	err := p.w.Close()
	if rerr := p.ReadCloser.Close(); err == nil {
		err = rerr
	}
	return err
}

// tlog shows the program's stderr in the test log.
type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) {
	w.t.Logf("board stderr: %s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}
