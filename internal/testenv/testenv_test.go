package testenv

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestMissing(t *testing.T) {
	_, err := exec.LookPath("no-such-tool-iot-kernel")
	if !Missing(fmt.Errorf("start board: %w", err)) {
		t.Errorf("Missing(%v) = false", err)
	}
	if Missing(errors.New("board did not answer")) {
		t.Error("Missing is true for an error that is not about a missing tool")
	}
}

// A missing tool skips, or fails the test under IOT_TEST_REQUIRE_ALL=1.
func TestSkipOrFail(t *testing.T) {
	for _, c := range []struct {
		env            string
		skipped, fails bool
	}{{"", true, false}, {"0", true, false}, {"1", false, true}} {
		t.Run("env="+c.env, func(t *testing.T) {
			t.Setenv(RequireAllVar, c.env)
			ft := &fakeTB{}
			ft.run(func() { SkipOrFail(ft, "needs %s", "qemu") })
			if ft.skipped != c.skipped || ft.failed != c.fails || !strings.Contains(ft.msg, "needs qemu") {
				t.Errorf("skipped %v failed %v msg %q", ft.skipped, ft.failed, ft.msg)
			}
		})
	}
}

// fakeTB records what SkipOrFail does; Skipf and Fatalf end the goroutine
// as testing's do.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped, f.msg = true, fmt.Sprintf(format, args...)
	panic(f)
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	panic(f)
}

func (f *fakeTB) run(fn func()) {
	defer func() {
		if r := recover(); r != nil && r != any(f) {
			panic(r)
		}
	}()
	fn()
}

func TestReadFull(t *testing.T) {
	pr, pw := io.Pipe()
	t.Cleanup(func() { pr.Close() })
	go func() {
		pw.Write([]byte("he"))
		pw.Write([]byte("llo!"))
	}()
	if got := ReadFull(t, pr, 5, 5*time.Second); string(got) != "hello" {
		t.Errorf("ReadFull = %q", got)
	}
}

func TestReadErr(t *testing.T) {
	pr, pw := io.Pipe()
	wait := ReadErr(t, pr, 5*time.Second)
	pw.Write([]byte("last words"))
	pw.CloseWithError(io.ErrUnexpectedEOF)
	if data, err := wait(); string(data) != "last words" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ReadErr = %q, %v", data, err)
	}
}

func TestWaitBlocked(t *testing.T) {
	release := make(chan struct{})
	done := make(chan struct{})
	go func() { waitHere(release); close(done) }()
	WaitBlocked(t, "testenv.waitHere", 5*time.Second)
	close(release)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting goroutine did not end")
	}

	ft := &fakeTB{TB: t}
	ft.run(func() { WaitBlocked(ft, "testenv.noSuchFunction", 10*time.Millisecond) })
	if !ft.failed || !strings.Contains(ft.msg, "noSuchFunction") {
		t.Errorf("WaitBlocked on a function nobody waits in: failed %v, msg %q", ft.failed, ft.msg)
	}
}

//go:noinline
func waitHere(c chan struct{}) { <-c }
