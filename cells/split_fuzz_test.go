package cells

import (
	"strconv"
	"strings"
	"testing"
)

// Fuzz targets of the cell splitter and of the notebook traceback. Seeds
// live in testdata/fuzz/<FuzzName>/; run one with
//
//	go test ./cells -run '^$' -fuzz '^FuzzSplit$' -fuzztime 30s

// Whatever a cell holds, split returns in order parts that a cell can be
// run from: code parts are whole statements of the cell, in order and
// not overlapping, that split the same way again on their own; magic and
// shell lines are one line each; and nothing of the cell is dropped but
// blank lines and comments.
func FuzzSplit(f *testing.F) {
	f.Fuzz(func(t *testing.T, cell string) {
		parts := split(cell)
		// Offsets and line numbers are checked against the cell as given
		// only when it has no \r, which a splitter may normalise.
		exact := !strings.Contains(cell, "\r")
		prevLine, prevEnd := 0, 0
		covered := make([]bool, len(cell))
		magicLines := map[int]bool{}
		for i, p := range parts {
			if p.line <= prevLine {
				t.Fatalf("split(%q): part %d starts at line %d, after a part at line %d", cell, i, p.line, prevLine)
			}
			prevLine = p.line
			if p.kind != partCode {
				if strings.Contains(p.text, "\n") {
					t.Fatalf("split(%q): magic part %q spans lines", cell, p.text)
				}
				magicLines[p.line] = true
				continue
			}
			// \v and other control bytes are code to the splitter (the board
			// decides), so only Python's own whitespace makes a part empty.
			if strings.Trim(p.text, " \t\r\f\n") == "" || len(p.lines) == 0 {
				t.Fatalf("split(%q): empty code part %+v", cell, p)
			}
			if !(prevEnd <= p.start && p.start < p.end && p.end <= len(cell)) {
				t.Fatalf("split(%q): code part at bytes [%d,%d) overlaps or leaves the cell (previous ended at %d)", cell, p.start, p.end, prevEnd)
			}
			prevEnd = p.end
			for j, ll := range p.lines {
				if ll.start < p.start || ll.end > p.end || ll.start >= ll.end || (j > 0 && ll.start < p.lines[j-1].end) {
					t.Fatalf("split(%q): logical line [%d,%d) out of its part [%d,%d) or of order", cell, ll.start, ll.end, p.start, p.end)
				}
				if exact {
					_ = ll.isExpression(cell) // must not panic
					_, _ = ll.shown(cell)
				}
			}
			if exact {
				if p.text != cell[p.start:p.end] {
					t.Fatalf("split(%q): code text %q is not the cell's bytes [%d,%d)", cell, p.text, p.start, p.end)
				}
				if want := 1 + strings.Count(cell[:p.start], "\n"); p.line != want {
					t.Fatalf("split(%q): code %q said to start at line %d, it is at line %d", cell, p.text, p.line, want)
				}
				for k := p.start; k < p.end; k++ {
					covered[k] = true
				}
			}
			again := split(p.text)
			if len(again) != 1 || again[0].kind != partCode || again[0].text != p.text || len(again[0].lines) != len(p.lines) {
				t.Fatalf("split(%q): code part %q splits again into %d parts: %s", cell, p.text, len(again), describe(p.text, again))
			}
		}
		if !exact {
			return
		}
		// What no part took is blank lines and comments.
		off := 0
		for n, line := range strings.SplitAfter(cell, "\n") {
			if !magicLines[n+1] {
				var rest strings.Builder
				for k := off; k < off+len(line); k++ {
					if !covered[k] {
						rest.WriteByte(cell[k])
					}
				}
				left := strings.TrimSpace(strings.ReplaceAll(rest.String(), "\\", ""))
				if left != "" && !strings.HasPrefix(left, "#") {
					t.Fatalf("split(%q) dropped %q of line %d: %s", cell, left, n+1, describe(cell, parts))
				}
			}
			off += len(line)
		}
	})
}

// Whatever the board printed as a traceback, the notebook's version keeps
// every line, names each frame of the cells' code by a cell, and shows a
// source line only for a line the cell has.
func FuzzCellTraceback(f *testing.F) {
	f.Fuzz(func(t *testing.T, tb, cell string, count int) {
		in := strings.Split(tb, "\n")
		out := cellTraceback(in, ranCell{cell, count}, nil)
		if len(out) < len(in) {
			t.Fatalf("cellTraceback(%q) lost lines: %q", in, out)
		}
		label := "Cell In[" + strconv.Itoa(count) + "], line "
		if count <= 0 {
			label = "Cell, line "
		}
		frames, labelled := 0, 0
		for _, l := range in {
			if stdinFrame.MatchString(strings.TrimRight(l, "\r")) {
				frames++
			}
		}
		for _, l := range out {
			if strings.Contains(l, label) || strings.Contains(l, "Earlier cell, line ") {
				labelled++
			}
		}
		if labelled < frames {
			t.Fatalf("cellTraceback(%q, count %d): %d frames of the cell, %d named %q: %q", in, count, frames, labelled, label, out)
		}
		if len(out) > len(in)+frames {
			t.Fatalf("cellTraceback(%q): more than one source line per frame: %q", in, out)
		}
	})
}
