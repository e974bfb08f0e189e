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
	"syscall"
	"time"

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
// JSON file mapping session keys to board URLs and when each was stored,
// so that a restarted kernel can reattach it.
type lastDevice struct {
	path string // the JSON file
	key  string // the notebook's key ("" when the server gives none)
	now  func() time.Time
}

// remembered is one entry of the state file.
type remembered struct {
	URL  string `json:"url"`
	Used int64  `json:"used"` // when stored, Unix nanoseconds: the oldest go first
}

// UnmarshalJSON also reads the older form, a bare URL.
func (r *remembered) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		*r = remembered{}
		return json.Unmarshal(b, &r.URL)
	}
	type plain remembered
	return json.Unmarshal(b, (*plain)(r))
}

// stateLockWait bounds how long a store waits for another kernel's.
const stateLockWait = 2 * time.Second

// load returns the URL remembered for this notebook.
func (l *lastDevice) load() (string, bool) {
	m, err := l.read()
	if err != nil {
		return "", false
	}
	r, ok := m[l.key]
	return r.URL, ok && r.URL != ""
}

func (l *lastDevice) read() (map[string]remembered, error) {
	data, err := os.ReadFile(l.path)
	if err != nil {
		return nil, err
	}
	m := map[string]remembered{}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", l.path, err)
	}
	return m, nil
}

// store remembers url for this notebook; "" forgets it. Kernels store at
// once (papermill runs notebooks in parallel): the file is read and
// written under a lock, so that none loses another's entry.
func (l *lastDevice) store(url string) error {
	if err := os.MkdirAll(filepath.Dir(l.path), 0o700); err != nil {
		return fmt.Errorf("last device: %w", err)
	}
	unlock, err := lockFile(l.path+".lock", stateLockWait)
	if err != nil {
		return fmt.Errorf("last device: %w", err)
	}
	defer unlock()
	m, err := l.read()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		m = nil // a damaged state file is rewritten, not fatal
	}
	if m == nil {
		m = map[string]remembered{}
	}
	if url == "" {
		if _, ok := m[l.key]; !ok {
			return nil
		}
		delete(m, l.key)
	} else {
		now := time.Now
		if l.now != nil {
			now = l.now
		}
		m[l.key] = remembered{URL: url, Used: now().UnixNano()}
		dropConnKeys(m, l.key)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("last device: %w", err)
	}
	if err := atomicfile.Write(l.path, data, 0o600); err != nil {
		return fmt.Errorf("last device: %w", err)
	}
	return nil
}

// dropConnKeys removes the least recently stored connection-keyed entries
// other than keep past maxConnKeys, so the file stays small however many
// kernels ran, and the kernels running now keep theirs.
func dropConnKeys(m map[string]remembered, keep string) {
	var others []string
	for k := range m {
		if strings.HasPrefix(k, connKeyPrefix) && k != keep {
			others = append(others, k)
		}
	}
	sort.Slice(others, func(i, j int) bool {
		a, b := m[others[i]], m[others[j]]
		return a.Used < b.Used || a.Used == b.Used && others[i] < others[j]
	})
	for len(others) >= maxConnKeys {
		delete(m, others[0])
		others = others[1:]
	}
}

// lockFile takes an exclusive lock on path (created if need be), waiting
// at most wait for another process to release it.
func lockFile(path string, wait time.Duration) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("%s is held by another kernel for over %v", path, wait)
			}
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		time.Sleep(10 * time.Millisecond) // flock has no timeout of its own
	}
}
