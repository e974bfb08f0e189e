package plot

import (
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseLine(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	type v = Value
	cases := []struct {
		name, line string
		want       []Value
	}{
		{"mu tuple", "(1.5, 2, -3)", []v{{"", 1.5}, {"", 2}, {"", -3}}},
		{"mu tuple one", "(7,)", []v{{"", 7}}},
		{"arduino spaces", "temp:21.5 hum:40", []v{{"temp", 21.5}, {"hum", 40}}},
		{"arduino tabs", "temp:21.5\thum:40", []v{{"temp", 21.5}, {"hum", 40}}},
		{"arduino commas", "temp:21.5,hum:40", []v{{"temp", 21.5}, {"hum", 40}}},
		{"equals", "x=1 y=-2.5e3", []v{{"x", 1}, {"y", -2500}}},
		{"colon space", "temp: 21.5, hum: 40", []v{{"temp", 21.5}, {"hum", 40}}},
		{"python dict", "{'temp': 21.5, 'hum': 40}", []v{{"temp", 21.5}, {"hum", 40}}},
		{"plain commas", "1,2,3", []v{{"", 1}, {"", 2}, {"", 3}}},
		{"plain spaces", "1 2  3", []v{{"", 1}, {"", 2}, {"", 3}}},
		{"plain tabs", "1\t2\t3", []v{{"", 1}, {"", 2}, {"", 3}}},
		{"one number", "42", []v{{"", 42}}},
		{"leading point", ".5 -.25 +3", []v{{"", 0.5}, {"", -0.25}, {"", 3}}},
		{"text around", "T = 21.5 C", []v{{"T", 21.5}}},
		{"unit glued", "21.5C", []v{{"", 21.5}}},
		{"text no label", "reading 21.5 now", []v{{"", 21.5}}},
		{"nan inf", "a:nan b:inf c:-inf", []v{{"a", nan}, {"b", inf}, {"c", -inf}}},
		{"infinity", "Infinity -NaN", []v{{"", inf}, {"", nan}}},
		{"exponent", "1e-3 2E+2 3e", []v{{"", 0.001}, {"", 200}, {"", 3}}},
		{"overflow", "1e999", []v{{"", inf}}},
		{"time like", "12:30", []v{{"", 12}, {"", 30}}},
		{"negative label", "t:-3", []v{{"t", -3}}},
		{"utf8 label", "température:20", []v{{"température", 20}}},
		// not numbers
		{"no number", "hello world", nil},
		{"empty", "", nil},
		{"words with digits", "sensor1 x2 v3b", nil},
		{"info is no inf", "info nano banana", nil},
		{"version", "v1.2.3 at 10.0.0.1", nil},
		{"hex", "0x1F", nil},
		{"lone signs", "- + . -. e5", nil},
		{"label without value", "temp: hum:40", []v{{"hum", 40}}},
		{"traceback text", "Traceback (most recent call last):", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ParseLine(c.line)
			if len(got) != len(c.want) {
				t.Fatalf("ParseLine(%q) = %v, want %v", c.line, got, c.want)
			}
			for i := range got {
				g, w := got[i], c.want[i]
				same := g.V == w.V || math.IsNaN(g.V) && math.IsNaN(w.V)
				if g.Label != w.Label || !same {
					t.Fatalf("ParseLine(%q)[%d] = %v, want %v (all: %v)", c.line, i, g, w, got)
				}
			}
		})
	}
}

// A line that arrives in pieces, however it is cut, gives the same
// samples as the whole line; text lines go to Text whole, with a newline.
func TestPlotLinesSplitAcrossWrites(t *testing.T) {
	out := "boot ok\r\ntemp:21.5 hum:40\r\n(1, 2)\nnot a number\ntemp:22 hum:41"
	for cut := 0; cut <= len(out); cut++ {
		var texts []string
		var samples []string
		p := New(Config{
			Text:   func(l string) { texts = append(texts, l) },
			Sample: func(_ time.Duration, label string, v float64) { samples = append(samples, label+"="+formatValue(v)) },
		})
		p.Write([]byte(out[:cut]))
		p.Write([]byte(out[cut:]))
		p.Flush()
		wantT := []string{"boot ok\n", "not a number\n"}
		wantS := []string{"temp=21.5", "hum=40", "value 1=1", "value 2=2", "temp=22", "hum=41"}
		if !equal(texts, wantT) || !equal(samples, wantS) {
			t.Fatalf("cut at %d: texts %q samples %q; want %q and %q", cut, texts, samples, wantT, wantS)
		}
		if got := p.Frame().Lines; got != 3 {
			t.Fatalf("cut at %d: %d lines with numbers, want 3", cut, got)
		}
	}
}

// An endless line without a newline is not held: it goes on as text.
func TestPlotLongLineBounded(t *testing.T) {
	passed := 0
	p := New(Config{Text: func(s string) { passed += len(s) }})
	chunk := []byte(strings.Repeat("x", 1000))
	for range 100 {
		p.Write(chunk)
	}
	p.mu.Lock()
	held := len(p.partial) + len(p.cut)
	p.mu.Unlock()
	if held > maxLine || passed+held != 100*len(chunk) {
		t.Fatalf("%d bytes held waiting for a newline and %d passed on, want at most %d held and the rest passed", held, passed, maxLine)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A line longer than the limit is text, passed on unchanged in pieces of
// whole UTF-8 characters, however the writes were cut: no number is cut
// in two (once "4090 spaces, temp:123456789" gave temp=1 and 23456789),
// no newline is added inside it, no character is split. A line of the
// limit's length is still data.
func TestPlotLongLineIsText(t *testing.T) {
	for _, line := range []string{
		strings.Repeat(" ", 4090) + "temp:123456789",
		strings.Repeat("1 ", maxLine),
		"a" + strings.Repeat("é", 3000),
		strings.Repeat("€", 2000),
	} {
		for _, c := range []int{0, 1, 100, maxLine - 1, maxLine, maxLine + 1, maxLine + 2, len(line) - 1, len(line)} {
			var pieces []string
			samples := 0
			p := New(Config{
				Text:   func(s string) { pieces = append(pieces, s) },
				Sample: func(time.Duration, string, float64) { samples++ },
			})
			all := line + "\n2\n"
			p.Write([]byte(all[:c]))
			p.Write([]byte(all[c:]))
			p.Flush()
			if got := strings.Join(pieces, ""); got != line+"\n" || samples != 1 {
				t.Fatalf("%.12q... cut at %d: %d samples, text of %d bytes (%d lines); want the line as text, unchanged, and 1 sample after it",
					line, c, samples, len(got), strings.Count(got, "\n"))
			}
			for _, s := range pieces {
				if !utf8.ValidString(s) {
					t.Fatalf("%.12q... cut at %d: a piece of text is not valid UTF-8", line, c)
				}
			}
		}
	}
	exact := strings.Repeat(" ", maxLine-3) + "7 8"
	p := New(Config{})
	p.Write([]byte(exact + "\n"))
	if s := p.Series(); len(s) != 2 {
		t.Fatalf("a line of exactly %d bytes gave %d series, want 2", maxLine, len(s))
	}
}
