package plot

import "math"

// Decimate bounds the points drawn for one series to about four per pixel
// column between x0 and x1: of the points in each column it keeps the
// lowest and the highest (in the order they came) and the first and last,
// so spikes stay visible and lines join. A column holding a NaN or an
// infinity keeps one, which the renderer draws as a gap. pts must be in
// increasing x; they are returned as they are when there are few enough.
func Decimate(pts []Point, x0, x1 float64, cols int) []Point {
	if cols <= 0 || len(pts) <= 4*cols || !(x1 > x0) {
		return pts
	}
	return decimate(pts, nil, x0, x1, cols)
}

// decimate is Decimate of the points of a followed by those of b, always
// into a new slice, so that points can be taken from where they are kept
// (the two parts of a ring) without copying them all first.
func decimate(a, b []Point, x0, x1 float64, cols int) []Point {
	n := len(a) + len(b)
	if cols <= 0 || n <= 4*cols || !(x1 > x0) {
		return append(append(make([]Point, 0, n), a...), b...)
	}
	at := func(i int) Point {
		if i < len(a) {
			return a[i]
		}
		return b[i-len(a)]
	}
	out := make([]Point, 0, 4*cols+8)
	scale := float64(cols) / (x1 - x0)
	col := func(x float64) int {
		c := int(math.Floor((x - x0) * scale))
		return min(max(c, 0), cols-1)
	}
	start := 0
	for start < n {
		first := at(start)
		c := col(first.X)
		end := start
		lo, hi, gap := -1, -1, -1
		var ylo, yhi float64
		for ; end < n; end++ {
			p := at(end)
			if col(p.X) != c {
				break
			}
			switch y := p.Y; {
			case math.IsNaN(y) || math.IsInf(y, 0):
				if gap < 0 {
					gap = end
				}
			case lo < 0:
				lo, hi, ylo, yhi = end, end, y, y
			case y < ylo:
				lo, ylo = end, y
			case y > yhi:
				hi, yhi = end, y
			}
		}
		keep := [5]int{start, lo, hi, gap, end - 1}
		sortInts(keep[:])
		last := -1
		for _, k := range keep {
			if k >= 0 && k != last {
				out = append(out, at(k))
				last = k
			}
		}
		start = end
	}
	return out
}

// sortInts sorts a handful of ints in place.
func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}
