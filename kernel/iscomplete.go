package kernel

import "strings"

// Statuses of is_complete_reply.
const (
	codeComplete   = "complete"
	codeIncomplete = "incomplete"
	codeInvalid    = "invalid"
)

// isComplete judges whether a console should run code now or read another
// line, with Python's rules as far as a line scanner can see them:
//
//   - open brackets, an open triple-quoted string or a trailing backslash
//     continue the statement;
//   - a last logical line ending in ":" opens a block (indent grows by 4);
//   - an indented last line ends with a newline after it (Enter pressed
//     again, as IPython takes it), a cell magic (%%name) with a blank line;
//   - a decorator line wants its def;
//   - a closing bracket that does not match, or a one-line string left open,
//     is invalid;
//   - anything else is complete, since only the board can really judge it.
//
// Lines starting with %, ! or ? (magics, shell escapes, help) are not Python
// and are not scanned.
func isComplete(code string) (status, indent string) {
	if strings.TrimSpace(code) == "" {
		return codeComplete, ""
	}
	lines := strings.Split(code, "\n")
	last := len(lines) - 1
	for last >= 0 && strings.TrimSpace(lines[last]) == "" {
		last--
	}
	// "  x\n": the line after the last one, empty or only indented, is
	// where a console user pressed Enter again (IPython runs the block).
	endsBlock := len(lines)-1-last >= 1
	endsWithBlank := len(lines)-1-last >= 2 // "x\n\n": a blank line after the last one

	if strings.HasPrefix(strings.TrimSpace(lines[0]), "%%") {
		if endsWithBlank {
			return codeComplete, ""
		}
		return codeIncomplete, ""
	}

	var sc pyScanner
	for _, line := range lines {
		if sc.quote == "" && len(sc.brackets) == 0 && !sc.continued {
			t := strings.TrimLeft(line, " \t")
			if t != "" && strings.ContainsRune("%!?", rune(t[0])) {
				continue
			}
		}
		if !sc.scanLine(line) {
			return codeInvalid, ""
		}
	}
	switch {
	case sc.quote != "":
		return codeIncomplete, ""
	case len(sc.brackets) > 0:
		return codeIncomplete, ""
	case sc.continued:
		return codeIncomplete, leading(lines[last])
	}

	if sc.lastCode != "" && strings.HasSuffix(sc.lastCode, ":") {
		return codeIncomplete, leading(sc.lastCodeLine) + "    "
	}
	if strings.HasPrefix(strings.TrimLeft(lines[last], " \t"), "@") {
		return codeIncomplete, leading(lines[last]) // a decorator: its def follows
	}
	if ind := leading(lines[last]); ind != "" && !endsBlock {
		return codeIncomplete, ind
	}
	return codeComplete, ""
}

// leading returns the indentation of line.
func leading(line string) string {
	return line[:len(line)-len(strings.TrimLeft(line, " \t"))]
}

// pyScanner follows strings, comments and brackets across lines.
type pyScanner struct {
	quote        string // open string delimiter: ', ", ''' or """
	brackets     []byte
	continued    bool   // the last line ended with a backslash
	lastCode     string // code of the last logical line, comments removed, trimmed
	lastCodeLine string // the physical line where that logical line started
	cur          strings.Builder
	curStart     string
}

// scanLine consumes one physical line; it reports false for invalid code.
func (s *pyScanner) scanLine(line string) bool {
	if s.quote == "" && len(s.brackets) == 0 && !s.continued {
		s.cur.Reset()
		s.curStart = line
	}
	s.continued = false
	i := 0
	for i < len(line) {
		c := line[i]
		if s.quote != "" {
			switch {
			case c == '\\':
				if i+1 >= len(line) {
					s.continued = true // escaped newline inside a string
					i++
					continue
				}
				i += 2
				continue
			case strings.HasPrefix(line[i:], s.quote):
				i += len(s.quote)
				s.quote = ""
				s.cur.WriteString("''")
				continue
			}
			i++
			continue
		}
		switch c {
		case '#':
			i = len(line)
			continue
		case '\'', '"':
			q := string(c)
			if strings.HasPrefix(line[i:], strings.Repeat(q, 3)) {
				q = strings.Repeat(q, 3)
			}
			s.quote = q
			i += len(q)
			continue
		case '(', '[', '{':
			s.brackets = append(s.brackets, c)
		case ')', ']', '}':
			open := map[byte]byte{')': '(', ']': '[', '}': '{'}[c]
			if len(s.brackets) == 0 || s.brackets[len(s.brackets)-1] != open {
				return false
			}
			s.brackets = s.brackets[:len(s.brackets)-1]
		case '\\':
			if i == len(line)-1 {
				s.continued = true
				i++
				continue
			}
		}
		s.cur.WriteByte(c)
		i++
	}
	if len(s.quote) == 1 && !s.continued {
		return false // a one-line string cannot span lines
	}
	if code := strings.TrimSpace(s.cur.String()); code != "" && s.quote == "" && len(s.brackets) == 0 && !s.continued {
		s.lastCode = code
		s.lastCodeLine = s.curStart
	}
	return true
}
