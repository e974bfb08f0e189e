package magics

import (
	"errors"
	"strings"
	"testing"
)

func TestRsync(t *testing.T) {
	f := newFileEnv(t)
	f.writeHost("src/main.py", "main\n")
	f.writeHost("src/lib/util.py", "util\n")
	f.writeHost("src/.git/config", "hidden")
	f.writeHost("src/lib/__pycache__/util.cpython.pyc", "cache")
	f.writeHost("src/.env", "secret")
	f.board.put("app/old.py", "old\n")
	f.board.put("app/olddir/x.py", "x")
	f.board.put("app/.keep", "board hidden")
	f.board.put("app/cfg.py.iotpart", "data an error told of")
	f.board.put("boot.py", "outside the synced folder")

	// -n shows everything and changes nothing.
	before := f.board.snapshot()
	out := f.must("rsync -n src :app")
	if f.board.snapshot() != before {
		t.Errorf("rsync -n changed the board:\n%s", f.board.snapshot())
	}
	want := "dry run, nothing changed; %rsync without -n would:\n+ lib/\n- old.py\n- olddir/  (with its contents)\n" +
		"+ lib/util.py  (5 B)\n+ main.py  (5 B)\nwould send 2 files (10 B), delete 2, create 1 folder\n"
	if out != want {
		t.Errorf("rsync -n:\n%s\nwant:\n%s", out, want)
	}

	out = f.must("rsync src :app")
	wantBoard := "app/\napp/.keep=\"board hidden\"\napp/cfg.py.iotpart=\"data an error told of\"\napp/lib/\napp/lib/util.py=\"util\\n\"\napp/main.py=\"main\\n\"\nboot.py=\"outside the synced folder\""
	if got := f.board.snapshot(); got != wantBoard {
		t.Errorf("board after rsync:\n%s\nwant:\n%s", got, wantBoard)
	}
	if !strings.HasSuffix(out, "sent 2 files (10 B), deleted 2, created 1 folder\n") {
		t.Errorf("rsync output:\n%s", out)
	}

	// Second run: nothing sent, nothing deleted.
	f.board.resetCounts()
	out = f.must("rsync src :app")
	if out != ":app is up to date with src\n" {
		t.Errorf("second rsync: %q", out)
	}
	if len(f.board.writes) != 0 || len(f.board.removed) != 0 {
		t.Errorf("second rsync wrote %v, removed %v", f.board.writes, f.board.removed)
	}
	if out := f.must("rdiff src :app"); out != "no differences between src and :app\n" {
		t.Errorf("rdiff after rsync: %q", out)
	}

	// Same size, different content: the hash decides.
	f.writeHost("src/main.py", "MAIN\n")
	f.board.resetCounts()
	out = f.must("rsync src :app")
	if !strings.Contains(out, "~ main.py  (5 B)") || len(f.board.writes) != 1 {
		t.Errorf("changed file: output %q, writes %v", out, f.board.writes)
	}
	if f.board.hashes == 0 {
		t.Error("equal sizes were not compared by hash")
	}

	// -u keeps board-only files.
	f.board.put("app/extra.py", "e")
	out = f.must("rsync -u src :app")
	if _, ok := f.board.get("app/extra.py"); !ok || !strings.Contains(out, "up to date") {
		t.Errorf("rsync -u removed extra.py or changed something: %q", out)
	}
}

func TestRsyncKindsDiffer(t *testing.T) {
	f := newFileEnv(t)
	f.writeHost("src/x", "now a file\n")
	f.writeHost("src/y/inner.py", "now a folder\n")
	f.board.put("x/a.py", "a")
	f.board.put("y", "a file")
	out := f.must("rdiff src :")
	want := "differs:        x  (host file, board folder)\nonly on board:  x/a.py\ndiffers:        y  (host folder, board file)\nonly on host:   y/inner.py\n"
	if out != want {
		t.Errorf("rdiff:\n%s\nwant:\n%s", out, want)
	}
	f.must("rsync src :")
	if got := f.board.snapshot(); got != "x=\"now a file\\n\"\ny/\ny/inner.py=\"now a folder\\n\"" {
		t.Errorf("board after rsync:\n%s", got)
	}
}

func TestRsyncNewBoardFolder(t *testing.T) {
	f := newFileEnv(t)
	f.writeHost("src/a.py", "a\n")
	out := f.must("rdiff src :/new/app")
	if out != ":/new/app does not exist on the board\nonly on host:   a.py\n" {
		t.Errorf("rdiff: %q", out)
	}
	f.must("rsync -n src :/new/app")
	if f.board.snapshot() != "" {
		t.Error("rsync -n created the folder")
	}
	f.must("rsync src :/new/app")
	if got, _ := f.board.get("new/app/a.py"); got != "a\n" {
		t.Errorf("board new/app/a.py = %q", got)
	}
}

func TestRsyncErrors(t *testing.T) {
	f := newFileEnv(t)
	f.writeHost("src/big.py", strings.Repeat("b", 500))
	f.writeHost("file.txt", "f")

	_, err := f.run("rsync nope :app")
	wantErr(t, err, "%rsync: stat nope: no such file or folder on the host")
	_, err = f.run("rsync file.txt :app")
	wantErr(t, err, "%rsync: file.txt is a file; name a host folder")
	f.board.put("app", "a file")
	_, err = f.run("rsync src :app")
	wantErr(t, err, "%rsync: :app is a file; name a board folder")
	_, err = f.run("rsync src app")
	wantUsage(t, err, "Usage: %rsync [-n] [-u] HOST_DIR :BOARD_DIR")
	wantErr(t, err, "marked with ':'")
	_, err = f.run("rsync :app src")
	wantErr(t, err, "the host folder comes first")
	_, err = f.run("rdiff src")
	wantUsage(t, err, "Usage: %rdiff HOST_DIR :BOARD_DIR")

	f.board.capacity = 100
	_, err = f.run("rsync src :")
	wantErr(t, err, "%rsync: board filesystem full: write :big.py")
	if !errors.Is(err, ErrBoardFull) {
		t.Errorf("%v does not wrap ErrBoardFull", err)
	}
}

// TestRsyncDeletesFirst checks that deletions come before sends, so a
// nearly full board can take the new files once the old ones are gone.
func TestRsyncDeletesFirst(t *testing.T) {
	f := newFileEnv(t)
	f.board.capacity = 100
	f.board.put("old.py", strings.Repeat("o", 80))
	f.writeHost("src/new.py", strings.Repeat("n", 80))
	f.must("rsync src :")
	if got := f.board.snapshot(); got != "new.py=\""+strings.Repeat("n", 80)+"\"" {
		t.Errorf("board:\n%s", got)
	}
}

// TestRsyncFlatBoard checks that a host folder with subfolders fails on a
// board without folders before anything on the board changed.
func TestRsyncFlatBoard(t *testing.T) {
	f := newFileEnv(t)
	f.board.noMkdir = true
	f.board.put("old.py", "o")
	f.writeHost("src/a.py", "a")
	f.writeHost("src/lib/b.py", "b")
	before := f.board.snapshot()
	for _, line := range []string{"rsync src :", "rsync -n src :"} {
		out, err := f.run(line)
		wantErr(t, err, "%rsync: this board's filesystem has no folders, so it cannot create :lib/; nothing changed")
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("%v does not wrap errors.ErrUnsupported", err)
		}
		if out != "" {
			t.Errorf("%%%s printed %q before failing", line, out)
		}
		if got := f.board.snapshot(); got != before {
			t.Errorf("the failed %%%s changed the board:\n%s", line, got)
		}
	}
	// a board folder that does not exist would have to be made too
	f.writeHost("flat/a.py", "a")
	_, err := f.run("rsync -n flat :app")
	wantErr(t, err, "cannot create :app/; nothing changed")
	// a folder of files syncs to the top
	if out := f.must("rsync -n flat :"); !strings.Contains(out, "+ a.py") {
		t.Errorf("dry run of a flat folder:\n%s", out)
	}
}
