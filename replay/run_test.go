package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/kernel"
)

// notebookFile writes a notebook of code cells, as notebook builds it,
// to a file and loads it, for --update.
func notebookFile(t *testing.T, cells ...[3]string) *Notebook {
	t.Helper()
	path := filepath.Join(t.TempDir(), "n.ipynb")
	if err := os.WriteFile(path, notebook(t, cells...).raw, 0o644); err != nil {
		t.Fatal(err)
	}
	nb, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return nb
}

// updateOpts are opts with --update, writing files as they are.
func updateOpts() Options {
	o := opts()
	o.Update = true
	o.WriteFile = func(p string, data []byte) error { return os.WriteFile(p, data, 0o644) }
	return o
}

// unchanged fails the test if the notebook's file is not as it was loaded.
func unchanged(t *testing.T, nb *Notebook) {
	t.Helper()
	b, err := os.ReadFile(nb.Path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(nb.raw) {
		t.Errorf("the notebook was rewritten:\n%.2000s", b)
	}
}

// A cell that prints a lot in small writes is collected in time linear in
// what it prints: appending to a string copied it all for each write.
func TestCollectorStreamIsLinear(t *testing.T) {
	chunk := strings.Repeat("x", 63) + "\n"
	var c *collector
	allocs := testing.AllocsPerRun(1, func() {
		c = &collector{}
		for i := 0; i < 10000; i++ {
			c.Stream("stdout", chunk)
		}
	})
	if allocs > 1000 {
		t.Errorf("10000 writes to a stream made %.0f allocations", allocs)
	}
	if got := c.outputs(); len(got) != 1 || len(got[0].Text) != 10000*64 {
		t.Errorf("outputs: %d, the first %d bytes", len(got), len(got[0].Text))
	}
}

// A cell printing without end keeps a bounded part of its output, and
// says that the rest was not kept; --update does not store it cut short.
func TestCellOutputIsBounded(t *testing.T) {
	chunk := strings.Repeat("y", 64<<10-1) + "\n"
	flood := func(_ context.Context, out kernel.Output) (kernel.Result, error) {
		for i := 0; i < 5<<20/len(chunk); i++ {
			out.Stream("stdout", chunk)
		}
		return kernel.Result{}, nil
	}
	nb := notebookFile(t, [3]string{"flood", `{}`, `[{"name": "stdout", "output_type": "stream", "text": "y\n"}]`})
	r := Run(context.Background(), nb, fakeBoard{"flood": flood}, "fake", updateOpts())
	c := r.Cells[0]
	kept := 0
	for _, o := range c.Outputs {
		kept += len(o.Text)
	}
	if kept > maxCellOutput {
		t.Errorf("kept %d bytes of output, more than %d", kept, maxCellOutput)
	}
	if c.Status != Failed || !strings.Contains(c.Reason, "were not kept") || c.Diff != "" {
		t.Errorf("a cell whose output was cut short: %v %q, diff of %d bytes", c.Status, c.Reason, len(c.Diff))
	}
	if r.Updated != 0 {
		t.Errorf("--update stored output cut short")
	}
	unchanged(t, nb)
}

// A serving cell whose server fails at once (its port is in use) is
// reported as soon as it has ended: replay waited the whole StopGrace for
// a server that would never come up.
func TestServingCellThatFailsAtOnce(t *testing.T) {
	ln, port := listen(t)
	ln.Close() // nothing listens there now
	nb := notebook(t, [3]string{"srv", fmt.Sprintf(`{"iot": {"serve": {"port": %d, "paths": ["/"]}}}`, port), `[]`})
	b := fakeBoard{"srv": raises("OSError", "[Errno 98] EADDRINUSE")}
	o := opts()
	o.Timeout, o.StopGrace = time.Hour, time.Hour
	got := make(chan *Result, 1)
	go func() { got <- Run(context.Background(), nb, b, "fake", o) }()
	select {
	case r := <-got:
		if c := r.Cells[0]; c.Status != Failed || !strings.Contains(c.Reason, "EADDRINUSE") {
			t.Errorf("got %v %q", c.Status, c.Reason)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a serving cell that failed at once was not reported within 30 s (StopGrace is an hour)")
	}
}

// Ctrl-C (the replay's context cancelled with ErrInterrupted) while the
// last code cell runs, with --update: the notebook is left as it was, the
// replay says it was stopped, and the cell is not said to have raised.
func TestCtrlCInLastCell(t *testing.T) {
	stored := `[{"name": "stdout", "output_type": "stream", "text": "good result\n"}]`
	nb := notebookFile(t,
		[3]string{"first", `{}`, `[{"name": "stdout", "output_type": "stream", "text": "new\n"}]`},
		[3]string{"slow", `{}`, stored},
	)
	ctx, cancel := context.WithCancelCause(context.Background())
	b := fakeBoard{
		"first": prints("ok\n", ""), // differs: --update would write it
		"slow": func(ctx context.Context, out kernel.Output) (kernel.Result, error) {
			out.Stream("stdout", "partial\n")
			cancel(kernel.ErrInterrupted) // the user presses Ctrl-C
			<-ctx.Done()
			return kernel.Result{}, &kernel.ExecError{Name: "KeyboardInterrupt"}
		},
	}
	r := Run(ctx, nb, b, "fake", updateOpts())
	unchanged(t, nb)
	if r.Updated != 0 || r.Err == nil || !strings.Contains(r.Err.Error(), "stopped (Ctrl-C) during cell 2") || !strings.Contains(r.Err.Error(), "--update wrote nothing") {
		t.Errorf("updated %d, Err %v", r.Updated, r.Err)
	}
	if c := r.Cells[1]; c.Status != Skipped || c.Reason != "stopped (Ctrl-C) before it ended" {
		t.Errorf("the stopped cell: %v %q", c.Status, c.Reason)
	}
}

// --update stores the outputs of a cell whose only fault is that they
// differ, never what a cell showed when it timed out or raised.
func TestUpdateOnlyCellsThatDiffer(t *testing.T) {
	stored := `[{"name": "stdout", "output_type": "stream", "text": "good result\n"}]`
	nb := notebookFile(t,
		[3]string{"stuck", `{"iot": {"timeout": 0.1}}`, stored},
		[3]string{"oops", `{}`, stored},
	)
	b := fakeBoard{"stuck": loops, "oops": raises("OSError", "[Errno 19] ENODEV")}
	r := Run(context.Background(), nb, b, "fake", updateOpts())
	if r.Updated != 0 || statuses(r)[0] != Failed || statuses(r)[1] != Failed {
		t.Errorf("statuses %v, %d updated", statuses(r), r.Updated)
	}
	unchanged(t, nb)

	nb = notebookFile(t,
		[3]string{"oops", `{}`, stored},
		[3]string{"fine", `{}`, stored},
	)
	b = fakeBoard{"oops": raises("OSError", "[Errno 19] ENODEV"), "fine": prints("better result\n", "")}
	r = Run(context.Background(), nb, b, "fake", updateOpts())
	if r.Updated != 1 {
		t.Fatalf("statuses %v, %d updated", statuses(r), r.Updated)
	}
	again, err := Load(nb.Path)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Cells[0].Outputs; len(got) != 1 || got[0].Text != "good result\n" {
		t.Errorf("the failed cell's outputs became %+v", got)
	}
	if got := again.Cells[1].Outputs; len(got) != 1 || got[0].Text != "better result\n" {
		t.Errorf("the differing cell's outputs became %+v", got)
	}
}

// The notebook is saved (from JupyterLab) while a replay --update runs:
// the update does not write over the save, and says why.
func TestUpdateKeepsEditSavedMeanwhile(t *testing.T) {
	nb := notebookFile(t, [3]string{"a", `{}`, `[]`})
	edited := strings.Replace(string(nb.raw), `"metadata": {}, "nbformat"`, `"metadata": {"EDITED": true}, "nbformat"`, 1)
	b := fakeBoard{"a": func(ctx context.Context, out kernel.Output) (kernel.Result, error) {
		if err := os.WriteFile(nb.Path, []byte(edited), 0o644); err != nil { // the user saves
			return kernel.Result{}, err
		}
		out.Stream("stdout", "new\n")
		return kernel.Result{}, nil
	}}
	r := Run(context.Background(), nb, b, "fake", updateOpts())
	after, _ := os.ReadFile(nb.Path)
	if string(after) != edited {
		t.Errorf("the edit saved during the replay is gone:\n%s", after)
	}
	if r.Err == nil || r.Err.Error() != nb.Path+" changed during the replay; not updated (run it again)" || r.Updated != 0 {
		t.Errorf("Err %v, %d updated", r.Err, r.Updated)
	}
}

// A board that cannot be reached ends the notebook at the first cell that
// finds it so, with its (long) error said once; the cells after it are
// not run (each failed, repeating the error three times).
func TestUnreachableBoardEndsNotebook(t *testing.T) {
	msg := "no board connected — use %connect TARGET (connecting to esp32 failed: open /dev/ttyUSB0: no such file or directory)"
	noBoard := raises("NoBoardError", msg)
	nb := notebook(t,
		[3]string{"x = 1", `{}`, `[]`},
		[3]string{"print(x)", `{}`, `[{"name": "stdout", "output_type": "stream", "text": "1\n"}]`},
		[3]string{"x + 1", `{}`, `[]`},
	)
	b := fakeBoard{"x = 1": prints("", ""), "print(x)": noBoard, "x + 1": noBoard}
	o := opts()
	o.Unreachable = func(err error) bool {
		var ee *kernel.ExecError
		return errors.As(err, &ee) && ee.Name == "NoBoardError"
	}
	r := Run(context.Background(), nb, b, "fake", o)
	if got := statuses(r); !reflect.DeepEqual(got, []Status{Passed, Failed, Skipped}) {
		t.Errorf("statuses %v", got)
	}
	if r.Err == nil || !strings.Contains(r.Err.Error(), "cell 2: the board could not be reached, so the rest of the notebook is not run: NoBoardError: "+msg) {
		t.Errorf("Err %v", r.Err)
	}
	var rep, ann bytes.Buffer
	WriteReport(&rep, []*Result{r}, false)
	WriteAnnotations(&ann, []*Result{r})
	if n := strings.Count(rep.String(), msg); n != 1 {
		t.Errorf("the report says the error %d times:\n%s", n, rep.String())
	}
	if n := strings.Count(ann.String(), "connecting to esp32 failed"); n != 1 {
		t.Errorf("the annotations say the error %d times:\n%s", n, ann.String())
	}
}

// Ctrl-C during a serving cell is a stop too, though the cell's probe,
// ending with it, presses stop as when it has been served.
func TestCtrlCInServingCell(t *testing.T) {
	ln, port := listen(t)
	ln.Close() // the server never comes up
	nb := notebookFile(t, [3]string{"srv", fmt.Sprintf(`{"iot": {"serve": {"port": %d}}}`, port), `[]`})
	ctx, cancel := context.WithCancelCause(context.Background())
	b := fakeBoard{"srv": func(ctx context.Context, out kernel.Output) (kernel.Result, error) {
		cancel(kernel.ErrInterrupted) // the user presses Ctrl-C
		<-ctx.Done()
		time.Sleep(100 * time.Millisecond) // a board takes a while to stop
		return kernel.Result{}, &kernel.ExecError{Name: "KeyboardInterrupt"}
	}}
	r := Run(ctx, nb, b, "fake", updateOpts())
	if c := r.Cells[0]; c.Status != Skipped || c.Reason != "stopped (Ctrl-C) before it ended" || r.Err == nil {
		t.Errorf("the stopped cell: %v %q; Err %v", c.Status, c.Reason, r.Err)
	}
	unchanged(t, nb)
}
