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
	// Disconnect releases the current board, leaving it in the friendly
	// REPL, and makes the notebook forget it, without connecting one first.
	// It returns an error wrapping ErrNoBoard when there was nothing to let
	// go or forget.
	Disconnect(ctx context.Context) (Disconnected, error)
	// RunCode runs code on board as a notebook cell would, output included,
	// and returns the value of a trailing bare expression (nil for none);
	// at says where the code is, for its tracebacks.
	RunCode(ctx context.Context, b *transport.Board, code string, at CodeAt, out kernel.Output) (kernel.MIMEBundle, error)
}

// Disconnected is what Disconnect let go of.
type Disconnected struct {
	Name, URL string // the board released; empty when none was connected
	// Forgot is the board remembered for the notebook, forgotten without
	// being connected (a restart, then %disconnect).
	Forgot string
}

// CodeAt is where code a magic runs is in the notebook: the execution count
// of its cell (0 for none) and the cell line it starts on (1-based).
type CodeAt struct {
	Count, Line int
}

// Env is what a magic invocation may use.
type Env struct {
	Out    kernel.Output // where the magic reports
	Boards Boards        // the session's boards
	Host   *Host         // the host computer: working directory, shell, host kernel
	Magics *Registry     // the registry itself, for %lsmagic
	// Count is the execution count of the cell being run, 0 for none.
	Count int
	// BodyLine is the cell line a magic's body starts on (1-based; a
	// rest-of-cell body is padded to its place, so 1), so that code run
	// from the body keeps the cell's line numbers.
	BodyLine int
	// Result, when set, takes a cell magic's value as the cell's
	// execute_result; when nil the magic displays it.
	Result func(data kernel.MIMEBundle, metadata map[string]any)
	// NoStdin is set when the cell's front end cannot answer input()
	// (the request's allow_stdin was false).
	NoStdin bool
}

// showResult makes data a cell magic's value: the cell's execute_result
// when the caller takes one, else a display.
func (e *Env) showResult(data kernel.MIMEBundle) {
	switch {
	case data == nil:
	case e.Result != nil:
		e.Result(data, nil)
	default:
		e.Out.Display(data, nil, "", false)
	}
}

// codeAt is where a magic's body is in the notebook.
func (e *Env) codeAt() CodeAt { return CodeAt{Count: e.Count, Line: max(e.BodyLine, 1)} }
