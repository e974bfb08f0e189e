package sim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/iot-kernel/iot-kernel/internal/atomicfile"
)

// Environment variables the launcher reads.
const (
	// EnvHome overrides the folder that holds every virtual board's
	// folder (default $XDG_DATA_HOME/iot-kernel/sim).
	EnvHome = "IOT_SIM_HOME"
	// EnvNode names the node executable (default: node from PATH).
	EnvNode = "IOT_NODE"
	// EnvNodeModules names a node_modules folder holding the npm package
	// of the runtime.
	EnvNodeModules = "IOT_NODE_MODULES"
)

// RuntimePackage is the npm package (and the version the program is
// written for) whose two files the board runs on.
const RuntimePackage = "@micropython/micropython-webassembly-pyscript@1.27.0"

// runtimeFiles are the files of the runtime; the first is the module node
// loads, the second is loaded from beside it.
var runtimeFiles = []string{"micropython.mjs", "micropython.wasm"}

// MinNodeMajor is the oldest node the board program runs on.
const MinNodeMajor = 18

// Runtime is what runs a virtual board: node and MicroPython's
// WebAssembly port.
type Runtime struct {
	Node   string // the node executable
	Module string // path of micropython.mjs, micropython.wasm beside it
}

// ErrNoRuntime is wrapped by FindRuntime's errors for a missing node or
// MicroPython runtime (it also wraps fs.ErrNotExist or exec.ErrNotFound).
var ErrNoRuntime = errors.New("the virtual board cannot start")

// missing is an error for something not installed: it is ErrNoRuntime and
// the underlying not-found error.
type missing struct {
	msg   string
	cause error
}

func (e *missing) Error() string { return e.msg }

func (e *missing) Is(target error) bool { return target == ErrNoRuntime }

func (e *missing) Unwrap() error { return e.cause }

// FindRuntime finds node (IOT_NODE or PATH, version 18 or newer) and the
// MicroPython runtime: embedded in the binary (built with -tags
// simruntime), else where `make install` puts it
// ($XDG_DATA_HOME/iot-kernel/runtime), else in $IOT_NODE_MODULES, else in
// a node_modules found upward from the working directory.
func FindRuntime(ctx context.Context) (Runtime, error) {
	node, err := findNode(ctx)
	if err != nil {
		return Runtime{}, err
	}
	mod, err := findModule()
	if err != nil {
		return Runtime{}, err
	}
	return Runtime{Node: node, Module: mod}, nil
}

var nodeVersion = regexp.MustCompile(`^v(\d+)\.`)

// nodeProbeWait bounds node --version: a node that never answers (a
// wrapper script that hangs) fails the connect rather than hang it.
const nodeProbeWait = 10 * time.Second

func findNode(ctx context.Context) (string, error) {
	node := os.Getenv(EnvNode)
	if node == "" {
		p, err := exec.LookPath("node")
		if err != nil {
			return "", &missing{"the virtual board needs node (Node.js " + strconv.Itoa(MinNodeMajor) +
				" or newer), which is not on PATH: install it (e.g. apt install nodejs) or set " + EnvNode + " to its path", err}
		}
		node = p
	}
	pctx, cancel := context.WithTimeout(ctx, nodeProbeWait)
	defer cancel()
	cmd := exec.CommandContext(pctx, node, "--version")
	cmd.WaitDelay = time.Second // a child that keeps stdout open
	out, err := cmd.Output()
	if ctx.Err() != nil {
		return "", context.Cause(ctx) // stopped
	}
	if pctx.Err() != nil {
		return "", &missing{fmt.Sprintf("the virtual board needs node, and %s --version did not answer within %v: install Node.js %d or newer, or fix %s",
			node, nodeProbeWait, MinNodeMajor, EnvNode), exec.ErrNotFound}
	}
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return "", &missing{fmt.Sprintf("the virtual board needs node, and %s does not exist: install Node.js %d or newer, or fix %s",
				node, MinNodeMajor, EnvNode), err}
		}
		return "", &missing{fmt.Sprintf("the virtual board needs node, and %s --version failed (%v): install Node.js %d or newer",
			node, err, MinNodeMajor), exec.ErrNotFound}
	}
	v := strings.TrimSpace(string(out))
	m := nodeVersion.FindStringSubmatch(v)
	if m == nil {
		return "", &missing{fmt.Sprintf("the virtual board needs node, and %s says its version is %q: install Node.js %d or newer",
			node, v, MinNodeMajor), exec.ErrNotFound}
	}
	if major, _ := strconv.Atoi(m[1]); major < MinNodeMajor {
		return "", &missing{fmt.Sprintf("the virtual board needs Node.js %d or newer, and %s is %s: install a newer node or set %s",
			MinNodeMajor, node, v, EnvNode), exec.ErrNotFound}
	}
	return node, nil
}

// findModule returns the path of micropython.mjs.
func findModule() (string, error) {
	if files := embeddedRuntime(); files != nil {
		return writeEmbedded(files)
	}
	var tried []string
	has := func(dir string) bool {
		for _, f := range runtimeFiles {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				tried = append(tried, dir)
				return false
			}
		}
		return true
	}
	if dir, err := InstalledRuntimeDir(); err == nil && has(dir) {
		return filepath.Join(dir, runtimeFiles[0]), nil
	}
	pkg := filepath.FromSlash(strings.TrimSuffix(RuntimePackage, "@1.27.0"))
	if nm := os.Getenv(EnvNodeModules); nm != "" {
		if dir := filepath.Join(nm, pkg); has(dir) {
			return filepath.Join(dir, runtimeFiles[0]), nil
		}
	} else if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			if d := filepath.Join(dir, "node_modules", pkg); has(d) {
				return filepath.Join(d, runtimeFiles[0]), nil
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	where := strings.Join(tried, ", ")
	if len(tried) > 3 {
		where = strings.Join(tried[:2], ", ") + " and the node_modules above the working directory"
	}
	return "", &missing{fmt.Sprintf("the virtual board needs MicroPython's WebAssembly runtime (%s), not found in %s: "+
		"run `make install` in the iot-kernel source, or `npm install %s` and set %s to that node_modules",
		strings.Join(runtimeFiles, " and "), where, RuntimePackage, EnvNodeModules), fs.ErrNotExist}
}

// dataHome is $XDG_DATA_HOME, else ~/.local/share.
func dataHome() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home directory for the virtual boards' data: %w (set %s)", err, EnvHome)
	}
	return filepath.Join(home, ".local", "share"), nil
}

// InstalledRuntimeDir is where `make install` copies the runtime:
// $XDG_DATA_HOME/iot-kernel/runtime (default ~/.local/share/...).
func InstalledRuntimeDir() (string, error) {
	d, err := dataHome()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "iot-kernel", "runtime"), nil
}

// Home is the folder holding every virtual board's folder: $IOT_SIM_HOME,
// else $XDG_DATA_HOME/iot-kernel/sim (default ~/.local/share/...).
func Home() (string, error) {
	if d := os.Getenv(EnvHome); d != "" {
		return d, nil
	}
	d, err := dataHome()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "iot-kernel", "sim"), nil
}

// DataDir is the folder holding the files of the virtual board called
// name: Home()/name. It survives the kernel.
func DataDir(name string) (string, error) {
	h, err := Home()
	if err != nil {
		return "", err
	}
	return filepath.Join(h, name), nil
}

// writeEmbedded writes the runtime embedded in the binary to a cache
// folder named by its content, once: later boards reuse it.
func writeEmbedded(files map[string][]byte) (string, error) {
	h := sha256.New()
	for _, f := range runtimeFiles {
		h.Write(files[f])
	}
	sum := hex.EncodeToString(h.Sum(nil))[:16]
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "iot-kernel", "runtime-"+sum)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("the virtual board's runtime: %w", err)
	}
	for _, f := range runtimeFiles {
		dst := filepath.Join(dir, f)
		if st, err := os.Stat(dst); err == nil && st.Size() == int64(len(files[f])) {
			continue
		}
		// atomic: another kernel may be writing the same file
		if err := atomicfile.Write(dst, files[f], 0o600); err != nil {
			return "", fmt.Errorf("the virtual board's runtime: %w", err)
		}
	}
	return filepath.Join(dir, runtimeFiles[0]), nil
}
