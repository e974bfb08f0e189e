package replay

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTermProgressKeepsCharactersWhole(t *testing.T) {
	var b strings.Builder
	p := NewTermProgress(&b, []string{"sim"}, 1)
	p.Width = 32
	p.Cell("sim", "n.ipynb", 1, 1, "print('"+strings.Repeat("é", 20)+"')")
	if !utf8.ValidString(b.String()) {
		t.Errorf("progress line cut a character in two: %q", b.String())
	}
	if want := "sim: n.ipynb: cell 1/1 print('é\n"; !strings.Contains(b.String(), want) {
		t.Errorf("progress line %q lacks %q (31 characters)", b.String(), want)
	}
}
