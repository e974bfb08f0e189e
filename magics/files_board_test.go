package magics

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/internal/testenv"
	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
	"github.com/iot-kernel/iot-kernel/testboard"
	"github.com/iot-kernel/iot-kernel/transport"
)

// These tests run the file magics against real MicroPython on the test
// boards (testboard). They skip, saying why, when a board cannot start
// here (no qemu-system-arm, no node_modules).

// countingFS counts the writes and removes that reach the board.
type countingFS struct {
	boardFS
	mu      sync.Mutex
	writes  []string
	removes []string
}

func (c *countingFS) WriteFile(ctx context.Context, p string, data []byte, prog transport.Progress) error {
	c.mu.Lock()
	c.writes = append(c.writes, p)
	c.mu.Unlock()
	return c.boardFS.WriteFile(ctx, p, data, prog)
}

func (c *countingFS) Remove(ctx context.Context, p string) error {
	c.mu.Lock()
	c.removes = append(c.removes, p)
	c.mu.Unlock()
	return c.boardFS.Remove(ctx, p)
}

func (c *countingFS) reset() {
	c.mu.Lock()
	c.writes, c.removes = nil, nil
	c.mu.Unlock()
}

// realEnv is a file-magic environment on a started test board.
type realEnv struct {
	t     *testing.T
	env   *Env
	out   *kerneltest.Recorder
	reg   *Registry
	dir   string
	board *countingFS
	clock *atomic.Pointer[func() time.Time] // the magics' clock
}

func startRealEnv(t *testing.T, kind testboard.Kind) *realEnv {
	t.Helper()
	if testing.Short() {
		testenv.SkipOrFail(t, "test boards are not started with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tb, err := testboard.Start(ctx, kind, testboard.Options{}) // the micro:bit paced like its UART
	if testenv.Missing(err) {
		testenv.SkipOrFail(t, "cannot start the %s test board here: %v", kind, err)
	}
	if err != nil {
		t.Fatalf("start the %s test board: %v", kind, err)
	}
	t.Cleanup(func() { _ = tb.Close() })
	b, err := transport.Open(ctx, tb.Path(), transport.Options{})
	if err != nil {
		t.Fatalf("open %s board: %v", kind, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	cb := &countingFS{boardFS: b}
	dir := t.TempDir()
	out := &kerneltest.Recorder{}
	r := &realEnv{t: t, out: out, dir: dir, board: cb, clock: new(atomic.Pointer[func() time.Time])}
	now := time.Now
	r.clock.Store(&now)
	deps := fileDeps{
		board: func(context.Context, *Env) (boardFS, error) { return cb, nil },
		now:   func() time.Time { return (*r.clock.Load())() },
	}
	r.reg = NewRegistry(fileMagics(deps)...)
	r.env = &Env{Out: out, Boards: noBoards{}, Host: NewHost(dir, nil), Magics: r.reg}
	return r
}

// stepClock makes the magics' clock advance by step at every reading, so
// that a transfer shows its progress bar however fast it goes.
func (r *realEnv) stepClock(step time.Duration) {
	var mu sync.Mutex
	now := time.Now()
	f := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(step)
		return now
	}
	r.clock.Store(&f)
}

// in returns r for the subtest t, so that its failures end t, not the
// test that started the board.
func (r *realEnv) in(t *testing.T) *realEnv {
	c := *r
	c.t = t
	return &c
}

func (r *realEnv) run(line string, kind Kind, body string) (string, error) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := r.reg.Run(ctx, r.env, line, kind, body)
	stdout, _ := r.out.TakeText()
	return stdout, err
}

func (r *realEnv) must(line string) string {
	r.t.Helper()
	out, err := r.run(line, Line, "")
	if err != nil {
		r.t.Fatalf("%%%s: %v", line, err)
	}
	return out
}

func (r *realEnv) writeHost(rel string, data []byte) {
	r.t.Helper()
	p := filepath.Join(r.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *realEnv) readHost(rel string) []byte {
	r.t.Helper()
	d, err := os.ReadFile(filepath.Join(r.dir, rel))
	if err != nil {
		r.t.Fatal(err)
	}
	return d
}

// allBytes is binary test data holding every byte value.
func allBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/256)
	}
	return b
}

// cpRoundTrip copies a text and a binary file to the board and back.
func cpRoundTrip(t *testing.T, r *realEnv, boardDir string) {
	r = r.in(t)
	text := []byte("# héllo\nprint('round trip')\n" + strings.Repeat("x = 1\n", 100))
	bin := allBytes(1000)
	r.writeHost("up/t.py", text)
	r.writeHost("up/b.bin", bin)
	r.must("cp up/t.py up/b.bin " + boardDir)
	if out := r.must("cat " + boardDir + "t.py"); out != string(text) {
		t.Errorf("%%cat after %%cp = %q", out)
	}
	r.must("cp " + boardDir + "t.py " + boardDir + "b.bin down/")
	if got := r.readHost("down/t.py"); string(got) != string(text) {
		t.Errorf("text round trip: got %q", got)
	}
	if got := r.readHost("down/b.bin"); string(got) != string(bin) {
		t.Errorf("binary round trip differs (%d bytes back, want %d)", len(got), len(bin))
	}
}

// rsyncTwice syncs a host folder to boardDir, then again: the second run
// must send and delete nothing, and -n must change nothing.
func rsyncTwice(t *testing.T, r *realEnv, boardDir string, withFolders bool) {
	r = r.in(t)
	r.writeHost("proj/main.py", []byte("print('main')\n"))
	r.writeHost("proj/conf.json", []byte(`{"a": 1}`+"\n"))
	r.writeHost("proj/.hidden", []byte("not sent"))
	if withFolders {
		r.writeHost("proj/lib/util.py", []byte("def f(): return 1\n"))
	}
	r.must("mkdirs " + boardDir)
	r.must("cp proj/main.py " + boardDir + "extra.py") // to be deleted

	before := r.must("rlist " + boardDir)
	r.board.reset()
	out := r.must("rsync -n proj " + boardDir)
	if !strings.Contains(out, "- extra.py") || !strings.Contains(out, "+ main.py") {
		t.Errorf("rsync -n output:\n%s", out)
	}
	if len(r.board.writes)+len(r.board.removes) != 0 {
		t.Errorf("rsync -n wrote %v, removed %v", r.board.writes, r.board.removes)
	}
	if after := r.must("rlist " + boardDir); after != before {
		t.Errorf("rsync -n changed the board:\n%s\nwas:\n%s", after, before)
	}

	out = r.must("rsync proj " + boardDir)
	if !strings.Contains(out, "- extra.py") || strings.Contains(out, ".hidden") {
		t.Errorf("rsync output:\n%s", out)
	}
	if got := r.must("cat " + boardDir + "conf.json"); got != `{"a": 1}`+"\n" {
		t.Errorf("conf.json on the board = %q", got)
	}
	if withFolders {
		if got := r.must("cat " + boardDir + "lib/util.py"); got != "def f(): return 1\n" {
			t.Errorf("lib/util.py on the board = %q", got)
		}
	}

	r.board.reset()
	out = r.must("rsync proj " + boardDir)
	if !strings.Contains(out, "up to date") || len(r.board.writes)+len(r.board.removes) != 0 {
		t.Errorf("second rsync: %q; wrote %v, removed %v", out, r.board.writes, r.board.removes)
	}
	if out := r.must("rdiff proj " + boardDir); !strings.HasPrefix(out, "no differences") {
		t.Errorf("rdiff after rsync: %q", out)
	}
}

func TestBoardFilesWasm(t *testing.T) {
	r := startRealEnv(t, testboard.Wasm)
	r.must("mkdirs :/work/a")
	t.Run("cp", func(t *testing.T) { cpRoundTrip(t, r, ":/work/") })
	t.Run("rsync", func(t *testing.T) { rsyncTwice(t, r, ":/sync/", true) })
	t.Run("rm -r", func(t *testing.T) {
		r := r.in(t)
		r.writeHost("tree/a.py", []byte("a\n"))
		r.writeHost("tree/sub/b.py", []byte("b\n"))
		r.must("cp -r tree :/del")
		if out := r.must("rlist :/del"); !strings.Contains(out, "sub/b.py") {
			t.Fatalf("rlist after cp -r:\n%s", out)
		}
		_, err := r.run("rm :/del", Line, "")
		wantErr(t, err, "is a folder (use %rm -r")
		r.must("rm -r :/del")
		_, err = r.run("ls :/del", Line, "")
		wantErr(t, err, "no such file or folder on the board")
		r.must("rm -f :/del")
	})
	t.Run("writefile", func(t *testing.T) {
		r := r.in(t)
		if _, err := r.run("writefile :/work/w.py", Cell, "a = 1\n"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.run("writefile -a :/work/w.py", Cell, "b = 2\n"); err != nil {
			t.Fatal(err)
		}
		if out := r.must("cat :/work/w.py"); out != "a = 1\nb = 2\n" {
			t.Errorf("board w.py = %q", out)
		}
	})
	t.Run("missing", func(t *testing.T) {
		r := r.in(t)
		_, err := r.run("cat :/nope.py", Line, "")
		wantErr(t, err, "no such file or folder on the board")
		_, err = r.run("cp :/nope.py .", Line, "")
		wantErr(t, err, "no such file or folder on the board")
	})
}

func TestBoardFilesMicrobit(t *testing.T) {
	r := startRealEnv(t, testboard.Microbit)
	t.Run("cp", func(t *testing.T) { cpRoundTrip(t, r, ":") })
	t.Run("rsync", func(t *testing.T) {
		r := r.in(t)
		// The micro:bit's filesystem is flat: sync a folder of files to
		// its top. Clear what the cp test left first.
		r.must("rm -r :")
		rsyncTwice(t, r, ":", false)
	})
	t.Run("no folders", func(t *testing.T) {
		r := r.in(t)
		// A '/' in a name would make a flat file no listing can show.
		_, err := r.run("writefile :lib/x.py", Cell, "x = 1\n")
		wantErr(t, err, "this board's filesystem has no folders")
		r.writeHost("a.py", []byte("a = 1\n"))
		_, err = r.run("cp a.py :lib/y.py", Line, "")
		wantErr(t, err, "this board's filesystem has no folders")
		if out := r.must("ls"); strings.Contains(out, "lib") {
			t.Errorf("board after refused writes:\n%s", out)
		}
	})
	t.Run("full", func(t *testing.T) {
		r := r.in(t)
		// About 30 KB of flash: a 40 KB write cannot fit, and the file
		// it would replace must survive.
		r.must("rm -r :")
		if _, err := r.run("writefile :keep.py", Cell, "kept = True\n"); err != nil {
			t.Fatal(err)
		}
		r.writeHost("huge.bin", allBytes(40_000))
		r.stepClock(time.Second)
		_, err := r.run("cp huge.bin :keep.py", Line, "")
		wantErr(t, err, "board filesystem full")
		wantErr(t, err, "keep.py is unchanged") // the engine's words for what is on the board
		if !errors.Is(err, ErrBoardFull) {
			t.Errorf("%v does not wrap ErrBoardFull", err)
		}
		// The transfer's bar (shown at once: the clock steps a second
		// at every reading) ends marked as failed.
		ds := r.out.TakeDisplays()
		if len(ds) == 0 {
			t.Error("no progress bar for the failed transfer")
		} else if txt, _ := ds[len(ds)-1].Data["text/plain"].(string); !strings.Contains(txt, "failed") {
			t.Errorf("last progress display %q, want it marked as failed", txt)
		}
		if out := r.must("cat :keep.py"); out != "kept = True\n" {
			t.Errorf("keep.py after the failed write = %q", out)
		}
		if out := r.must("ls"); out != "      12 B  keep.py\n" {
			t.Errorf("board after the failed write (no temporary file may stay):\n%s", out)
		}
		// A new file that does not fit is said not to exist, not to be
		// "unchanged".
		_, err = r.run("cp huge.bin :new.bin", Line, "")
		wantErr(t, err, "board filesystem full: write :new.bin: new.bin was not created")
		if out := r.must("ls"); out != "      12 B  keep.py\n" {
			t.Errorf("board after the failed write of a new file:\n%s", out)
		}
	})
}

// A 6 MB download over WebREPL, whose link reports every 256-byte chunk,
// sends a bounded number of update_display_data messages: at most about
// five a second, and only when the bar changes.
func TestWebREPLBigDownloadProgressIsRateLimited(t *testing.T) {
	if testing.Short() {
		t.Skip("test boards are skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tb, err := testboard.Start(ctx, testboard.Wasm, testboard.Options{})
	if testenv.Missing(err) {
		testenv.SkipOrFail(t, "cannot start the wasm test board here: %v", err)
	}
	if err != nil {
		t.Fatalf("start the wasm test board: %v", err)
	}
	t.Cleanup(func() { _ = tb.Close() })
	s, err := testboard.StartWebREPL(ctx, tb, "pw")
	if err != nil {
		t.Fatalf("start WebREPL: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	b, err := transport.Open(ctx, s.URL(), transport.Options{Password: "pw"})
	if err != nil {
		t.Fatalf("open the board over WebREPL: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	dir := t.TempDir()
	out := &kerneltest.Recorder{}
	reg := NewRegistry(fileMagics(fileDeps{
		board: func(context.Context, *Env) (boardFS, error) { return b, nil },
		now:   time.Now,
	})...)
	r := &realEnv{t: t, env: &Env{Out: out, Boards: noBoards{}, Host: NewHost(dir, nil), Magics: reg}, out: out, reg: reg, dir: dir}
	data := make([]byte, 6<<20)
	for i := range data {
		data[i] = byte(i * 31 >> 8)
	}
	r.writeHost("big.bin", data)
	r.must("cp big.bin :big.bin")
	out.TakeDisplays()
	start := time.Now()
	r.must("cp :big.bin back.bin")
	elapsed := time.Since(start)
	if got := r.readHost("back.bin"); len(got) != len(data) || string(got) != string(data) {
		t.Fatalf("the download differs from the upload (%d bytes of %d)", len(got), len(data))
	}
	ds := out.TakeDisplays()
	updates := 0
	for _, d := range ds {
		if d.Update {
			updates++
		}
	}
	// The first display, then at most 5 a second, and the last.
	limit := 2 + int(5*elapsed.Seconds()+1)
	t.Logf("download of 6 MB in %v: %d displays, %d updates (limit %d)", elapsed, len(ds), updates, limit)
	if updates > limit {
		t.Errorf("%d update_display_data in %v, want at most %d", updates, elapsed, limit)
	}
	if len(ds) > 0 {
		if txt := ds[len(ds)-1].Data["text/plain"].(string); !strings.Contains(txt, "100%") {
			t.Errorf("the last bar is %q, want it at 100%%", txt)
		}
	}
}

// A write that fails on the board says what failed once, with the file's
// name once, and leaves no temporary file: onto a folder, under a file.
func TestWriteErrorsSayItOnce(t *testing.T) {
	r := startRealEnv(t, testboard.Wasm)
	r.must("mkdirs :/w/lib")
	_, err := r.run("writefile :/w/lib", Cell, "a = 1\n")
	if err == nil || !strings.Contains(err.Error(), "folder") || strings.Contains(err.Error(), "copy it again") || strings.Count(err.Error(), "/w/lib") != 1 {
		t.Errorf("%%%%writefile onto a folder: %v; want it said once that it is a folder", err)
	}
	if _, err := r.run("writefile :/w/f", Cell, "a = 1\n"); err != nil {
		t.Fatal(err)
	}
	_, err = r.run("writefile :/w/f/x.py", Cell, "a = 1\n")
	if err == nil || strings.Count(err.Error(), "write ") != 1 || !strings.Contains(err.Error(), "ENOTDIR") {
		t.Errorf("%%%%writefile under a file: %v; want one \"write\" and the cause", err)
	}
	r.writeHost("x.py", []byte("x\n"))
	_, err = r.run("cp x.py :/w/f/x.py", Line, "")
	if err == nil || strings.Count(err.Error(), "/w/f/x.py:") > 1 {
		t.Errorf("%%cp under a file: %v; want the path once before the cause", err)
	}
	if ls := r.must("rlist :/w"); strings.Contains(ls, ".iotpart") {
		t.Errorf("a temporary file was left:\n%s", ls)
	}
}
