package magics

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
	"github.com/iot-kernel/iot-kernel/transport"
)

// noBoards is a Boards with nothing connected.
type noBoards struct{}

func (noBoards) Current(context.Context) (*transport.Board, error) {
	return nil, fmt.Errorf("current board: %w", ErrNoBoard)
}
func (noBoards) Connect(context.Context, string) (*transport.Board, error) {
	return nil, errors.New("not in tests")
}
func (noBoards) Disconnect(context.Context) (Disconnected, error) { return Disconnected{}, nil }
func (noBoards) RunCode(context.Context, *transport.Board, string, CodeAt, kernel.Output) (kernel.MIMEBundle, error) {
	return nil, ErrNoBoard
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// memBoard is an in-memory boardFS behaving like the engine promises:
// missing paths wrap fs.ErrNotExist, a full filesystem gives ENOSPC and
// leaves the old file, writes report progress in chunks.
type memBoard struct {
	mu       sync.Mutex
	files    map[string][]byte
	dirs     map[string]bool
	capacity int  // total bytes of file data allowed; 0: unlimited
	noMkdir  bool // like the micro:bit: flat filesystem
	noSpace  error
	chunk    int      // progress chunk size
	onChunk  func()   // called after each chunk (tests advance a clock)
	writes   []string // paths written, in order
	hashes   int      // Sha256 calls
	removed  []string // paths removed
	// headReads are the byte limits of ReadFileHead calls
	headReads []int64
	failNext  map[string]error
	// gone, when set, is what Stat answers: a board that stopped
	// answering; stats counts the calls.
	gone  error
	stats int
}

func newMemBoard() *memBoard {
	return &memBoard{
		files:   map[string][]byte{},
		dirs:    map[string]bool{},
		chunk:   256,
		noSpace: oserr("write", "x", 28, "[Errno 28] ENOSPC"),
	}
}

// oserr is an OSError as the engine reports it.
func oserr(op, p string, errno int, value string) error {
	return &fs.PathError{Op: op, Path: p, Err: &transport.OSError{Errno: errno, Board: &transport.BoardError{Name: "OSError", Value: value}}}
}

// clean maps "/a/b", "a/b/" and "a/b" to "a/b", and the root to "".
func clean(p string) string {
	p = strings.Trim(path.Clean("/"+p), "/")
	return p
}

func (m *memBoard) parentOK(p string) bool {
	dir := path.Dir(p)
	return dir == "." || m.dirs[dir]
}

func (m *memBoard) ListDir(_ context.Context, p string) ([]transport.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p = clean(p)
	if p != "" && !m.dirs[p] {
		if _, ok := m.files[p]; ok {
			return nil, &transport.BoardError{Name: "OSError", Value: "[Errno 20] ENOTDIR"}
		}
		return nil, fmt.Errorf("listdir %s: %w", p, fs.ErrNotExist)
	}
	var out []transport.FileInfo
	add := func(name string, size int64, dir bool) {
		rest, ok := strings.CutPrefix(name, p+"/")
		if p == "" {
			rest, ok = name, true
		}
		if ok && !strings.Contains(rest, "/") {
			out = append(out, transport.FileInfo{Name: rest, Path: name, Size: size, IsDir: dir})
		}
	}
	for n, d := range m.files {
		add(n, int64(len(d)), false)
	}
	for n := range m.dirs {
		add(n, 0, true)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name > out[j].Name }) // the magics must sort
	return out, nil
}

func (m *memBoard) Stat(_ context.Context, p string) (transport.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats++
	if m.gone != nil {
		return transport.FileInfo{}, m.gone
	}
	p = clean(p)
	if p == "" || m.dirs[p] {
		return transport.FileInfo{Name: path.Base(p), Path: p, IsDir: true}, nil
	}
	if d, ok := m.files[p]; ok {
		return transport.FileInfo{Name: path.Base(p), Path: p, Size: int64(len(d))}, nil
	}
	return transport.FileInfo{}, fmt.Errorf("stat %s: %w", p, fs.ErrNotExist)
}

func (m *memBoard) progress(n int, prog transport.Progress) {
	for done := 0; ; done += m.chunk {
		done = min(done, n)
		if prog != nil {
			prog(int64(done), int64(n))
		}
		if m.onChunk != nil {
			m.onChunk()
		}
		if done >= n {
			return
		}
	}
}

func (m *memBoard) ReadFile(_ context.Context, p string, prog transport.Progress) ([]byte, error) {
	m.mu.Lock()
	p = clean(p)
	d, ok := m.files[p]
	m.mu.Unlock()
	if !ok {
		return nil, oserr("read", p, 2, "[Errno 2] ENOENT")
	}
	m.progress(len(d), prog)
	return append([]byte(nil), d...), nil
}

func (m *memBoard) ReadFileHead(_ context.Context, p string, n int64, prog transport.Progress) ([]byte, int64, error) {
	m.mu.Lock()
	p = clean(p)
	d, ok := m.files[p]
	m.headReads = append(m.headReads, n)
	m.mu.Unlock()
	if !ok {
		return nil, 0, oserr("read", p, 2, "[Errno 2] ENOENT")
	}
	size := int64(len(d))
	d = d[:min(int64(len(d)), n)]
	m.progress(len(d), prog)
	return append([]byte(nil), d...), size, nil
}

func (m *memBoard) HasFolders(context.Context) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.noMkdir, nil
}

func (m *memBoard) used() int {
	n := 0
	for _, d := range m.files {
		n += len(d)
	}
	return n
}

func (m *memBoard) WriteFile(_ context.Context, p string, data []byte, prog transport.Progress) error {
	m.mu.Lock()
	p = clean(p)
	if err := m.failNext[p]; err != nil {
		delete(m.failNext, p)
		m.mu.Unlock()
		return err
	}
	if !m.parentOK(p) || m.dirs[p] {
		m.mu.Unlock()
		return oserr("write", p, 2, "[Errno 2] ENOENT")
	}
	// The engine writes a temporary file then renames it, so the old
	// file counts until the end.
	full := m.capacity > 0 && m.used()+len(data) > m.capacity
	m.mu.Unlock()
	m.progress(len(data), prog)
	if full {
		return m.noSpace
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[p] = append([]byte(nil), data...)
	m.writes = append(m.writes, p)
	return nil
}

func (m *memBoard) Remove(_ context.Context, p string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p = clean(p)
	if _, ok := m.files[p]; ok {
		delete(m.files, p)
		m.removed = append(m.removed, p)
		return nil
	}
	if m.dirs[p] {
		for n := range m.files {
			if strings.HasPrefix(n, p+"/") {
				return &transport.BoardError{Name: "OSError", Value: "[Errno 39] ENOTEMPTY"}
			}
		}
		for n := range m.dirs {
			if strings.HasPrefix(n, p+"/") {
				return &transport.BoardError{Name: "OSError", Value: "[Errno 39] ENOTEMPTY"}
			}
		}
		delete(m.dirs, p)
		m.removed = append(m.removed, p+"/")
		return nil
	}
	return fmt.Errorf("remove %s: %w", p, fs.ErrNotExist)
}

func (m *memBoard) Mkdir(_ context.Context, p string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.noMkdir {
		return fmt.Errorf("mkdir %s: directories are not supported by this board: %w", p, errors.ErrUnsupported)
	}
	p = clean(p)
	if _, ok := m.files[p]; ok || m.dirs[p] {
		return oserr("mkdir", p, 17, "[Errno 17] EEXIST")
	}
	if !m.parentOK(p) {
		return oserr("mkdir", p, 2, "[Errno 2] ENOENT")
	}
	m.dirs[p] = true
	return nil
}

func (m *memBoard) Sha256(_ context.Context, p string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hashes++
	d, ok := m.files[clean(p)]
	if !ok {
		return "", fmt.Errorf("sha256 %s: %w", p, fs.ErrNotExist)
	}
	s := sha256.Sum256(d)
	return hex.EncodeToString(s[:]), nil
}

// snapshot renders the board's whole content, to compare before and after.
func (m *memBoard) snapshot() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var lines []string
	for n, d := range m.files {
		lines = append(lines, fmt.Sprintf("%s=%q", n, d))
	}
	for n := range m.dirs {
		lines = append(lines, n+"/")
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func (m *memBoard) put(p, content string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p = clean(p)
	for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
		m.dirs[dir] = true
	}
	m.files[p] = []byte(content)
}

func (m *memBoard) get(p string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.files[clean(p)]
	return string(d), ok
}

func (m *memBoard) resetCounts() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writes, m.removed, m.hashes = nil, nil, 0
}

var _ boardFS = (*memBoard)(nil)

// fileEnv is a test environment: a host folder, an in-memory board and a
// recording output, with the file magics registered.
type fileEnv struct {
	t     *testing.T
	env   *Env
	out   *kerneltest.Recorder
	board *memBoard
	clock *fakeClock
	reg   *Registry
	dir   string
}

func newFileEnv(t *testing.T) *fileEnv {
	t.Helper()
	dir := t.TempDir()
	out := &kerneltest.Recorder{}
	b := newMemBoard()
	clock := newFakeClock()
	deps := fileDeps{
		board: func(context.Context, *Env) (boardFS, error) { return b, nil },
		now:   clock.now,
	}
	env := &Env{Out: out, Boards: noBoards{}, Host: NewHost(dir, nil)}
	reg := NewRegistry(fileMagics(deps)...)
	env.Magics = reg
	return &fileEnv{t: t, env: env, out: out, board: b, clock: clock, reg: reg, dir: dir}
}

// run runs a line magic ("cp a :b") and returns its stdout.
func (f *fileEnv) run(line string) (string, error) {
	f.t.Helper()
	return f.runKind(line, Line, "")
}

func (f *fileEnv) runKind(line string, kind Kind, body string) (string, error) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := f.reg.Run(ctx, f.env, line, kind, body)
	stdout, _ := f.out.TakeText()
	return stdout, err
}

// must runs a line magic that must succeed.
func (f *fileEnv) must(line string) string {
	f.t.Helper()
	out, err := f.run(line)
	if err != nil {
		f.t.Fatalf("%%%s: %v", line, err)
	}
	return out
}
