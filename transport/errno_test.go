package transport

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"
)

// osErrorTraceback is how a board reports OSError(value).
func osErrorTraceback(value string) string {
	return "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\nOSError: " + value + "\r\n"
}

// A board that numbers its errors its own way (MicroPython's webassembly
// port: ENOENT is 44, and EEXIST 20, which is ENOTDIR on Linux) is read by
// its own errno module, probed once per connection: a missing file is
// fs.ErrNotExist, not "OSError: 44".
func TestErrnoFromTheBoardsOwnTable(t *testing.T) {
	f := newFake(t, "no")
	probes := 0
	f.run = func(x *fakeExec) string {
		switch {
		case strings.Contains(x.code, "hasattr(os,'ilistdir')"):
			probes++
			x.out("1 1 1 1 1 100000\r\n ENOENT=44 EEXIST=20 ENOSPC=51 EACCES=2\r\n")
			return ""
		case strings.Contains(x.code, "missing"):
			return osErrorTraceback("44")
		case strings.Contains(x.code, "mkdir"):
			return osErrorTraceback("20")
		case strings.Contains(x.code, "full"):
			return osErrorTraceback("51")
		case strings.Contains(x.code, "locked"):
			return osErrorTraceback("2")
		}
		return ""
	}
	b := f.board(2 * time.Second)
	ctx := testCtx(t)
	if _, err := b.Stat(ctx, "missing.py"); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no such file or directory (ENOENT)") {
		t.Errorf("Stat of a missing file = %v, want fs.ErrNotExist saying ENOENT", err)
	}
	if err := b.Mkdir(ctx, "lib"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Mkdir of an existing folder = %v, want fs.ErrExist", err)
	}
	if err := b.Remove(ctx, "full.txt"); !errors.Is(err, ErrNoSpace) {
		t.Errorf("errno 51 = %v, want ErrNoSpace (the board's ENOSPC)", err)
	}
	// 2 is EACCES on this board: not taken for Linux's ENOENT.
	err := b.Remove(ctx, "locked.txt")
	if !errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errno 2 on a board where it is EACCES = %v", err)
	}
	if probes != 1 {
		t.Errorf("the errno table was probed %d times on one connection, want once", probes)
	}
	var oe *OSError
	if !errors.As(err, &oe) || oe.Errno != 2 || oe.Code != "EACCES" {
		t.Errorf("OSError = %+v", oe)
	}
}

// A board without an errno module is taken to number as Linux does.
func TestErrnoWithoutAnErrnoModule(t *testing.T) {
	f := newFake(t, "no")
	f.run = func(x *fakeExec) string {
		if strings.Contains(x.code, "hasattr(os,'ilistdir')") {
			x.out("0 0 0 0 0 9000\r\n\r\n")
			return ""
		}
		return osErrorTraceback("2")
	}
	b := f.board(2 * time.Second)
	if _, err := b.Stat(testCtx(t), "x.py"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat = %v, want fs.ErrNotExist", err)
	}
}
