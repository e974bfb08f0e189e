package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/hostkernel"
	"github.com/iot-kernel/iot-kernel/kernel"
)

// fakeBoard is an Executor that answers each cell from a table, as a board
// would: text printed, a value, an error, or a loop that runs until the
// stop button.
type fakeBoard map[string]func(ctx context.Context, out kernel.Output) (kernel.Result, error)

func (f fakeBoard) Execute(ctx context.Context, req kernel.ExecuteRequest, out kernel.Output) (kernel.Result, error) {
	if run, ok := f[req.Code]; ok {
		return run(ctx, out)
	}
	return kernel.Result{}, &kernel.ExecError{Name: "NameError", Value: "unknown cell " + req.Code}
}

func prints(text string, value string) func(context.Context, kernel.Output) (kernel.Result, error) {
	return func(_ context.Context, out kernel.Output) (kernel.Result, error) {
		// in two writes: how a stream is chunked does not count
		out.Stream("stdout", text[:len(text)/2])
		out.Stream("stdout", text[len(text)/2:])
		if value == "" {
			return kernel.Result{}, nil
		}
		return kernel.Result{Data: kernel.MIMEBundle{"text/plain": value}}, nil
	}
}

func raises(name, value string) func(context.Context, kernel.Output) (kernel.Result, error) {
	return func(context.Context, kernel.Output) (kernel.Result, error) {
		return kernel.Result{}, &kernel.ExecError{Name: name, Value: value}
	}
}

// loops runs until interrupted, as a `while True` cell does on a board.
func loops(ctx context.Context, out kernel.Output) (kernel.Result, error) {
	out.Stream("stdout", "looping\n")
	<-ctx.Done()
	return kernel.Result{}, &kernel.ExecError{Name: "KeyboardInterrupt"}
}

func smallBoard() fakeBoard {
	return fakeBoard{
		"%connect sim": prints("Connected to sim @ sim\n", ""),
		"import sys\nprint('running on', sys.platform)\nprint('took 3 ms <ok> & done')\n6 * 7": prints("running on sim\ntook 3 ms <ok> & done\n", "42"),
		"1 / 0": raises("ZeroDivisionError", "divide by zero"),
	}
}

func loadSmall(t *testing.T) *Notebook {
	t.Helper()
	nb, err := Load("testdata/small.ipynb")
	if err != nil {
		t.Fatal(err)
	}
	return nb
}

func opts() Options {
	return Options{Normalizer: Normalizer{Rules: BuiltinRules()}, Timeout: 10 * time.Second, StopGrace: 5 * time.Second}
}

func statuses(r *Result) []Status {
	var s []Status
	for _, c := range r.Cells {
		s = append(s, c.Status)
	}
	return s
}

func TestRunMatchesDespiteWhatVaries(t *testing.T) {
	// The board's address, the timing and sys.platform (iot.varies) differ
	// from the stored outputs; nothing a reader would call different does.
	r := Run(context.Background(), loadSmall(t), smallBoard(), "fake", opts())
	if !r.OK() || r.Err != nil {
		t.Fatalf("replay failed: %+v", r)
	}
	if got := statuses(r); !reflect.DeepEqual(got, []Status{Passed, Passed, Passed}) {
		t.Errorf("statuses %v", got)
	}
}

func TestRunMismatchGivesDiff(t *testing.T) {
	b := smallBoard()
	b["import sys\nprint('running on', sys.platform)\nprint('took 3 ms <ok> & done')\n6 * 7"] = prints("running on sim\ntook 3 ms <ok> & done\n", "43")
	r := Run(context.Background(), loadSmall(t), b, "fake", opts())
	if r.OK() {
		t.Fatal("a changed value passed")
	}
	c := r.Cells[1]
	if c.Status != Failed || c.Cell.Index != 2 {
		t.Fatalf("cell %d %v, want the third cell failed", c.Cell.Index, c.Status)
	}
	for _, want := range []string{"--- stored cell 3", "+++ new cell 3", "-42", "+43", " [result]"} {
		if !strings.Contains(c.Diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, c.Diff)
		}
	}
	var rep bytes.Buffer
	WriteReport(&rep, []*Result{r}, false)
	for _, want := range []string{"FAIL testdata/small.ipynb on fake", "cell 3: import sys", "line 27", "-42", "\nreplay: 2 passed, 1 failed, 0 skipped\n"} {
		if !strings.Contains(rep.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, rep.String())
		}
	}
}

func TestRunErrors(t *testing.T) {
	t.Run("unexpected error fails", func(t *testing.T) {
		b := smallBoard()
		b["%connect sim"] = raises("OSError", "no board")
		r := Run(context.Background(), loadSmall(t), b, "fake", opts())
		if c := r.Cells[0]; c.Status != Failed || !strings.Contains(c.Reason, "raised OSError: no board") {
			t.Errorf("got %v %q", c.Status, c.Reason)
		}
	})
	t.Run("raises-exception without an error fails", func(t *testing.T) {
		b := smallBoard()
		b["1 / 0"] = prints("fine\n", "")
		r := Run(context.Background(), loadSmall(t), b, "fake", opts())
		if c := r.Cells[2]; c.Status != Failed || !strings.Contains(c.Reason, "raised no error") {
			t.Errorf("got %v %q", c.Status, c.Reason)
		}
	})
	t.Run("another error name fails", func(t *testing.T) {
		b := smallBoard()
		b["1 / 0"] = raises("TypeError", "divide by zero")
		r := Run(context.Background(), loadSmall(t), b, "fake", opts())
		if c := r.Cells[2]; c.Status != Failed || !strings.Contains(c.Reason, "TypeError") {
			t.Errorf("got %v %q", c.Status, c.Reason)
		}
	})
	t.Run("no host kernel skips", func(t *testing.T) {
		b := smallBoard()
		noKernel := fmt.Errorf("%w; python3: no module named ipykernel", hostkernel.ErrNoKernel)
		b["%connect sim"] = func(context.Context, kernel.Output) (kernel.Result, error) {
			return kernel.Result{}, &kernel.ExecError{Name: "Error", Value: noKernel.Error(), Err: noKernel}
		}
		r := Run(context.Background(), loadSmall(t), b, "fake", opts())
		if c := r.Cells[0]; c.Status != Skipped {
			t.Errorf("got %v %q", c.Status, c.Reason)
		}
		if !r.OK() {
			t.Error("a skipped cell failed the notebook")
		}
		// A board's exception that only says the same words is the
		// program's own: it fails the cell.
		b["%connect sim"] = raises("Exception", hostkernel.ErrNoKernel.Error())
		if c := Run(context.Background(), loadSmall(t), b, "fake", opts()).Cells[0]; c.Status != Failed {
			t.Errorf("a board exception with the words: got %v %q", c.Status, c.Reason)
		}
	})
}

// notebook builds a notebook of code cells from (source, metadata JSON,
// outputs JSON) triples.
func notebook(t *testing.T, cells ...[3]string) *Notebook {
	t.Helper()
	var parts []string
	for _, c := range cells {
		src, _ := json.Marshal(c[0])
		parts = append(parts, `{"cell_type": "code", "execution_count": null, "metadata": `+c[1]+`, "outputs": `+c[2]+`, "source": `+string(src)+`}`)
	}
	b := []byte(`{"cells": [` + strings.Join(parts, ",") + `], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}`)
	nb, err := Parse("t.ipynb", b)
	if err != nil {
		t.Fatal(err)
	}
	return nb
}

func TestTags(t *testing.T) {
	ran := map[string]bool{}
	mark := func(name string) func(context.Context, kernel.Output) (kernel.Result, error) {
		return func(_ context.Context, out kernel.Output) (kernel.Result, error) {
			ran[name] = true
			out.Stream("stdout", "new\n")
			return kernel.Result{}, nil
		}
	}
	b := fakeBoard{"a": mark("a"), "b": mark("b"), "c": mark("c"), "# NBVAL_IGNORE_OUTPUT\nd": mark("d")}
	old := `[{"name": "stdout", "output_type": "stream", "text": "old\n"}]`
	nb := notebook(t,
		[3]string{"a", `{"tags": ["nbval-skip"]}`, old},
		[3]string{"b", `{"tags": ["replay-nocompare"]}`, old},
		[3]string{"c", `{"tags": ["nbval-ignore-output"]}`, old},
		[3]string{"# NBVAL_IGNORE_OUTPUT\nd", `{}`, old},
	)
	r := Run(context.Background(), nb, b, "fake", opts())
	if got := statuses(r); !reflect.DeepEqual(got, []Status{Skipped, NotCompare, NotCompare, NotCompare}) {
		t.Errorf("statuses %v", got)
	}
	if ran["a"] || !ran["b"] || !ran["c"] || !ran["d"] {
		t.Errorf("ran %v: want all but the skipped cell", ran)
	}
}

func TestInterruptAfterAndTimeout(t *testing.T) {
	stored := `[{"name": "stdout", "output_type": "stream", "text": "looping\n"}, {"ename": "KeyboardInterrupt", "evalue": "", "output_type": "error", "traceback": []}]`
	nb := notebook(t,
		[3]string{"loop", `{"iot": {"interrupt_after": 0.2}, "tags": ["raises-exception"]}`, stored},
		[3]string{"stuck", `{"iot": {"timeout": 0.2}}`, stored},
		[3]string{"after", `{}`, `[{"name": "stdout", "output_type": "stream", "text": "still here\n"}]`},
	)
	b := fakeBoard{"loop": loops, "stuck": loops, "after": prints("still here\n", "")}
	r := Run(context.Background(), nb, b, "fake", opts())
	if got := statuses(r); !reflect.DeepEqual(got, []Status{Passed, Failed, Passed}) {
		t.Fatalf("statuses %v (%+v)", got, r.Cells)
	}
	if !strings.Contains(r.Cells[1].Reason, "timed out after 200ms") {
		t.Errorf("timeout reason %q", r.Cells[1].Reason)
	}
}

func TestStuckCellEndsTheNotebook(t *testing.T) {
	nb := notebook(t,
		[3]string{"deaf", `{"iot": {"timeout": 0.1}}`, `[]`},
		[3]string{"after", `{}`, `[]`},
	)
	release := make(chan struct{})
	defer close(release)
	b := fakeBoard{"deaf": func(context.Context, kernel.Output) (kernel.Result, error) {
		<-release // ignores the stop button
		return kernel.Result{}, nil
	}}
	o := opts()
	o.StopGrace = 100 * time.Millisecond
	r := Run(context.Background(), nb, b, "fake", o)
	if r.Err == nil || len(r.Cells) != 1 || r.Cells[0].Status != Failed {
		t.Fatalf("want the notebook given up after the first cell: %+v", r)
	}
}

func TestCollector(t *testing.T) {
	var c collector
	c.Stream("stdout", "a")
	c.Stream("stdout", "b\n")
	c.Stream("stderr", "warn\n")
	c.Display(kernel.MIMEBundle{"text/plain": "0%"}, nil, "bar", false)
	c.Display(kernel.MIMEBundle{"text/plain": "100%"}, nil, "bar", true)
	got := c.outputs()
	if len(got) != 3 || got[0].Text != "ab\n" || got[1].Name != "stderr" || got[2].Data["text/plain"] != "100%" {
		t.Errorf("outputs %+v", got)
	}
	c.ClearOutput(true)
	if len(c.outputs()) != 3 {
		t.Error("clear_output(wait) cleared before the next output")
	}
	c.Stream("stdout", "fresh\n")
	if got := c.outputs(); len(got) != 1 || got[0].Text != "fresh\n" {
		t.Errorf("after clear_output(wait) and a write: %+v", got)
	}
}

func TestNormalizer(t *testing.T) {
	n := Normalizer{Rules: BuiltinRules()}
	tests := []struct{ in, want string }{
		{"Connected to esp32 @ /dev/ttyUSB0\n", "Connected to esp32 @ URL"},
		{"<object at 0x3ffb1c20>", "<object at 0xADDR>"},
		{"took 1.25 s, 12 ms, 40 KB/s", "took TIME, TIME, TIME"},
		{"Date: Wed, 02 Dec 2026 10:28:38 GMT", "Date: DATE"},
		{"at 2026-12-02T10:28:09.309084Z ok", "at DATE ok"},
		{"[(2, 1, 0, 'google.com', ('127.0.0.1', 46159))]", "[(2, 1, 0, 'google.com', ('127.0.0.1', PORT))]"},
		{"\n\nline   \nnext\t\n\n", "line\nnext"},
		{"Wrote 51 B to :greet.py", "Wrote 51 B to :greet.py"},
	}
	for _, tc := range tests {
		if got := n.Text(tc.in); got != tc.want {
			t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMask(t *testing.T) {
	pats := []*regexpT{mustPy(t, `^running on (\S+)$`), mustPy(t, `id=\d+`)}
	got := mask("running on esp32\nid=17 id=4\n", pats)
	if want := "running on <varies>\n<varies> <varies>\n"; got != want {
		t.Errorf("mask = %q, want %q", got, want)
	}
}

func TestStaleVariesFails(t *testing.T) {
	nb := notebook(t, [3]string{"x", `{"iot": {"varies": ["^nothing like this$"]}}`, `[{"name": "stdout", "output_type": "stream", "text": "hi\n"}]`})
	cmp := Compare(&nb.Cells[0], nb.Cells[0].Outputs, Normalizer{}, "cell 1")
	if cmp.Match || !strings.Contains(cmp.Problem, "matches no stored output") {
		t.Errorf("a stale iot.varies pattern gave %+v", cmp)
	}
}

func TestImagesComparedByPresence(t *testing.T) {
	stored := `[{"data": {"image/png": "iVBORw0KGgo=\n", "text/plain": ["<Figure size 600x250 with 1 Axes>"]}, "metadata": {}, "output_type": "display_data"}]`
	nb := notebook(t, [3]string{"x", `{}`, stored})
	other := []Output{{OutputType: "display_data", Data: map[string]any{"image/png": "AAAA", "text/plain": "<Figure size 600x250 with 1 Axes>"}}}
	if cmp := Compare(&nb.Cells[0], other, Normalizer{}, "c"); !cmp.Match {
		t.Errorf("another picture of the same figure differs:\n%s", cmp.Diff)
	}
	none := []Output{{OutputType: "display_data", Data: map[string]any{"text/plain": "<Figure size 600x250 with 1 Axes>"}}}
	if cmp := Compare(&nb.Cells[0], none, Normalizer{}, "c"); cmp.Match || !strings.Contains(cmp.Diff, "-<image/png>") {
		t.Errorf("a lost image matched: %+v", cmp)
	}
}

func TestParseSanitize(t *testing.T) {
	src := `# nbval's format
[regex1]
regex: \d{1,2}/\d{1,2}/\d{2,4}
replace: DATE-STAMP

[ids]
regex = id=(?P<n>\d+)
replace = id-\g<n>-\1 costs $5

[multi]
regex: first
  |second
replace: X
`
	rules, err := ParseSanitize(strings.NewReader(src), "s.cfg")
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 3 {
		t.Fatalf("%d rules", len(rules))
	}
	n := Normalizer{Rules: rules}
	if got := n.Text("on 12/31/2026 id=7"); got != "on DATE-STAMP id-7-7 costs $5" {
		t.Errorf("sanitized: %q", got)
	}
	if got := n.Text("second"); got != "X" {
		t.Errorf("continuation line: %q", got)
	}
	for _, bad := range []string{"regex: x\n", "[a]\nreplace: y\n", "[a]\nregex: (?<=x)y\n", "[a]\nfoo: 1\n"} {
		if _, err := ParseSanitize(strings.NewReader(bad), "bad.cfg"); err == nil || !strings.Contains(err.Error(), "bad.cfg") {
			t.Errorf("%q: err %v, want one naming the file", bad, err)
		}
	}
}

func TestJUnit(t *testing.T) {
	b := smallBoard()
	b["1 / 0"] = raises("ZeroDivisionError", "divide by zero")
	b["%connect sim"] = prints("Connected to sim @ sim\nextra ]]> line\n", "")
	r := Run(context.Background(), loadSmall(t), b, "sim", opts())
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, []*Result{r, {Path: "gone.ipynb", Board: "sim", Err: errors.New("cannot read")}}); err != nil {
		t.Fatal(err)
	}
	var got junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("not XML: %v\n%s", err, buf.String())
	}
	if got.Tests != 4 || got.Failures != 1 || got.Errors != 1 || len(got.Suites) != 2 {
		t.Fatalf("totals %+v", got)
	}
	s := got.Suites[0]
	if s.Name != "testdata/small.ipynb" || len(s.Cases) != 3 || s.Cases[0].Failure == nil || s.Cases[1].Failure != nil {
		t.Fatalf("suite %+v", s)
	}
	if !strings.Contains(s.Cases[0].Failure.Body, "+extra ]]> line") || s.Cases[0].Line != 10 {
		t.Errorf("failure %+v line %d", s.Cases[0].Failure, s.Cases[0].Line)
	}
}

func TestAnnotations(t *testing.T) {
	b := smallBoard()
	b["%connect sim"] = prints("Connected to sim @ sim\n100% done\n", "")
	r := Run(context.Background(), loadSmall(t), b, "sim", opts())
	var buf bytes.Buffer
	WriteAnnotations(&buf, []*Result{r})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one annotation:\n%s", buf.String())
	}
	l := lines[0]
	if !strings.HasPrefix(l, "::error file=testdata/small.ipynb,line=10,title=cell 2%3A %25connect sim on sim::") ||
		!strings.Contains(l, "%0A+100%25 done") {
		t.Errorf("annotation %q", l)
	}
}

func TestUpdateRoundTrip(t *testing.T) {
	orig, err := os.ReadFile("testdata/small.ipynb")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "small.ipynb")
	if err := os.WriteFile(path, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	nb, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	// Writing back the stored outputs changes nothing: the encoding is
	// nbformat's (sorted keys, 1-space indent, lines, <>& as they are).
	same := map[int][]Output{}
	for _, c := range nb.Cells {
		if c.Type == "code" {
			same[c.Index] = c.Outputs
		}
	}
	b, err := nb.Update(same)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, orig) {
		t.Fatalf("rewriting the stored outputs changed the file:\n%s", UnifiedDiff(strings.Split(string(orig), "\n"), strings.Split(string(b), "\n"), "orig", "new", 2))
	}

	// --update: the changed cell gets the new outputs, the rest stays.
	bd := smallBoard()
	bd["import sys\nprint('running on', sys.platform)\nprint('took 3 ms <ok> & done')\n6 * 7"] = prints("running on sim\nnow <more> & more\n", "43")
	o := opts()
	o.Update = true
	o.WriteFile = func(p string, data []byte) error { return os.WriteFile(p, data, 0o644) }
	r := Run(context.Background(), nb, bd, "fake", o)
	if r.Updated != 1 || !r.OK() {
		t.Fatalf("updated %d, ok %v: %+v", r.Updated, r.OK(), r.Cells)
	}
	again, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if r2 := Run(context.Background(), again, bd, "fake", opts()); !r2.OK() {
		t.Errorf("the updated notebook does not replay clean: %+v", r2.Cells)
	}
	after, _ := os.ReadFile(path)
	d := UnifiedDiff(strings.Split(string(orig), "\n"), strings.Split(string(after), "\n"), "a", "b", 0)
	for _, l := range strings.Split(d, "\n") {
		if (strings.HasPrefix(l, "-") || strings.HasPrefix(l, "+")) && !strings.HasPrefix(l, "---") && !strings.HasPrefix(l, "+++") &&
			!strings.Contains(l, "took") && !strings.Contains(l, "more") && !strings.Contains(l, "42") && !strings.Contains(l, "43") &&
			!strings.Contains(l, "running on") {
			t.Errorf("update changed an unrelated line %q\n%s", l, d)
		}
	}
	if !strings.Contains(string(after), `      "now <more> & more\n"`) {
		t.Errorf("new text not written as nbformat does:\n%s", after)
	}
}

func TestUnifiedDiff(t *testing.T) {
	a := []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}
	b := []string{"1", "2", "three", "4", "5", "6", "7", "8", "9", "10", "11"}
	got := UnifiedDiff(a, b, "a", "b", 1)
	want := "--- a\n+++ b\n@@ -2,3 +2,3 @@\n 2\n-3\n+three\n 4\n@@ -10 +10,2 @@\n 10\n+11\n"
	if got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
	if UnifiedDiff(a, a, "a", "b", 3) != "" {
		t.Error("equal inputs gave a diff")
	}
}

func TestPoolUsesEveryBoard(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for _, n := range []string{"a", "b", "c", "d"} {
		p := filepath.Join(dir, n+".ipynb")
		os.WriteFile(p, []byte(`{"cells": [{"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": [], "source": "wait"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}`), 0o644)
		paths = append(paths, p)
	}
	// Each cell waits for a cell on the other board to meet it: only two
	// notebooks running at once, on the two boards, get through.
	meet := make(chan struct{})
	arrive := func(ctx context.Context, _ kernel.Output) (kernel.Result, error) {
		select {
		case meet <- struct{}{}:
		case <-meet:
		case <-time.After(10 * time.Second):
			return kernel.Result{}, errors.New("no notebook ran on the other board meanwhile")
		}
		return kernel.Result{}, nil
	}
	var boards []Board
	for _, name := range []string{"one", "two"} {
		boards = append(boards, Board{Label: name, Start: func(context.Context, *Notebook) (Executor, func(), error) {
			return fakeBoard{"wait": arrive}, func() {}, nil
		}})
	}
	results := RunAll(context.Background(), append(paths, filepath.Join(dir, "missing.ipynb")), boards, 2, opts(), nil)
	used := map[string]bool{}
	for i, r := range results[:4] {
		if r.Path != paths[i] || !r.OK() {
			t.Errorf("result %d: %+v", i, r)
		}
		used[r.Board] = true
	}
	if len(used) != 2 {
		t.Errorf("boards used: %v", used)
	}
	if results[4].Err == nil {
		t.Error("a missing notebook did not fail")
	}
}

type regexpT = regexp.Regexp

func mustPy(t *testing.T, expr string) *regexp.Regexp {
	t.Helper()
	re, err := CompilePython(expr, true)
	if err != nil {
		t.Fatal(err)
	}
	return re
}
