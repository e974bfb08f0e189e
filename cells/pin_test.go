package cells

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// With Config.Board, every board a notebook names is that one, under the
// notebook's name for it, and its virtual boards keep their files in
// SimHome: what iot-kernel replay runs notebooks with.
func TestPinnedBoard(t *testing.T) {
	needSim(t)
	_, cfg := newInterp(t)
	dir := t.TempDir()
	// The devices file gives esp32 (the default) a host map, and a url
	// that is not the pinned board.
	dev := "default: esp32\nesp32:\n  url: sim:esp32\n  hosts:\n    example.com: 127.0.0.1:9\n"
	if err := os.WriteFile(cfg.DevicesPath, []byte(dev), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Board, cfg.SimHome, cfg.NoReattach = "sim:pinned", filepath.Join(dir, "sim"), true
	it := New(cfg)
	shutdownAtEnd(t, it)

	// The first cell connects the pinned board as the default board.
	out, _ := mustRun(t, it, "import socket\nprint(socket.getaddrinfo('example.com', 80)[0][-1])")
	if got := out.Stdout(); !strings.HasPrefix(got, "Connected to esp32 @ sim:pinned\n") || !strings.Contains(got, "('127.0.0.1', 9)") {
		t.Errorf("first cell printed %q: want the pinned board named esp32, with esp32's host map", got)
	}
	// A port the notebook was written for is the pinned board too.
	out, _ = mustRun(t, it, "%connect /dev/ttyUSB0")
	if got := out.Stdout(); got != "Connected to ttyUSB0 @ sim:pinned\n" {
		t.Errorf("%%connect /dev/ttyUSB0 printed %q", got)
	}
	mustRun(t, it, "%%writefile :mark.txt\nhere")
	if _, err := os.Stat(filepath.Join(dir, "sim", "pinned", "mark.txt")); err != nil {
		t.Errorf("the board's file is not in SimHome: %v", err)
	}
}
