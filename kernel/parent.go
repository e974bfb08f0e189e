//go:build unix

package kernel

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// parentPollInterval is how often WatchParent looks at the parent; it keeps
// the time to notice a dead parent well under 2 s.
const parentPollInterval = 250 * time.Millisecond

// WatchParent returns a channel that is closed when the process pid has
// died, or when this process has been reparented (its getppid changed, so
// the parent that started it is gone), whichever comes first. It stops
// watching when ctx ends, without closing the channel. A pid <= 0 watches
// only for reparenting. The caller picks pid: JPY_PARENT_PID when the
// launcher set it, else os.Getppid().
func WatchParent(ctx context.Context, pid int) <-chan struct{} {
	dead := make(chan struct{})
	ppid := os.Getppid()
	go func() {
		t := time.NewTicker(parentPollInterval)
		defer t.Stop()
		for {
			if parentGone(pid, ppid) {
				close(dead)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
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
