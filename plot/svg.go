package plot

import (
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
)

// Options shape a rendered chart. The zero value gives a 720×360 chart
// whose axes fit the data.
type Options struct {
	Width, Height int
	// YMin and YMax fix the ends of the y axis when FixYMin and FixYMax
	// are set; otherwise the axis fits the data.
	YMin, YMax       float64
	FixYMin, FixYMax bool
	// XLabel names the x axis ("sample", "time (s)").
	XLabel string
	// Title is written above the chart ("" for none).
	Title string
	// ID prefixes the chart's element ids, which must be unique among the
	// charts of one page (SVG drawn inline shares the page's ids); ""
	// derives them from the chart itself.
	ID string
}

const (
	defaultWidth, defaultHeight = 720, 360

	fontSize  = 12
	charWidth = 0.62 * fontSize // a generous average for sans-serif digits and letters
	lineGap   = 18              // height of a legend row
	maxLabel  = 24              // legend labels are cut to this many characters
)

// palette holds colours picked to tell 20 series apart on white; series
// past the first 10 are also dashed, and past 20 the colours repeat with
// other dashes.
var palette = []string{
	"#1f6fd1", "#e8590c", "#2b9348", "#d62839", "#7b2cbf",
	"#8c5a2b", "#d6336c", "#495057", "#8f9a00", "#0c8599",
	"#74b3f0", "#f7a35c", "#78c989", "#f08080", "#b197fc",
	"#c49a6c", "#f783ac", "#a0a8b0", "#c4cc3c", "#5bc8d6",
}

var dashes = []string{"", "6 3", "2 2", "8 3 2 3"}

// Colour is the stroke colour of series i.
func Colour(i int) string { return palette[i%len(palette)] }

func dash(i int) string { return dashes[(i/(len(palette)/2))%len(dashes)] }

// Render draws the series as an SVG document. Points are decimated to the
// plot's width, so the size of the result is bounded by the chart's size
// and number of series, not by the number of points.
func Render(series []Series, o Options) []byte {
	if o.Width <= 0 {
		o.Width = defaultWidth
	}
	if o.Height <= 0 {
		o.Height = defaultHeight
	}
	var b strings.Builder
	w, h := float64(o.Width), float64(o.Height)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="%d">`,
		o.Width, o.Height, o.Width, o.Height, fontSize)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>`)

	top := 8.0
	if o.Title != "" {
		fmt.Fprintf(&b, `<text x="8" y="%g" font-weight="bold">%s</text>`, top+fontSize, esc(o.Title))
		top += lineGap + 2
	}
	// The legend wraps in rows above the plot.
	items := legendLayout(series, w-16)
	for _, it := range items {
		y := top + float64(it.row)*lineGap + fontSize/2 + 2
		x := 8 + it.x
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2.5"%s/>`,
			x, y, x+18, y, Colour(it.i), dashAttr(it.i))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`, x+22, y+fontSize/2-2, esc(it.text))
	}
	if len(items) > 0 {
		top += float64(items[len(items)-1].row+1)*lineGap + 4
	}

	xlo, xhi, ylo, yhi := bounds(series)
	// An end that is not a number cannot be placed: it fits the data.
	fixedLo, fixedHi := o.FixYMin && finite(o.YMin), o.FixYMax && finite(o.YMax)
	if fixedLo {
		ylo = o.YMin
	}
	if fixedHi {
		yhi = o.YMax
	}
	// Beyond ±1e300 the span would overflow; values that far out are
	// drawn at the edge, clipped.
	clamp := func(v float64) float64 { return math.Max(-1e300, math.Min(v, 1e300)) }
	ylo, yhi = clamp(ylo), clamp(yhi)
	if !fixedLo && !fixedHi && yhi > ylo {
		// a span too narrow for float64 to place ticks in widens around
		// its middle
		if minSpan := math.Max(math.Max(math.Abs(ylo), math.Abs(yhi))*1e-12, 1e-200); yhi-ylo < minSpan {
			c := ylo/2 + yhi/2
			ylo, yhi = c-minSpan/2, c+minSpan/2
		}
	}
	if !(yhi > ylo) {
		// widened by a step float64 can take at any size (ylo + 1 is
		// ylo itself past 2^53)
		switch {
		case fixedLo && !fixedHi:
			yhi = ylo + math.Max(1, math.Abs(ylo)*1e-6)
		case fixedHi && !fixedLo:
			ylo = yhi - math.Max(1, math.Abs(yhi)*1e-6)
		default:
			c := ylo/2 + yhi/2
			d := math.Max(1, math.Abs(c)*1e-6)
			ylo, yhi = c-d, c+d
		}
	}
	bottom := h - 40
	ymax := max(2, min(10, int((bottom-top)/32)))
	yt := ticks(ylo, yhi, ymax)
	// The axis ends on round values unless fixed.
	if !fixedLo && len(yt.vals) > 0 && yt.vals[0] > ylo {
		ylo = yt.vals[0] - yt.step
		yt = ticks(ylo, yhi, ymax)
	}
	if !fixedHi && len(yt.vals) > 0 && yt.vals[len(yt.vals)-1] < yhi {
		yhi = yt.vals[len(yt.vals)-1] + yt.step
		yt = ticks(ylo, yhi, ymax)
	}
	if !fixedLo && len(yt.vals) > 0 {
		ylo = math.Min(ylo, yt.vals[0])
	}
	if !fixedHi && len(yt.vals) > 0 {
		yhi = math.Max(yhi, yt.vals[len(yt.vals)-1])
	}
	labelW := 0
	for _, s := range yt.labels {
		labelW = max(labelW, len(s))
	}
	left := 14 + float64(labelW)*charWidth
	right := w - 16
	if !(xhi > xlo) {
		xlo, xhi = xlo-0.5, xlo+0.5
	}
	xt := xTicks(xlo, xhi, right-left, o.XLabel == "sample")

	// A value far beyond fixed bounds is drawn at a margin around the plot
	// area, clipped: its coordinate stays finite and short (a difference
	// that overflows is an infinity, taken in too), and the margin, a
	// hundred times the area's size, keeps a line leaving the area nearly
	// as steep as it is.
	xspan, yspan := xhi-xlo, yhi-ylo
	mx, my := 100*(right-left), 100*(bottom-top)
	px := func(x float64) float64 { return within(left+(x-xlo)/xspan*(right-left), left-mx, right+mx) }
	py := func(y float64) float64 { return within(bottom-(y-ylo)/yspan*(bottom-top), top-my, bottom+my) }

	// grid, ticks and labels
	b.WriteString(`<g stroke="#e6e6e6" stroke-width="1">`)
	for _, v := range yt.vals {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, left, py(v), right, py(v))
	}
	for _, v := range xt.vals {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, px(v), top, px(v), bottom)
	}
	b.WriteString(`</g><g fill="#333">`)
	for i, v := range yt.vals {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`, left-6, py(v)+fontSize/2-2, yt.labels[i])
	}
	for i, v := range xt.vals {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, px(v), bottom+fontSize+4, xt.labels[i])
	}
	if o.XLabel != "" {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#666">%s</text>`, (left+right)/2, h-6, esc(o.XLabel))
	}
	b.WriteString(`</g>`)
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`, left, top, right-left, bottom-top)

	// the lines, clipped to the plot area (fixed bounds may cut them)
	// Without an ID, the chart's own hash makes one (set below): the same
	// data gives the same SVG, so a notebook saved twice does not differ,
	// and two charts on a page share an id only when they are the same.
	const placeholder = "\x00clip"
	clip := placeholder
	if o.ID != "" {
		clip = esc(o.ID) + "-area"
	}
	fmt.Fprintf(&b, `<clipPath id="%s"><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"/></clipPath>`, clip, left, top, right-left, bottom-top)
	fmt.Fprintf(&b, `<g clip-path="url(#%s)" fill="none" stroke-width="1.6" stroke-linejoin="round">`, clip)
	cols := int(right - left)
	for i, s := range series {
		pts := Decimate(s.Points, xlo, xhi, cols)
		d := pathData(pts, px, py)
		if d == "" {
			continue
		}
		fmt.Fprintf(&b, `<path stroke="%s"%s d="%s"/>`, Colour(i), dashAttr(i), d)
	}
	b.WriteString(`</g></svg>`)
	out := b.String()
	if clip == placeholder {
		h := fnv.New64a()
		h.Write([]byte(out))
		out = strings.ReplaceAll(out, placeholder, fmt.Sprintf("plot-%016x", h.Sum64()))
	}
	return []byte(out)
}

func dashAttr(i int) string {
	if d := dash(i); d != "" {
		return ` stroke-dasharray="` + d + `"`
	}
	return ""
}

// pathData is an SVG path through pts; NaN and infinite values break it.
// A lone point between gaps is drawn as a short stroke so it shows.
func pathData(pts []Point, px, py func(float64) float64) string {
	var b strings.Builder
	run := 0
	for _, p := range pts {
		if math.IsNaN(p.Y) || math.IsInf(p.Y, 0) {
			if run == 1 {
				b.WriteString("h0.01")
			}
			run = 0
			continue
		}
		if run == 0 {
			b.WriteByte('M')
		} else {
			b.WriteByte('L')
		}
		b.WriteString(strconv.FormatFloat(px(p.X), 'f', 1, 64))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatFloat(py(p.Y), 'f', 1, 64))
		run++
	}
	if run == 1 {
		b.WriteString("h0.01")
	}
	return b.String()
}

// within is v limited to [lo, hi]; NaN gives lo.
func within(v, lo, hi float64) float64 {
	if !(v >= lo) {
		return lo
	}
	return math.Min(v, hi)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// bounds is the range of the series' finite values and of their x.
func bounds(series []Series) (xlo, xhi, ylo, yhi float64) {
	xlo, ylo = math.Inf(1), math.Inf(1)
	xhi, yhi = math.Inf(-1), math.Inf(-1)
	for _, s := range series {
		for _, p := range s.Points {
			xlo, xhi = math.Min(xlo, p.X), math.Max(xhi, p.X)
			if !math.IsNaN(p.Y) && !math.IsInf(p.Y, 0) {
				ylo, yhi = math.Min(ylo, p.Y), math.Max(yhi, p.Y)
			}
		}
	}
	if xlo > xhi {
		xlo, xhi = 0, 1
	}
	if ylo > yhi {
		ylo, yhi = 0, 1
	}
	return xlo, xhi, ylo, yhi
}

// tickSet is the values and labels of an axis's ticks, step apart.
type tickSet struct {
	vals   []float64
	labels []string
	step   float64
}

// ticks are round values (1, 2 or 5 times a power of ten apart) in
// [lo, hi], at most about n of them.
func ticks(lo, hi float64, n int) tickSet {
	step := niceStep((hi-lo)/float64(max(n, 1)), false)
	return ticksAt(lo, hi, step)
}

func ticksAt(lo, hi, step float64) tickSet {
	t := tickSet{step: step}
	if !(step > 0) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return t
	}
	dec := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	for k := math.Ceil(lo/step - 1e-9); k*step <= hi+step*1e-9 && len(t.vals) < 100; k++ {
		v := k * step
		if n := len(t.vals); n > 0 && v <= t.vals[n-1] {
			break // beyond float64's precision: no progress
		}
		t.vals = append(t.vals, v)
		t.labels = append(t.labels, formatTick(v, step, dec))
	}
	return t
}

// niceStep is the smallest of 1, 2, 5 times a power of ten that is at
// least raw; integer steps only when whole is set.
func niceStep(raw float64, whole bool) float64 {
	if !(raw > 0) || math.IsInf(raw, 0) {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw*(1-1e-9) {
			step = m * mag
			break
		}
	}
	if whole && step < 1 {
		step = 1
	}
	return step
}

// formatTick writes a tick value with dec decimals, or, for very large or
// very small values, in e notation with enough digits to tell ticks step
// apart.
func formatTick(v, step float64, dec int) string {
	if v == 0 {
		v = 0 // never "-0"
	}
	if a := math.Abs(v); a >= 1e7 || dec > 6 {
		prec := 4
		if a > 0 {
			prec = max(prec, int(math.Floor(math.Log10(a))-math.Floor(math.Log10(step)+1e-9))+1)
		}
		return strconv.FormatFloat(v, 'g', min(prec, 17), 64)
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}

// xTicks picks the most ticks whose labels fit side by side in width
// with a gap between them.
func xTicks(lo, hi, width float64, whole bool) tickSet {
	for n := max(2, int(width/50)); n >= 1; n-- {
		t := ticksAt(lo, hi, niceStep((hi-lo)/float64(n), whole))
		widest := 0
		for _, l := range t.labels {
			widest = max(widest, len(l))
		}
		if len(t.vals) <= 1 || float64(len(t.vals))*(float64(widest)*charWidth+16) <= width {
			return t
		}
	}
	return ticksAt(lo, hi, niceStep(hi-lo, whole))
}

type legendItem struct {
	i, row int
	x      float64
	text   string
}

// legendLayout places one item per series, left to right, wrapping to a
// new row when the next would pass width.
func legendLayout(series []Series, width float64) []legendItem {
	var out []legendItem
	x, row := 0.0, 0
	for i, s := range series {
		text := s.Label
		if r := []rune(text); len(r) > maxLabel {
			text = string(r[:maxLabel-1]) + "…"
		}
		iw := 22 + float64(len([]rune(text)))*charWidth + 16
		if x > 0 && x+iw > width {
			x, row = 0, row+1
		}
		out = append(out, legendItem{i: i, row: row, x: x, text: text})
		x += iw
	}
	return out
}

// esc escapes text for SVG character data and attributes.
func esc(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		default:
			// XML 1.0 forbids most control characters even escaped
			if r < 0x20 && r != '\t' || r == 0xFFFE || r == 0xFFFF {
				b.WriteRune('?')
				continue
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}
