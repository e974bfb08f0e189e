package plot

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

func TestWindowKeepsLastN(t *testing.T) {
	w := NewWindow(10)
	for i := 1; i <= 25; i++ {
		w.Add(float64(i), []Value{{"a", float64(i)}, {"", float64(-i)}})
	}
	ss := w.Series()
	if len(ss) != 2 || ss[0].Label != "a" || ss[1].Label != "value 2" {
		t.Fatalf("series %v, want a and value 2", labels(ss))
	}
	for _, s := range ss {
		if len(s.Points) != 10 || s.Count != 25 {
			t.Fatalf("%s: %d points of %d, want the last 10 of 25", s.Label, len(s.Points), s.Count)
		}
		if s.Points[0].X != 16 || s.Points[9].X != 25 {
			t.Fatalf("%s: x from %g to %g, want 16 to 25, oldest first", s.Label, s.Points[0].X, s.Points[9].X)
		}
	}
}

// A series that stopped printing leaves the window as lines go by, and
// does not stretch the x axis.
func TestWindowDropsStaleSeries(t *testing.T) {
	w := NewWindow(5)
	w.Add(1, []Value{{"old", 1}})
	for i := 2; i <= 10; i++ {
		w.Add(float64(i), []Value{{"new", 1}})
	}
	for _, s := range w.Series() {
		if s.Label == "old" && len(s.Points) != 0 {
			t.Fatalf("old series still has %d points 9 lines later in a window of 5", len(s.Points))
		}
	}
	// one that stopped after its ring went round keeps its last points
	w = NewWindow(100)
	for i := 1; i <= 210; i++ {
		vals := []Value{{"new", float64(i)}}
		if i <= 150 {
			vals = append(vals, Value{"old", float64(i)})
		}
		w.Add(float64(i), vals)
	}
	for _, ss := range [][]Series{w.Series(), w.Drawn(720)} {
		if old := ss[1]; len(old.Points) != 40 || old.Points[0].Y != 111 || old.Points[39].Y != 150 || old.Kept != 40 {
			t.Fatalf("old series kept %d points (%v...), want lines 111 to 150", len(old.Points), old.Points[:min(3, len(old.Points))])
		}
	}
}

func TestWindowBoundsSeries(t *testing.T) {
	w := NewWindow(3)
	for i := range MaxSeries + 10 {
		w.Add(float64(i), []Value{{fmt.Sprintf("s%d", i), 1}})
	}
	if n := len(w.Series()); n != MaxSeries {
		t.Fatalf("%d series kept, want at most %d", n, MaxSeries)
	}
	if w.Dropped() != 10 {
		t.Fatalf("%d values dropped, want 10", w.Dropped())
	}
	if !strings.Contains(Summary(w.Series(), w.Lines(), w.Dropped()), "10 values beyond") {
		t.Fatal("the summary does not say values were left out")
	}
}

func TestSummary(t *testing.T) {
	w := NewWindow(0)
	w.Add(1, []Value{{"temp", 20}, {"hum", 40}})
	w.Add(2, []Value{{"temp", 23.5}, {"hum", math.NaN()}})
	w.Add(3, []Value{{"temp", 21}, {"hum", 38}})
	got := Summary(w.Series(), w.Lines(), 0)
	for _, want := range []string{
		"3 lines with numbers, 2 series, 6 points",
		"temp: 3 points, last 21, min 20, max 23.5",
		"hum: 3 points, last 38, min 38, max 40",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	one := NewWindow(0)
	one.Add(1, []Value{{"t", 5}})
	if got := Summary(one.Series(), one.Lines(), 0); !strings.Contains(got, "1 line with numbers, 1 series, 1 point shown") || !strings.Contains(got, "t: 1 point,") {
		t.Errorf("one sample: %s", got)
	}
}

func TestDecimateKeepsExtremes(t *testing.T) {
	var pts []Point
	for i := range 10000 {
		y := math.Sin(float64(i) / 300)
		if i == 5555 {
			y = 50 // a spike must survive
		}
		if i == 7000 {
			y = math.NaN() // so must a gap
		}
		pts = append(pts, Point{Seq: i + 1, X: float64(i), Y: y})
	}
	const cols = 100
	got := Decimate(pts, 0, 9999, cols)
	if len(got) > 4*cols+8 {
		t.Fatalf("%d points for %d columns, want at most about %d", len(got), cols, 4*cols)
	}
	var spike, gap bool
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, p := range got {
		if i > 0 && p.X < got[i-1].X {
			t.Fatalf("x goes back at %d: %g after %g", i, p.X, got[i-1].X)
		}
		spike = spike || p.Y == 50
		gap = gap || math.IsNaN(p.Y)
		if !math.IsNaN(p.Y) {
			lo, hi = math.Min(lo, p.Y), math.Max(hi, p.Y)
		}
	}
	if !spike || !gap {
		t.Fatalf("spike kept %v, gap kept %v; want both", spike, gap)
	}
	if got[0] != pts[0] || got[len(got)-1] != pts[len(pts)-1] {
		t.Fatal("the first and last points are not kept")
	}
	if lo > -0.99 {
		t.Fatalf("lowest kept %g, want the minimum of the sine (about -1)", lo)
	}
	if few := pts[:50]; len(Decimate(few, 0, 49, cols)) != 50 {
		t.Fatal("few points are not returned as they are")
	}
}

func labels(ss []Series) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Label)
	}
	return out
}

// What Drawn keeps of a window tells the same as the whole: the same
// summary (points, last values, extremes, spikes and NaN included), the
// same x range, and a series that stopped appearing only within the
// window.
func TestDrawnSummarisesTheWindow(t *testing.T) {
	w := NewWindow(20000)
	for i := range 30000 {
		vals := []Value{{Label: "a", V: math.Sin(float64(i) / 50)}, {Label: "b", V: float64(i % 13)}}
		switch {
		case i == 21234:
			vals[0].V = 1e6 // a spike
		case i%997 == 0:
			vals[1].V = math.NaN()
		}
		if i < 12000 {
			vals = append(vals, Value{Label: "stale", V: float64(i)})
		}
		w.Add(float64(i)/10, vals)
	}
	all, drawn := w.Series(), w.Drawn(720)
	if got, want := Summary(drawn, w.Lines(), 0), Summary(all, w.Lines(), 0); got != want {
		t.Errorf("summary of what is drawn:\n%s\nof the window:\n%s", got, want)
	}
	for i, s := range drawn {
		if len(s.Points) > 4*720+8 {
			t.Errorf("%s: %d points drawn for 720 columns", s.Label, len(s.Points))
		}
		if n := len(s.Points); n > 0 && (s.Points[0] != all[i].Points[0] || s.Points[n-1] != all[i].Points[len(all[i].Points)-1]) {
			t.Errorf("%s: drawn from %v to %v, the window from %v to %v", s.Label, s.Points[0], s.Points[n-1], all[i].Points[0], all[i].Points[len(all[i].Points)-1])
		}
	}
}

// A frame of a full window copies what it draws, not the window: a
// window of 4 series of 100,000 points (9.6 MB) costs a frame far less.
func TestFrameCopiesWhatItDraws(t *testing.T) {
	const n = 100_000
	p := New(Config{Window: n})
	line := []byte("a:1 b:2 c:3 d:4\n")
	for range n {
		p.Write(line)
	}
	p.Frame() // warm up
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f := p.Frame()
	runtime.ReadMemStats(&after)
	window := 4 * n * int(unsafe.Sizeof(Point{}))
	if got := int(after.TotalAlloc - before.TotalAlloc); got > window/4 {
		t.Errorf("a frame allocated %d bytes for a window of %d bytes of points", got, window)
	}
	if !strings.Contains(f.Summary, "100000 lines with numbers, 4 series, 400000 points shown") {
		t.Errorf("summary %q", f.Summary)
	}
}
