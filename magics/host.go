package magics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/iot-kernel/iot-kernel/hostkernel"
	"github.com/iot-kernel/iot-kernel/kernel"
)

// Host is the host computer as the magics see it: a working directory of
// the notebook's own (so %cd does not move the kernel process), shared by
// !cmd, %%bash and %%host, and the python3 kernel behind %%host, started
// on first use. Make it with NewHost and Close it when the kernel stops.
type Host struct {
	Logger *slog.Logger
	// FindKernel locates the python3 kernel for %%host; nil means
	// hostkernel.Find (the Jupyter data directories, then python3 on PATH).
	FindKernel func(ctx context.Context) (*hostkernel.Spec, error)

	mu      sync.Mutex
	dir     string
	prevDir string // for %cd -

	ksem      chan struct{} // held while the host kernel is looked at or started
	kernel    *hostkernel.Client
	kernelDir string // the directory the host kernel was last moved to
	closed    bool
}

// NewHost returns a Host whose working directory starts at dir.
func NewHost(dir string, logger *slog.Logger) *Host {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Host{Logger: logger, dir: dir, ksem: make(chan struct{}, 1)}
}

// Dir returns the notebook's host working directory.
func (h *Host) Dir() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dir
}

// PrevDir returns the working directory before the last Chdir ("" if none).
func (h *Host) PrevDir() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.prevDir
}

// Abs resolves a host path against the working directory, expanding a
// leading ~ as a shell would.
func (h *Host) Abs(path string) string {
	path = expandHome(path)
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	return filepath.Join(h.Dir(), path)
}

// Chdir changes the working directory; path may be relative to it.
func (h *Host) Chdir(path string) error {
	abs := h.Abs(path)
	st, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("%%cd: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%%cd: %s is not a directory", abs)
	}
	h.mu.Lock()
	if abs != h.dir {
		h.prevDir = h.dir
	}
	h.dir = abs
	h.mu.Unlock()
	return nil
}

// checkWorkDir reports a working directory that is gone (removed, or
// replaced by a file since %cd chose it), saying what to do.
func checkWorkDir(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("the working directory %s no longer exists: %%cd to another", dir)
	case err != nil:
		return fmt.Errorf("the working directory %s: %w (%%cd to another)", dir, err)
	case !st.IsDir():
		return fmt.Errorf("the working directory %s is no longer a directory: %%cd to another", dir)
	}
	return nil
}

// errHostClosed is returned by Kernel after Close.
var errHostClosed = errors.New("the kernel is shutting down")

// Kernel returns the host python3 kernel, starting it on first use, in the
// working directory. A kernel that has died since is replaced by a new one,
// and out is told that its variables are gone. The kernel is moved to the
// current working directory if %cd changed it since the last call.
func (h *Host) Kernel(ctx context.Context, out kernel.Output) (*hostkernel.Client, error) {
	select {
	case h.ksem <- struct{}{}:
		defer func() { <-h.ksem }()
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return nil, errHostClosed
	}
	note := ""
	if h.kernel != nil {
		select {
		case <-h.kernel.Done():
			note = fmt.Sprintf("The host python kernel had stopped (%s); starting a new one: its variables are gone.\n", h.kernel.Exited())
			h.kernel.Close()
			h.kernel = nil
		default:
		}
	}
	if h.kernel == nil {
		find := h.FindKernel
		if find == nil {
			find = hostkernel.Find
		}
		spec, err := find(ctx)
		if err != nil {
			return nil, err
		}
		dir := h.Dir()
		if err := checkWorkDir(dir); err != nil {
			return nil, fmt.Errorf("start the host kernel: %w", err)
		}
		c, err := hostkernel.Start(ctx, spec, hostkernel.Options{Dir: dir, Logger: h.Logger.With("host", "kernel")})
		if err != nil {
			return nil, err
		}
		if note != "" {
			out.Stream("stderr", note)
		}
		h.kernel, h.kernelDir = c, dir
	}
	if dir := h.Dir(); dir != h.kernelDir {
		if err := h.kernelChdir(ctx, dir); err != nil {
			return nil, err
		}
	}
	return h.kernel, nil
}

// kernelChdir moves the host kernel to dir, so that relative paths in
// %%host cells mean what they mean to !cmd after a %cd.
func (h *Host) kernelChdir(ctx context.Context, dir string) error {
	if err := checkWorkDir(dir); err != nil {
		return fmt.Errorf("move the host kernel: %w", err)
	}
	q, err := json.Marshal(dir) // a JSON string is a valid Python str literal
	if err != nil {
		return err
	}
	var capt captureOutput
	_, err = h.kernel.Run(ctx, hostkernel.Request{Code: "__import__('os').chdir(" + string(q) + ")"}, &capt)
	var ee *kernel.ExecError
	if errors.As(err, &ee) {
		// The exception is of the kernel's own snippet, not of the cell:
		// passed on as an ExecError it would show as the cell's traceback.
		return fmt.Errorf("move the host kernel to %s: %s: %s (%%cd to another directory)", dir, ee.Name, ee.Value)
	}
	if err != nil {
		return fmt.Errorf("move the host kernel to %s: %w", dir, err)
	}
	h.kernelDir = dir
	return nil
}

// Close stops the host kernel, if one was started. Later calls to Kernel
// fail. It is safe to call more than once.
func (h *Host) Close() error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.ksem <- struct{}{}
	defer func() { <-h.ksem }()
	if h.kernel == nil {
		return nil
	}
	err := h.kernel.Close()
	h.kernel = nil
	return err
}
