package serialport

import (
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// go.bug.st/serial waits for a byte with select(2), then read(2)s a
// descriptor in blocking mode. When another reader of the same device (a
// second link to the board: an RFC 2217 server, a WebREPL bridge, a
// terminal) takes the byte in between, that read waits for the next one,
// without a bound, and Close waits for the read: the kernel hung with it.
// The library does not hand out its descriptor, so it is found among the
// process's own, and made non-blocking: such a read then returns EAGAIN,
// which conn takes for "nothing yet".

// devFDs returns the descriptors of this process open on path's device.
func devFDs(path string) map[int]bool {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	fds := map[int]bool{}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && target == real {
			fds[fd] = true
		}
	}
	return fds
}

// newFD returns the one descriptor on path's device that is not in before
// and makes it non-blocking; -1 when it is not found for sure (another
// goroutine opened the same device meanwhile), which leaves it as it was.
func newFD(path string, before map[int]bool) int {
	found := -1
	for fd := range devFDs(path) {
		if before[fd] {
			continue
		}
		if found >= 0 {
			return -1
		}
		found = fd
	}
	if found < 0 || unix.SetNonblock(found, true) != nil {
		return -1
	}
	return found
}

// waitWritable waits up to d for fd to take more bytes (fd < 0: just d).
func waitWritable(fd int, d time.Duration) {
	if fd < 0 {
		time.Sleep(d)
		return
	}
	_, _ = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}, int(d/time.Millisecond))
}
