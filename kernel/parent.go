//go:build unix

package kernel

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// parentPollInterval is how often WatchParent looks at the parent where
// the system cannot wake it on an exit (no pidfd): often enough that a
// dead parent is noticed within 2 s, seldom enough to cost next to nothing
// while the kernel idles.
const parentPollInterval = time.Second

// WatchParent returns a channel that is closed when the process pid has
// died, or when this process has been reparented (its getppid changed, so
// the parent that started it is gone), whichever comes first. It stops
// watching when ctx ends, without closing the channel. A pid <= 0 watches
// only for reparenting. The caller picks pid: JPY_PARENT_PID when the
// launcher set it, else os.Getppid().
//
// On Linux it holds a pidfd for pid and for the parent and sleeps until
// one of them exits (a parent's exit is what reparents this process), so
// an idle kernel is never woken by the watch. Elsewhere, or where pidfds
// are unavailable, it polls every parentPollInterval.
func WatchParent(ctx context.Context, pid int) <-chan struct{} {
	return watchParent(ctx, pid, os.Getppid(), true)
}

// watchParent is WatchParent with the parent pid given and the pidfd
// mechanism optional, so that tests exercise the polling path too.
func watchParent(ctx context.Context, pid, ppid int, usePidfd bool) <-chan struct{} {
	dead := make(chan struct{})
	// Armed before returning, so that a death after the call is seen by
	// the wait below, never only by the first check.
	var exited <-chan struct{} // nil while polling: never ready
	stop := func() {}
	polling := true
	if usePidfd {
		pids := []int{ppid}
		if pid > 0 && pid != ppid {
			pids = append(pids, pid)
		}
		if ch, st, err := watchExits(pids); err == nil {
			exited, stop, polling = ch, st, false
		}
	}
	// Checked after the pidfds exist, so an exit before they did is not
	// missed.
	if parentGone(pid, ppid) {
		stop()
		close(dead)
		return dead
	}
	go func() {
		defer stop()
		var tick <-chan time.Time
		if polling {
			t := time.NewTicker(parentPollInterval)
			defer t.Stop()
			tick = t.C
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-exited:
				close(dead)
				return
			case <-tick:
				if parentGone(pid, ppid) {
					close(dead)
					return
				}
			}
		}
	}()
	return dead
}

func parentGone(pid, ppid int) bool {
	if os.Getppid() != ppid {
		return true
	}
	if pid <= 0 {
		return false
	}
	// Signal 0 checks existence; EPERM means it exists under another user.
	err := syscall.Kill(pid, 0)
	return errors.Is(err, syscall.ESRCH)
}
