package kernel

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// watchExits returns a channel closed when any of pids exits, and a stop
// function that releases the watch. Each pid is held as a pidfd, which
// becomes readable when its process exits; the runtime's network poller
// waits for that, so no thread is held and nothing wakes up meanwhile.
// It fails where pidfds or their polling are unsupported (Linux < 5.10,
// seccomp filters); the caller then polls.
func watchExits(pids []int) (exited <-chan struct{}, stop func(), err error) {
	files := make([]*os.File, 0, len(pids))
	closeAll := func() {
		for _, f := range files {
			_ = f.Close() // ends the Read below with os.ErrClosed
		}
	}
	gone := make(chan struct{})
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
		if errors.Is(err, unix.ESRCH) {
			closeAll()
			close(gone) // already exited
			return gone, func() {}, nil
		}
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
		}
		f := os.NewFile(uintptr(fd), fmt.Sprintf("pidfd:%d", pid))
		files = append(files, f)
		// A file the poller did not take has no deadlines: waiting on it
		// would fail at once rather than sleep.
		if err := f.SetReadDeadline(time.Time{}); err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("pidfd %d is not pollable: %w", pid, err)
		}
	}
	var once sync.Once
	for _, f := range files {
		rc, err := f.SyscallConn()
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("pidfd: %w", err)
		}
		go func() {
			// Read calls the function, and while it reports false, sleeps
			// until the poller says the descriptor is readable.
			if err := rc.Read(pidfdExited); err == nil {
				once.Do(func() { close(gone) })
			}
		}()
	}
	return gone, closeAll, nil
}

// pidfdExited reports whether the process behind a pidfd has exited.
func pidfdExited(fd uintptr) bool {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(pfd, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return err == nil && n > 0 && pfd[0].Revents&(unix.POLLIN|unix.POLLHUP) != 0
	}
}
