//go:build unix

package kernel

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/internal/testenv"
)

// watchModes are the two ways WatchParent can wait: pidfds (Linux) and
// polling. Where pidfds are unsupported both run the polling path.
var watchModes = []struct {
	name     string
	usePidfd bool
}{{"pidfd", true}, {"poll", false}}

func TestWatchParentNoticesDeath(t *testing.T) {
	for _, m := range watchModes {
		t.Run(m.name, func(t *testing.T) {
			ctx := testCtx(t)
			child := exec.Command("sleep", "60")
			if err := child.Start(); err != nil {
				testenv.SkipOrFail(t, "cannot start a child (sleep): %v", err)
			}
			t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
			dead := watchParent(ctx, child.Process.Pid, os.Getppid(), m.usePidfd)
			select {
			case <-dead:
				t.Fatal("fired while the process lives")
			default:
			}
			_ = child.Process.Kill()
			_ = child.Wait() // reap it, or it lingers as a zombie that kill(pid, 0) still finds
			select {
			case <-dead:
			case <-ctx.Done():
				t.Fatal("WatchParent did not notice the death")
			}
		})
	}
}

// A launcher pid that no longer exists fires at once.
func TestWatchParentAlreadyDead(t *testing.T) {
	ctx := testCtx(t)
	child := exec.Command("true")
	if err := child.Run(); err != nil {
		testenv.SkipOrFail(t, "cannot run a child (true): %v", err)
	}
	for _, m := range watchModes {
		select {
		case <-watchParent(ctx, child.Process.Pid, os.Getppid(), m.usePidfd):
		case <-ctx.Done():
			t.Fatalf("%s: a process that had already exited was not noticed", m.name)
		}
	}
}

// Cancelling ctx stops the watch without firing and ends its goroutines,
// so a kernel that watches leaks nothing.
func TestWatchParentStops(t *testing.T) {
	for _, m := range watchModes {
		t.Run(m.name, func(t *testing.T) {
			ctx := testCtx(t)
			before := runtime.NumGoroutine()
			wctx, cancel := context.WithCancel(ctx)
			w := watchParent(wctx, os.Getpid(), os.Getppid(), m.usePidfd)
			cancel()
			for runtime.NumGoroutine() > before {
				select {
				case <-ctx.Done():
					t.Fatalf("%d goroutines still running after the watch ended, %d before", runtime.NumGoroutine(), before)
				case <-time.After(time.Millisecond):
				}
			}
			select {
			case <-w:
				t.Error("fired for a live process")
			default:
			}
		})
	}
}

// When the process that started the kernel dies, the kernel is reparented;
// WatchParent(ctx, 0) notices. The test runs sh, which starts this test
// binary as TestWatchParentHelper in the background, then kills sh.
func TestWatchParentReparented(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		testenv.SkipOrFail(t, "no test executable: %v", err)
	}
	for _, m := range watchModes {
		t.Run(m.name, func(t *testing.T) {
			ctx := testCtx(t)
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r.Close() })
			mid := exec.Command("sh", "-c", `"$0" -test.run='^TestWatchParentHelper$' & wait`, exe)
			mid.Env = append(os.Environ(), "IOT_KERNEL_WATCH_HELPER="+m.name)
			mid.Stdout, mid.Stderr = w, w
			if err := mid.Start(); err != nil {
				testenv.SkipOrFail(t, "cannot start sh: %v", err)
			}
			_ = w.Close()
			t.Cleanup(func() { _ = mid.Process.Kill(); _ = mid.Wait() })
			lines := make(chan string, 64) // the reader never blocks on a test that stopped reading
			go func() {
				defer close(lines)
				sc := bufio.NewScanner(r)
				for sc.Scan() {
					lines <- sc.Text()
				}
			}()
			next := func() string {
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatal("the helper ended without saying so")
					}
					return l
				case <-ctx.Done():
					t.Fatal("no word from the helper")
				}
				return ""
			}
			first := next()
			pid, err := strconv.Atoi(strings.TrimPrefix(first, "watching "))
			if err != nil {
				t.Fatalf("helper said %q", first)
			}
			t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
			_ = mid.Process.Kill()
			_ = mid.Wait()
			if l := next(); l != "parent gone" {
				t.Fatalf("helper said %q, want it to notice its parent's death", l)
			}
		})
	}
}

// TestWatchParentHelper is the child of TestWatchParentReparented.
func TestWatchParentHelper(t *testing.T) {
	mode := os.Getenv("IOT_KERNEL_WATCH_HELPER")
	if mode == "" {
		t.Skip("runs only as TestWatchParentReparented's child process, never on its own")
	}
	ctx := testCtx(t)
	dead := watchParent(ctx, 0, os.Getppid(), mode == "pidfd")
	fmt.Printf("watching %d\n", os.Getpid())
	select {
	case <-dead:
		fmt.Println("parent gone")
	case <-ctx.Done():
		fmt.Println("timed out")
	}
}
