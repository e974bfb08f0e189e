package replay

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// bigNotebook is a notebook of n cells, each with a 5 KB image stored.
func bigNotebook(n int) []byte {
	img := strings.Repeat("A", 5000)
	var parts []string
	for i := 0; i < n; i++ {
		parts = append(parts, fmt.Sprintf(`{"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": [{"data": {"image/png": "%s", "text/plain": "x"}, "metadata": {}, "output_type": "display_data"}], "source": "plot(%d)"}`, img, i))
	}
	return []byte("{\n \"cells\": [\n" + strings.Join(parts, ",\n") + "\n], \"metadata\": {}, \"nbformat\": 4, \"nbformat_minor\": 5}")
}

// parseAlloc is how many bytes parsing b allocates.
func parseAlloc(t *testing.T, b []byte) uint64 {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	nb, err := Parse("big.ipynb", b)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if last := nb.Cells[len(nb.Cells)-1]; last.Line != len(nb.Cells)+2 {
		t.Errorf("the last cell is on line %d, want %d", last.Line, len(nb.Cells)+2)
	}
	return after.TotalAlloc - before.TotalAlloc
}

// Parsing a notebook four times as big costs about four times as much,
// not sixteen: a notebook of plots is megabytes (it took seconds).
func TestParseIsLinearInSize(t *testing.T) {
	small, big := parseAlloc(t, bigNotebook(100)), parseAlloc(t, bigNotebook(400))
	if ratio := float64(big) / float64(small); ratio > 8 {
		t.Errorf("parsing 4 times the cells allocated %.1f times as much (%d against %d bytes)", ratio, big, small)
	}
}
