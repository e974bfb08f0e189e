package cells

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/iot-kernel/iot-kernel/internal/atomicfile"
)

// EnvStateDir names the environment variable that overrides where the
// kernel keeps its state (the last board of each notebook).
const EnvStateDir = "IOT_STATE_DIR"

// EnvSessionName is set by jupyter_server to the notebook's path for the
// kernels it starts; it keys the remembered board so two notebooks keep
// their own.
const EnvSessionName = "JPY_SESSION_NAME"

// DefaultStateDir returns $IOT_STATE_DIR, else $XDG_STATE_HOME/iot-kernel,
// else ~/.local/state/iot-kernel.
func DefaultStateDir() (string, error) {
	if d := os.Getenv(EnvStateDir); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "iot-kernel"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("state directory: %w (set %s)", err, EnvStateDir)
	}
	return filepath.Join(home, ".local", "state", "iot-kernel"), nil
}

// lastDevice remembers the board a notebook was connected to, in a small
// JSON file mapping session keys to board URLs, so that a restarted kernel
// can reattach it.
type lastDevice struct {
	path string // the JSON file
	key  string // the notebook's key ("" when the server gives none)
}

// load returns the URL remembered for this notebook.
func (l *lastDevice) load() (string, bool) {
	m, err := l.read()
	if err != nil {
		return "", false
	}
	url, ok := m[l.key]
	return url, ok && url != ""
}

func (l *lastDevice) read() (map[string]string, error) {
	data, err := os.ReadFile(l.path)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", l.path, err)
	}
	return m, nil
}

// store remembers url for this notebook; "" forgets it.
func (l *lastDevice) store(url string) error {
	m, err := l.read()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		m = nil // a damaged state file is rewritten, not fatal
	}
	if m == nil {
		m = map[string]string{}
	}
	if url == "" {
		if _, ok := m[l.key]; !ok {
			return nil
		}
		delete(m, l.key)
	} else {
		if m[l.key] == url {
			return nil
		}
		m[l.key] = url
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("last device: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(l.path), 0o700); err != nil {
		return fmt.Errorf("last device: %w", err)
	}
	// Several kernels may remember at once: each writes its own temporary.
	if err := atomicfile.Write(l.path, data, 0o600); err != nil {
		return fmt.Errorf("last device: %w", err)
	}
	return nil
}
