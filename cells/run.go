package cells

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/magics"
	"github.com/iot-kernel/iot-kernel/transport"
)

// normalizeNewlines makes every line ending of a cell "\n": "\r\n" (Windows),
// and a bare "\r" (old Mac files, some editors, text pasted from a board's
// own output), as Python reads source. Cells, their magics' bodies
// (%%writefile, %%host) and %%connect bodies all go through it.
func normalizeNewlines(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// runCell runs a whole cell against env's boards. It returns the
// execute_result data of a trailing bare expression, if any.
func (it *Interpreter) runCell(ctx context.Context, env *magics.Env, cell string, count int) (kernel.MIMEBundle, error) {
	// Leading blank lines do not hide a cell magic, as in IPython.
	if trimmed := strings.TrimLeft(cell, " \t\n"); strings.HasPrefix(trimmed, "%%") {
		line, body, _ := strings.Cut(trimmed[2:], "\n")
		// The body starts on the line after the magic's.
		env.BodyLine = strings.Count(cell[:len(cell)-len(trimmed)], "\n") + 2
		if err := it.reg.Run(ctx, env, line, magics.Cell, body); err != nil {
			return nil, it.magicError(ctx, err)
		}
		return nil, nil
	}
	parts := split(cell)
	for _, p := range parts {
		// Checked before anything runs: a cell that cannot run whole
		// does not run in part.
		if p.kind == partMagic && strings.HasPrefix(p.text, "%") {
			name := strings.Fields(p.text)[0] // "%name"
			return nil, it.magicError(ctx, &magics.UsageError{Magic: name,
				Msg:   fmt.Sprintf("a cell magic must be on the first line of the cell (it is on line %d)", p.line),
				Usage: "Move %" + name + " to the top of a cell of its own."})
		}
	}
	for i, p := range parts {
		if i > 0 && ctx.Err() != nil {
			// A stop as the part before ended: nothing after it runs
			// (a host magic such as %cd would not look at ctx).
			return nil, it.magicError(ctx, context.Cause(ctx))
		}
		var err error
		switch p.kind {
		case partMagic:
			name, _ := magics.SplitName(p.text)
			if m, ok := it.reg.Lookup(name, magics.Line); ok && m.RestOfCell {
				// The rest of the cell is the magic's body; padded, its
				// lines keep their numbers.
				env.BodyLine = 1
				err = it.reg.Run(ctx, env, p.text, magics.Line, restOfCell(cell, p.line))
				if err != nil {
					return nil, it.magicError(ctx, err)
				}
				return nil, nil
			}
			err = it.reg.Run(ctx, env, p.text, magics.Line, "")
		case partShell:
			err = magics.RunShell(ctx, env, p.text)
		case partCode:
			var b *transport.Board
			b, err = currentBoard(ctx, env)
			if err != nil {
				break
			}
			var data kernel.MIMEBundle
			data, err = it.runCode(ctx, b, cell, p, i == len(parts)-1, count, env.Out)
			if err == nil && data != nil {
				return data, nil // only the last part can have a value
			}
		}
		if err != nil {
			return nil, it.magicError(ctx, err)
		}
	}
	return nil, nil
}

// restOfCell is cell after its line n (1-based), padded with n newlines
// so that each line keeps its number.
func restOfCell(cell string, n int) string {
	rest := cell
	for range n {
		i := strings.IndexByte(rest, '\n')
		if i < 0 {
			return strings.Repeat("\n", n)
		}
		rest = rest[i+1:]
	}
	return strings.Repeat("\n", n) + rest
}

// currentBoard is env's current board; the session's own says so when it
// has just reattached the notebook's board after a restart.
func currentBoard(ctx context.Context, env *magics.Env) (*transport.Board, error) {
	if s, ok := env.Boards.(*session); ok {
		return s.currentNotify(ctx, env.Out)
	}
	return env.Boards.Current(ctx)
}

// runCode runs one code part of cell on b, in one exchange with the board.
// When last is set and the part ends in a bare expression, its value goes
// to the board's display hook in the same exchange, and its repr is
// returned as text/plain. A reset of the board that the exchange noticed
// is told on stderr.
func (it *Interpreter) runCode(ctx context.Context, b *transport.Board, cell string, p part, last bool, count int, out kernel.Output) (kernel.MIMEBundle, error) {
	// Padding with newlines puts every line where it is in the cell, so
	// the board's line numbers are the cell's.
	pad := strings.Repeat("\n", p.line-1)
	code := pad + p.text
	w := kernel.NewStreamWriter(out, "stdout")
	// Why the frontend could not answer an input(): the board's bare
	// EOFError that follows says it.
	var noAnswer atomic.Pointer[string]
	opts := transport.ExecOptions{
		Stdout: w,
		Input: func(prompt string) (string, error) {
			w.Flush()
			s, err := out.Input(ctx, prompt, false)
			switch {
			case errors.Is(err, kernel.ErrNoStdin):
				why := ErrNoStdinText
				noAnswer.Store(&why)
			case errors.Is(err, kernel.ErrBadInputReply):
				why := err.Error()
				noAnswer.Store(&why)
			}
			return s, err
		},
		Reset: func(note string) {
			w.Flush()
			out.Stream("stderr", note+"\n")
		},
	}
	var repr string
	shown := false
	if ll, ok := p.lines[len(p.lines)-1].shown(cell); last && ok && !isPrintCall(cell[ll.start:ll.codeEnd]) {
		// The expression keeps its line, so its errors keep their line
		// numbers; a trailing comment is left out.
		expr := cell[ll.start:ll.codeEnd]
		if ll.comma {
			expr = "(" + expr + ")"
		}
		code = pad + cell[p.start:ll.start] + transport.ShowValue(expr)
		opts.Result = func(r string) { repr, shown = r, true }
	}
	err := b.Exec(ctx, code, opts)
	w.Flush()
	var earlier []ranCell
	if err != nil {
		earlier = it.sources.ran(b) // for the traceback, before this part joins them
	}
	if !errors.Is(err, transport.ErrNotSent) {
		it.sources.add(b, p.text, count, p.line) // its definitions are on the board now, even if it failed later
	}
	if err != nil {
		if why := noAnswer.Load(); why != nil {
			err = noAnswerError(err, *why)
		}
		return nil, it.boardError(ctx, err, ranCell{code: cell, count: count}, earlier)
	}
	text := strings.TrimRight(strings.ReplaceAll(repr, "\r\n", "\n"), "\n")
	if !shown || text == "" {
		return nil, nil
	}
	return kernel.MIMEBundle{"text/plain": text}, nil
}

// runOn runs code on b as a notebook cell, for magics (%%connect, %%plot)
// that run a body, and returns a trailing value. Magics in the body act on
// b.
func (it *Interpreter) runOn(ctx context.Context, b *transport.Board, code string, at magics.CodeAt, out kernel.Output) (kernel.MIMEBundle, error) {
	env := &magics.Env{Out: out, Boards: pinned{session: it.sess, b: b}, Host: it.host, Magics: it.reg, Count: at.Count}
	// Padded to its place in its cell, so its line numbers are the cell's.
	code = strings.Repeat("\n", max(at.Line-1, 0)) + normalizeNewlines(code)
	return it.runCell(ctx, env, code, at.Count)
}

// pinned is the session as seen from a body run on one particular board:
// that board is current, and the current board cannot change.
type pinned struct {
	*session
	b *transport.Board
}

func (p pinned) Current(context.Context) (*transport.Board, error) { return p.b, nil }

func (p pinned) Connect(context.Context, string) (*transport.Board, error) {
	return nil, errors.New("cannot change the board inside %%connect")
}

func (p pinned) Disconnect(context.Context) (magics.Disconnected, error) {
	return magics.Disconnected{}, errors.New("cannot disconnect inside %%connect")
}

// ConnectReset refuses: %hardreset --pin TARGET would make TARGET the
// notebook's board from inside a body that runs on several at once.
func (p pinned) ConnectReset(context.Context, string) (*transport.Board, error) {
	return nil, errors.New("cannot connect another board inside %%connect: %hardreset --pin without a TARGET resets the board the body runs on")
}

// boardError turns an error of an Exec into a Jupyter error: a board
// exception keeps its name and gets the cell's line numbers; a link failure
// says what happened to the board.
func (it *Interpreter) boardError(ctx context.Context, err error, cell ranCell, earlier []ranCell) error {
	var be *transport.BoardError
	if errors.As(err, &be) {
		tb := cellTraceback(be.Traceback, cell, earlier)
		if len(tb) == 0 {
			tb = []string{be.Error()}
		}
		return &kernel.ExecError{Name: be.Name, Value: be.Value, Traceback: tb}
	}
	return it.magicError(ctx, err)
}

// magicError turns any error from running a part into a Jupyter error.
func (it *Interpreter) magicError(ctx context.Context, err error) error {
	var ee *kernel.ExecError
	var be *transport.BoardError
	var ue *magics.UsageError
	switch {
	case errors.As(err, &ee):
		return ee
	case errors.As(err, &be):
		// Raised by a magic's own snippet, whose traceback means nothing to
		// the user: the magic's message says what failed and where.
		msg := err.Error()
		if be.Name == "MemoryError" {
			// The magic's code is small: the board's heap is full or
			// broken up, which only a reset mends.
			msg += " (the board is short of memory: %softreset frees it; its variables go, its files stay)"
		}
		return &kernel.ExecError{Name: be.Name, Value: msg, Traceback: []string{be.Name + ": " + msg}}
	case errors.As(err, &ue), errors.Is(err, magics.ErrUnknownMagic):
		return errorOf("UsageError", err)
	case errors.Is(err, magics.ErrNoBoard):
		return errorOf(NoBoardError, err)
	case errors.Is(context.Cause(ctx), kernel.ErrInterrupted):
		if errors.Is(err, kernel.ErrInterrupted) || errors.Is(err, context.Canceled) {
			return &kernel.ExecError{Name: "KeyboardInterrupt", Traceback: []string{"KeyboardInterrupt"}}
		}
		// how the board was stopped matters (e.g. it had to be reset)
		return errorOf("KeyboardInterrupt", err)
	case errors.Is(err, transport.ErrLinkLost):
		return errorOf("ConnectionError", err)
	case errors.Is(err, transport.ErrNoResponse):
		return errorOf("TimeoutError", err)
	}
	return errorOf("Error", err)
}

// ErrNoStdinText is the message of the EOFError that input() raises on the
// board when the frontend has no stdin (nbclient, papermill).
const ErrNoStdinText = "input() needs a front end with stdin"

// noAnswerError gives the board's bare EOFError from an input() that the
// frontend could not answer its message, why. An exception the user's
// code raised on its own (not an EOFError) is left as it is.
func noAnswerError(err error, why string) error {
	var be *transport.BoardError
	if !errors.As(err, &be) || be.Name != "EOFError" || be.Value != "" {
		return err
	}
	e := *be
	e.Value = why
	e.Traceback = append([]string(nil), be.Traceback...)
	if n := len(e.Traceback); n > 0 && strings.TrimRight(e.Traceback[n-1], ": ") == "EOFError" {
		e.Traceback[n-1] = "EOFError: " + why
	}
	return &e
}
