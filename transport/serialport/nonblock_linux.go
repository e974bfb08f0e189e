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
// goroutine opened the same device meanwhile), which leaves it blocking.
// Every new descriptor on the device is made close-on-exec either way.
func newFD(path string, before map[int]bool) int {
	found, n := -1, 0
	for fd := range devFDs(path) {
		if before[fd] {
			continue
		}
		// The library opens without O_CLOEXEC: every program the kernel
		// starts (a %%host kernel, a !command) would inherit the port,
		// could take the board's bytes, and would hold the device open
		// after the kernel lets it go. Every new descriptor on the
		// device is the kernel's own, so each is marked, found or not.
		unix.CloseOnExec(fd)
		found, n = fd, n+1
	}
	if n != 1 || unix.SetNonblock(found, true) != nil {
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

// pollable returns a duplicate of fd (non-blocking) that waits in Go's
// network poller, or nil. A read that waits in select(2), as the library's
// does, holds an OS thread and its scheduler slot in a system call for the
// whole wait: goroutines it just woke (the IOPub writer) then wait for the
// runtime's monitor to take the slot back, and the monitor wakes every
// 20 µs meanwhile, on the machine the board shares. Parked in the poller,
// the reading goroutine costs nothing while it waits, and a deadline ends
// its wait at once (Wake, Close).
func pollable(fd int, path string) *os.File {
	if fd < 0 {
		return nil
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	// The descriptor is non-blocking (newFD), so os.NewFile registers it
	// with the poller; a device the poller refuses would block instead.
	f := os.NewFile(uintptr(dup), path)
	if f == nil {
		return nil
	}
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		_ = f.Close() // not in the poller
		return nil
	}
	return f
}
