package magics

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
)

// Host is the host computer as the magics see it: a working directory of
// the notebook's own (so %cd does not move the kernel process) and, later,
// the python3 kernel behind %%host.
type Host struct {
	Logger *slog.Logger

	mu  sync.Mutex
	dir string
}

// NewHost returns a Host whose working directory starts at dir.
func NewHost(dir string, logger *slog.Logger) *Host {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Host{Logger: logger, dir: dir}
}

// Dir returns the notebook's host working directory.
func (h *Host) Dir() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dir
}

// Abs resolves a host path against the working directory.
func (h *Host) Abs(path string) string {
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
		return fmt.Errorf("cd: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("cd: %s is not a directory", abs)
	}
	h.mu.Lock()
	h.dir = abs
	h.mu.Unlock()
	return nil
}
