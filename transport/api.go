// Package transport is everything between the kernel and a MicroPython
// board: the raw REPL engine over any io.ReadWriteCloser, the links that
// carry it (serial, WebREPL, RFC 2217, a virtual board's process), the one
// table of board addresses (ParseAddress) and file operations built on
// exec.
// It knows nothing of Jupyter.
package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/iot-kernel/iot-kernel/sim"
)

// BoardError is an exception raised by code running on the board.
type BoardError struct {
	Name      string   // e.g. "ZeroDivisionError"
	Value     string   // the message after "Name: "
	Traceback []string // the traceback lines as the board printed them
}

func (e *BoardError) Error() string {
	if e.Value == "" {
		return e.Name
	}
	return e.Name + ": " + e.Value
}

// ErrLinkLost reports that the link to the board dropped (unplugged, reset,
// closed pty). The next operation reopens the link.
var ErrLinkLost = errors.New("link to the board lost")

// ErrNoResponse reports that the board stopped answering within the bound.
var ErrNoResponse = errors.New("board not responding")

// ErrNotSent is wrapped by the errors of an Exec whose code never reached
// the board (it was stopped first, holds a byte the raw REPL cannot carry,
// or the board never answered to take it): nothing of it ran.
var ErrNotSent = errors.New("code not sent")

// FileInfo describes a file or directory on the board.
type FileInfo struct {
	Name  string // base name
	Path  string // full board path
	Size  int64
	IsDir bool
}

// Progress is told how many bytes of a transfer are done, out of total.
type Progress func(done, total int64)

// InputFunc answers the board's input(prompt): it returns the line typed,
// without the newline.
type InputFunc func(prompt string) (string, error)

// ExecOptions tune one Exec.
type ExecOptions struct {
	// Stdout receives the board's output as it arrives, never splitting a
	// UTF-8 character. Nil discards it.
	Stdout io.Writer
	// Input, when set, answers input() calls on the board. When nil, input()
	// on the board raises an error instead of hanging.
	Input InputFunc
	// Result, when set, receives the repr of the value that the code gave
	// the display hook (see ShowValue), in the same exchange as the code:
	// only when the code ran to its end without an exception, and not for
	// None. What the program prints cannot pass for it.
	Result func(repr string)
	// Reset, when set, is told once of each reset of the board that the
	// kernel noticed by its banner (a SystemExit that soft-resets the
	// board, machine.soft_reset(), the reset button, a watchdog): before
	// the code runs for a reset since the last Exec, after it for one at
	// its end. The kernel's own state on the board (input(), the display
	// hook) is restored either way.
	Reset func(note string)
}

// Options configure how a board is opened.
type Options struct {
	// Password for WebREPL.
	Password string
	// Baud rate for serial links; 0 means 115200.
	Baud int
	// HardReset pulses RTS (EN on ESP boards) when the link is first
	// opened, not on reconnects (serial only; see serialport.Options).
	HardReset bool
	// Timeout bounds each wait for the board (enter raw REPL, a reply); 0
	// means a default of a few seconds.
	Timeout time.Duration
	// Sim configures a virtual board (a sim or sim:NAME address; its Name
	// comes from the address). Other links ignore it.
	Sim sim.Config
	// Logger receives the board's logs; nil means slog.Default().
	Logger *slog.Logger
	// Background, when set, receives what the board prints between
	// operations (a machine.Timer's callback, a _thread thread), a line at
	// a time, as it is read: within about half a second while the board
	// is idle, else when the next operation begins. A reset's banner is
	// not passed on; the next Exec tells of the reset (ExecOptions.Reset).
	// Without it, that output is dropped. It is called from one goroutine
	// at a time, not always the same one.
	Background io.Writer
}

func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

// Dialer opens the byte stream to a board. Engines call it again to
// reconnect after the link drops.
// ctx bounds the dial (a stop button or a closing notebook cancels a
// reconnect to a dead board at once).
type Dialer func(ctx context.Context) (io.ReadWriteCloser, error)

// TimedReader is implemented by links whose reads can be bounded and
// woken. The engine reads such a link directly, in the goroutine of the
// operation: a reply reaches the operation without a hand-over between
// goroutines. Between operations, once the link has been idle for a
// moment, a poller drops what the board prints. Any other link gets a
// reader goroutine of the engine's.
type TimedReader interface {
	// ReadTimeout reads like Read, waiting at most d for the first byte
	// (d <= 0: only what has already arrived). It returns (0, nil) when
	// nothing came in time or Wake was called.
	ReadTimeout(p []byte, d time.Duration) (int, error)
	// Wake makes the ReadTimeout in progress, or else the next one,
	// return at once. It may be called from any goroutine.
	Wake()
}

// LinkError wraps a failure of the link with the URL it was for.
type LinkError struct {
	URL string // shown without any password it holds (see SafeURL)
	Err error
}

func (e *LinkError) Error() string {
	msg := e.Err.Error()
	url := SafeURL(e.URL)
	if strings.Contains(msg, url) {
		return msg // the link's own error names the board already: once is enough
	}
	if a, err := ParseAddress(url); err == nil && a.Kind == KindSerial && strings.Contains(msg, a.Target) {
		return msg // serial:///dev/ttyUSB0's error names /dev/ttyUSB0
	}
	return fmt.Sprintf("%s: %s", url, msg)
}

// Unwrap gives the underlying error.
func (e *LinkError) Unwrap() error { return e.Err }
