package cells

import (
	"strings"
)

// partKind says what a part of a cell is.
type partKind int

const (
	partCode  partKind = iota // Python for the board
	partMagic                 // %name args, a line magic
	partShell                 // !cmd, a shell escape run on the host
)

// part is a run of a cell: board code, one line magic or one shell escape.
type part struct {
	kind partKind
	// text is the magic line without its '%', the shell command without
	// its '!', or the code itself.
	text string
	line int // 1-based cell line where the part starts
	// code parts only:
	start, end int     // byte offsets of the code in the cell
	lines      []lline // its logical lines, blank and comment lines left out
}

// lline is one logical line of Python: a statement that may span several
// physical lines through brackets, strings or a trailing backslash.
type lline struct {
	start, end int // byte offsets in the cell; end excludes the newline
	// codeEnd is where its code ends: end without a trailing comment.
	codeEnd  int
	line     int // 1-based cell line of its first character
	indented bool
	// what the scanner saw outside brackets and strings:
	assign    bool   // '=' that is not a comparison, or an augmented assignment
	colon     bool   // ':' (a block header, an annotation or a lambda)
	semicolon bool   // ';' that is not the last token
	tail      int    // with semicolon: where the statement after the last such ';' starts
	trailSemi bool   // ends with ';'
	firstWord string // leading identifier, e.g. "def", "x"
	lambda    bool   // the word lambda
	comma     bool   // ',' (a tuple, as an expression)
	compFor   bool   // the word for after the start: a bare generator expression
}

// split cuts a cell into parts. Lines whose first column holds '%' or '!'
// (outside strings and brackets) are magics and shell escapes; everything
// else is board code, split only around them so that the board sees whole
// statements. Blank and comment-only code is dropped.
func split(cell string) []part {
	var parts []part
	var cur *part
	flush := func() {
		if cur != nil && len(cur.lines) > 0 {
			parts = append(parts, *cur)
		}
		cur = nil
	}
	sc := scanner{src: cell, line: 1}
	for !sc.done() {
		lineNo, off := sc.line, sc.pos
		if c := cell[off]; c == '%' || c == '!' {
			text := sc.restOfLine()
			flush()
			k := partMagic
			if c == '!' {
				k = partShell
			}
			parts = append(parts, part{kind: k, text: strings.TrimSpace(text[1:]), line: lineNo})
			continue
		}
		ll, ok := sc.logical()
		if !ok {
			continue // blank or comment line
		}
		if cur == nil {
			cur = &part{kind: partCode, line: lineNo, start: off}
		}
		cur.lines = append(cur.lines, ll)
		cur.end = ll.end
	}
	flush()
	for i := range parts {
		if parts[i].kind == partCode {
			parts[i].text = cell[parts[i].start:parts[i].end]
		}
	}
	return parts
}

// scanner walks Python source a logical line at a time, knowing just
// enough of the language (strings, comments, brackets, continuations) to
// find where statements end.
type scanner struct {
	src  string
	pos  int
	line int
}

func (s *scanner) done() bool { return s.pos >= len(s.src) }

// restOfLine consumes up to and including the next newline and returns the
// line without it.
func (s *scanner) restOfLine() string {
	i := strings.IndexByte(s.src[s.pos:], '\n')
	if i < 0 {
		t := s.src[s.pos:]
		s.pos = len(s.src)
		return t
	}
	t := s.src[s.pos : s.pos+i]
	s.pos += i + 1
	s.line++
	return t
}

// logical consumes one logical line. ok is false for a blank or
// comment-only line.
func (s *scanner) logical() (ll lline, ok bool) {
	src := s.src
	ll.line = s.line
	ll.start = -1
	depth := 0
	var prev, prev2 byte // last two significant characters outside strings
	lastSig := -1        // offset of the last significant character
	lambdaArgs := false  // after "lambda", before its ':': '=' is a default
	for s.pos < len(src) {
		c := src[s.pos]
		switch {
		case c == '\n':
			s.pos++
			s.line++
			if depth == 0 {
				goto end
			}
			continue
		case c == ' ' || c == '\t' || c == '\r' || c == '\f':
			s.pos++
			continue
		case c == '#':
			for s.pos < len(src) && src[s.pos] != '\n' {
				s.pos++
			}
			continue
		case c == '\\' && s.pos+1 < len(src) && src[s.pos+1] == '\n':
			s.pos += 2
			s.line++
			continue
		}
		if ll.start < 0 {
			ll.start = s.pos
			ll.indented = s.pos > 0 && src[s.pos-1] != '\n'
		}
		if semiPending(src, lastSig) && depth == 0 {
			ll.semicolon = true // a ';' followed by more code
			ll.tail = s.pos
		}
		switch {
		case c == '"' || c == '\'':
			s.skipString()
			prev2, prev, lastSig = prev, c, s.pos-1
			continue
		case isIdentStart(c):
			w := s.pos
			for s.pos < len(src) && isIdent(src[s.pos]) {
				s.pos++
			}
			word := src[w:s.pos]
			if s.pos < len(src) && (src[s.pos] == '"' || src[s.pos] == '\'') && isStringPrefix(word) {
				s.skipString()
				prev2, prev, lastSig = prev, '"', s.pos-1
				continue
			}
			if depth == 0 {
				if ll.firstWord == "" && w == ll.start {
					ll.firstWord = word
				}
				switch {
				case word == "lambda":
					ll.lambda, lambdaArgs = true, true
				case word == "for" && w != ll.start:
					ll.compFor = true
				}
			}
			prev2, prev, lastSig = prev, 'a', s.pos-1
			continue
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			if depth > 0 {
				depth--
			}
		case depth == 0 && c == '=':
			next := byte(0)
			if s.pos+1 < len(src) {
				next = src[s.pos+1]
			}
			switch {
			case next == '=':
				// "==": the second '=' is skipped below
				s.pos++
			case prev == '<' || prev == '>':
				// "<=", ">=" compare, "<<=", ">>=" assign
				ll.assign = ll.assign || prev2 == prev
			case prev == '!':
			case lambdaArgs:
				// a default argument ("lambda x=1: x")
			default:
				ll.assign = true // "=", "+=", ":=", ...
			}
		case depth == 0 && c == ':':
			ll.colon, lambdaArgs = true, false
		case depth == 0 && c == ',':
			ll.comma = true
		}
		prev2, prev, lastSig = prev, c, s.pos
		s.pos++
	}
end:
	if ll.start < 0 {
		return ll, false
	}
	ll.end = lastSig + 1
	ll.codeEnd = ll.end
	// extend end over a trailing comment so the code text stays whole
	if i := strings.IndexByte(src[ll.end:], '\n'); i >= 0 {
		ll.end += i
	} else {
		ll.end = len(src)
	}
	ll.end = ll.start + len(strings.TrimRight(src[ll.start:ll.end], " \t\r"))
	ll.trailSemi = lastSig >= 0 && src[lastSig] == ';'
	return ll, true
}

// semiPending reports whether the last significant character was a ';',
// which means more code follows it on the same logical line.
func semiPending(src string, lastSig int) bool {
	return lastSig >= 0 && src[lastSig] == ';'
}

// skipString consumes a string literal starting at s.pos (at its quote).
func (s *scanner) skipString() {
	src := s.src
	q := src[s.pos]
	triple := strings.HasPrefix(src[s.pos:], string([]byte{q, q, q}))
	if triple {
		s.pos += 3
	} else {
		s.pos++
	}
	for s.pos < len(src) {
		c := src[s.pos]
		switch {
		case c == '\\':
			if s.pos+1 < len(src) && src[s.pos+1] == '\n' {
				s.line++
			}
			s.pos += 2
			continue
		case c == '\n':
			if !triple {
				return // unterminated: the board will say so
			}
			s.line++
		case c == q:
			if !triple {
				s.pos++
				return
			}
			if strings.HasPrefix(src[s.pos:], string([]byte{q, q, q})) {
				s.pos += 3
				return
			}
		}
		s.pos++
	}
	if s.pos > len(src) {
		s.pos = len(src)
	}
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isIdent(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

func isStringPrefix(w string) bool {
	switch strings.ToLower(w) {
	case "r", "b", "u", "f", "br", "rb", "fr", "rf":
		return true
	}
	return false
}

// statementWords start lines that are statements, never bare expressions.
var statementWords = map[string]bool{
	"def": true, "class": true, "if": true, "elif": true, "else": true,
	"for": true, "while": true, "try": true, "except": true, "finally": true,
	"with": true, "import": true, "from": true, "return": true, "pass": true,
	"del": true, "global": true, "nonlocal": true, "raise": true,
	"assert": true, "break": true, "continue": true, "yield": true,
	"async": true, "await": true,
	// Not match and case: MicroPython has no match statement, so they are
	// names ("match = re.search(...)", then "match.group(1)"); a line
	// "match x:" is a block header by its colon.
}

// compoundWords start compound statements: after one, the statements that
// follow a ';' on the same line are its body, not the module's.
var compoundWords = map[string]bool{
	"def": true, "class": true, "if": true, "elif": true, "else": true,
	"for": true, "while": true, "try": true, "except": true, "finally": true,
	"with": true, "async": true,
}

// lastStatement returns the statement of ll whose value a cell shows: the
// last of the statements on the line ("import sys; sys.platform" shows
// sys.platform, as IPython does), or ll itself when it has only one. ok is
// false when the statements after a ';' are the body of a compound
// statement ("if x: a; b").
func (ll lline) lastStatement(src string) (st lline, ok bool) {
	if !ll.semicolon {
		return ll, true
	}
	if compoundWords[ll.firstWord] || (ll.firstWord == "match" || ll.firstWord == "case") && ll.colon {
		return ll, false
	}
	sc := scanner{src: src, pos: ll.tail, line: ll.line}
	st, ok = sc.logical()
	if !ok {
		return ll, false
	}
	st.indented = ll.indented
	return st, true
}

// shown returns the statement whose value a cell ending in ll shows, and
// whether there is one: see lastStatement and isExpression.
func (ll lline) shown(src string) (lline, bool) {
	st, ok := ll.lastStatement(src)
	if !ok || !st.isExpression(src) {
		return lline{}, false
	}
	return st, true
}

// isExpression reports whether ll is a bare expression whose value the
// cell should show: an unindented line that is not a statement, not an
// assignment and not silenced by a trailing ';'.
func (ll lline) isExpression(src string) bool {
	if ll.indented || ll.assign || ll.semicolon || ll.trailSemi {
		return false
	}
	if statementWords[ll.firstWord] {
		return false
	}
	if ll.colon && !ll.lambda {
		return false
	}
	if ll.compFor {
		return false // not an expression: the board says why (SyntaxError)
	}
	switch src[ll.start] {
	case '@', '*':
		return false // a decorator; a starred expression cannot stand alone
	}
	return true
}

// isPrintCall reports whether expr is exactly one call of print, which
// returns None: such a last line has no value to show, so it goes to the
// board as it is, without the display hook's bytes (a cell ending in
// print() is common, and on a 115200-baud link every byte costs 87 us).
// A program that rebinds print to something that returns a value loses
// its display.
func isPrintCall(expr string) bool {
	const head = "print("
	if !strings.HasPrefix(expr, head) || !strings.HasSuffix(expr, ")") {
		return false
	}
	sc := scanner{src: expr, pos: len(head)}
	depth := 1
	for sc.pos < len(expr) {
		c := expr[sc.pos]
		switch {
		case c == '"' || c == '\'':
			sc.skipString()
			continue
		case c == '#':
			return false // a comment inside the call: leave it to the hook
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
			if depth == 0 {
				return sc.pos == len(expr)-1
			}
		}
		sc.pos++
	}
	return false
}
