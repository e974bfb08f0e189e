package plot

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
)

// DefaultWindow is how many samples a chart keeps when not told.
const DefaultWindow = 500

// MaxSeries bounds the series of one chart; values with further labels
// are counted but not kept, so a board printing ever-new labels cannot
// grow the kernel's memory.
const MaxSeries = 32

// Point is one sample of a series: its line number (1-based, over the
// lines that held numbers), its x and its value.
type Point struct {
	Seq  int
	X, Y float64
}

// Series is the kept points of one label, oldest first.
type Series struct {
	Label  string
	Points []Point
	// Count is how many samples the series has had, kept or not.
	Count int
	// Kept is how many of its points are within the window; Points holds
	// fewer when they were decimated for drawing (see Window.Drawn).
	Kept int
}

// Window keeps the last N samples (lines with numbers) of every series.
// It is not safe for concurrent use; Plot guards it.
type Window struct {
	n       int
	seq     int // lines with numbers so far
	series  []*ring
	byLabel map[string]int
	added   []int // the series of the line being added, reused
	dropped int   // values whose series did not fit under MaxSeries
}

type ring struct {
	label string
	pts   []Point // capacity n; start is the oldest when full
	start int
	count int
}

// at is the i-th point, oldest first.
func (r *ring) at(i int) Point { return r.pts[(r.start+i)%len(r.pts)] }

// since is the points from line first on, oldest first, in two parts (a
// ring's end, then its start): a series that stopped appearing keeps
// stale points before them.
func (r *ring) since(first int) (a, b []Point) {
	lo := sort.Search(len(r.pts), func(i int) bool { return r.at(i).Seq >= first })
	if k := r.start + lo; k < len(r.pts) {
		return r.pts[k:], r.pts[:r.start]
	}
	return r.pts[r.start+lo-len(r.pts) : r.start], nil
}

func (r *ring) add(p Point, n int) {
	r.count++
	if len(r.pts) < n {
		r.pts = append(r.pts, p)
		return
	}
	r.pts[r.start] = p
	r.start = (r.start + 1) % n
}

// NewWindow returns a window of the last n samples (DefaultWindow when
// n <= 0).
func NewWindow(n int) *Window {
	if n <= 0 {
		n = DefaultWindow
	}
	return &Window{n: n, byLabel: map[string]int{}}
}

// Add records one line's values at x. Unlabelled values are called
// "value 1", "value 2"... by their place on the line, as Arduino's
// plotter does; a label repeated on a line keeps its first value.
func (w *Window) Add(x float64, vals []Value) {
	if len(vals) == 0 {
		return
	}
	w.seq++
	w.added = w.added[:0]
	for i, v := range vals {
		label := seriesLabel(v, i)
		k, ok := w.byLabel[label]
		if !ok {
			if len(w.series) >= MaxSeries {
				w.dropped++
				continue
			}
			k = len(w.series)
			w.byLabel[label] = k
			w.series = append(w.series, &ring{label: label})
		}
		if slices.Contains(w.added, k) {
			continue
		}
		w.added = append(w.added, k)
		w.series[k].add(Point{Seq: w.seq, X: x, Y: v.V}, w.n)
	}
}

// Lines is how many lines with numbers were added.
func (w *Window) Lines() int { return w.seq }

// Dropped is how many values were left out for having a label beyond
// MaxSeries.
func (w *Window) Dropped() int { return w.dropped }

// Series returns a copy of the series' points within the window (the
// last N lines), in the order their labels first appeared.
func (w *Window) Series() []Series {
	out := make([]Series, 0, len(w.series))
	first := w.seq - w.n + 1
	for _, r := range w.series {
		a, b := r.since(first)
		s := Series{Label: r.label, Count: r.count, Kept: len(a) + len(b)}
		s.Points = append(append(make([]Point, 0, s.Kept), a...), b...)
		out = append(out, s)
	}
	return out
}

// Drawn is Series with each series' points decimated to cols columns
// over the x range of the window (see Decimate): what a chart at most
// cols wide draws, with the same extremes, first and last points, copied
// without the rest (a full window of 32 series is 77 MB). Kept still
// counts every point within the window.
func (w *Window) Drawn(cols int) []Series {
	first := w.seq - w.n + 1
	x0, x1 := math.Inf(1), math.Inf(-1)
	for _, r := range w.series {
		a, b := r.since(first)
		if len(a) == 0 {
			continue // b is empty too
		}
		last := a[len(a)-1]
		if len(b) > 0 {
			last = b[len(b)-1]
		}
		x0, x1 = math.Min(x0, a[0].X), math.Max(x1, last.X)
	}
	out := make([]Series, 0, len(w.series))
	for _, r := range w.series {
		a, b := r.since(first)
		s := Series{Label: r.label, Count: r.count, Kept: len(a) + len(b)}
		s.Points = decimate(a, b, x0, x1, cols)
		out = append(out, s)
	}
	return out
}

// Summary is the text/plain form of a chart: points, last value and
// range of every series.
func Summary(series []Series, lines, dropped int) string {
	total := 0
	for _, s := range series {
		total += kept(s)
	}
	out := fmt.Sprintf("plot: %s with numbers, %d series, %s shown", plural(lines, "line"), len(series), plural(total, "point"))
	if dropped > 0 {
		out += fmt.Sprintf(" (%d values beyond %d series left out)", dropped, MaxSeries)
	}
	for _, s := range series {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, p := range s.Points {
			if !math.IsNaN(p.Y) && !math.IsInf(p.Y, 0) {
				lo, hi = math.Min(lo, p.Y), math.Max(hi, p.Y)
			}
		}
		out += fmt.Sprintf("\n  %s: %s", s.Label, plural(kept(s), "point"))
		if n := len(s.Points); n > 0 {
			out += ", last " + formatValue(s.Points[n-1].Y)
		}
		if lo <= hi {
			out += ", min " + formatValue(lo) + ", max " + formatValue(hi)
		}
	}
	return out
}

// kept is how many points s has in its window, drawn or not.
func kept(s Series) int { return max(s.Kept, len(s.Points)) }

func formatValue(v float64) string {
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// seriesLabel names the series of the i-th value of a line: its label,
// else "value i+1".
func seriesLabel(v Value, i int) string {
	if v.Label != "" {
		return v.Label
	}
	return "value " + strconv.Itoa(i+1)
}

// plural is "1 point" or "n points".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
