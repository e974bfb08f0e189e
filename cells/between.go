package cells

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/transport"
)

// afterCell is where the boards' output between cells goes (a
// machine.Timer's callback): the stdout of the last cell that ran, as
// IPython shows what a thread prints under the cell last run.
type afterCell struct {
	mu  sync.Mutex
	out kernel.Output
}

func (a *afterCell) set(out kernel.Output) {
	a.mu.Lock()
	a.out = out
	a.mu.Unlock()
}

func (a *afterCell) stream(text string) {
	a.mu.Lock()
	out := a.out
	a.mu.Unlock()
	if out != nil {
		out.Stream("stdout", text)
	}
}

// boardLines is one board's transport.Options.Background: the lines it
// prints between cells go to afterCell, the frames of a traceback among
// them (a callback that raised) named by the cells that defined them, as
// in a cell's error, and each line headed by the board's name when it is
// not the current board (one let go of, or one of a %%connect's).
type boardLines struct {
	to      *afterCell
	sources *sourceLog
	sess    *session
	name    string
	b       atomic.Pointer[transport.Board] // set once the board is open
}

// Write implements io.Writer; it never fails. p is a line, or the start of
// one that the board left unended.
func (w *boardLines) Write(p []byte) (int, error) {
	line := strings.ReplaceAll(string(p), "\r\n", "\n")
	b := w.b.Load()
	if b != nil && strings.Contains(line, `File "<stdin>"`) {
		line = backgroundFrame(line, w.sources.ran(b))
	}
	if b != nil && w.sess.connected() != b {
		line = "[" + w.name + "] " + strings.ReplaceAll(line, "\n", "\n["+w.name+"] ")
		line = strings.TrimSuffix(line, "["+w.name+"] ")
	}
	w.to.stream(line)
	return len(p), nil
}

// backgroundFrame rewrites line when it is a frame of the code cells sent
// ("<stdin>"): named by the cell that defined its function, as
// cellTraceback does, with the source line after it. Code running between
// cells is a callback's, never a cell's own top level: its frames belong
// to earlier cells.
func backgroundFrame(line string, earlier []ranCell) string {
	body, nl := strings.CutSuffix(line, "\n")
	if !stdinFrame.MatchString(body) || strings.HasSuffix(body, ", in <module>") {
		return line
	}
	out := strings.Join(cellTraceback([]string{body}, ranCell{}, earlier), "\n")
	if nl {
		out += "\n"
	}
	return out
}
