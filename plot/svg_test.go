package plot

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// svgDoc is what the tests read back of a chart.
type svgDoc struct {
	texts   []svgText
	paths   []string // d of each series' path
	strokes []string
}

type svgText struct {
	x, y   float64
	anchor string
	text   string
}

// parseSVG checks that b is well-formed XML with an svg root and returns
// its texts and paths.
func parseSVG(t *testing.T, b []byte) svgDoc {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(string(b)))
	var doc svgDoc
	var stack []string
	var cur *svgText
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v\n%s", err, b)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 && e.Name.Local != "svg" {
				t.Fatalf("root element %s, want svg", e.Name.Local)
			}
			stack = append(stack, e.Name.Local)
			attr := map[string]string{}
			for _, a := range e.Attr {
				attr[a.Name.Local] = a.Value
			}
			switch e.Name.Local {
			case "text":
				x, _ := strconv.ParseFloat(attr["x"], 64)
				y, _ := strconv.ParseFloat(attr["y"], 64)
				cur = &svgText{x: x, y: y, anchor: attr["text-anchor"]}
			case "path":
				doc.paths = append(doc.paths, attr["d"])
				doc.strokes = append(doc.strokes, attr["stroke"]+attr["stroke-dasharray"])
			}
		case xml.CharData:
			if cur != nil {
				cur.text += string(e)
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
			if e.Name.Local == "text" && cur != nil {
				doc.texts = append(doc.texts, *cur)
				cur = nil
			}
		}
	}
	return doc
}

func sine(label string, n int, amp float64) Series {
	s := Series{Label: label, Count: n}
	for i := 1; i <= n; i++ {
		s.Points = append(s.Points, Point{Seq: i, X: float64(i), Y: amp * math.Sin(float64(i)/20)})
	}
	return s
}

func TestRenderWellFormedWithLegend(t *testing.T) {
	series := []Series{sine("temp <°C>", 200, 20), sine(`hum & "rel"`, 200, 5)}
	doc := parseSVG(t, Render(series, Options{XLabel: "sample"}))
	if len(doc.paths) != 2 {
		t.Fatalf("%d paths, want one per series", len(doc.paths))
	}
	if doc.strokes[0] == doc.strokes[1] {
		t.Fatal("two series drawn alike")
	}
	for _, want := range []string{"temp <°C>", `hum & "rel"`, "sample"} {
		if !hasText(doc, want) {
			t.Errorf("no text %q in the chart", want)
		}
	}
	// the path visits every point: 200 of them, M then 199 L
	if n := strings.Count(doc.paths[0], "L"); n != 199 {
		t.Fatalf("path has %d segments, want 199", n)
	}
}

func TestRenderDistinctStyles(t *testing.T) {
	var series []Series
	for i := range 20 {
		series = append(series, sine(fmt.Sprintf("s%d", i), 10, float64(i)))
	}
	doc := parseSVG(t, Render(series, Options{}))
	seen := map[string]bool{}
	for _, s := range doc.strokes {
		if seen[s] {
			t.Fatalf("style %q used twice among 20 series", s)
		}
		seen[s] = true
	}
	colours := map[string]bool{}
	for i := range 16 {
		colours[Colour(i)] = true
	}
	if len(colours) != 16 {
		t.Fatalf("%d distinct colours for 16 series", len(colours))
	}
}

// Tick labels are round numbers, evenly spaced, covering the data, and
// neither x nor y labels overlap.
func TestRenderTicksRoundAndApart(t *testing.T) {
	for _, c := range []struct {
		name   string
		series Series
		o      Options
	}{
		{"small", sine("a", 500, 0.003), Options{}},
		{"large", sine("a", 500, 123456), Options{}},
		{"offset", Series{Label: "a", Points: []Point{{1, 1, 1000.2}, {2, 2, 1000.9}}}, Options{}},
		{"long x", Series{Label: "a", Points: []Point{{1, 1234567, 1}, {2, 1234999, 2}}}, Options{Width: 300}},
		{"fixed", sine("a", 100, 10), Options{YMin: -1, YMax: 1, FixYMin: true, FixYMax: true}},
		{"flat", Series{Label: "a", Points: []Point{{1, 1, 5}, {2, 2, 5}}}, Options{}},
		{"one point", Series{Label: "a", Points: []Point{{1, 1, 5}}}, Options{}},
		{"empty", Series{Label: "a"}, Options{}},
		{"nan only", Series{Label: "a", Points: []Point{{1, 1, math.NaN()}, {2, 2, math.Inf(1)}}}, Options{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := parseSVG(t, Render([]Series{c.series}, c.o))
			var ys, xs []svgText
			for _, tx := range doc.texts {
				switch tx.anchor {
				case "end":
					ys = append(ys, tx)
				case "middle":
					if _, err := strconv.ParseFloat(tx.text, 64); err == nil {
						xs = append(xs, tx)
					}
				}
			}
			if len(ys) < 2 {
				t.Fatalf("%d y tick labels, want at least 2", len(ys))
			}
			checkRound(t, "y", ys)
			checkRound(t, "x", xs)
			for i := 1; i < len(ys); i++ {
				if gap := ys[i-1].y - ys[i].y; gap < fontSize {
					t.Fatalf("y labels %q and %q are %g px apart", ys[i-1].text, ys[i].text, gap)
				}
			}
			for i := 1; i < len(xs); i++ {
				w := float64(len(xs[i].text)+len(xs[i-1].text)) / 2 * charWidth
				if gap := xs[i].x - xs[i-1].x; gap < w+4 {
					t.Fatalf("x labels %q and %q overlap (%g px apart)", xs[i-1].text, xs[i].text, gap)
				}
			}
			lo, _ := strconv.ParseFloat(ys[0].text, 64)
			hi, _ := strconv.ParseFloat(ys[len(ys)-1].text, 64)
			if c.o.FixYMin && (lo != -1 || hi != 1) {
				t.Fatalf("fixed axis from %s to %s, want -1 to 1", ys[0].text, ys[len(ys)-1].text)
			}
		})
	}
}

// checkRound: values are evenly spaced by 1, 2 or 5 times a power of ten,
// and are multiples of that step.
func checkRound(t *testing.T, axis string, ts []svgText) {
	t.Helper()
	var vs []float64
	for _, tx := range ts {
		v, err := strconv.ParseFloat(tx.text, 64)
		if err != nil {
			t.Fatalf("%s tick label %q is not a number", axis, tx.text)
		}
		vs = append(vs, v)
	}
	if len(vs) < 2 {
		return
	}
	step := math.Abs(vs[1] - vs[0])
	mant := step / math.Pow(10, math.Floor(math.Log10(step)+1e-9))
	if math.Abs(mant-1) > 1e-6 && math.Abs(mant-2) > 1e-6 && math.Abs(mant-5) > 1e-6 {
		t.Fatalf("%s step %g is not 1, 2 or 5 times a power of ten (%v)", axis, step, vs)
	}
	for i, v := range vs {
		if r := v / step; math.Abs(r-math.Round(r)) > 1e-6 {
			t.Fatalf("%s tick %g is not a multiple of %g", axis, v, step)
		}
		if i > 0 && math.Abs(math.Abs(v-vs[i-1])-step) > step*1e-6 {
			t.Fatalf("%s ticks not evenly spaced: %v", axis, vs)
		}
	}
}

// A legend of many long labels wraps into rows within the chart.
func TestRenderLegendWraps(t *testing.T) {
	var series []Series
	for i := range 16 {
		series = append(series, sine(fmt.Sprintf("a rather long label number %d", i), 10, 1))
	}
	const width = 500
	doc := parseSVG(t, Render(series, Options{Width: width}))
	rows := map[float64][]svgText{}
	for _, tx := range doc.texts {
		if strings.HasPrefix(tx.text, "a rather long label") {
			rows[tx.y] = append(rows[tx.y], tx)
			if end := tx.x + float64(len([]rune(tx.text)))*charWidth; end > width {
				t.Fatalf("legend label %q runs past the chart (ends at %g)", tx.text, end)
			}
		}
	}
	if len(rows) < 2 {
		t.Fatalf("16 long labels in %d legend rows, want them wrapped", len(rows))
	}
	n := 0
	for _, r := range rows {
		n += len(r)
		for i := 1; i < len(r); i++ {
			if r[i].x-r[i-1].x < float64(len([]rune(r[i-1].text)))*charWidth {
				t.Fatalf("legend labels %q and %q overlap", r[i-1].text, r[i].text)
			}
		}
	}
	if n != 16 {
		t.Fatalf("%d legend labels, want 16", n)
	}
}

// However many points, a chart's size stays bounded.
func TestRenderSizeBounded(t *testing.T) {
	small := len(Render([]Series{sine("a", 2000, 1)}, Options{}))
	big := len(Render([]Series{sine("a", 200000, 1)}, Options{}))
	if big > 2*small {
		t.Fatalf("100 times the points made the chart %d bytes from %d", big, small)
	}
}

func TestRenderGaps(t *testing.T) {
	s := Series{Label: "a", Points: []Point{{1, 1, 1}, {2, 2, 2}, {3, 3, math.NaN()}, {4, 4, 3}, {5, 5, math.Inf(-1)}, {6, 6, 4}, {7, 7, 5}}}
	doc := parseSVG(t, Render([]Series{s}, Options{}))
	if n := strings.Count(doc.paths[0], "M"); n != 3 {
		t.Fatalf("path %q has %d pieces, want 3 (broken at NaN and -inf)", doc.paths[0], n)
	}
}

func hasText(doc svgDoc, s string) bool {
	for _, tx := range doc.texts {
		if tx.text == s {
			return true
		}
	}
	return false
}

// Extreme values still give distinct ticks and a path without NaN.
func TestRenderExtremeValues(t *testing.T) {
	for _, ys := range [][]float64{{1e308, -1e308}, {1e17, 1e17 + 16}, {math.MaxFloat64, math.MaxFloat64}, {5e-324, 0}} {
		s := Series{Label: "a"}
		for i, y := range ys {
			s.Points = append(s.Points, Point{Seq: i + 1, X: float64(i + 1), Y: y})
		}
		svg := Render([]Series{s}, Options{})
		doc := parseSVG(t, svg)
		if strings.Contains(string(svg), "NaN") || strings.Contains(string(svg), "Inf") {
			t.Fatalf("%v: NaN or Inf in the chart", ys)
		}
		seen := map[string]bool{}
		n := 0
		for _, tx := range doc.texts {
			if tx.anchor == "end" {
				n++
				if seen[tx.text] {
					t.Fatalf("%v: y tick %q twice", ys, tx.text)
				}
				seen[tx.text] = true
			}
		}
		if n < 2 {
			t.Fatalf("%v: %d y ticks", ys, n)
		}
	}
}

// The same data gives the same SVG (a notebook saved twice does not
// differ); other data gets other element ids.
func TestRenderDeterministicIDs(t *testing.T) {
	a1 := Render([]Series{sine("a", 50, 1)}, Options{})
	a2 := Render([]Series{sine("a", 50, 1)}, Options{})
	b := Render([]Series{sine("a", 50, 2)}, Options{})
	if string(a1) != string(a2) {
		t.Fatal("the same data rendered twice differs")
	}
	id := regexp.MustCompile(`clipPath id="([^"]+)"`)
	ia, ib := id.FindStringSubmatch(string(a1)), id.FindStringSubmatch(string(b))
	if ia == nil || ib == nil || ia[1] == ib[1] {
		t.Fatalf("clip ids %v and %v, want two different ones", ia, ib)
	}
	if !strings.Contains(string(a1), `url(#`+ia[1]+`)`) {
		t.Fatal("the lines do not use the chart's clip path")
	}
	if strings.Contains(string(a1), "\x00") {
		t.Fatal("a placeholder is left in the chart")
	}
}

// coords are every number of a chart's coordinate attributes (x, y,
// width, height, the lines' ends and the paths' d).
var coordAttr = regexp.MustCompile(`\s(?:x|y|x1|y1|x2|y2|width|height|d)="([^"]*)"`)

func coords(svg []byte) []string {
	var out []string
	for _, m := range coordAttr.FindAllStringSubmatch(string(svg), -1) {
		out = append(out, regexp.MustCompile(`[^MLh ]+`).FindAllString(m[1], -1)...)
	}
	return out
}

// Values far beyond the axis (fixed ends, or a fitted axis with values
// near float64's limits) and fixed ends float64 cannot place are drawn
// with short, finite coordinates: no NaN or Inf, no number of 60 digits.
func TestRenderOutOfRangeCoordinatesStayShort(t *testing.T) {
	pts := func(ys ...float64) []Series {
		s := Series{Label: "v"}
		for i, y := range ys {
			s.Points = append(s.Points, Point{Seq: i + 1, X: float64(i + 1), Y: y})
		}
		return []Series{s}
	}
	both := func(lo, hi float64) Options { return Options{YMin: lo, YMax: hi, FixYMin: true, FixYMax: true} }
	for name, c := range map[string]struct {
		s []Series
		o Options
	}{
		"0 to 1, a value of 1e307":     {pts(0.5, 1e307, 0.5), both(0, 1)},
		"0 to 1, a value of 1e200":     {pts(0.5, 1e200, 0.5), both(0, 1)},
		"0 to 1, a value of -MaxFloat": {pts(0.5, -math.MaxFloat64, 0.5), both(0, 1)},
		"bottom 1e17 only, data 1-5":   {pts(1, 5, 3), Options{YMin: 1e17, FixYMin: true}},
		"top -1e17 only, data 1-5":     {pts(1, 5, 3), Options{YMax: -1e17, FixYMax: true}},
		"bottom 1e300 only":            {pts(1, 5, 3), Options{YMin: 1e300, FixYMin: true}},
		"bottom +Inf":                  {pts(1, 5, 3), Options{YMin: math.Inf(1), FixYMin: true}},
		"bottom NaN":                   {pts(1, 5, 3), Options{YMin: math.NaN(), FixYMin: true}},
		"-Inf to +Inf":                 {pts(1, 5, 3), both(math.Inf(-1), math.Inf(1))},
		"fitted, 0 -1 MaxFloat":        {pts(0, -1, math.MaxFloat64), Options{}},
		"fitted, 0 1e300 1e16":         {pts(0, 1e300, 1e16), Options{}},
	} {
		svg := Render(c.s, c.o)
		parseSVG(t, svg)
		for _, v := range coords(svg) {
			f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || len(v) > 12 {
				t.Errorf("%s: coordinate %.60q in the chart", name, v)
				break
			}
		}
	}
	// The data below a fixed bottom is drawn, clipped, below the plot.
	doc := parseSVG(t, Render(pts(1, 5, 3), Options{YMin: 1e17, FixYMin: true}))
	if len(doc.paths) != 1 || !regexp.MustCompile(`^M[0-9.]+ [0-9]{4,}\.[0-9]L`).MatchString(doc.paths[0]) {
		t.Errorf("data below the fixed bottom 1e17 drawn as %q, want a line below the plot", doc.paths)
	}
}

// Values beyond fixed ends do not make a frame bigger: 8 series of
// ±1e300 between --ymin 0 and --ymax 1 take about what they take on an
// axis fitted to them (once, 60 digits a coordinate made it 20 times).
func TestRenderOutOfRangeFrameSize(t *testing.T) {
	var ss []Series
	for k := range 8 {
		s := Series{Label: fmt.Sprint("s", k)}
		for i := range 20000 {
			s.Points = append(s.Points, Point{Seq: i + 1, X: float64(i + 1), Y: 1e300 * float64(i%2*2-1)})
		}
		ss = append(ss, s)
	}
	fixed := len(Render(ss, Options{YMin: 0, YMax: 1, FixYMin: true, FixYMax: true}))
	fitted := len(Render(ss, Options{}))
	if fixed > 2*fitted {
		t.Errorf("a frame of values beyond the fixed ends is %d bytes, %d on a fitted axis", fixed, fitted)
	}
}
