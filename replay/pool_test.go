package replay

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/iot-kernel/iot-kernel/kernel"
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

// Notebooks not reached before Ctrl-C say so in words a person reads
// ("interrupted by client" is the kernel's protocol speaking).
func TestRunAllStoppedSaysCtrlC(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(kernel.ErrInterrupted)
	boards := []Board{{Label: "one", Start: func(context.Context, *Notebook) (Executor, func(), error) {
		return fakeBoard{}, func() {}, nil
	}}}
	for _, r := range RunAll(ctx, []string{"a.ipynb", "b.ipynb"}, boards, 1, opts(), nil) {
		if r.Err == nil || r.Err.Error() != "not replayed: stopped (Ctrl-C)" {
			t.Errorf("%s: Err %v", r.Path, r.Err)
		}
	}
}
