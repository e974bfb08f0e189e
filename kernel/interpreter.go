package kernel

import (
	"context"
	"errors"

	"github.com/iot-kernel/iot-kernel/kernel/wire"
)

// Interpreter is what the kernel core asks to run code. The core owns the
// sockets, the execution counter, busy/idle, execute_input and the replies;
// an Interpreter only runs code and reports through Output. This is xeus'
// split between the core and the interpreter.
//
// The core calls Execute, Complete and Inspect from the shell goroutine only,
// one at a time. Interrupt is delivered by cancelling the ctx passed to
// Execute with cause ErrInterrupted (from the control goroutine, while the
// cell runs); shutdown cancels it with cause ErrShutdown.
type Interpreter interface {
	// Execute runs one cell. It streams output through out as it happens.
	// A non-nil Result.Data is published as execute_result (unless silent).
	// An error of type *ExecError becomes an `error` message and an
	// execute_reply with status "error"; any other error is wrapped into one.
	Execute(ctx context.Context, req ExecuteRequest, out Output) (Result, error)
	// Complete answers complete_request. cursor is in Unicode code points,
	// as the protocol (5.2+) counts.
	Complete(ctx context.Context, code string, cursor int) (Completion, error)
	// Inspect answers inspect_request; Found false means nothing to show.
	Inspect(ctx context.Context, code string, cursor, detail int) (Inspection, error)
	// KernelInfo lets the interpreter add to kernel_info_reply.
	KernelInfo() Info
	// Shutdown is called once when the kernel stops (restart says whether
	// the client will start a new one). It must return promptly.
	Shutdown(ctx context.Context, restart bool) error
}

// ErrInterrupted is the context cause when a client asked for an interrupt.
var ErrInterrupted = errors.New("interrupted by client")

// ErrShutdown is the context cause when the kernel is shutting down.
var ErrShutdown = errors.New("kernel shutting down")

// ExecuteRequest is the part of execute_request an interpreter needs.
type ExecuteRequest struct {
	Code           string
	Silent         bool
	StoreHistory   bool
	AllowStdin     bool
	StopOnError    bool
	ExecutionCount int // the count this cell will be reported with
	// UserExpressions are evaluated after the code when it succeeds, by
	// name; Result.UserExpressions gives their values.
	UserExpressions map[string]string
}

// MIMEBundle maps MIME types to data, as in display_data.
type MIMEBundle map[string]any

// Result is what a successful Execute returns.
type Result struct {
	Data     MIMEBundle     // execute_result data; nil for none
	Metadata map[string]any // execute_result metadata
	// AskExit asks the frontend to close, as IPython's exit does: the
	// ask_exit payload of execute_reply (jupyter console quits on it).
	AskExit bool
	// UserExpressions holds the value of each of the request's
	// expressions, or the error evaluating it raised.
	UserExpressions map[string]ExprValue
}

// ExprValue is one user expression's outcome: its data, or Err.
type ExprValue struct {
	Data MIMEBundle
	Err  *ExecError
}

// ExecError is an error raised by the code that ran (on the board, on the
// host). It becomes a Jupyter `error` output.
type ExecError struct {
	Name      string   // ename, e.g. "ZeroDivisionError"
	Value     string   // evalue
	Traceback []string // lines, no ANSI codes needed
	// Err is the Go error the exception was made from, if any, for
	// callers that ask errors.Is; it is not sent to the client.
	Err error
}

// Unwrap returns the Go error the exception was made from.
func (e *ExecError) Unwrap() error { return e.Err }

func (e *ExecError) Error() string {
	if e.Value == "" {
		return e.Name
	}
	return e.Name + ": " + e.Value
}

// Output is how an interpreter reports while it runs. Implementations are
// safe for concurrent use; stream text is coalesced by the core. Stream
// text reported after Execute returned still goes out under its request,
// until the next (non-silent) execute_request begins, as IPython shows
// what a thread prints after its cell ended; other output after Execute
// returned is dropped.
type Output interface {
	// Stream writes text to "stdout" or "stderr".
	Stream(name, text string)
	// Display publishes display_data, or update_display_data when update is
	// true. displayID may be empty when update is false.
	Display(data MIMEBundle, metadata map[string]any, displayID string, update bool)
	// ClearOutput publishes clear_output.
	ClearOutput(wait bool)
	// Input asks the client for a line on the stdin channel. It fails with
	// ErrNoStdin when the request did not allow stdin, with
	// ErrBadInputReply when the client's answer could not be taken, and
	// returns when ctx ends.
	Input(ctx context.Context, prompt string, password bool) (string, error)
}

// ErrNoStdin is returned by Output.Input when the client did not allow stdin.
var ErrNoStdin = errors.New("this frontend does not support input requests")

// Completion is the content of complete_reply.
type Completion struct {
	Matches     []string
	CursorStart int
	CursorEnd   int
	Metadata    map[string]any
}

// Inspection is the content of inspect_reply.
type Inspection struct {
	Found    bool
	Data     MIMEBundle
	Metadata map[string]any
}

// Info is what an interpreter adds to kernel_info_reply.
type Info struct {
	Banner    string
	HelpLinks []HelpLink
}

// HelpLink is one entry of kernel_info_reply's help_links.
type HelpLink = wire.HelpLink
