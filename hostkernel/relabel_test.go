package hostkernel

import (
	"slices"
	"testing"
)

// Tracebacks name cells by the notebook's counts, in every IPython's way of
// naming them.
func TestRelabel(t *testing.T) {
	c := &Client{counts: map[int]int{3: 7, 4: 8}}
	tb := []string{"Cell In[3], line 2, in f()", "Cell In [4], line 1", "Input In [3], in <cell line: 1>()", "Cell In[9], line 1"}
	c.relabel(tb)
	want := []string{"Cell In[7], line 2, in f()", "Cell In [8], line 1", "Input In [7], in <cell line: 1>()", "Cell In[9], line 1"}
	if !slices.Equal(tb, want) {
		t.Errorf("relabel = %q, want %q", tb, want)
	}
}
