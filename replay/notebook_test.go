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

// What is wrong in a notebook is said in plain words, naming the cell
// and field at fault, or the line and column of broken JSON.
func TestParseMessages(t *testing.T) {
	cell := func(meta, outputs, source string) string {
		return `{"cell_type": "code", "metadata": ` + meta + `, "outputs": ` + outputs + `, "source": ` + source + `}`
	}
	nb := func(cells ...string) string {
		return `{"cells": [` + strings.Join(cells, ", ") + `], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}`
	}
	ok := cell(`{}`, `[]`, `"a"`)
	for _, tc := range []struct{ nb, want string }{
		{nb(ok, cell(`{"iot": {"timeout": "10"}}`, `[]`, `"b"`)), "cell 2 (line 1): metadata.iot.timeout: want a number, not a string"},
		{nb(ok, cell(`{}`, `[]`, `["b", 1]`)), "cell 2 (line 1): source: want a string or a list of strings, not a list holding a number"},
		{nb(cell(`{"tags": "slow"}`, `[]`, `"a"`)), "cell 1 (line 1): metadata.tags: want a list of strings, not a string"},
		{nb(ok, ok, cell(`{}`, `[{"output_type": "stream", "name": "stdout", "text": "x"}, {"output_type": "error", "ename": "E", "evalue": "v", "traceback": "x"}]`, `"a"`)),
			"cell 3 (line 1), output 2: traceback: want a list of strings, not a string"},
		{nb(ok, cell(`{}`, `[{"output_type": "stream", "name": "stdout", "text": {"a": 1}}]`, `"a"`)), "cell 2 (line 1), output 1: text: want a string or a list of strings, not an object"},
		{"{\n \"cells\": [\n  " + ok + "\n ],\n \"metadata\": {}", "not a notebook: not valid JSON at line 5, column 15: unexpected end of JSON input"},
		{"{\n \"cells\": [\n  {\"cell_type\": \"code\",, \"source\": \"a\"}]}", "not a notebook: not valid JSON at line 3, column 24: invalid character ','"},
		{`[]`, "not a notebook: the file: want an object, not a list"},
		{"\xef\xbb\xbf" + nb(ok), "not a notebook: it starts with a UTF-8 byte order mark"},
		{`{"cells": {}, "nbformat": 4}`, "not a notebook: cells: want a list, not an object"},
	} {
		_, err := Parse("x.ipynb", []byte(tc.nb))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %q", tc.nb, err, tc.want)
		}
	}
}
