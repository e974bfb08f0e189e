package magics

import (
	"fmt"
	"strings"
	"testing"
)

// A board that prints for a long time under %%connect keeps a bounded
// section: the redraws and the final display hold its last lines, and say
// how many lines above were not kept.
func TestSectionKeepsItsLastLines(t *testing.T) {
	s := &section{name: "b"}
	const lines = 60000 // about 3 MiB
	for i := range lines {
		s.add(fmt.Sprintf("line %05d %s\n", i, strings.Repeat("x", 40)))
	}
	if n := s.text.Len(); n > sectionKeep {
		t.Errorf("the section keeps %d bytes; want at most %d", n, sectionKeep)
	}
	final := s.render(true)
	kept := strings.Count(final, "\n") - 2 // the head and the note
	want := fmt.Sprintf("… %d lines above not kept", lines-kept)
	if !strings.Contains(final, want) {
		t.Errorf("the final display does not say %q: %.200q", want, final)
	}
	if !strings.HasSuffix(final, fmt.Sprintf("line %05d %s\n", lines-1, strings.Repeat("x", 40))) {
		t.Errorf("the final display lacks the last line: …%q", final[len(final)-80:])
	}
	if !strings.Contains(s.render(false), fmt.Sprintf("… %d lines above …\n", lines-sectionTail)) {
		t.Errorf("a redraw does not count the lines above it: %.120q", s.render(false))
	}
}
