package cells

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/iot-kernel/iot-kernel/internal/atomicfile"
)

// EnvStateDir names the environment variable that overrides where the
// kernel keeps its state (the last board of each notebook).
const EnvStateDir = "IOT_STATE_DIR"

// EnvSessionName is set by jupyter_server to the notebook's path for the
// kernels it starts; it keys the remembered board so two notebooks keep
// their own.
const EnvSessionName = "JPY_SESSION_NAME"

// SessionKeyFor keys the board a kernel remembers: the notebook's path
// when the server names it (session), else the kernel's connection key,
// which a restart keeps and a new kernel does not (jupyter console,
// nbclient, papermill give no session name: with one key for all, a new
// kernel connected to the board some other notebook used last). Only a
// hash of the connection key is kept.
func SessionKeyFor(session, connKey string) string {
	if session != "" || connKey == "" {
		return session
	}
	sum := sha256.Sum256([]byte("iot-kernel last device\x00" + connKey))
	return connKeyPrefix + hex.EncodeToString(sum[:8])
}

// connKeyPrefix starts the keys made from connection keys; at most
// maxConnKeys of them are kept (see lastDevice.store).
const connKeyPrefix = "kernel:"

// maxConnKeys bounds the connection-keyed entries of the state file: each
// new kernel adds one.
const maxConnKeys = 16

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
		dropConnKeys(m, l.key)
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

// dropConnKeys removes connection-keyed entries other than keep past
// maxConnKeys, so the file stays small however many kernels ran.
func dropConnKeys(m map[string]string, keep string) {
	var others []string
	for k := range m {
		if strings.HasPrefix(k, connKeyPrefix) && k != keep {
			others = append(others, k)
		}
	}
	sort.Strings(others) // any order will do; this one is stable
	for len(others) >= maxConnKeys {
		delete(m, others[0])
		others = others[1:]
	}
}
