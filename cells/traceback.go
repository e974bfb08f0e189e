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
// frame is at line n: the current cell, else the newest earlier one where
// line n is in the body of a def or class of that name.
func definedIn(name string, n int, cur ranCell, earlier []ranCell) (ranCell, bool) {
	if !identifier.MatchString(name) {
		return ranCell{}, false // not a name a def could give
	}
	def := regexp.MustCompile(`^([ \t]*)(?:async[ \t]+)?(?:def|class)[ \t]+` + regexp.QuoteMeta(name) + `\b`)
	for _, c := range append([]ranCell{cur}, earlier...) {
		if inBody(strings.Split(c.code, "\n"), def, n) {
			return c, true
		}
	}
	return ranCell{}, false
}

// inBody reports whether line n (1-based) of lines is a line of a block
// that def matches the head of: the head itself or a line below it, up to
// the next line indented no deeper than the head (lines inside triple-
// quoted strings, comments and blank lines do not end it). Of nested
// heads, the nearest whose block holds line n counts.
func inBody(lines []string, def *regexp.Regexp, n int) bool {
	if n < 1 || n > len(lines) {
		return false
	}
	for d := n; d >= 1; d-- {
		m := def.FindStringSubmatch(lines[d-1])
		if m != nil && blockHolds(lines, d, len(m[1]), n) {
			return true
		}
	}
	return false
}

// blockHolds reports whether the block whose head is line d, indented by
// indent, goes on to line n.
func blockHolds(lines []string, d, indent, n int) bool {
	inString := quotesOdd(lines[d-1])
	for i := d + 1; i <= n; i++ {
		l := lines[i-1]
		if !inString {
			if t := strings.TrimLeft(l, " \t"); t != "" && !strings.HasPrefix(t, "#") && len(l)-len(t) <= indent {
				return false // the block ended above line n
			}
		}
		if quotesOdd(l) {
			inString = !inString
		}
	}
	return true
}

// quotesOdd reports whether line l opens or closes a triple-quoted string.
func quotesOdd(l string) bool {
	return (strings.Count(l, `"""`)+strings.Count(l, `'''`))%2 == 1
}

// anonymousWord finds what a lambda's or comprehension's line holds.
var anonymousWord = map[bool]*regexp.Regexp{
	true:  regexp.MustCompile(`\blambda\b`),
	false: regexp.MustCompile(`\bfor\b`),
}

// anonymousIn reports whether line n of the current cell, or the line
// before it (a continuation), can hold the lambda or comprehension whose
// frame it is.
func anonymousIn(name string, n int, cur ranCell) bool {
	lines := strings.Split(cur.code, "\n")
	if n < 1 || n > len(lines) {
		return false
	}
	re := anonymousWord[name == "<lambda>"]
	return re.MatchString(lines[n-1]) || n > 1 && re.MatchString(lines[n-2])
}

// cellTraceback rewrites a board traceback for the notebook: frames of the
// code sent from cells read `Cell In[N], line L` and are followed by the
// source line. Line numbers are the cells' own, since each chunk is sent
// padded to its place in its cell.
//
// Every cell's code is <stdin> to the board: a frame of a function is
// given to the cell that defined it (cur, else the newest of earlier, the
// cells run before on the board), the one where the frame's line is in the
// body of a def of that name. One whose cell is not known (it ran before
// the kernel started, say) is "Earlier cell", without a source line. A
// lambda's or a comprehension's frame is cur's when its line can hold it.
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
		if name, ok := strings.CutPrefix(m[3], ", in "); ok && name != "<module>" {
			if strings.HasPrefix(name, "<") {
				known = anonymousIn(name, n, cur)
			} else {
				c, known = definedIn(name, n, cur, earlier)
			}
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
	return &kernel.ExecError{Name: name, Value: msg, Traceback: tb, Err: err}
}
