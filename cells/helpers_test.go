package cells

import (
	"context"
	"errors"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/internal/testenv"
	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
	"github.com/iot-kernel/iot-kernel/sim"
	"github.com/iot-kernel/iot-kernel/testboard"
)

// newInterp returns an Interpreter whose devices file and state live in
// the test's temporary directory.
func newInterp(t testing.TB) (*Interpreter, Config) {
	t.Helper()
	return newInterpWith(t, nil)
}

// newInterpWith is newInterp with edit (if not nil) changing the Config
// before the Interpreter is made.
func newInterpWith(t testing.TB, edit func(*Config)) (*Interpreter, Config) {
	t.Helper()
	dir := t.TempDir()
	// Virtual boards keep their files in the test's directory.
	t.Setenv(sim.EnvHome, filepath.Join(dir, "sim"))
	cfg := Config{
		Logger:      testenv.Logger(t),
		Level:       new(slog.LevelVar),
		DevicesPath: filepath.Join(dir, "devices.yaml"),
		StateDir:    filepath.Join(dir, "state"),
		SessionKey:  "test.ipynb",
		WorkDir:     dir,
	}
	if edit != nil {
		edit(&cfg)
	}
	it := New(cfg)
	shutdownAtEnd(t, it)
	return it, cfg
}

// shutdownAtEnd shuts it down when the test ends, with a bound of its own:
// the test's context is already cancelled when cleanups run.
func shutdownAtEnd(t testing.TB, it *Interpreter) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := it.Shutdown(ctx, false); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
}

// startBoard starts a test board for one test, skipping when its emulator
// is not installed, and stops it when the test ends.
func startBoard(t testing.TB, kind testboard.Kind) *testboard.Board {
	t.Helper()
	tool := map[testboard.Kind]string{testboard.Microbit: "qemu-system-arm", testboard.Wasm: "node"}[kind]
	if _, err := exec.LookPath(tool); err != nil {
		testenv.SkipOrFail(t, "%s board needs %s: %v", kind, tool, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := testboard.Start(ctx, kind, testboard.Options{}) // the micro:bit paced like its UART
	if testenv.Missing(err) {
		testenv.SkipOrFail(t, "start %s board: %v", kind, err) // e.g. its firmware
	}
	if err != nil {
		t.Fatalf("start %s board: %v", kind, err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close %s board: %v", kind, err)
		}
	})
	return b
}

var kinds = []testboard.Kind{testboard.Microbit, testboard.Wasm}

// run executes one cell with a bound.
func run(t testing.TB, it *Interpreter, code string, out *kerneltest.Recorder) (kernel.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return it.Execute(ctx, kernel.ExecuteRequest{Code: code, ExecutionCount: 7, AllowStdin: out.Answer != nil}, out)
}

// mustRun executes a cell that must succeed and returns its output.
func mustRun(t testing.TB, it *Interpreter, code string) (*kerneltest.Recorder, kernel.Result) {
	t.Helper()
	out := &kerneltest.Recorder{}
	res, err := run(t, it, code, out)
	if err != nil {
		t.Fatalf("cell %q: %v\nstdout: %s\nstderr: %s", code, err, out.Stdout(), out.Stderr())
	}
	return out, res
}

// execError executes a cell that must fail and returns its error.
func execError(t *testing.T, it *Interpreter, code string) (*kernel.ExecError, *kerneltest.Recorder) {
	t.Helper()
	out := &kerneltest.Recorder{}
	_, err := run(t, it, code, out)
	var ee *kernel.ExecError
	if !errors.As(err, &ee) {
		t.Fatalf("cell %q: error %v (%T), want *kernel.ExecError; stdout %q", code, err, err, out.Stdout())
	}
	return ee, out
}

// onLog is a log handler that calls fn, then passes the record on to the
// Handler, for each record whose message is msg: a test's trigger at a
// point the code under test logs.
type onLog struct {
	slog.Handler
	msg string
	fn  func()
}

func (h onLog) Enabled(context.Context, slog.Level) bool { return true }

func (h onLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.fn()
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h onLog) WithAttrs(as []slog.Attr) slog.Handler {
	return onLog{h.Handler.WithAttrs(as), h.msg, h.fn}
}

func (h onLog) WithGroup(name string) slog.Handler {
	return onLog{h.Handler.WithGroup(name), h.msg, h.fn}
}

// writeBoot writes boot.py on the current board.
func writeBoot(t *testing.T, it *Interpreter, src string) {
	t.Helper()
	mustRun(t, it, "with open('boot.py', 'w') as f:\n    f.write("+strconv.Quote(src)+")")
}

// connected returns an interpreter connected to a fresh board of kind.
func connected(t testing.TB, kind testboard.Kind) (*Interpreter, *testboard.Board) {
	t.Helper()
	b := startBoard(t, kind)
	it, _ := newInterp(t)
	mustRun(t, it, "%connect -q "+b.Path())
	return it, b
}
