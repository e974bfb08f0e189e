package magics

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/iot-kernel/iot-kernel/testboard"
)

// bigText is n bytes of numbered lines, some with a non-ASCII letter.
func bigText(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "line %d: é %s\n", i, strings.Repeat("x", i%50))
	}
	return b.String()[:n]
}

// checkCatHead checks %cat's output for a text file too large to show:
// whole lines from its start, then how much more there is.
func checkCatHead(t *testing.T, out, content, label string) {
	t.Helper()
	shown, note, ok := strings.Cut(out, "[%cat showed ")
	if !ok {
		t.Fatalf("no note of what is left out; output ends %q", out[max(0, len(out)-200):])
	}
	if !strings.HasPrefix(content, shown) || !strings.HasSuffix(shown, "\n") || len(shown) > catTextMax || len(shown) < catTextMax/2 {
		t.Errorf("%%cat showed %d bytes, not whole lines from the start of the file", len(shown))
	}
	want := fmt.Sprintf("%d of %d bytes, %d more (%s in all); copy it all to the host with %%cp %s HOST_PATH]\n",
		len(shown), len(content), len(content)-len(shown), formatSize(int64(len(content))), label)
	if note != want {
		t.Errorf("note = %q, want %q", note, want)
	}
}

func TestCatLargeFilesReadOnlyWhatIsShown(t *testing.T) {
	f := newFileEnv(t)
	content := bigText(200_000)
	f.board.put("log.txt", content)
	checkCatHead(t, f.must("cat :log.txt"), content, ":log.txt")
	for _, n := range f.board.headReads {
		if n > catTextMax {
			t.Errorf("%%cat asked the board for %d bytes, more than it shows", n)
		}
	}

	f.board.headReads = nil
	bin := string(allBytes(1 << 20))
	f.board.put("fw.bin", bin)
	out := f.must("cat fw.bin")
	if !strings.HasPrefix(out, ":fw.bin is binary (1.0 MB); copy it to the host with %cp :fw.bin HOST_PATH\nfirst 256 bytes:\n") ||
		!strings.HasSuffix(out, hex.Dump([]byte(bin[:256]))) {
		t.Errorf("binary preview:\n%s", out)
	}
	if fmt.Sprint(f.board.headReads) != "[256]" {
		t.Errorf("reads for a binary preview: %v, want only the 256 bytes shown", f.board.headReads)
	}

	// a file just over the limit that ends in the middle of a letter
	// is still text
	f.board.put("edge.txt", strings.Repeat("é", catTextMax))
	if out := f.must("cat edge.txt"); !strings.Contains(out, "[%cat showed ") || strings.Contains(out, "binary") {
		t.Errorf("text cut inside a letter: %q", out[len(out)-120:])
	}
}

// On real MicroPython the head read stops where %cat stops showing.
func TestCatLargeFileOnBoard(t *testing.T) {
	r := startRealEnv(t, testboard.Wasm)
	content := bigText(100_000)
	r.writeHost("big.txt", []byte(content))
	r.writeHost("big.bin", allBytes(5000))
	r.must("cp big.txt big.bin :")
	checkCatHead(t, r.must("cat :big.txt"), content, ":big.txt")
	out := r.must("cat big.bin")
	if !strings.HasPrefix(out, ":big.bin is binary (4.9 KB)") || !strings.HasSuffix(out, hex.Dump(allBytes(5000)[:256])) {
		t.Errorf("binary preview:\n%s", out)
	}
}
