package cells

import (
	"context"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
	"github.com/iot-kernel/iot-kernel/testboard"
)

// chart is what a test reads back of a %%plot display.
type chart struct {
	id      string
	summary string
	legend  []string // every text: legend, title, axes
	// segments counts the points of each series' path.
	points []int
}

// charts checks the plot displays of out: each display id starts with a
// display_data and goes on with update_display_data, and every frame is
// well-formed SVG. It returns the last frame of each chart, in the order
// they appeared, and how many frames there were in all.
func charts(t *testing.T, out *kerneltest.Recorder) ([]chart, int) {
	t.Helper()
	var order []string
	last := map[string]kernel.MIMEBundle{}
	frames := 0
	for _, d := range out.Displays() {
		svg, ok := d.Data["image/svg+xml"].(string)
		if !ok {
			continue
		}
		frames++
		if _, seen := last[d.DisplayID]; seen != d.Update || d.DisplayID == "" {
			t.Fatalf("display %q: update=%v, want display_data first and updates after", d.DisplayID, d.Update)
		}
		if !seenBefore(order, d.DisplayID) {
			order = append(order, d.DisplayID)
		}
		if err := wellFormed(svg); err != nil {
			t.Fatalf("frame %d is not well-formed SVG: %v", frames, err)
		}
		last[d.DisplayID] = d.Data
	}
	var cs []chart
	for _, id := range order {
		svg := last[id]["image/svg+xml"].(string)
		c := chart{id: id, summary: last[id]["text/plain"].(string)}
		for _, m := range regexp.MustCompile(`<path [^>]*d="([^"]*)"`).FindAllStringSubmatch(svg, -1) {
			c.points = append(c.points, strings.Count(m[1], "M")+strings.Count(m[1], "L"))
		}
		for _, m := range regexp.MustCompile(`<text [^>]*>([^<]*)</text>`).FindAllStringSubmatch(svg, -1) {
			c.legend = append(c.legend, m[1])
		}
		cs = append(cs, c)
	}
	return cs, frames
}

func seenBefore(ids []string, id string) bool {
	for _, s := range ids {
		if s == id {
			return true
		}
	}
	return false
}

func wellFormed(s string) error {
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the CSV: %v", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("the CSV: %v", err)
	}
	return rows
}

// 200 samples of two labelled series give one chart with both, 200
// points each, updated in place a bounded number of times, and a CSV of
// 400 rows; the line without numbers stays text.
func TestPlotCell(t *testing.T) {
	board := startBoard(t, testboard.Wasm)
	it, cfg := newInterp(t)
	mustRun(t, it, "%connect -q "+board.Path())
	code := "%%plot --csv data.csv\nprint('starting')\nfor i in range(200):\n    print('temp:%d hum:%d' % (20 + i % 7, 40 - i % 5))"
	start := time.Now()
	out, _ := mustRun(t, it, code)
	elapsed := time.Since(start)
	if got := out.Stdout(); got != "starting\n" {
		t.Errorf("stdout %q, want only the line without numbers", got)
	}
	cs, frames := charts(t, out)
	if len(cs) != 1 {
		t.Fatalf("%d charts, want 1", len(cs))
	}
	c := cs[0]
	if !seenBefore(c.legend, "temp") || !seenBefore(c.legend, "hum") {
		t.Errorf("legend %q, want temp and hum", c.legend)
	}
	if len(c.points) != 2 || c.points[0] != 200 || c.points[1] != 200 {
		t.Errorf("the final chart draws %v points, want 200 for each of 2 series", c.points)
	}
	for _, want := range []string{"200 lines with numbers, 2 series, 400 points", "temp: 200 points, last 23, min 20, max 26", "hum: 200 points, last 36, min 36, max 40"} {
		if !strings.Contains(c.summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, c.summary)
		}
	}
	// at most ten frames a second, and one at the end
	if bound := int(elapsed/(100*time.Millisecond)) + 2; frames > bound {
		t.Errorf("%d frames in %v, want at most %d", frames, elapsed, bound)
	}
	rows := readCSV(t, filepath.Join(cfg.WorkDir, "data.csv"))
	if len(rows) != 401 || strings.Join(rows[0], ",") != "time,label,value" {
		t.Fatalf("CSV has %d rows (header %v), want a header and 400", len(rows), rows[0])
	}
	if r := rows[1]; r[1] != "temp" || r[2] != "20" || rows[400][1] != "hum" || rows[400][2] != "36" {
		t.Errorf("CSV rows %v ... %v", rows[1], rows[400])
	}
	prev := 0.0
	for _, r := range rows[1:] {
		tm, err := strconv.ParseFloat(r[0], 64)
		if err != nil || tm < prev {
			t.Fatalf("CSV time %q after %g", r[0], prev)
		}
		prev = tm
	}
}

// %plot plots the rest of the cell only; code before it runs as usual,
// --text keeps the printed text, and an error keeps its cell line.
func TestPlotLineMagic(t *testing.T) {
	it, _ := connected(t, testboard.Wasm)
	out, _ := mustRun(t, it, "print('before 1 2 3')\n%plot --text -x time -n 50\nfor i in range(80):\n    print(i, -i)")
	cs, _ := charts(t, out)
	if len(cs) != 1 {
		t.Fatalf("%d charts, want 1", len(cs))
	}
	if !strings.Contains(cs[0].summary, "80 lines with numbers, 2 series, 100 points") {
		t.Errorf("summary %q, want the last 50 of 80 lines in 2 series", cs[0].summary)
	}
	if !seenBefore(cs[0].legend, "value 1") || !seenBefore(cs[0].legend, "time (s)") {
		t.Errorf("legend and axis %q", cs[0].legend)
	}
	if got := out.Stdout(); !strings.HasPrefix(got, "before 1 2 3\n0 0\n1 -1\n") || !strings.HasSuffix(got, "79 -79\n") {
		t.Errorf("stdout %q, want the text of both parts", got)
	}
	// The last value is the cell's, as without %plot: an execute_result.
	out, res := mustRun(t, it, "%plot\nfor i in range(3):\n    print(i)\n21 * 2")
	if res.Data["text/plain"] != "42" {
		t.Errorf("value %v, want the cell's result 42", res.Data)
	}
	others := 0
	for _, d := range out.Displays() {
		if _, chart := d.Data["image/svg+xml"]; !chart {
			others++
		}
	}
	if cs, _ := charts(t, out); len(cs) != 1 || others != 0 {
		t.Errorf("%d charts and %d other displays, want the chart only", len(cs), others)
	}
	ee, _ := execError(t, it, "%plot\nprint(1)\n\nprint(1/0)")
	if ee.Name != "ZeroDivisionError" || !strings.Contains(strings.Join(ee.Traceback, "\n"), "line 4") {
		t.Errorf("error %s, traceback %q; want ZeroDivisionError on line 4", ee.Name, ee.Traceback)
	}
	for flags, want := range map[string]string{
		"-x sideways":            "-x is index or time",
		"-n 0":                   "-n is from 1 to",
		"-n 100000000":           "-n is from 1 to",
		"--ymin 2 --ymax 1":      "--ymin must be below --ymax",
		"--ymin low":             "not a number",
		"extra":                  "takes no arguments",
		"--csv /nonexistent/d/x": "cannot write /nonexistent/d/x",
	} {
		ee, out := execError(t, it, "%plot "+flags+"\nprint('ran')")
		if !strings.Contains(ee.Value, want) || out.Stdout() != "" {
			t.Errorf("%%plot %s: %s %q, stdout %q; want %q and the code not run", flags, ee.Name, ee.Value, out.Stdout(), want)
		}
	}
}

// A cell stopped while it prints keeps its chart, with the points so far,
// and its CSV, with every sample the chart had.
func TestPlotStoppedKeepsChart(t *testing.T) {
	it, cfg, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim")
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	ctx, stop := context.WithTimeout(ctx, 60*time.Second)
	defer stop()
	out := &kerneltest.Recorder{}
	var once sync.Once
	out.OnStream = func(string, string) {
		if strings.Contains(out.Stdout(), "v:30\n") { // however the output was cut
			once.Do(func() { cancel(kernel.ErrInterrupted) })
		}
	}
	code := "%%plot --text --csv stopped.csv\nimport time\ni = 0\nwhile True:\n    print('v:%d' % i)\n    i += 1\n    time.sleep(0.01)"
	_, err := it.Execute(ctx, kernel.ExecuteRequest{Code: code, ExecutionCount: 3}, out)
	var ee *kernel.ExecError
	if !errors.As(err, &ee) || ee.Name != "KeyboardInterrupt" {
		t.Fatalf("error %v, want KeyboardInterrupt", err)
	}
	cs, _ := charts(t, out)
	if len(cs) != 1 {
		t.Fatalf("%d charts after the stop, want 1", len(cs))
	}
	m := regexp.MustCompile(`^plot: (\d+) lines with numbers`).FindStringSubmatch(cs[0].summary)
	if m == nil {
		t.Fatalf("summary %q", cs[0].summary)
	}
	n, _ := strconv.Atoi(m[1])
	if n < 31 {
		t.Errorf("the kept chart has %d lines, want at least the 31 printed before the stop", n)
	}
	if rows := readCSV(t, filepath.Join(cfg.WorkDir, "stopped.csv")); len(rows) != n+1 {
		t.Errorf("CSV has %d rows, want a header and the chart's %d samples", len(rows), n)
	}
	// the last event of the chart is its final frame, after every stream
	evs := out.Events()
	if last := evs[len(evs)-1]; last.Kind != "display" || last.DisplayID != cs[0].id {
		t.Errorf("last output %+v, want the chart's final frame", last)
	}
}

// Inside %%connect, each board gets a chart of its own, titled with its
// name.
func TestPlotConnectTwoBoards(t *testing.T) {
	a := startBoard(t, testboard.Wasm)
	b := startBoard(t, testboard.Wasm)
	it, cfg := newInterp(t)
	if err := os.WriteFile(cfg.DevicesPath, []byte("left: "+a.Path()+"\nright: "+b.Path()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := mustRun(t, it, "%%connect left right\n%%plot\nfor i in range(20):\n    print('x=%d' % i)")
	ee, _ := execError(t, it, "%%plot\n%%connect left right\nprint(1)")
	if !strings.Contains(ee.Value, "put %%plot after %%connect") {
		t.Errorf("%%%%plot around %%%%connect: %+v", ee)
	}
	cs, _ := charts(t, out)
	if len(cs) != 2 || cs[0].id == cs[1].id {
		t.Fatalf("%d charts, want 2 with ids of their own", len(cs))
	}
	// The boards run at once, so their charts come in either order.
	if seenBefore(cs[0].legend, "right") {
		cs[0], cs[1] = cs[1], cs[0]
	}
	for i, name := range []string{"left", "right"} {
		if !seenBefore(cs[i].legend, name) || !strings.Contains(cs[i].summary, "20 lines with numbers, 1 series") {
			t.Errorf("chart %d: legend %q summary %q, want titled %s with 20 lines", i, cs[i].legend, cs[i].summary, name)
		}
	}
}

// An error in a plotted body has the cell's number and line numbers, in
// the cell magic and in the line magic that takes the rest of the cell.
func TestPlotErrorHasCellLines(t *testing.T) {
	it, _ := connected(t, testboard.Wasm)
	for code, want := range map[string]string{
		"%%plot\nprint(1)\n1/0":                 "Cell In[7], line 3",
		"\n%%plot\nprint(1)\n1/0":               "Cell In[7], line 4",
		"print('before')\n%plot\nprint(2)\n1/0": "Cell In[7], line 4",
	} {
		ee, _ := execError(t, it, code)
		if tb := strings.Join(ee.Traceback, "\n"); ee.Name != "ZeroDivisionError" || !strings.Contains(tb, want) || !strings.Contains(tb, "1/0") {
			t.Errorf("%q: %s, traceback:\n%s\nwant %q and the line", code, ee.Name, tb, want)
		}
	}
}

// Every message of %%plot names it as it is written: %%plot for the cell
// magic, %plot for the line magic.
func TestPlotMessagesNameTheMagic(t *testing.T) {
	it, _, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim")
	for code, want := range map[string]string{
		"%%plot --bogus\nprint(1)":                "%%plot: flag provided but not defined: -bogus",
		"%%plot -n abc\nprint(1)":                 `%%plot: invalid value "abc" for flag -n`,
		"%%plot -x sideways\nprint(1)":            "%%plot: -x is index or time",
		"%%plot --csv /nonexistent/d/x\nprint(1)": "%%plot --csv: cannot write /nonexistent/d/x",
		"%plot --csv /nonexistent/d/x\nprint(1)":  "%plot --csv: cannot write /nonexistent/d/x",
		"%plot --bogus\nprint(1)":                 "%plot: flag provided but not defined: -bogus",
	} {
		ee, _ := execError(t, it, code)
		if !strings.HasPrefix(ee.Value, want) {
			t.Errorf("%q: %s %q; want it to start %q", code, ee.Name, ee.Value, want)
		}
	}
	for code, want := range map[string]string{
		"%%plot\nprint('no numbers')": "%%plot: no line of the output held a number",
		"%plot\nprint('no numbers')":  "%plot: no line of the output held a number",
	} {
		out, _ := mustRun(t, it, code)
		if !strings.HasPrefix(out.Stderr(), want) {
			t.Errorf("%q: stderr %q; want it to start %q", code, out.Stderr(), want)
		}
	}
}

// An axis end that is not a finite number is refused before the code
// runs; a finite one far from the data still gives a chart of numbers.
func TestPlotAxisEndsMustBeFinite(t *testing.T) {
	it, _, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim")
	for flags, want := range map[string]string{
		"--ymin nan":   "%%plot: --ymin must be a finite number",
		"--ymin inf":   "%%plot: --ymin must be a finite number",
		"--ymax -inf":  "%%plot: --ymax must be a finite number",
		"--ymax 1e400": "%%plot: --ymax must be a finite number",
	} {
		ee, out := execError(t, it, "%%plot "+flags+"\nprint('ran')")
		if ee.Name != "UsageError" || !strings.HasPrefix(ee.Value, want) || out.Stdout() != "" {
			t.Errorf("%%%%plot %s: %s %q, stdout %q; want %q and the code not run", flags, ee.Name, ee.Value, out.Stdout(), want)
		}
	}
	out, _ := mustRun(t, it, "%%plot --ymin 1e17\nfor i in range(5):\n    print(i)")
	if _, frames := charts(t, out); frames == 0 {
		t.Fatal("no chart")
	}
	for _, d := range out.Displays() {
		if svg, _ := d.Data["image/svg+xml"].(string); strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
			t.Fatalf("%%%%plot --ymin 1e17: the chart has NaN or Inf coordinates")
		}
	}
}

// A printed line too long to be data comes out as printed: not cut in two
// lines, no character broken, no number taken from it.
func TestPlotLongLineStaysText(t *testing.T) {
	it, _, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim")
	out, _ := mustRun(t, it, "%%plot\nprint('a' + 'é' * 3000)\nprint(' ' * 4090 + 'temp:123456789')\nprint(1)")
	want := "a" + strings.Repeat("é", 3000) + "\n" + strings.Repeat(" ", 4090) + "temp:123456789\n"
	if got := out.Stdout(); got != want {
		t.Errorf("stdout: %d bytes, %d lines, valid UTF-8 %v; want the two lines as printed (%d bytes)",
			len(got), strings.Count(got, "\n"), utf8.ValidString(got), len(want))
	}
	cs, _ := charts(t, out)
	if len(cs) != 1 || !strings.Contains(cs[0].summary, "1 line with numbers, 1 series") {
		t.Errorf("charts %+v, want one of the last line only", cs)
	}
}

// --csv naming a folder is refused before the code runs (the file could
// only fail to replace it once the code ended, or never, when stopped).
func TestPlotCSVFolderRefused(t *testing.T) {
	it, cfg, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim")
	if err := os.Mkdir(filepath.Join(cfg.WorkDir, "out.csv"), 0o755); err != nil {
		t.Fatal(err)
	}
	ee, out := execError(t, it, "%%plot --csv out.csv\nfor i in range(5):\n    print(i)")
	if !strings.HasPrefix(ee.Value, "%%plot --csv: "+filepath.Join(cfg.WorkDir, "out.csv")+" is a folder") || out.Stdout() != "" || len(out.Displays()) != 0 {
		t.Errorf("%s %q, stdout %q, %d displays; want the folder refused and the code not run", ee.Name, ee.Value, out.Stdout(), len(out.Displays()))
	}
}

// A stopped cell whose CSV cannot be saved says so, and still ends in
// KeyboardInterrupt.
func TestPlotStoppedCSVFailureTold(t *testing.T) {
	it, cfg, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim")
	sub := filepath.Join(cfg.WorkDir, "data")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	ctx, stop := context.WithTimeout(ctx, 60*time.Second)
	defer stop()
	out := &kerneltest.Recorder{}
	var once sync.Once
	out.OnStream = func(string, string) {
		if strings.Contains(out.Stdout(), "v:30\n") { // however the output was cut
			once.Do(func() {
				if err := os.RemoveAll(sub); err != nil { // the file cannot be saved now
					t.Error(err)
				}
				cancel(kernel.ErrInterrupted)
			})
		}
	}
	code := "%%plot --text --csv data/out.csv\nimport time\ni = 0\nwhile True:\n    print('v:%d' % i)\n    i += 1\n    time.sleep(0.01)"
	_, err := it.Execute(ctx, kernel.ExecuteRequest{Code: code, ExecutionCount: 3}, out)
	var ee *kernel.ExecError
	if !errors.As(err, &ee) || ee.Name != "KeyboardInterrupt" {
		t.Fatalf("error %v, want KeyboardInterrupt", err)
	}
	if got := out.Stderr(); strings.Count(got, filepath.Join(sub, "out.csv")) != 1 || !strings.Contains(got, "not saved") {
		t.Errorf("stderr %q; want it to say once that data/out.csv was not saved", got)
	}
}

// %%plot --csv inside %%connect of two boards writes a file per board,
// named after it, and says which: one file for both kept one board's
// samples only.
func TestPlotCSVConnectTwoBoards(t *testing.T) {
	it, cfg, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim")
	mustRun(t, it, "%connect -q sim:b")
	out, _ := mustRun(t, it, "%%connect sim sim:b\n%%plot --csv both.csv\nfor i in range(20):\n    print('x=%d' % i)")
	var text []string
	for _, d := range out.Displays() {
		if s, ok := d.Data["text/plain"].(string); ok && d.Data["image/svg+xml"] == nil {
			text = append(text, s)
		}
	}
	all := strings.Join(text, "\n")
	files, _ := filepath.Glob(filepath.Join(cfg.WorkDir, "both*.csv"))
	if len(files) != 2 {
		t.Fatalf("files %q; want one per board", files)
	}
	for _, f := range files {
		if rows := readCSV(t, f); len(rows) != 21 {
			t.Errorf("%s has %d rows, want a header and the board's 20 samples", f, len(rows))
		}
		if !strings.Contains(all, "samples are in "+f) {
			t.Errorf("the boards' output does not say %s was written:\n%s", f, all)
		}
	}
}
