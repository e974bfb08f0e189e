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

// MicroPython's errno numbers (py/mperrno.h), the same as Linux's.
var errnoNames = map[int]string{
	1: "EPERM", 2: "ENOENT", 5: "EIO", 9: "EBADF", 12: "ENOMEM", 13: "EACCES",
	17: "EEXIST", 19: "ENODEV", 20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL",
	28: "ENOSPC", 30: "EROFS", 39: "ENOTEMPTY", 110: "ETIMEDOUT",
}

var errnoText = map[int]string{
	1: "operation not permitted", 2: "no such file or directory", 5: "I/O error",
	12: "out of memory", 13: "permission denied", 17: "file exists",
	19: "no such device", 20: "not a directory", 21: "is a directory",
	22: "invalid argument", 28: ErrNoSpace.Error(), 30: "read-only filesystem",
	39: "directory not empty",
}

// OSError is an OSError raised on the board, with its errno. errors.Is
// matches it against fs.ErrNotExist (ENOENT), fs.ErrExist (EEXIST),
// fs.ErrPermission (EACCES, EPERM) and ErrNoSpace (ENOSPC); errors.As
// reaches the *BoardError.
type OSError struct {
	Errno int // 0 when the board gave none
	Board *BoardError
}

func (e *OSError) Error() string {
	name := errnoNames[e.Errno]
	if t, ok := errnoText[e.Errno]; ok {
		return fmt.Sprintf("%s (%s)", t, name)
	}
	return e.Board.Error()
}

// Is maps the errno onto the standard errors.
func (e *OSError) Is(target error) bool {
	switch target {
	case fs.ErrNotExist:
		return e.Errno == 2
	case fs.ErrExist:
		return e.Errno == 17
	case fs.ErrPermission:
		return e.Errno == 13 || e.Errno == 1
	case ErrNoSpace:
		return e.Errno == 28
	}
	return false
}

// Unwrap gives the board's exception.
func (e *OSError) Unwrap() error { return e.Board }

// errnoMessages are OSError texts without a number (micro:bit 1.9.2).
var errnoMessages = map[string]int{"file not found": 2}

var errnoRe = regexp.MustCompile(`^\[Errno (\d+)\]|^(\d+)$|^(E[A-Z]+)$`)

// osError turns a board OSError into a *fs.PathError holding an *OSError;
// other errors pass unchanged.
func osError(op, path string, err error) error {
	var be *BoardError
	if !errors.As(err, &be) || be.Name != "OSError" {
		return err
	}
	oe := &OSError{Board: be}
	if n, ok := errnoMessages[strings.TrimSpace(be.Value)]; ok {
		oe.Errno = n
	} else if m := errnoRe.FindStringSubmatch(strings.TrimSpace(be.Value)); m != nil {
		switch {
		case m[1] != "":
			oe.Errno, _ = strconv.Atoi(m[1])
		case m[2] != "":
			oe.Errno, _ = strconv.Atoi(m[2])
		default:
			for n, name := range errnoNames {
				if name == m[3] {
					oe.Errno = n
				}
			}
		}
	}
	return &fs.PathError{Op: op, Path: path, Err: oe}
}
