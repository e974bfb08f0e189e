package testenv

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// WaitBlocked waits, up to d, until a goroutine is blocked (waiting on a
// channel, a select, a timer or a system call, not running) inside the
// function fn, named as in stack traces ("inbox.(*Inbox).ReadTimeout"),
// and fails t if none is by then. A test of something that ends a wait
// in progress calls it first: otherwise the event may come before the wait
// has begun, and the test cannot tell an early event from one that ended
// a wait.
func WaitBlocked(t testing.TB, fn string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			header, frames, _ := strings.Cut(g, "\n")
			if blockedState(header) && inFrames(frames, fn) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no goroutine was waiting in %s within %v", fn, d)
		}
		time.Sleep(time.Millisecond)
	}
}

// blockedState reports whether a stack trace's goroutine header ("goroutine
// 7 [select]:") shows a goroutine that waits rather than runs. A goroutine
// waiting for a mutex is not counted: it has not reached its wait yet.
func blockedState(header string) bool {
	_, state, ok := strings.Cut(header, "[")
	if !ok {
		return false
	}
	state, _, _ = strings.Cut(state, "]")
	state, _, _ = strings.Cut(state, ",") // "chan receive, 2 minutes"
	for _, s := range []string{"select", "chan receive", "chan send", "syscall", "IO wait", "sleep", "sync.Cond.Wait"} {
		if state == s {
			return true
		}
	}
	return false
}

// inFrames reports whether a goroutine's frames include a call of fn: a
// line naming the function, with or without its package path before it.
func inFrames(frames, fn string) bool {
	for _, line := range strings.Split(frames, "\n") {
		i := strings.LastIndex(line, "(") // methods read "pkg.(*T).M(args)"
		if i < 0 {
			continue
		}
		if name := line[:i]; name == fn || strings.HasSuffix(name, "/"+fn) {
			return true
		}
	}
	return false
}
