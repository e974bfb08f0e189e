package replay

import (
	"context"
	"strings"
	"testing"
)

// A new cell with iot.varies and no stored outputs yet: --update stores
// its outputs, which the pattern matches (it could never, as the stale
// pattern check came before the diff).
func TestUpdateFillsInCellWithVaries(t *testing.T) {
	nb := notebookFile(t, [3]string{"t", `{"iot": {"varies": ["took (\\d+)"]}}`, `[]`})
	b := fakeBoard{"t": prints("took 17\n", "")}
	r := Run(context.Background(), nb, b, "fake", opts())
	if c := r.Cells[0]; c.Status != Failed || !strings.Contains(c.Reason, "matches no stored output") || !strings.Contains(c.Diff, "+took <varies>") {
		t.Errorf("without --update: %v %q, diff:\n%s", c.Status, c.Reason, c.Diff)
	}
	r = Run(context.Background(), nb, b, "fake", updateOpts())
	if r.Updated != 1 || !r.OK() {
		t.Fatalf("--update: %d updated, %v %q", r.Updated, r.Cells[0].Status, r.Cells[0].Reason)
	}
	again, err := Load(nb.Path)
	if err != nil {
		t.Fatal(err)
	}
	if r := Run(context.Background(), again, fakeBoard{"t": prints("took 23\n", "")}, "fake", opts()); !r.OK() {
		t.Errorf("after --update: %v %q", r.Cells[0].Status, r.Cells[0].Reason)
	}

	// A pattern the new outputs do not match either stays a failure.
	nb = notebookFile(t, [3]string{"t", `{"iot": {"varies": ["lasted (\\d+)"]}}`, `[]`})
	r = Run(context.Background(), nb, b, "fake", updateOpts())
	if c := r.Cells[0]; r.Updated != 0 || c.Status != Failed || !strings.Contains(c.Reason, "matches no stored output") {
		t.Errorf("a pattern matching nothing: %d updated, %v %q", r.Updated, c.Status, c.Reason)
	}
	unchanged(t, nb)
}
