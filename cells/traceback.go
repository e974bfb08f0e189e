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

// bare matches an exception line with an empty message ("OSError: ").
var bare = regexp.MustCompile(`^[A-Za-z_][\w.]*: *$`)

// cellTraceback rewrites a board traceback for the notebook: frames of the
// code sent from the cell read `Cell In[N], line L` and, for the cell's
// top level, are followed by the source line. Line numbers are already the
// cell's own, since each chunk is sent padded to its place in the cell.
//
// Frames inside functions defined in other cells also say <stdin>; their
// line numbers are those of the cell that defined them, so only
// module-level frames get a source line.
func cellTraceback(tb []string, cell string, count int) []string {
	lines := strings.Split(cell, "\n")
	label := "Cell In[" + strconv.Itoa(count) + "]"
	if count <= 0 {
		label = "Cell"
	}
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
		out = append(out, fmt.Sprintf("%s%s, line %s%s", m[1], label, m[2], m[3]))
		n, _ := strconv.Atoi(m[2])
		// a module-level frame, or a compile error (no ", in ...")
		if (m[3] == "" || strings.HasSuffix(m[3], "in <module>")) && n >= 1 && n <= len(lines) {
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
