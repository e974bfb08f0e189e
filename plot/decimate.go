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
	out := make([]Point, 0, 4*cols+8)
	scale := float64(cols) / (x1 - x0)
	col := func(x float64) int {
		c := int(math.Floor((x - x0) * scale))
		return min(max(c, 0), cols-1)
	}
	start := 0
	for start < len(pts) {
		c := col(pts[start].X)
		end := start
		lo, hi, gap := -1, -1, -1
		for end < len(pts) && col(pts[end].X) == c {
			y := pts[end].Y
			switch {
			case math.IsNaN(y) || math.IsInf(y, 0):
				if gap < 0 {
					gap = end
				}
			case lo < 0:
				lo, hi = end, end
			case y < pts[lo].Y:
				lo = end
			case y > pts[hi].Y:
				hi = end
			}
			end++
		}
		keep := []int{start, lo, hi, gap, end - 1}
		sortInts(keep)
		last := -1
		for _, k := range keep {
			if k >= 0 && k != last {
				out = append(out, pts[k])
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
