package serialport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"strings"
	"syscall"

	"github.com/iot-kernel/iot-kernel/transport/internal/urlopt"
	"go.bug.st/serial"
)

// DefaultBaud is the rate used when neither Options nor the URL name one.
const DefaultBaud = 115200

// Options tune how a serial port is opened.
type Options struct {
	// Baud is the line rate; 0 means DefaultBaud. A "?baud=" in the URL
	// takes precedence.
	Baud int
	// HardReset pulses RTS (the EN pin of ESP boards) after opening and
	// waits for the board to boot. Off by default.
	HardReset bool
}

// Dial opens the serial port named by target and returns the byte stream to
// the board. target is a device path ("/dev/ttyUSB0", "COM3"), a URL
// ("serial:///dev/ttyUSB0", "serial:///dev/ttyUSB0?baud=9600") or "auto",
// which picks the first board-like port that Discover finds. ctx bounds the
// open and, with HardReset, the wait for the board to boot.
func Dial(ctx context.Context, target string, opt Options) (io.ReadWriteCloser, error) {
	return dial(ctx, target, opt, serial.Open)
}

// dial is Dial with the call that opens the port given: tests make it fail
// as a system would (EACCES, which a test running as root cannot get).
func dial(ctx context.Context, target string, opt Options, openPort opener) (io.ReadWriteCloser, error) {
	path, baud, err := parseTarget(target)
	if err != nil {
		return nil, err
	}
	baud = urlopt.PickBaud(baud, opt.Baud, DefaultBaud)
	if baud < 0 {
		return nil, fmt.Errorf("serial %s: invalid baud rate %d", target, baud)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("serial %s: %w", target, err)
	}
	if path == "auto" {
		ports, err := Discover()
		if err != nil {
			return nil, fmt.Errorf("serial auto: %w", err)
		}
		if path, err = pickAuto(ports); err != nil {
			return nil, err
		}
	}
	p, fd, err := open(openPort, path, baud)
	if err != nil {
		return nil, err
	}
	if opt.HardReset {
		if p, fd, err = hardReset(ctx, p, fd, path, baud); err != nil {
			return nil, err
		}
	}
	return newConn(p, fd, path), nil
}

// parseTarget splits a Dial target into the device path and the baud rate
// named in the URL (0 when none).
func parseTarget(target string) (path string, baud int, err error) {
	if target == "" {
		return "", 0, errors.New("serial: empty port name")
	}
	if !strings.HasPrefix(target, "serial:") {
		return target, 0, nil
	}
	u, err := url.Parse(target)
	if err != nil {
		return "", 0, fmt.Errorf("serial: bad URL %q: %w", target, err)
	}
	switch {
	case u.Host != "" && u.Path == "":
		path = u.Host // serial://COM3, serial://auto
	case u.Host != "":
		return "", 0, fmt.Errorf("serial: bad URL %q: write the device path after three slashes, as in serial:///dev/ttyUSB0", target)
	case u.Path != "":
		path = u.Path
	default:
		path = u.Opaque
	}
	if path == "" {
		return "", 0, fmt.Errorf("serial: bad URL %q: no device path", target)
	}
	baud, err = urlopt.Baud(u.Query())
	if err != nil {
		return "", 0, fmt.Errorf("serial: bad URL %q: %w", target, err)
	}
	return path, baud, nil
}

// opener opens a port: serial.Open, or a test's stand-in that fails as a
// system would.
type opener func(path string, mode *serial.Mode) (serial.Port, error)

// open opens path in raw mode, 8N1, with DTR and RTS asserted (see the
// package documentation for why). It returns the port's descriptor, made
// non-blocking (see newFD), or -1.
func open(openPort opener, path string, baud int) (serial.Port, int, error) {
	mode := &serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}
	if !isPTY(path) {
		mode.InitialStatusBits = &serial.ModemOutputBits{DTR: true, RTS: true}
	}
	// The library opens the port without O_CLOEXEC, and newFD sets it
	// afterwards: holding ForkLock (as the syscall package does around its
	// own opens) keeps any program from starting in between with the port.
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	before := devFDs(path)
	p, err := openPort(path, mode)
	var pe *serial.PortError
	if err != nil && mode.InitialStatusBits != nil && errors.As(err, &pe) && pe.Code() == serial.InvalidSerialPort {
		// Some virtual ttys have no modem lines at all; open without them.
		mode.InitialStatusBits = nil
		p, err = openPort(path, mode)
	}
	if err != nil {
		return nil, -1, openError(path, baud, err)
	}
	return p, newFD(path, before), nil
}

// openError says why path did not open and what to do about it. The
// library reports EACCES and EBUSY as its own PortErrors, which wrap
// nothing: they are given the matching fs error back.
func openError(path string, baud int, err error) error {
	var pe *serial.PortError
	code := serial.PortErrorCode(-1)
	if errors.As(err, &pe) {
		code = pe.Code()
	}
	switch {
	case code == serial.PermissionDenied || errors.Is(err, fs.ErrPermission):
		return &OpenError{Path: path, Err: fs.ErrPermission,
			Hint: "this user may not open it; on Linux, add the user to the dialout group (sudo usermod -aG dialout $USER, then log in again)"}
	case code == serial.PortBusy || errors.Is(err, syscall.EBUSY):
		return &OpenError{Path: path, Err: syscall.EBUSY,
			Hint: "it is in use by another program (a terminal, mpremote, another notebook): close that first"}
	case code == serial.PortNotFound || errors.Is(err, fs.ErrNotExist):
		return &OpenError{Path: path, Err: fs.ErrNotExist,
			Hint: "there is no such port: check its name and that the board is plugged in"}
	}
	return &OpenError{Path: path, Err: err, Hint: fmt.Sprintf("opening it at %d baud failed", baud)}
}

// OpenError is a serial port that did not open: Err is the cause
// (fs.ErrPermission, fs.ErrNotExist, syscall.EBUSY or the system's error),
// Hint says it in words, with what to do.
type OpenError struct {
	Path string
	Err  error
	Hint string
}

func (e *OpenError) Error() string {
	if e.Err == fs.ErrPermission || e.Err == fs.ErrNotExist || e.Err == syscall.EBUSY {
		return "serial " + e.Path + ": " + e.Hint // the hint says what the cause is
	}
	return "serial " + e.Path + ": " + e.Hint + ": " + e.Err.Error()
}

// Unwrap gives the cause.
func (e *OpenError) Unwrap() error { return e.Err }
