package magics

import (
	"context"
	"errors"

	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/transport"
)

// ErrNoBoard is wrapped by Boards.Current when no board is connected.
var ErrNoBoard = errors.New("no board connected — use %connect TARGET (sim for a virtual board, a serial port, ws://host, rfc2217://host:port, auto or a registered name)")

// Boards is the session's set of boards, as the magics see it. The cells
// package implements it.
type Boards interface {
	// Current returns the connected board or an error wrapping ErrNoBoard.
	Current(ctx context.Context) (*transport.Board, error)
	// Connect resolves target (a path, URL, registered name, uid, "auto")
	// and makes that board the current one.
	Connect(ctx context.Context, target string) (*transport.Board, error)
	// Disconnect releases the current board, leaving it in the friendly REPL.
	Disconnect(ctx context.Context) error
	// RunCode runs code on board as a notebook cell would, output included.
	RunCode(ctx context.Context, b *transport.Board, code string, out kernel.Output) error
}

// Env is what a magic invocation may use.
type Env struct {
	Out    kernel.Output // where the magic reports
	Boards Boards        // the session's boards
	Host   *Host         // the host computer: working directory, shell, host kernel
	Magics *Registry     // the registry itself, for %lsmagic
	// Count is the execution count of the cell being run, 0 for none
	// (a body run by %%connect).
	Count int
	// Result, when set, takes a cell magic's value as the cell's
	// execute_result; when nil the magic displays it.
	Result func(data kernel.MIMEBundle, metadata map[string]any)
}
