package magics

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
	"github.com/iot-kernel/iot-kernel/transport"
)

func (f *fileEnv) writeHost(rel, content string) {
	f.t.Helper()
	p := filepath.Join(f.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fileEnv) readHost(rel string) string {
	f.t.Helper()
	d, err := os.ReadFile(filepath.Join(f.dir, rel))
	if err != nil {
		f.t.Fatalf("host file %s: %v", rel, err)
	}
	return string(d)
}

func wantErr(t *testing.T, err error, substrs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", substrs)
	}
	for _, s := range substrs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}

func wantUsage(t *testing.T, err error, usage string) {
	t.Helper()
	var ue *UsageError
	if !errors.As(err, &ue) {
		t.Fatalf("error %v (%T) is not a UsageError", err, err)
	}
	if ue.Usage != usage {
		t.Errorf("usage line %q, want %q", ue.Usage, usage)
	}
}

// TestFileMagicsHelp checks each magic's -h: the usage line generated from
// its flags, its summary and its options.
func TestFileMagicsHelp(t *testing.T) {
	cases := []struct {
		line  string
		kind  Kind
		usage string
		more  []string
	}{
		{"cp -h", Line, "Usage: %cp [-r] SRC... DST", []string{"-r\tcopy folders with everything in them", "board paths start with ':'"}},
		{"cat -h", Line, "Usage: %cat :PATH", []string{"hex dump"}},
		{"rm -h", Line, "Usage: %rm [-f] [-r] :PATH...", []string{"-f\tno error for paths that do not exist", "-r\tremove folders"}},
		{"mkdirs -h", Line, "Usage: %mkdirs :PATH", []string{"mkdir -p"}},
		{"ls -h", Line, "Usage: %ls [:PATH]", []string{"sizes"}},
		{"rlist -h", Line, "Usage: %rlist [:PATH]", []string{"recursively"}},
		{"rdiff -h", Line, "Usage: %rdiff HOST_DIR :BOARD_DIR", []string{"SHA-256", "__pycache__"}},
		{"rsync -h", Line, "Usage: %rsync [-n] [-u] HOST_DIR :BOARD_DIR", []string{"-n\tdry run", "-u\tupload only", "__pycache__"}},
		{"writefile --help", Cell, "Usage: %%writefile [-a] PATH", []string{"-a\tappend"}},
	}
	for _, c := range cases {
		t.Run(c.line, func(t *testing.T) {
			f := newFileEnv(t)
			out, err := f.runKind(c.line, c.kind, "")
			if err != nil {
				t.Fatal(err)
			}
			if first, _, _ := strings.Cut(out, "\n"); first != c.usage {
				t.Errorf("first help line %q, want %q", first, c.usage)
			}
			for _, s := range c.more {
				if !strings.Contains(out, s) {
					t.Errorf("help lacks %q:\n%s", s, out)
				}
			}
		})
	}
}

// TestFileMagicsBadFlag checks that an unknown flag is a usage error naming
// the flag, and that nothing reaches the board.
func TestFileMagicsBadFlag(t *testing.T) {
	for _, line := range []string{"cp -x a :b", "cat -x a", "rm -x a", "mkdirs -x a", "ls -x", "rlist -x", "rdiff -x a :b", "rsync -x a :b"} {
		f := newFileEnv(t)
		_, err := f.run(line)
		wantErr(t, err, "flag provided but not defined: -x", "Usage: %"+strings.Fields(line)[0])
	}
	f := newFileEnv(t)
	_, err := f.runKind("writefile -x a", Cell, "body")
	wantErr(t, err, "flag provided but not defined: -x", "Usage: %%writefile [-a] PATH")
	if _, statErr := os.Stat(filepath.Join(f.dir, "a")); !errors.Is(statErr, fs.ErrNotExist) {
		t.Errorf("bad flag still wrote the file (stat: %v)", statErr)
	}
}

// TestFileMagicsNoBoard runs every board magic with no board connected,
// through the production FileMagics, and expects ErrNoBoard.
func TestFileMagicsNoBoard(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.py"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := &Env{Out: &kerneltest.Recorder{}, Boards: noBoards{}, Host: NewHost(dir, nil)}
	reg := NewRegistry(FileMagics()...)
	lines := []struct {
		line string
		kind Kind
	}{
		{"cp a.py :", Line}, {"cp :a.py .", Line}, {"cat :a.py", Line}, {"rm a.py", Line},
		{"mkdirs lib", Line}, {"ls", Line}, {"rlist", Line}, {"rdiff . :", Line},
		{"rsync . :", Line}, {"writefile :a.py", Cell},
	}
	for _, l := range lines {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := reg.Run(ctx, env, l.line, l.kind, "x = 1\n")
		cancel()
		if !errors.Is(err, ErrNoBoard) {
			t.Errorf("%%%s: error %v, want ErrNoBoard", l.line, err)
		}
	}
	// Host-to-host copies need no board.
	if err := reg.Run(context.Background(), env, "cp a.py b.py", Line, ""); err != nil {
		t.Errorf("host-to-host cp: %v", err)
	}
	if err := reg.Run(context.Background(), env, "writefile c.txt", Cell, "hello"); err != nil {
		t.Errorf("host writefile: %v", err)
	}
}

func TestCp(t *testing.T) {
	f := newFileEnv(t)
	f.writeHost("main.py", "print('hi')\n")
	f.writeHost("a.py", "a = 1\n")
	f.writeHost("b.py", "b = 2\n")

	// DST ':' keeps the name.
	out := f.must("cp main.py :")
	if got, _ := f.board.get("main.py"); got != "print('hi')\n" {
		t.Errorf("board main.py = %q", got)
	}
	if !strings.Contains(out, "main.py -> :main.py") {
		t.Errorf("cp output %q", out)
	}
	// A file DST renames.
	f.must("cp a.py :renamed.py")
	if got, _ := f.board.get("renamed.py"); got != "a = 1\n" {
		t.Errorf("board renamed.py = %q", got)
	}
	// Several sources into a folder that a trailing '/' creates.
	f.must("cp a.py b.py :lib/sub/")
	for _, p := range []string{"lib/sub/a.py", "lib/sub/b.py"} {
		if _, ok := f.board.get(p); !ok {
			t.Errorf("board lacks %s", p)
		}
	}
	// Into an existing folder without a trailing '/'.
	f.must("cp main.py :lib")
	if _, ok := f.board.get("lib/main.py"); !ok {
		t.Error("board lacks lib/main.py")
	}
	// Board to host, binary content intact, into the host folder.
	bin := string([]byte{0, 1, 2, 0xff, 0xfe, '\n', 0x80})
	f.board.put("data.bin", bin)
	f.must("cp :data.bin :lib/sub/a.py .")
	if got := f.readHost("data.bin"); got != bin {
		t.Errorf("host data.bin = %q, want %q", got, bin)
	}
	if got := f.readHost("a.py"); got != "a = 1\n" {
		t.Errorf("host a.py = %q", got)
	}
	// Board to a host file name, overwriting.
	f.must("cp :main.py copy.py")
	if got := f.readHost("copy.py"); got != "print('hi')\n" {
		t.Errorf("host copy.py = %q", got)
	}
	// Board to board and host to host are plain copies.
	f.must("cp :main.py :main2.py")
	if got, _ := f.board.get("main2.py"); got != "print('hi')\n" {
		t.Errorf("board main2.py = %q", got)
	}
	f.must("cp main.py sub.py")
	if got := f.readHost("sub.py"); got != "print('hi')\n" {
		t.Errorf("host sub.py = %q", got)
	}
	// No temporary files are left next to host files.
	des, _ := os.ReadDir(f.dir)
	for _, de := range des {
		if strings.Contains(de.Name(), ".tmp-") {
			t.Errorf("left a temporary file %s", de.Name())
		}
	}
}

func TestCpRecursive(t *testing.T) {
	f := newFileEnv(t)
	f.writeHost("src/main.py", "m\n")
	f.writeHost("src/lib/util.py", "u\n")
	f.writeHost("src/lib/deep/x.txt", "x\n")

	_, err := f.run("cp src :")
	wantErr(t, err, "%cp: src is a folder (use %cp -r")

	f.must("cp -r src :")
	want := "src/\nsrc/lib/\nsrc/lib/deep/\nsrc/lib/deep/x.txt=\"x\\n\"\nsrc/lib/util.py=\"u\\n\"\nsrc/main.py=\"m\\n\""
	if got := f.board.snapshot(); got != want {
		t.Errorf("board after cp -r:\n%s\nwant:\n%s", got, want)
	}
	// A DST that does not exist becomes the copy.
	f.must("cp -r src :app")
	if _, ok := f.board.get("app/lib/deep/x.txt"); !ok {
		t.Error("board lacks app/lib/deep/x.txt")
	}
	// And back to the host.
	f.must("cp -r :app back")
	if got := f.readHost("back/lib/util.py"); got != "u\n" {
		t.Errorf("host back/lib/util.py = %q", got)
	}
	_, err = f.run("cp -r src dst")
	wantErr(t, err, "-r copies between the host and the board only")
	f.board.put("file", "f")
	_, err = f.run("cp -r src :file")
	wantErr(t, err, "cannot copy folder src onto file :file")
}

func TestCpErrors(t *testing.T) {
	f := newFileEnv(t)
	f.writeHost("a.py", "a\n")

	_, err := f.run("cp missing.py :")
	wantErr(t, err, "%cp: stat missing.py: no such file or folder on the host")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing host file: %v does not wrap fs.ErrNotExist", err)
	}
	_, err = f.run("cp :missing.py .")
	wantErr(t, err, "%cp: stat :missing.py: no such file or folder on the board")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing board file: %v does not wrap fs.ErrNotExist", err)
	}
	_, err = f.run("cp a.py :a.py extra")
	wantErr(t, err, "the sources mix host and board paths")
	_, err = f.run("cp a.py a.py :nofolder")
	wantErr(t, err, "copying several sources needs a folder as DST: :nofolder does not exist")
	f.board.put("file.py", "f")
	_, err = f.run("cp a.py a.py :file.py")
	wantErr(t, err, "needs a folder as DST, and :file.py is a file")
	_, err = f.run("cp a.py :file.py/")
	wantErr(t, err, ":file.py is a file, not a folder")
	_, err = f.run("cp :file.py nodir/x.py")
	wantErr(t, err, "write nodir/x.py: no such file or folder on the host")
	_, err = f.run("cp a.py :nodir/x.py")
	wantErr(t, err, "write :nodir/x.py: no such file or folder on the board")

	// A %cp that cannot start changes nothing: no DST folder is made.
	for _, line := range []string{"cp missing.py :newdir/", "cp -r missing :newdir/sub/", "cp a.py missing.py :newdir/", "cp a.py . :newdir/", "cp :missing.py :file.py newhost/"} {
		_, err = f.run(line)
		if err == nil {
			t.Errorf("%%%s: no error", line)
		}
		if f.board.dirs["newdir"] || f.board.dirs["newdir/sub"] {
			t.Errorf("%%%s failed (%v) but made a board folder", line, err)
		}
		if _, err := os.Stat(filepath.Join(f.dir, "newhost")); err == nil {
			t.Errorf("%%%s failed but made a host folder", line)
		}
	}

	_, err = f.run("cp a.py")
	wantUsage(t, err, "Usage: %cp [-r] SRC... DST")
	wantErr(t, err, "want at least one SRC and a DST")
}

// TestCpBoardFull checks that ENOSPC from the engine reads as a full board
// and that %cp does nothing to the board around the failed write (no
// removal of the old file first, no clean-up of it after). That the old
// file survives the write itself is the engine's promise (temporary file,
// then rename), which this fake board only imitates: TestBoardFilesMicrobit's
// "full" case checks it on firmware.
func TestCpBoardFull(t *testing.T) {
	f := newFileEnv(t)
	f.board.put("main.py", "old\n")
	f.board.capacity = 1000
	f.writeHost("main.py", strings.Repeat("x", 2000))
	before := f.board.snapshot()
	_, err := f.run("cp main.py :")
	wantErr(t, err, "%cp: board filesystem full: write :main.py (make room with %rm)")
	if !errors.Is(err, ErrBoardFull) || !errors.Is(err, transport.ErrNoSpace) {
		t.Errorf("%v should wrap ErrBoardFull and ENOSPC", err)
	}
	wantUntouched(t, f.board, before)
}

// wantUntouched checks that the board holds what it held before a write
// that failed, and that nothing was removed on the way.
func wantUntouched(t *testing.T, b *memBoard, before string) {
	t.Helper()
	if after := b.snapshot(); after != before {
		t.Errorf("board after the failed write:\n%s\nwant as before:\n%s", after, before)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.removed) > 0 {
		t.Errorf("the failed write removed %q", b.removed)
	}
}

// The magics classify board errors by type only: the engine's typed
// OSError (whatever the board's errno numbers) and Go's errors, never an
// exception's text.
func TestBoardErrorClassification(t *testing.T) {
	b := &boardSide{}
	full := []error{
		fmt.Errorf("x: %w", syscall.ENOSPC),
		oserr("write", "x", 28, "28"),
		// A board numbering ENOSPC its own way: the engine named it.
		&fs.PathError{Op: "write", Path: "x", Err: &transport.OSError{Errno: 51, Code: "ENOSPC", Board: &transport.BoardError{Name: "OSError", Value: "51"}}},
	}
	for _, e := range full {
		err := b.err("write", "x", e)
		if !errors.Is(err, ErrBoardFull) || !strings.HasPrefix(err.Error(), "board filesystem full: write :x") {
			t.Errorf("%v classified as %v", e, err)
		}
	}
	missing := []error{
		fmt.Errorf("x: %w", fs.ErrNotExist),
		oserr("open", "x", 2, "file not found"),
		&fs.PathError{Op: "open", Path: "x", Err: &transport.OSError{Errno: 44, Code: "ENOENT", Board: &transport.BoardError{Name: "OSError", Value: "44"}}},
	}
	for _, e := range missing {
		err := b.err("read", "x", e)
		if !errors.Is(err, fs.ErrNotExist) || err.Error() != "read :x: no such file or folder on the board" {
			t.Errorf("%v classified as %v", e, err)
		}
	}
	// An untyped exception is not read for numbers: "OSError: 28" from
	// user code, or 28 meaning something else on another port.
	for _, e := range []error{
		&transport.BoardError{Name: "OSError", Value: "28"},
		&transport.BoardError{Name: "OSError", Value: "[Errno 2] ENOENT"},
		&transport.BoardError{Name: "ValueError", Value: "28"},
	} {
		if err := b.err("read", "x", e); errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrBoardFull) || !errors.As(err, new(*transport.BoardError)) {
			t.Errorf("untyped %v classified as %v", e, err)
		}
	}
	other := oserr("read", "x", 22, "[Errno 22] EINVAL")
	if err := b.err("read", "x", other); errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrBoardFull) || !errors.As(err, new(*transport.BoardError)) {
		t.Errorf("EINVAL classified as %v", err)
	}
	if err := b.err("read", "x", oserr("read", "x", 2, "[Errno 2] ENOENT")); !errors.As(err, new(*transport.OSError)) {
		t.Errorf("the engine's error is not reachable in %v", err)
	}
}

func TestCat(t *testing.T) {
	f := newFileEnv(t)
	f.board.put("hello.txt", "héllo\nworld")
	if out := f.must("cat :hello.txt"); out != "héllo\nworld\n" {
		t.Errorf("cat text = %q", out)
	}
	if out := f.must("cat hello.txt"); out != "héllo\nworld\n" {
		t.Errorf("cat without ':' = %q", out)
	}
	f.board.put("lib/blob.bin", "\x00\x01\x02\xffABC")
	out := f.must("cat :lib/blob.bin")
	if !strings.Contains(out, ":lib/blob.bin is binary (7 B); copy it to the host with %cp :lib/blob.bin HOST_PATH") ||
		!strings.Contains(out, "00 01 02 ff 41 42 43") {
		t.Errorf("cat binary = %q", out)
	}
	_, err := f.run("cat :nope.txt")
	wantErr(t, err, "%cat: stat :nope.txt: no such file or folder on the board")
	_, err = f.run("cat :lib")
	wantErr(t, err, "%cat: :lib is a folder")
	_, err = f.run("cat")
	wantUsage(t, err, "Usage: %cat :PATH")
}

func TestRm(t *testing.T) {
	f := newFileEnv(t)
	f.board.put("a.py", "a")
	f.board.put("b.py", "b")
	f.board.put("lib/x/y.py", "y")
	f.board.put("lib/z.py", "z")

	f.must("rm :a.py b.py")
	if _, ok := f.board.get("a.py"); ok {
		t.Error("a.py still on the board")
	}
	if _, ok := f.board.get("b.py"); ok {
		t.Error("b.py still on the board")
	}
	_, err := f.run("rm :lib")
	wantErr(t, err, "%rm: :lib is a folder (use %rm -r")
	if _, ok := f.board.get("lib/z.py"); !ok {
		t.Error("rm without -r touched the folder")
	}
	f.must("rm -r :lib")
	if snap := f.board.snapshot(); snap != "" {
		t.Errorf("board after rm -r:\n%s", snap)
	}
	_, err = f.run("rm :gone.py")
	wantErr(t, err, "%rm: cannot remove :gone.py: no such file or folder on the board")
	f.must("rm -f :gone.py")
	// As rm does: a missing path is reported, and the others removed.
	f.board.put("c.py", "c")
	f.board.put("d.py", "d")
	_, err = f.run("rm :c.py :gone.py :d.py :gone2.py")
	wantErr(t, err, "%rm: cannot remove :gone.py: no such file or folder on the board\ncannot remove :gone2.py: no such file or folder on the board")
	if snap := f.board.snapshot(); strings.Contains(snap, "c.py") || strings.Contains(snap, "d.py") {
		t.Errorf("rm with missing paths left the others:\n%s", snap)
	}
	f.must("rm -f :gone.py :gone2.py")
	// A board that stops answering is told once, not once per path after
	// a wait of its own.
	f.board.gone = fmt.Errorf("no answer within 5s: %w", transport.ErrNoResponse)
	f.board.stats = 0
	_, err = f.run("rm :p.py :q.py :r.py")
	if err == nil || strings.Count(err.Error(), "no answer") != 1 || f.board.stats != 1 {
		t.Errorf("rm of 3 paths on a board not answering: %d tries, error %v", f.board.stats, err)
	}
	f.board.gone = nil
	_, err = f.run("rm")
	wantUsage(t, err, "Usage: %rm [-f] [-r] :PATH...")

	// rm -r of the top folder empties it.
	f.board.put("x/y", "y")
	f.board.put("top.py", "t")
	f.must("rm -r :")
	if snap := f.board.snapshot(); snap != "" {
		t.Errorf("board after rm -r ':':\n%s", snap)
	}
}

func TestMkdirs(t *testing.T) {
	f := newFileEnv(t)
	f.must("mkdirs :a/b/c")
	f.must("mkdirs a/b") // exists: fine, ':' optional
	f.must("mkdirs :/a/b/d")
	if snap := f.board.snapshot(); snap != "a/\na/b/\na/b/c/\na/b/d/" {
		t.Errorf("board after mkdirs:\n%s", snap)
	}
	f.board.put("a/file", "f")
	_, err := f.run("mkdirs :a/file/x")
	wantErr(t, err, "%mkdirs: create folder :a/file/x: :a/file is a file")
	f.board.noMkdir = true
	_, err = f.run("mkdirs :q")
	wantErr(t, err, "%mkdirs: create folder :q: this board's filesystem has no folders")
	_, err = f.run("mkdirs")
	wantUsage(t, err, "Usage: %mkdirs :PATH")
}

func TestLsAndRlist(t *testing.T) {
	f := newFileEnv(t)
	f.board.put("main.py", strings.Repeat("m", 1500))
	f.board.put("boot.py", "b")
	f.board.put("lib/util.py", "uu")
	f.board.put("lib/sub/deep.py", "ddd")

	out := f.must("ls")
	want := "       1 B  boot.py\n         -  lib/\n    1.5 KB  main.py\n"
	if out != want {
		t.Errorf("ls:\n%s\nwant:\n%s", out, want)
	}
	if out := f.must("ls :lib"); out != "         -  sub/\n       2 B  util.py\n" {
		t.Errorf("ls :lib:\n%s", out)
	}
	if out := f.must("ls :main.py"); out != "    1.5 KB  :main.py\n" {
		t.Errorf("ls of a file: %q", out)
	}
	f.must("mkdirs :empty")
	if out := f.must("ls :empty"); out != "no files in :empty\n" {
		t.Errorf("ls of an empty folder: %q", out)
	}
	_, err := f.run("ls :nope")
	wantErr(t, err, "%ls: stat :nope: no such file or folder on the board")
	_, err = f.run("ls a b")
	wantUsage(t, err, "Usage: %ls [:PATH]")

	out = f.must("rlist")
	want = "       1 B  boot.py\n         -  empty/\n         -  lib/\n         -  lib/sub/\n       3 B  lib/sub/deep.py\n" +
		"       2 B  lib/util.py\n    1.5 KB  main.py\n4 files, 3 folders, 1.5 KB in :\n"
	if out != want {
		t.Errorf("rlist:\n%s\nwant:\n%s", out, want)
	}
	out = f.must("rlist :lib")
	if !strings.HasSuffix(out, "       3 B  sub/deep.py\n       2 B  util.py\n2 files, 1 folder, 5 B in :lib\n") {
		t.Errorf("rlist :lib:\n%s", out)
	}
	_, err = f.run("rlist :nope")
	wantErr(t, err, "%rlist: stat :nope: no such file or folder on the board")
}

func TestWritefile(t *testing.T) {
	f := newFileEnv(t)
	out, err := f.runKind("writefile notes.txt", Cell, "line 1")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.readHost("notes.txt"); got != "line 1\n" {
		t.Errorf("host notes.txt = %q", got)
	}
	if out != "Wrote 7 B to notes.txt\n" {
		t.Errorf("writefile output %q", out)
	}
	if _, err := f.runKind("writefile -a notes.txt", Cell, "line 2\n"); err != nil {
		t.Fatal(err)
	}
	if got := f.readHost("notes.txt"); got != "line 1\nline 2\n" {
		t.Errorf("host notes.txt after -a = %q", got)
	}
	if _, err := f.runKind("writefile notes.txt", Cell, "new\n"); err != nil {
		t.Fatal(err)
	}
	if got := f.readHost("notes.txt"); got != "new\n" {
		t.Errorf("host notes.txt after overwrite = %q", got)
	}
	// Relative to the notebook's host folder, which %cd may move.
	if err := os.Mkdir(filepath.Join(f.dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := f.env.Host.Chdir("sub"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.runKind("writefile -a fresh.txt", Cell, "x\n"); err != nil {
		t.Fatal(err)
	}
	if got := f.readHost("sub/fresh.txt"); got != "x\n" {
		t.Errorf("host sub/fresh.txt = %q", got)
	}
	_, err = f.runKind("writefile nodir/x.txt", Cell, "x")
	wantErr(t, err, "%%writefile: write nodir/x.txt: folder", "does not exist on the host")

	// The board.
	if _, err := f.runKind("writefile :main.py", Cell, "print(1)\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.runKind("writefile -a :main.py", Cell, "print(2)"); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.board.get("main.py"); got != "print(1)\nprint(2)\n" {
		t.Errorf("board main.py = %q", got)
	}
	if _, err := f.runKind("writefile -a :new.py", Cell, "n\n"); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.board.get("new.py"); got != "n\n" {
		t.Errorf("board new.py = %q", got)
	}
	// A full board: reported as such, and the board left alone (see
	// TestCpBoardFull for who keeps the old file).
	f.board.capacity = 30
	before := f.board.snapshot()
	_, err = f.runKind("writefile :main.py", Cell, strings.Repeat("y", 100))
	wantErr(t, err, "%%writefile: board filesystem full: write :main.py")
	wantUntouched(t, f.board, before)
	_, err = f.runKind("writefile", Cell, "x")
	wantUsage(t, err, "Usage: %%writefile [-a] PATH")
}

// TestHostWriteAtomic checks that %%writefile replaces a host file whole,
// keeping its permissions, and that a write the disk cannot finish leaves
// the old file and no temporary file. The failing write passes every check
// before the writer (the target is a plain file, its folder writable) and
// fails midway, as on a full disk: the process's file size limit makes the
// writer's Write fail with EFBIG (Go ignores SIGXFSZ).
func TestHostWriteAtomic(t *testing.T) {
	f := newFileEnv(t)
	p := filepath.Join(f.dir, "keep.txt")
	if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.runKind("writefile keep.txt", Cell, "new"); err != nil {
		t.Fatal(err)
	}
	if got := f.readHost("keep.txt"); got != "new\n" {
		t.Errorf("keep.txt = %q after the write, want %q", got, "new\n")
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("keep.txt mode %v, %v; want 0600 kept", st.Mode().Perm(), err)
	}

	const limit = 1 << 10
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = limit
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	_, err := f.runKind("writefile keep.txt", Cell, strings.Repeat("z", 4*limit))
	if rerr := unix.Setrlimit(unix.RLIMIT_FSIZE, &old); rerr != nil {
		t.Fatal(rerr)
	}
	wantErr(t, err, "%%writefile: write keep.txt")
	if got := f.readHost("keep.txt"); got != "new\n" {
		t.Errorf("keep.txt = %q after a failed write, want the old contents", got)
	}
	if des, _ := os.ReadDir(f.dir); len(des) != 1 {
		var names []string
		for _, de := range des {
			names = append(names, de.Name())
		}
		t.Errorf("host folder holds %q after a failed write, want only keep.txt (no temporary file)", names)
	}
}
