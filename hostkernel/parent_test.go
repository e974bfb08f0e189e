package hostkernel

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/internal/testenv"
)

// The helper process: print what parentPython finds, for the test below.
func TestHelperParentPython(t *testing.T) {
	if os.Getenv("IOT_HELPER_PARENT_PYTHON") != "1" {
		t.Skip("runs only as the helper process of TestParentPythonRelative")
	}
	os.Stdout.WriteString("parent=" + parentPython() + "\n")
}

// A kernel started by `.venv/bin/python -m jupyter ...` (a Python invoked
// by a relative path) finds that Python, so %%host gets the venv's
// packages rather than whatever python3 is on PATH.
func TestParentPythonRelative(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		testenv.SkipOrFail(t, "sh not found: %v", err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "venv", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A "python" that is a shell: it starts the helper as its child (the
	// trailing `true` keeps the shell from exec'ing it in its place).
	if err := os.Symlink(sh, filepath.Join(dir, "venv", "bin", "python3")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "venv/bin/python3", "-c", `"$0" -test.run='^TestHelperParentPython$'; true`, os.Args[0])
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "IOT_HELPER_PARENT_PYTHON=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	want := "parent=" + filepath.Join(dir, "venv", "bin", "python3")
	if !strings.Contains(string(out), want+"\n") {
		t.Fatalf("helper printed %q, want a line %q", out, want)
	}
}
