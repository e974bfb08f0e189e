// Package testenv holds what the project's tests share about their
// environment: one policy for tests whose tools are missing, and bounded
// waits on readers and processes.
package testenv

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"testing"
	"time"
)

// RequireAllVar names the environment variable that turns skips for a
// missing tool into failures. CI sets it to 1, so a feature whose test
// cannot run there fails the build instead of passing unseen.
const RequireAllVar = "IOT_TEST_REQUIRE_ALL"

// RequireAll reports whether RequireAllVar is set to 1.
func RequireAll() bool { return os.Getenv(RequireAllVar) == "1" }

// SkipOrFail skips t because something it needs (a tool, a package, a
// firmware image) is missing, or fails it with the same reason when
// IOT_TEST_REQUIRE_ALL=1. Skips for genuine limits of a board or platform
// are not for this: call t.Skip for them.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if RequireAll() {
		t.Fatalf(format+" ("+RequireAllVar+"=1: a missing requirement fails)", args...)
	}
	t.Skipf(format, args...)
}

// Missing reports whether err says a program or file is not installed,
// as testboard.Start's errors do when qemu, node, ser2net or the
// firmware is absent.
func Missing(err error) bool {
	return errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist)
}

// ReadFull reads exactly n bytes from r, failing t if they have not all
// come within d. A Read still blocked then is left to the reader's Close.
func ReadFull(t testing.TB, r io.Reader, n int, d time.Duration) []byte {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		ch <- result{b, err}
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatalf("read of %d bytes: %v", n, res.err)
		}
		return res.b
	case <-timer.C:
		t.Fatalf("read of %d bytes did not finish within %v", n, d)
		return nil
	}
}

// ReadErr starts reading r until a Read fails. The function it returns
// waits up to d for that failure and returns the bytes read before it and
// its error, failing t if no Read failed in time. Start it before closing
// r to see that Close unblocks a waiting Read.
func ReadErr(t testing.TB, r io.Reader, d time.Duration) func() ([]byte, error) {
	type result struct {
		data []byte
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		var data []byte
		buf := make([]byte, 64)
		for {
			n, err := r.Read(buf)
			data = append(data, buf[:n]...)
			if err != nil {
				ch <- result{data, err}
				return
			}
		}
	}()
	return func() ([]byte, error) {
		t.Helper()
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case res := <-ch:
			return res.data, res.err
		case <-timer.C:
			t.Fatalf("Read did not fail within %v", d)
			return nil, nil
		}
	}
}

// Logger returns a logger that writes, at debug level, to t's log, so that
// what the code under test logs shows in verbose or failing test output.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
