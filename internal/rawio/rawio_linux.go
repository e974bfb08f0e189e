package rawio

import (
	"io"
	"syscall"
	"unsafe"
)

const supported = true

// maxIovecs bounds the buffers of one writev(2) (the system's IOV_MAX).
const maxIovecs = 1024

// Read reads into p, waiting in the poller until something arrives: io.EOF
// when the other end closed, the descriptor's deadline error when it
// passes first.
func (c *Conn) Read(p []byte) (int, error) {
	return c.read(p, true)
}

// ReadNow reads what has already arrived, without waiting: (0, nil) when
// nothing has.
func (c *Conn) ReadNow(p []byte) (int, error) {
	return c.read(p, false)
}

func (c *Conn) read(p []byte, wait bool) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n uintptr
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		n, errno = call(syscall.SYS_READ, fd, unsafe.Pointer(unsafe.SliceData(p)), len(p))
		return !wait || errno != syscall.EAGAIN
	})
	switch {
	case err != nil:
		return 0, err
	case errno == syscall.EAGAIN:
		return 0, nil // only without wait
	case errno != 0:
		return 0, errno
	case n == 0:
		return 0, io.EOF
	}
	return int(n), nil
}

// Write writes all of p, waiting in the poller for room; on an error it
// returns how much was written.
func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.WriteBuffers([][]byte{p})
	return int(n), err
}

// WriteNow writes what fits of p without waiting: (0, syscall.EAGAIN)
// when nothing does.
func (c *Conn) WriteNow(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n uintptr
	var errno syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		n, errno = call(syscall.SYS_WRITE, fd, unsafe.Pointer(unsafe.SliceData(p)), len(p))
		return true
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// call makes one raw read, write or writev system call on fd, again when
// a signal interrupted it.
func call(trap, fd uintptr, p unsafe.Pointer, n int) (uintptr, syscall.Errno) {
	for {
		r, _, errno := syscall.RawSyscall(trap, fd, uintptr(p), uintptr(n))
		if errno != syscall.EINTR {
			return r, errno
		}
	}
}

// WriteBuffers writes bufs in order, all of them, with vectored writes,
// waiting in the poller for room; it returns the bytes written. bufs is
// not modified.
func (c *Conn) WriteBuffers(bufs [][]byte) (int64, error) {
	var total int64
	i, off := 0, 0 // the next byte to write: bufs[i][off]
	iov := make([]syscall.Iovec, 0, min(len(bufs), maxIovecs))
	var errno syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		for {
			for i < len(bufs) && off == len(bufs[i]) {
				i, off = i+1, 0
			}
			if i == len(bufs) {
				return true
			}
			iov = iov[:0]
			for j, o := i, off; j < len(bufs) && len(iov) < maxIovecs; j, o = j+1, 0 {
				if b := bufs[j][o:]; len(b) > 0 {
					v := syscall.Iovec{Base: unsafe.SliceData(b)}
					v.SetLen(len(b))
					iov = append(iov, v)
				}
			}
			n, e := call(syscall.SYS_WRITEV, fd, unsafe.Pointer(unsafe.SliceData(iov)), len(iov))
			switch e {
			case 0:
				total += int64(n)
				for left := int(n); left > 0; {
					step := min(left, len(bufs[i])-off)
					off, left = off+step, left-step
					if off == len(bufs[i]) {
						i, off = i+1, 0
					}
				}
			case syscall.EAGAIN:
				return false // wait for room
			default:
				errno = e
				return true
			}
		}
	})
	if err == nil && errno != 0 {
		err = errno
	}
	return total, err
}
