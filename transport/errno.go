package transport

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
)

// ErrNoSpace reports that the board's filesystem is full.
var ErrNoSpace = errors.New("no space left on the board")

// ErrIsDir is wrapped by the error of a write onto a folder of the board.
var ErrIsDir = errors.New("is a folder on the board")

// errnoNames are the errno names the kernel understands. Their numbers are
// read from the board's own errno module once per connection (see
// capsProbe): MicroPython's ports need not number them as Linux does (the
// webassembly port's ENOENT is 44).
var errnoNames = []string{
	"EPERM", "ENOENT", "EIO", "EBADF", "ENOMEM", "EACCES", "EEXIST", "ENODEV",
	"ENOTDIR", "EISDIR", "EINVAL", "ENOSPC", "EROFS", "ENOTEMPTY", "ETIMEDOUT",
}

// linuxErrno is MicroPython's default numbering (py/mperrno.h, Linux's),
// used for a board without an errno module.
var linuxErrno = errnoTable{
	1: "EPERM", 2: "ENOENT", 5: "EIO", 9: "EBADF", 12: "ENOMEM", 13: "EACCES",
	17: "EEXIST", 19: "ENODEV", 20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL",
	28: "ENOSPC", 30: "EROFS", 39: "ENOTEMPTY", 110: "ETIMEDOUT",
}

var errnoText = map[string]string{
	"EPERM": "operation not permitted", "ENOENT": "no such file or directory", "EIO": "I/O error",
	"ENOMEM": "out of memory", "EACCES": "permission denied", "EEXIST": "file exists",
	"ENODEV": "no such device", "ENOTDIR": "not a directory", "EISDIR": "is a directory",
	"EINVAL": "invalid argument", "ENOSPC": ErrNoSpace.Error(), "EROFS": "read-only filesystem",
	"ENOTEMPTY": "directory not empty",
}

// errnoTable maps a board's errno numbers to their names.
type errnoTable map[int]string

// parseErrnoTable reads the probe's "NAME=N NAME=N ..." line; an empty or
// unreadable line gives nil (the board has no errno module).
func parseErrnoTable(line string) errnoTable {
	t := errnoTable{}
	for _, f := range strings.Fields(line) {
		name, num, ok := strings.Cut(f, "=")
		n, err := strconv.Atoi(num)
		if ok && err == nil {
			t[n] = name
		}
	}
	if len(t) == 0 {
		return nil
	}
	return t
}

// name gives the errno name of a board's number: from the board's own
// table when it has one, else Linux's.
func (t errnoTable) name(n int) string {
	if t != nil {
		return t[n]
	}
	return linuxErrno[n]
}

// OSError is an OSError raised on the board, made a typed error once, here:
// callers ask it with errors.Is, which matches fs.ErrNotExist (ENOENT),
// fs.ErrExist (EEXIST), fs.ErrPermission (EACCES, EPERM) and ErrNoSpace
// (ENOSPC), never its text. errors.As reaches the *BoardError.
type OSError struct {
	Errno int    // the board's number; 0 when the board gave none
	Code  string // its name by the board's own errno module ("ENOENT"); "" if unknown
	Board *BoardError
}

// code is the errno name: Code, or for an OSError built without one, the
// name of Errno in Linux's numbering.
func (e *OSError) code() string {
	if e.Code != "" {
		return e.Code
	}
	return linuxErrno[e.Errno]
}

func (e *OSError) Error() string {
	code := e.code()
	if t, ok := errnoText[code]; ok {
		return fmt.Sprintf("%s (%s)", t, code)
	}
	return e.Board.Error()
}

// Is maps the errno onto the standard errors.
func (e *OSError) Is(target error) bool {
	switch code := e.code(); target {
	case fs.ErrNotExist:
		return code == "ENOENT"
	case fs.ErrExist:
		return code == "EEXIST"
	case fs.ErrPermission:
		return code == "EACCES" || code == "EPERM"
	case ErrNoSpace:
		return code == "ENOSPC"
	}
	return false
}

// Unwrap gives the board's exception.
func (e *OSError) Unwrap() error { return e.Board }

// errnoMessages are OSError texts without a number (micro:bit 1.9.2).
var errnoMessages = map[string]string{"file not found": "ENOENT"}

var errnoRe = regexp.MustCompile(`^\[Errno (\d+)\](?: (E[A-Z]+))?|^(\d+)$|^(E[A-Z]+)$`)

// osError turns a board OSError into a *fs.PathError holding an *OSError,
// numbers read by the board's errno table (nil: Linux's); other errors
// pass unchanged.
func osError(t errnoTable, op, path string, err error) error {
	var be *BoardError
	if !errors.As(err, &be) || be.Name != "OSError" {
		return err
	}
	oe := &OSError{Board: be}
	v := strings.TrimSpace(be.Value)
	if name, ok := errnoMessages[v]; ok {
		oe.Code = name
	} else if m := errnoRe.FindStringSubmatch(v); m != nil {
		switch {
		case m[1] != "":
			// "[Errno 2] ENOENT": the board named it itself.
			oe.Errno, _ = strconv.Atoi(m[1])
			oe.Code = m[2]
		case m[3] != "":
			oe.Errno, _ = strconv.Atoi(m[3])
		default:
			oe.Code = m[4]
		}
		if oe.Code == "" {
			oe.Code = t.name(oe.Errno)
		}
	}
	return &fs.PathError{Op: op, Path: path, Err: oe}
}

// osError is the method form, with the board's errno table.
func (c *fsCaps) osError(op, path string, err error) error {
	return osError(c.errno, op, path, err)
}
