package cells

import (
	"regexp"
	"strings"
	"sync"

	"github.com/iot-kernel/iot-kernel/transport"
)

// MicroPython keeps no parameter names at run time (functions have no
// usable __code__, inspect.signature counts arguments at best), so
// inspection reads them from the source the board ran: the cells the
// kernel sent it, or the module file on the board that defines a function.

// sourceLog keeps the code the kernel ran on each board, newest last, for
// inspection. It is bounded: old cells are dropped first.
type sourceLog struct {
	mu    sync.Mutex
	board *transport.Board // the board the cells ran on
	cells []ranCell        // code as the board ran it, numbered as in its cell
	size  int
}

// sourceLogMax bounds the bytes of code a sourceLog keeps.
const sourceLogMax = 1 << 20

// add records code run on b, the part of cell count that starts on line
// line. Cells run on another board before replace the log: their
// definitions are not on b.
func (l *sourceLog) add(b *transport.Board, code string, count, line int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.board != b {
		l.board, l.cells, l.size = b, nil, 0
	}
	l.cells = append(l.cells, ranCell{code: strings.Repeat("\n", max(line-1, 0)) + code, count: count})
	l.size += len(code)
	for l.size > sourceLogMax && len(l.cells) > 1 {
		l.size -= len(strings.TrimLeft(l.cells[0].code, "\n"))
		l.cells = l.cells[1:]
	}
}

// newestFirst returns the code run on b, the newest first.
func (l *sourceLog) newestFirst(b *transport.Board) []string {
	cells := l.ran(b)
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = strings.TrimLeft(c.code, "\n")
	}
	return out
}

// ran returns the cells run on b, the newest first.
func (l *sourceLog) ran(b *transport.Board) []ranCell {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.board != b {
		return nil
	}
	out := make([]ranCell, len(l.cells))
	for i, c := range l.cells {
		out[len(out)-1-i] = c
	}
	return out
}

// defHead finds the last "def name(" or "class name" statement in src.
func defHead(src, keyword, name string) (int, bool) {
	re := regexp.MustCompile(`(?m)^[ \t]*(?:async[ \t]+)?` + keyword + `[ \t]+` + regexp.QuoteMeta(name) + `\b[ \t]*([(:])`)
	ms := re.FindAllStringSubmatchIndex(src, -1)
	if ms == nil {
		return 0, false
	}
	m := ms[len(ms)-1]
	return m[2], true // at '(' or ':'
}

// params returns the parameter list that starts at the '(' at src[open],
// on one line without comments: "a, b=2, *args".
func params(src string, open int) (string, bool) {
	if open >= len(src) || src[open] != '(' {
		return "", false
	}
	var b strings.Builder
	sc := scanner{src: src, pos: open + 1}
	depth := 1
	for sc.pos < len(src) {
		c := src[sc.pos]
		switch {
		case c == '"' || c == '\'':
			start := sc.pos
			sc.skipString()
			b.WriteString(src[start:sc.pos])
			continue
		case c == '#':
			for sc.pos < len(src) && src[sc.pos] != '\n' {
				sc.pos++
			}
			continue
		case c == '\\' && sc.pos+1 < len(src) && src[sc.pos+1] == '\n':
			sc.pos += 2
			b.WriteByte(' ')
			continue
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
			if depth == 0 {
				return tidyParams(b.String()), true
			}
		case c == '\n' || c == '\t' || c == '\r':
			c = ' '
		}
		b.WriteByte(c)
		sc.pos++
	}
	return "", false
}

var spaces = regexp.MustCompile(`\s+`)

func tidyParams(s string) string {
	s = strings.TrimSpace(spaces.ReplaceAllString(s, " "))
	s = strings.TrimSuffix(s, ",")
	return strings.ReplaceAll(strings.ReplaceAll(s, "( ", "("), " )", ")")
}

// funcParams finds the parameters of the function name defined last in
// src.
func funcParams(src, name string) (string, bool) {
	at, ok := defHead(src, "def", name)
	if !ok {
		return "", false
	}
	return params(src, at)
}

// initParams finds the parameters of the __init__ of the class name
// defined last in src, without self; a class without one takes none.
func initParams(src, name string) (string, bool) {
	at, ok := defHead(src, "class", name)
	if !ok {
		return "", false
	}
	// the class's block: the lines after its header indented more than it
	lineStart := strings.LastIndexByte(src[:at], '\n') + 1
	indent := len(src[lineStart:]) - len(strings.TrimLeft(src[lineStart:], " \t"))
	rest := src[at:]
	if i := strings.IndexByte(rest, '\n'); i >= 0 {
		rest = rest[i+1:]
	} else {
		rest = ""
	}
	var block strings.Builder
	for _, l := range strings.SplitAfter(rest, "\n") {
		t := strings.TrimLeft(l, " \t")
		if t != "" && t != "\n" && !strings.HasPrefix(t, "#") && len(l)-len(t) <= indent {
			break
		}
		block.WriteString(l)
	}
	p, ok := funcParams(block.String(), "__init__")
	if !ok {
		return "", true
	}
	return dropFirst(p), true
}

// dropFirst removes the first parameter (self) of a method's list.
func dropFirst(p string) string {
	if strings.HasPrefix(p, "*") {
		return p // (*args): nothing bound
	}
	_, rest, _ := strings.Cut(p, ",")
	return strings.TrimSpace(rest)
}

// importedFrom finds the module that the last import of name in src
// brought it from: "from machine import Pin" gives "machine" for Pin,
// "import os.path as p" gives "os.path" for p.
func importedFrom(src, name string) (string, bool) {
	q := regexp.QuoteMeta(name)
	from := regexp.MustCompile(`(?m)^[ \t]*from[ \t]+([\w.]+)[ \t]+import[ \t]+\(?([^)\n]*)`)
	imp := regexp.MustCompile(`(?m)^[ \t]*import[ \t]+([^\n#;]*)`)
	word := regexp.MustCompile(`^(?:[\w.]+[ \t]+as[ \t]+)?` + q + `$`)
	mod, at := "", -1
	for _, m := range from.FindAllStringSubmatchIndex(src, -1) {
		for _, item := range strings.Split(src[m[4]:m[5]], ",") {
			if word.MatchString(strings.TrimSpace(item)) && m[0] > at {
				mod, at = src[m[2]:m[3]], m[0]
			}
		}
	}
	for _, m := range imp.FindAllStringSubmatchIndex(src, -1) {
		for _, item := range strings.Split(src[m[2]:m[3]], ",") {
			item = strings.TrimSpace(item)
			target, alias, hasAlias := strings.Cut(item, " as ")
			target, alias = strings.TrimSpace(target), strings.TrimSpace(alias)
			if (hasAlias && alias == name || !hasAlias && target == name) && m[0] > at {
				mod, at = target, m[0]
			}
		}
	}
	return mod, at >= 0
}
