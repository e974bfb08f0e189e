package plot

import (
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary output to a Plot cut in two at an arbitrary
// place: the samples must be those of the whole output, every value must
// come from a number the line really holds, and the chart must stay
// well-formed XML.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"(1.5, 2, -3)\n", "temp:21.5 hum:40\r\n", "x=1,y=2\n", "1\t2\t3\n", "T = 21.5 C\n",
		"a:nan b:inf c:-inf\n", "v1.2.3 0x1F\n", "{'a': 1e999}\n", "12:30:05\n", "<&>\"':1\n",
	} {
		f.Add(s, uint16(len(s)/2))
	}
	f.Fuzz(func(t *testing.T, out string, cut uint16) {
		c := int(cut) % (len(out) + 1)
		type sample struct {
			label string
			v     float64
		}
		run := func(parts ...string) []sample {
			var got []sample
			p := New(Config{Sample: func(_ time.Duration, l string, v float64) { got = append(got, sample{l, v}) }})
			for _, s := range parts {
				p.Write([]byte(s))
			}
			p.Flush()
			d := xml.NewDecoder(strings.NewReader(string(p.Frame().SVG)))
			for {
				_, err := d.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("chart of %q is not well-formed: %v", out, err)
				}
			}
			return got
		}
		whole, split := run(out), run(out[:c], out[c:])
		if len(whole) != len(split) {
			t.Fatalf("%q: %d samples whole, %d when cut at %d", out, len(whole), len(split), c)
		}
		for i := range whole {
			a, b := whole[i], split[i]
			if a.label != b.label || !(a.v == b.v || math.IsNaN(a.v) && math.IsNaN(b.v)) {
				t.Fatalf("%q cut at %d: sample %d is %v, whole %v", out, c, i, b, a)
			}
		}
		for _, line := range strings.FieldsFunc(out, func(r rune) bool { return r == '\n' || r == '\r' }) {
			for _, v := range ParseLine(line) {
				if v.Label != "" && !strings.Contains(line, v.Label) {
					t.Fatalf("label %q is not on the line %q", v.Label, line)
				}
			}
		}
	})
}
