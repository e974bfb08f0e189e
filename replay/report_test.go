package replay

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCellLabelKeepsCharactersWhole(t *testing.T) {
	c := &Cell{Index: 0, Source: "print(" + strings.Repeat("é", 80) + ")"}
	l := cellLabel(c)
	if !utf8.ValidString(l) {
		t.Errorf("cellLabel cut a character in two: %q", l)
	}
	if want := "cell 1: print(" + strings.Repeat("é", 51) + "..."; l != want {
		t.Errorf("cellLabel = %q, want %q", l, want)
	}
	short := &Cell{Source: "print('é')"}
	if l := cellLabel(short); l != "cell 1: print('é')" {
		t.Errorf("a short first line was changed: %q", l)
	}
}
