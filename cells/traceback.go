package cells

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/transport"
)

// stdinFrame matches a traceback frame of code sent through the REPL.
var stdinFrame = regexp.MustCompile(`^(\s*)File "<stdin>", line (\d+)(.*)$`)

// identifier matches a Python name.
var identifier = regexp.MustCompile(`^[\p{L}_][\p{L}\p{N}_]*$`)

// bare matches an exception line with an empty message ("OSError: ").
var bare = regexp.MustCompile(`^[A-Za-z_][\w.]*: *$`)

// ranCell is a cell's code as the board ran it, for tracebacks: its lines
// are numbered as in the cell, and count is its execution count.
type ranCell struct {
	code  string
	count int
}

// label is how a traceback names the cell.
func (c ranCell) label() string {
	if c.count <= 0 {
		return "Cell"
	}
	return "Cell In[" + strconv.Itoa(c.count) + "]"
}

// definedIn finds the cell that defined the function or class name whose
// frame is at line n: the current cell, else the newest earlier one that
// has a def or class of that name and n lines.
func definedIn(name string, n int, cur ranCell, earlier []ranCell) (ranCell, bool) {
	if !identifier.MatchString(name) {
		return ranCell{}, false // not a name a def could give
	}
	def := regexp.MustCompile(`(?m)^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+` + regexp.QuoteMeta(name) + `\b`)
	for _, c := range append([]ranCell{cur}, earlier...) {
		if strings.Count(c.code, "\n")+1 >= n && def.MatchString(c.code) {
			return c, true
		}
	}
	return ranCell{}, false
}

// cellTraceback rewrites a board traceback for the notebook: frames of the
// code sent from cells read `Cell In[N], line L` and are followed by the
// source line. Line numbers are the cells' own, since each chunk is sent
// padded to its place in its cell.
//
// Every cell's code is <stdin> to the board: a frame of a function is
// given to the cell that defined it (cur, else the newest of earlier, the
// cells run before on the board). One whose cell is not known (it ran
// before the kernel started, say) is "Earlier cell", without a source line.
// The frames of lambdas and comprehensions are taken to be cur's.
func cellTraceback(tb []string, cur ranCell, earlier []ranCell) []string {
	out := make([]string, 0, len(tb)+2)
	for _, l := range tb {
		l = strings.TrimRight(l, "\r")
		m := stdinFrame.FindStringSubmatch(l)
		if m == nil {
			// MicroPython prints "KeyboardInterrupt: " for an exception
			// with no message; Python shows just the name.
			if bare.MatchString(l) {
				l = strings.TrimRight(l, ": ")
			}
			out = append(out, l)
			continue
		}
		if m[3] == ", in "+transport.DisplayHook || m[3] == ", in "+transport.InputHelper {
			continue // the kernel's display hook (a repr that raised) or input(): not the user's code
		}
		n, _ := strconv.Atoi(m[2])
		c, known := cur, true
		if name, ok := strings.CutPrefix(m[3], ", in "); ok && name != "<module>" && !strings.HasPrefix(name, "<") {
			c, known = definedIn(name, n, cur, earlier)
		}
		if !known {
			out = append(out, fmt.Sprintf("%sEarlier cell, line %s%s", m[1], m[2], m[3]))
			continue
		}
		out = append(out, fmt.Sprintf("%s%s, line %s%s", m[1], c.label(), m[2], m[3]))
		lines := strings.Split(c.code, "\n")
		if n >= 1 && n <= len(lines) {
			if src := strings.TrimSpace(lines[n-1]); src != "" {
				out = append(out, m[1]+"  "+src)
			}
		}
	}
	return out
}

// errorOf builds the Jupyter error for a failure that is not a board
// exception, so its text reaches the user as "Name: message".
func errorOf(name string, err error) *kernel.ExecError {
	msg := err.Error()
	tb := strings.Split(msg, "\n")
	tb[0] = name + ": " + tb[0]
	return &kernel.ExecError{Name: name, Value: msg, Traceback: tb}
}
