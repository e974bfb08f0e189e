package hostkernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/iot-kernel/iot-kernel/kernelspec"
)

// ErrNoKernel is wrapped by Find when no python3 Jupyter kernel is installed.
var ErrNoKernel = errors.New("%%host needs a python3 Jupyter kernel (pip install ipykernel)")

// Spec says how to start a kernel: the parsed kernel.json of a kernelspec.
type Spec struct {
	// Argv is the command line; "{connection_file}" and "{resource_dir}"
	// are replaced when the kernel starts.
	Argv []string
	// Env is added to the environment of the kernel process.
	Env map[string]string
	// InterruptMode is "signal" (SIGINT to the process group, the default)
	// or "message" (interrupt_request on the control channel).
	InterruptMode string
	// ResourceDir is the directory holding kernel.json ("" for a spec made
	// up from a python interpreter).
	ResourceDir string
}

// DataDirs returns the Jupyter data directories in jupyter_client's order of
// precedence: JUPYTER_PATH entries (read through getenv), the user
// directory user, the active environment's directory env ("" for none of
// either), then the system directories.
func DataDirs(getenv func(string) string, user, env string) []string {
	var dirs []string
	for _, d := range filepath.SplitList(getenv("JUPYTER_PATH")) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	if user != "" {
		dirs = append(dirs, user)
	}
	if env != "" {
		dirs = append(dirs, env)
	}
	return append(dirs, "/usr/local/share/jupyter", "/usr/share/jupyter")
}

// Find locates the python3 kernel the way the user's Jupyter would: the
// python3 kernelspec in the Jupyter data directories of the environment
// (with the prefix of the Python that launched us, as jupyter_client adds
// its own sys.prefix), else ipykernel in that Python, else in python3 on
// PATH. The error wraps ErrNoKernel when there is none.
func Find(ctx context.Context) (*Spec, error) {
	// The user directory by the same rule `iot-kernel install --user` writes to.
	user, err := kernelspec.DataDir(kernelspec.Options{Scope: kernelspec.ScopeUser})
	if err != nil {
		user = "" // no home directory: the other places still count
	}
	// And the active virtualenv or conda env, by `install --sys-prefix`'s rule.
	env, err := kernelspec.DataDir(kernelspec.Options{Scope: kernelspec.ScopeSysPrefix})
	if err != nil {
		env = "" // none active
	}
	dirs := DataDirs(os.Getenv, user, env)
	var pythons []string
	if py := parentPython(); py != "" {
		prefix := filepath.Join(filepath.Dir(filepath.Dir(py)), "share", "jupyter")
		// Before the two system directories, where sys.prefix goes.
		dirs = append(dirs[:len(dirs)-2], append([]string{prefix}, dirs[len(dirs)-2:]...)...)
		pythons = append(pythons, py)
	}
	return FindIn(ctx, dirs, append(pythons, "python3")...)
}

// parentPython returns the interpreter our parent process runs when it is
// a Python (Jupyter launching this kernel), as it was invoked: a venv's
// bin/python, not the system binary the link resolves to.
func parentPython() string {
	ppid := strconv.Itoa(os.Getppid())
	b, err := os.ReadFile(filepath.Join("/proc", ppid, "cmdline"))
	if err != nil {
		return ""
	}
	argv0, _, _ := strings.Cut(string(b), "\x00")
	cwd := func() (string, error) { return os.Readlink(filepath.Join("/proc", ppid, "cwd")) }
	return pythonPath(argv0, cwd, exec.LookPath)
}

// pythonPath makes argv0, a parent's argv[0], the path of its Python: as
// given, relative to the parent's folder (cwd), or found on PATH (which we
// have from the parent), as a shell would have found it. "" when it is
// not a Python.
func pythonPath(argv0 string, cwd func() (string, error), lookPath func(string) (string, error)) string {
	if !strings.HasPrefix(filepath.Base(argv0), "python") {
		return ""
	}
	if !strings.Contains(argv0, "/") {
		// `python3 -m jupyter lab` with a venv's bin first on PATH, not
		// activated: that venv's Python, not the first kernelspec found.
		p, err := lookPath(argv0)
		if err != nil {
			return ""
		}
		return p
	}
	if !filepath.IsAbs(argv0) {
		// `.venv/bin/python -m jupyter lab`: relative to the parent's folder.
		dir, err := cwd()
		if err != nil {
			return ""
		}
		argv0 = filepath.Join(dir, argv0)
	}
	return argv0
}

// FindIn looks for kernels/python3/kernel.json in each of dirs in order;
// failing that, it makes a spec that runs ipykernel_launcher with the
// first of pythons that can import ipykernel.
func FindIn(ctx context.Context, dirs []string, pythons ...string) (*Spec, error) {
	var problems []string
	for _, d := range dirs {
		path := filepath.Join(d, "kernels", "python3", "kernel.json")
		spec, err := readSpec(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			// A broken spec should not hide a good one further down the
			// path, but it is worth naming if nothing else works.
			problems = append(problems, err.Error())
			continue
		}
		return spec, nil
	}
	for _, py := range pythons {
		spec, err := SpecForPython(ctx, py)
		if err == nil {
			return spec, nil
		}
		problems = append(problems, err.Error())
	}
	if len(problems) == 0 {
		return nil, ErrNoKernel
	}
	return nil, fmt.Errorf("%w; %s", ErrNoKernel, strings.Join(problems, "; "))
}

// SpecForPython returns a spec that runs "python -m ipykernel_launcher",
// after checking that python can import ipykernel.
func SpecForPython(ctx context.Context, python string) (*Spec, error) {
	exe, err := exec.LookPath(python)
	if err != nil {
		return nil, fmt.Errorf("no %s: %w", python, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, exe, "-c", "import ipykernel").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s cannot import ipykernel: %s", exe, lastLine(string(out), err))
	}
	return &Spec{Argv: []string{exe, "-m", "ipykernel_launcher", "-f", "{connection_file}"}}, nil
}

// readSpec parses one kernel.json.
func readSpec(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var kj kernelspec.Spec // the same file format iot-kernel install writes
	if err := json.Unmarshal(b, &kj); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(kj.Argv) == 0 {
		return nil, fmt.Errorf("%s: empty argv", path)
	}
	dir := filepath.Dir(path)
	spec := &Spec{
		Argv:          kj.Argv,
		Env:           kj.Env,
		InterruptMode: kj.InterruptMode,
		ResourceDir:   dir,
	}
	spec.Argv[0] = resolvePython(spec.Argv[0], dir)
	return spec, nil
}

// resolvePython finds the interpreter a kernelspec means by a bare "python":
// jupyter_client substitutes its own sys.executable, so the closest
// equivalent is the interpreter of the prefix the spec is installed in
// (<prefix>/share/jupyter/kernels/python3 → <prefix>/bin/python).
func resolvePython(argv0, specDir string) string {
	if strings.ContainsRune(argv0, filepath.Separator) || !strings.HasPrefix(argv0, "python") {
		return argv0
	}
	prefix := filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(specDir))))
	if filepath.Base(filepath.Dir(filepath.Dir(specDir))) == "jupyter" {
		cand := filepath.Join(prefix, "bin", argv0)
		if st, err := os.Stat(cand); err == nil && !st.IsDir() {
			return cand
		}
	}
	return argv0
}

// lastLine gives the last non-empty line of a command's output, or err.
func lastLine(out string, err error) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return l
	}
	return err.Error()
}
