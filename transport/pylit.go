package transport

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// PyStr quotes s as a Python str literal, for building code to run on a
// board. Non-ASCII is kept as UTF-8 (MicroPython source is UTF-8); control
// characters and DEL are escaped, so the literal never carries the raw
// REPL's control bytes.
func PyStr(s string) string {
	var sb strings.Builder
	sb.Grow(len(s) + 2)
	sb.WriteByte('\'')
	for _, r := range s {
		switch {
		case r == '\\' || r == '\'':
			sb.WriteByte('\\')
			sb.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&sb, "\\x%02x", r)
		case r == utf8.RuneError:
			sb.WriteString("\\ufffd")
		default:
			sb.WriteRune(r)
		}
	}
	sb.WriteByte('\'')
	return sb.String()
}

// pyBytes quotes p as a compact Python bytes literal for code sent through
// the raw REPL. MicroPython's lexer is 8-bit clean in string literals, so
// most bytes go as they are; only the quote, the backslash, line ends and
// the raw REPL's control bytes \x00-\x04 are escaped, each in two
// characters where possible (octal escapes). Random data grows by about 3%.
func pyBytes(p []byte) string {
	var sb strings.Builder
	sb.Grow(len(p) + len(p)/16 + 3)
	sb.WriteString("b'")
	for i, c := range p {
		switch c {
		case '\\':
			sb.WriteString(`\\`)
		case '\'':
			sb.WriteString(`\'`)
		case '\n':
			sb.WriteString(`\n`)
		case '\r':
			sb.WriteString(`\r`)
		case 0, 1, 2, 3, 4:
			if i+1 < len(p) && p[i+1] >= '0' && p[i+1] <= '7' {
				// A following octal digit would extend the escape.
				sb.WriteString(`\00`)
			} else {
				sb.WriteByte('\\')
			}
			sb.WriteByte('0' + c)
		default:
			sb.WriteByte(c)
		}
	}
	sb.WriteByte('\'')
	return sb.String()
}

// parsePyLit decodes a Python str or bytes literal as repr() prints it:
// 'x', "x", b'x', b"x", with the usual backslash escapes. For str, \x and
// \u escapes are code points and the result is UTF-8.
func parsePyLit(s string) ([]byte, error) {
	isBytes := false
	if strings.HasPrefix(s, "b") {
		isBytes = true
		s = s[1:]
	}
	if len(s) < 2 || (s[0] != '\'' && s[0] != '"') || s[len(s)-1] != s[0] {
		return nil, fmt.Errorf("not a Python string literal: %.40q", s)
	}
	s = s[1 : len(s)-1]
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(s) {
			return nil, errors.New("python literal ends in a backslash")
		}
		switch e := s[i]; e {
		case '\\', '\'', '"':
			out = append(out, e)
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'a':
			out = append(out, 7)
		case 'b':
			out = append(out, 8)
		case 'f':
			out = append(out, 12)
		case 'v':
			out = append(out, 11)
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if i+n >= len(s) {
				return nil, fmt.Errorf("short \\%c escape in Python literal", e)
			}
			v, err := strconv.ParseUint(s[i+1:i+1+n], 16, 32)
			if err != nil {
				return nil, fmt.Errorf("bad \\%c escape in Python literal: %w", e, err)
			}
			i += n
			if isBytes {
				out = append(out, byte(v))
			} else {
				out = utf8.AppendRune(out, rune(v))
			}
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := 0
			j := i
			for ; j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7'; j++ {
				v = v*8 + int(s[j]-'0')
			}
			i = j - 1
			if isBytes {
				out = append(out, byte(v))
			} else {
				out = utf8.AppendRune(out, rune(v))
			}
		default:
			out = append(out, '\\', e)
		}
	}
	return out, nil
}
