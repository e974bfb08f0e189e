package magics

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
)

// fullFile is a csvFile on a disk that fills after limit bytes.
type fullFile struct {
	limit, n           int
	committed, aborted bool
}

func (f *fullFile) Write(p []byte) (int, error) {
	if f.n+len(p) > f.limit {
		return 0, fmt.Errorf("write out.csv: %w", syscall.ENOSPC)
	}
	f.n += len(p)
	return len(p), nil
}
func (f *fullFile) Commit() error { f.committed = true; return nil }
func (f *fullFile) Abort()        { f.aborted = true }

// A --csv whose disk fills says so on stderr at once, while the code goes
// on printing, so that a long run can be stopped; the cell then ends with
// an error saying the file was not saved, and the cause is said once.
func TestPlotCSVWriteFailureToldAtOnce(t *testing.T) {
	out := &kerneltest.Recorder{}
	env := &Env{Out: out, Boards: noBoards{}, Host: NewHost(t.TempDir(), nil)}
	f := &fullFile{limit: 1000}
	toldWhileRunning := false
	run := func(o kernel.Output) error {
		// far more than the CSV's buffers hold, so a write reaches the disk
		for i := 0; i < 100_000 && !toldWhileRunning; i++ {
			o.Stream("stdout", fmt.Sprintf("temp:%d\n", i))
			toldWhileRunning = strings.Contains(out.Stderr(), "out.csv")
		}
		return nil
	}
	err := runPlot(env, plotRun{name: "%%plot", csv: "out.csv", create: func(string) (csvFile, error) { return f, nil }}, run)
	if !toldWhileRunning {
		t.Errorf("stderr %q while the code ran; want the failed write told at once", out.Stderr())
	}
	if err == nil || !strings.Contains(err.Error(), "out.csv was not saved") {
		t.Errorf("the cell ended with %v; want an error saying out.csv was not saved", err)
	}
	said := strings.Count(out.Stderr(), "no space left on device")
	if err != nil {
		said += strings.Count(err.Error(), "no space left on device")
	}
	if said != 1 || !strings.HasPrefix(out.Stderr(), "%%plot --csv: writing ") {
		t.Errorf("stderr %q, error %v; want the cause said once, by %%%%plot --csv", out.Stderr(), err)
	}
	if f.committed || !f.aborted {
		t.Errorf("committed %v, aborted %v; want the partial file dropped", f.committed, f.aborted)
	}
}

// A --csv that cannot be saved at the end is told even when the code
// ended in an error or was stopped, and the cell keeps the code's error.
func TestPlotCSVFailureToldWhenTheCodeFails(t *testing.T) {
	for _, codeErr := range []error{kernel.ErrInterrupted, errors.New("ZeroDivisionError")} {
		dir := t.TempDir()
		out := &kerneltest.Recorder{}
		env := &Env{Out: out, Boards: noBoards{}, Host: NewHost(dir, nil)}
		sub := filepath.Join(dir, "data")
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		run := func(o kernel.Output) error {
			o.Stream("stdout", "1\n2\n")
			// the folder goes while the code runs: the file cannot be saved
			if err := os.RemoveAll(sub); err != nil {
				t.Fatal(err)
			}
			return codeErr
		}
		err := runPlot(env, plotRun{name: "%%plot", csv: "data/out.csv"}, run)
		if !errors.Is(err, codeErr) {
			t.Errorf("%v: the cell ended with %v; want the code's error", codeErr, err)
		}
		if got := out.Stderr(); strings.Count(got, "data/out.csv") != 1 || !strings.Contains(got, "not saved") {
			t.Errorf("%v: stderr %q; want it to say once that data/out.csv was not saved", codeErr, got)
		}
	}
}

// The samples of a stopped run are saved: a stop is the usual end of a
// plotted loop.
func TestPlotCSVSavedOnStop(t *testing.T) {
	dir := t.TempDir()
	out := &kerneltest.Recorder{}
	env := &Env{Out: out, Boards: noBoards{}, Host: NewHost(dir, nil)}
	run := func(o kernel.Output) error {
		o.Stream("stdout", "1\n2\n3")
		return kernel.ErrInterrupted
	}
	if err := runPlot(env, plotRun{name: "%%plot", csv: "out.csv"}, run); !errors.Is(err, kernel.ErrInterrupted) {
		t.Fatalf("error %v, want the stop", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "out.csv"))
	if err != nil || strings.Count(string(b), "\n") != 4 {
		t.Errorf("out.csv %q (%v), want a header and 3 rows", b, err)
	}
	if out.Stderr() != "" {
		t.Errorf("stderr %q", out.Stderr())
	}
}
