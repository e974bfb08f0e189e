package hostkernel

import (
	"os/exec"
	"testing"
)

// The parent's Python is found as the shell found it: on PATH when argv[0]
// has no folder (python3 -m jupyter lab, with a venv's bin first on PATH),
// relative to the parent's folder, or as given.
func TestPythonPath(t *testing.T) {
	cwd := func() (string, error) { return "/home/u/proj", nil }
	look := func(name string) (string, error) {
		if name == "python3" {
			return "/home/u/proj/.venv/bin/python3", nil
		}
		return "", exec.ErrNotFound
	}
	for _, c := range []struct{ argv0, want string }{
		{"python3", "/home/u/proj/.venv/bin/python3"},
		{"python3.11", ""}, // not on PATH
		{".venv/bin/python", "/home/u/proj/.venv/bin/python"},
		{"/usr/bin/python3", "/usr/bin/python3"},
		{"/usr/bin/node", ""},
		{"jupyter-lab", ""},
	} {
		if got := pythonPath(c.argv0, cwd, look); got != c.want {
			t.Errorf("pythonPath(%q) = %q, want %q", c.argv0, got, c.want)
		}
	}
}
