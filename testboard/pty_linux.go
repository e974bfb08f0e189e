//go:build linux

package testboard

import (
	"fmt"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// openPTY opens a pty pair in raw mode. The master is non-blocking and so
// pollable: closing it wakes a goroutine blocked in Read or Write.
func openPTY() (master, slave *os.File, err error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("open pty: %w", err)
	}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	// pty.Open leaves the master in blocking mode (it calls Fd()), where a
	// Close does not interrupt a blocked Read. Re-wrap a non-blocking dup.
	fd, err := unix.Dup(int(m.Fd()))
	_ = m.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("dup pty master: %w", err)
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return nil, nil, fmt.Errorf("pty master non-blocking: %w", err)
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := makeRaw(int(s.Fd())); err != nil {
		_ = master.Close()
		return nil, nil, err
	}
	return master, s, nil
}

// makeRaw puts a tty in raw mode, as a USB serial port is: no echo, no line
// editing, no signals, no CR/LF translation, no XON/XOFF, 8 bits.
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("get termios: %w", err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF | unix.IXANY
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB | unix.CBAUD
	t.Cflag |= unix.CS8 | unix.CREAD | unix.CLOCAL | unix.B115200
	t.Ispeed = unix.B115200
	t.Ospeed = unix.B115200
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("set termios: %w", err)
	}
	return nil
}

// flushInput drops what the board printed that no client has read yet.
func flushInput(slave *os.File) error {
	if err := unix.IoctlSetInt(int(slave.Fd()), unix.TCFLSH, unix.TCIFLUSH); err != nil {
		return fmt.Errorf("flush pty: %w", err)
	}
	return nil
}

// OpenRaw opens a serial device (such as Board.Path) for reading and writing
// in raw mode, without making it the controlling terminal. Closing the file
// wakes a goroutine blocked in Read.
func OpenRaw(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := makeRaw(fd); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// pipeUnread returns the number of bytes in the pipe f writes to that its
// reader has not taken yet (FIONREAD, alias TIOCINQ, works on either end of a Linux pipe).
func pipeUnread(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var ierr error
	if err := rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCINQ) }); err != nil {
		return 0, err
	}
	return n, ierr
}
