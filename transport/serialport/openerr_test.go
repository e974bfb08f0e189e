package serialport

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"

	"go.bug.st/serial"
)

// A port that does not exist, one the user may not open and one another
// program holds: each error names the port once, says what failed and
// what to do, and matches its cause by type.
func TestDialOpenErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	check := func(t *testing.T, err error, path string, cause error, words ...string) {
		t.Helper()
		if err == nil {
			t.Fatal("the port opened")
		}
		msg := err.Error()
		t.Logf("error: %s", msg)
		if !errors.Is(err, cause) {
			t.Errorf("error %v does not match %v", err, cause)
		}
		if n := strings.Count(msg, path); n != 1 {
			t.Errorf("the error names %s %d times: %s", path, n, msg)
		}
		for _, w := range words {
			if !strings.Contains(msg, w) {
				t.Errorf("error %q lacks %q", msg, w)
			}
		}
		var oe *OpenError
		if !errors.As(err, &oe) || oe.Path != path {
			t.Errorf("error %T is not an *OpenError for %s", err, path)
		}
	}
	t.Run("missing", func(t *testing.T) {
		const path = "/dev/does-not-exist-ttyUSB9"
		_, err := Dial(ctx, path, Options{})
		check(t, err, path, fs.ErrNotExist, "no such port", "plugged in")
	})
	t.Run("permission", func(t *testing.T) {
		_, path := openPTY(t)
		if os.Geteuid() != 0 {
			// A real EACCES from the system: the pty made unreadable.
			if err := os.Chmod(path, 0); err != nil {
				t.Fatal(err)
			}
			_, err := Dial(ctx, path, Options{})
			check(t, err, path, fs.ErrPermission, "dialout", "may not open")
		}
		// Root opens whatever the mode bits say: the open call fails as
		// the system makes it fail for other users.
		eacces := func(p string, _ *serial.Mode) (serial.Port, error) {
			return nil, &fs.PathError{Op: "open", Path: p, Err: syscall.EACCES}
		}
		_, err := dial(ctx, path, Options{}, eacces)
		check(t, err, path, fs.ErrPermission, "dialout", "may not open")
	})
	t.Run("busy", func(t *testing.T) {
		_, path := openPTY(t)
		ebusy := func(string, *serial.Mode) (serial.Port, error) { return nil, syscall.EBUSY }
		_, err := dial(ctx, path, Options{}, ebusy)
		check(t, err, path, syscall.EBUSY, "another program", "close")
	})
}
