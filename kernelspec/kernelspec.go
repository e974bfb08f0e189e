// Package kernelspec installs and removes the iot-kernel kernel spec: the
// kernel.json and logos that Jupyter front ends read to find and start the
// kernel.
//
// The destination follows the rules of `jupyter kernelspec install`:
//
//   - user scope: $JUPYTER_DATA_DIR if set, else the per-user data dir
//     ($XDG_DATA_HOME/jupyter or ~/.local/share/jupyter on Linux,
//     ~/Library/Jupyter on macOS, %APPDATA%\jupyter on Windows);
//   - sys-prefix scope: <prefix of the active Python environment>/share/jupyter,
//     where the environment is $VIRTUAL_ENV, else $CONDA_PREFIX;
//   - prefix scope: <Prefix>/share/jupyter.
//
// The spec itself lives in <data dir>/kernels/<name>/.
package kernelspec

import (
	_ "embed" // for the logos
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
)

//go:generate go run ./internal/genlogo -dir .

//go:embed logo-32x32.png
var logo32 []byte

//go:embed logo-64x64.png
var logo64 []byte

// Defaults for Options.
const (
	DefaultName        = "iot-micropython"
	DefaultDisplayName = "IoT MicroPython"
)

// Scope says which Jupyter data directory a spec goes to.
type Scope int

// The scopes, as the flags of `jupyter kernelspec install` name them.
const (
	// ScopeUser is the per-user data dir (--user), the default.
	ScopeUser Scope = iota
	// ScopeSysPrefix is the active virtualenv or conda env (--sys-prefix).
	ScopeSysPrefix
	// ScopePrefix is Options.Prefix (--prefix DIR).
	ScopePrefix
)

func (s Scope) String() string {
	switch s {
	case ScopeUser:
		return "user"
	case ScopeSysPrefix:
		return "sys-prefix"
	case ScopePrefix:
		return "prefix"
	}
	return fmt.Sprintf("Scope(%d)", int(s))
}

// Options says where and how to install the spec.
type Options struct {
	Scope       Scope
	Prefix      string // for ScopePrefix
	Name        string // kernel name (directory name); DefaultName if empty
	DisplayName string // name shown in menus; DefaultDisplayName if empty
	// Binary is the kernel executable that kernel.json starts. A relative
	// path is made absolute; empty means the running executable.
	Binary string
	// Metadata is copied into kernel.json's "metadata"; may be nil.
	Metadata map[string]any
	// Force lets Install replace, and Uninstall remove, a spec of that
	// name that is not iot-kernel's.
	Force bool
}

// Spec is the content of kernel.json.
type Spec struct {
	Argv          []string       `json:"argv"`
	DisplayName   string         `json:"display_name"`
	Language      string         `json:"language"`
	InterruptMode string         `json:"interrupt_mode"`
	Metadata      map[string]any `json:"metadata,omitempty"`
	// Env is added to the kernel's environment (read from other kernels'
	// specs; iot-kernel's own has none).
	Env map[string]string `json:"env,omitempty"`
}

// namePattern is jupyter_client's rule for kernel names.
var namePattern = regexp.MustCompile(`^[a-z0-9._-]+$`)

// name returns the kernel name the options ask for, checked and lowercased
// as jupyter_client does.
func (o Options) name() (string, error) {
	n := o.Name
	if n == "" {
		n = DefaultName
	}
	n = strings.ToLower(n)
	if !namePattern.MatchString(n) {
		return "", fmt.Errorf("invalid kernel name %q: use only ASCII letters, digits, '.', '_' and '-'", o.Name)
	}
	return n, nil
}

// DataDir returns the Jupyter data directory for the options' scope (the
// directory that holds kernels/).
func DataDir(opt Options) (string, error) {
	switch opt.Scope {
	case ScopeUser:
		return userDataDir()
	case ScopeSysPrefix:
		for _, env := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
			if p := os.Getenv(env); p != "" {
				return filepath.Join(p, "share", "jupyter"), nil
			}
		}
		return "", errors.New("--sys-prefix needs an active Python environment (VIRTUAL_ENV or CONDA_PREFIX is not set): activate the environment Jupyter runs from, or use --prefix DIR or --user")
	case ScopePrefix:
		if opt.Prefix == "" {
			return "", errors.New("prefix scope needs a prefix directory")
		}
		p, err := filepath.Abs(opt.Prefix)
		if err != nil {
			return "", fmt.Errorf("prefix %q: %w", opt.Prefix, err)
		}
		return filepath.Join(p, "share", "jupyter"), nil
	}
	return "", fmt.Errorf("unknown scope %v", opt.Scope)
}

// userDataDir mirrors jupyter_core.paths.jupyter_data_dir.
func userDataDir() (string, error) {
	if d := os.Getenv("JUPYTER_DATA_DIR"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil && runtime.GOOS != "windows" {
		return "", fmt.Errorf("find the user's Jupyter data dir: %w", err)
	}
	switch runtime.GOOS {
	case "darwin":
		return filepath.Join(home, "Library", "Jupyter"), nil
	case "windows":
		if a := os.Getenv("APPDATA"); a != "" {
			return filepath.Join(a, "jupyter"), nil
		}
		if err != nil {
			return "", fmt.Errorf("find the user's Jupyter data dir: %w", err)
		}
		return filepath.Join(home, ".jupyter", "data"), nil
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "jupyter"), nil
	}
	return filepath.Join(home, ".local", "share", "jupyter"), nil
}

// Dir returns the directory the spec named by the options lives in.
func Dir(opt Options) (string, error) {
	name, err := opt.name()
	if err != nil {
		return "", err
	}
	data, err := DataDir(opt)
	if err != nil {
		return "", err
	}
	return filepath.Join(data, "kernels", name), nil
}

// Build returns the kernel.json content for the options.
func Build(opt Options) (Spec, error) {
	bin := opt.Binary
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return Spec{}, fmt.Errorf("find the kernel binary: %w", err)
		}
		bin = exe
	}
	bin, err := filepath.Abs(bin)
	if err != nil {
		return Spec{}, fmt.Errorf("kernel binary %q: %w", opt.Binary, err)
	}
	display := opt.DisplayName
	if display == "" {
		display = DefaultDisplayName
	}
	return Spec{
		Argv:          []string{bin, "run", "-f", "{connection_file}"},
		DisplayName:   display,
		Language:      "python",
		InterruptMode: "message",
		Metadata:      opt.Metadata,
	}, nil
}

// ErrNotOurs is wrapped by the error of Install and Uninstall for a spec
// directory that holds another kernel's spec, or no spec.
var ErrNotOurs = errors.New("not iot-kernel's")

// checkOurs returns nil when dir is missing or holds a spec Build wrote
// (argv: an executable, then run -f {connection_file}; what the binary is
// called varies). Anything else is another kernel's, or not a spec at all.
func checkOurs(dir, action string) error {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "kernel.json"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s holds no kernel.json, %w: choose another --name, or add --force to %s it", dir, ErrNotOurs, action)
		}
		return fmt.Errorf("read %s: %w", filepath.Join(dir, "kernel.json"), err)
	}
	var spec Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("%s is not JSON (%v), %w: choose another --name, or add --force to %s it", filepath.Join(dir, "kernel.json"), err, ErrNotOurs, action)
	}
	a := spec.Argv
	if len(a) == 4 && a[1] == "run" && a[2] == "-f" && a[3] == "{connection_file}" {
		return nil
	}
	if len(a) == 0 {
		return fmt.Errorf("%s starts no program (no argv), %w: choose another --name, or add --force to %s it", filepath.Join(dir, "kernel.json"), ErrNotOurs, action)
	}
	return fmt.Errorf("%s is another kernel's spec (%q, which starts %s), %w: choose another --name, or add --force to %s it", dir, spec.DisplayName, strings.Join(a, " "), ErrNotOurs, action)
}

// Install writes the kernel spec and returns the directory it wrote. An
// existing iot-kernel spec of the same name in the same place is
// replaced, as `jupyter kernelspec install` does; another kernel's spec
// only with opt.Force (else the error wraps ErrNotOurs).
func Install(opt Options) (dir string, err error) {
	dir, err = Dir(opt)
	if err != nil {
		return "", err
	}
	if !opt.Force {
		if err := checkOurs(dir, "replace"); err != nil {
			return "", err
		}
	}
	spec, err := Build(opt)
	if err != nil {
		return "", err
	}
	js, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode kernel.json: %w", err)
	}
	js = append(js, '\n')

	// Write the new spec beside the old one and swap them, so a failed
	// install never leaves a half-written spec behind.
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", parent, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp")
	if err != nil {
		return "", fmt.Errorf("install kernel spec: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("install kernel spec: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"kernel.json", js},
		{"logo-32x32.png", logo32},
		{"logo-64x64.png", logo64},
	} {
		if err := os.WriteFile(filepath.Join(tmp, f.name), f.data, 0o644); err != nil {
			return "", fmt.Errorf("install kernel spec: %w", err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("replace existing kernel spec: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("install kernel spec: %w", err)
	}
	return dir, nil
}

// Uninstall removes the spec called opt.Name (DefaultName if empty) from
// the options' scope and returns the directory it removed. It fails, with
// an error matching fs.ErrNotExist, when there is no kernel spec there,
// and with one matching ErrNotOurs when the spec is another kernel's
// (unless opt.Force).
func Uninstall(opt Options) (dir string, err error) {
	dir, err = Dir(opt)
	if err != nil {
		return "", err
	}
	// Only remove a directory that is a kernel spec, so a wrong name or
	// prefix never deletes something else.
	if _, err := os.Stat(filepath.Join(dir, "kernel.json")); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("no kernel spec %q in %s: %w", filepath.Base(dir), filepath.Dir(dir), fs.ErrNotExist)
		}
		return "", fmt.Errorf("uninstall kernel spec: %w", err)
	}
	if !opt.Force {
		if err := checkOurs(dir, "remove"); err != nil {
			return "", err
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("uninstall kernel spec: %w", err)
	}
	return dir, nil
}
