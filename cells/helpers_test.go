package cells

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/testboard"
)

// recOut is a kernel.Output that records what a cell reports.
type recOut struct {
	mu       sync.Mutex
	streams  []stream
	displays []kernel.MIMEBundle
	prompts  []string
	// answer answers input(); nil means stdin is not allowed.
	answer func(prompt string) (string, error)
	// onStream, when set, is called with each stream write.
	onStream func(name, text string)
}

type stream struct{ name, text string }

func (o *recOut) Stream(name, text string) {
	o.mu.Lock()
	o.streams = append(o.streams, stream{name, text})
	f := o.onStream
	o.mu.Unlock()
	if f != nil {
		f(name, text)
	}
}

func (o *recOut) Display(data kernel.MIMEBundle, _ map[string]any, _ string, _ bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.displays = append(o.displays, data)
}

func (o *recOut) ClearOutput(bool) {}

func (o *recOut) Input(ctx context.Context, prompt string, password bool) (string, error) {
	o.mu.Lock()
	o.prompts = append(o.prompts, prompt)
	f := o.answer
	o.mu.Unlock()
	if f == nil {
		return "", kernel.ErrNoStdin
	}
	return f(prompt)
}

// text returns everything written to the named stream.
func (o *recOut) text(name string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var b strings.Builder
	for _, s := range o.streams {
		if s.name == name {
			b.WriteString(s.text)
		}
	}
	return b.String()
}

func (o *recOut) stdout() string { return o.text("stdout") }

// testLogger shows the interpreter's logs in verbose test output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// newInterp returns an Interpreter whose devices file and state live in
// the test's temporary directory.
func newInterp(t *testing.T) (*Interpreter, Config) {
	t.Helper()
	dir := t.TempDir()
	cfg := Config{
		Logger:      testLogger(t),
		Level:       new(slog.LevelVar),
		DevicesPath: filepath.Join(dir, "devices.yaml"),
		StateDir:    filepath.Join(dir, "state"),
		SessionKey:  "test.ipynb",
		WorkDir:     dir,
	}
	it := New(cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := it.Shutdown(ctx, false); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return it, cfg
}

// startBoard starts a test board for one test, skipping when its emulator
// is not installed, and stops it when the test ends.
func startBoard(t *testing.T, kind testboard.Kind) *testboard.Board {
	t.Helper()
	tool := map[testboard.Kind]string{testboard.Microbit: "qemu-system-arm", testboard.Wasm: "node"}[kind]
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s board needs %s: %v", kind, tool, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opt := testboard.Options{}
	if kind == testboard.Microbit {
		opt.PaceBaud = 115200
	}
	b, err := testboard.Start(ctx, kind, opt)
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
func run(t *testing.T, it *Interpreter, code string, out *recOut) (kernel.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return it.Execute(ctx, kernel.ExecuteRequest{Code: code, ExecutionCount: 7, AllowStdin: out.answer != nil}, out)
}

// mustRun executes a cell that must succeed and returns its output.
func mustRun(t *testing.T, it *Interpreter, code string) (*recOut, kernel.Result) {
	t.Helper()
	out := &recOut{}
	res, err := run(t, it, code, out)
	if err != nil {
		t.Fatalf("cell %q: %v\nstdout: %s\nstderr: %s", code, err, out.stdout(), out.text("stderr"))
	}
	return out, res
}

// execError executes a cell that must fail and returns its error.
func execError(t *testing.T, it *Interpreter, code string) (*kernel.ExecError, *recOut) {
	t.Helper()
	out := &recOut{}
	_, err := run(t, it, code, out)
	var ee *kernel.ExecError
	if !errors.As(err, &ee) {
		t.Fatalf("cell %q: error %v (%T), want *kernel.ExecError; stdout %q", code, err, err, out.stdout())
	}
	return ee, out
}

// connected returns an interpreter connected to a fresh board of kind.
func connected(t *testing.T, kind testboard.Kind) (*Interpreter, *testboard.Board) {
	t.Helper()
	b := startBoard(t, kind)
	it, _ := newInterp(t)
	mustRun(t, it, "%connect -q "+b.Path())
	return it, b
}
