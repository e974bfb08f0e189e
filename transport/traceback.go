package transport

import (
	"strings"
)

// parseTraceback turns what the board printed after an uncaught exception
// into a *BoardError. MicroPython prints
//
//	Traceback (most recent call last):
//	  File "<stdin>", line 1, in <module>
//	ZeroDivisionError: divide by zero
//
// and the exception line may be just "Name", or its message may span
// several lines.
func parseTraceback(text string) *BoardError {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	lines := strings.Split(text, "\n")
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for i := range lines {
		lines[i] = strings.TrimSuffix(lines[i], "\r")
	}
	e := &BoardError{Traceback: lines}
	if len(lines) == 0 {
		e.Name = "Error"
		e.Value = "the board reported an error without a message"
		return e
	}
	// The exception text starts after the header and the indented frames.
	start := 0
	if strings.HasPrefix(lines[0], "Traceback") {
		start = 1
		for start < len(lines) && strings.HasPrefix(lines[start], " ") {
			start++
		}
	}
	if start >= len(lines) {
		e.Name = "Error"
		e.Value = strings.Join(lines, "\n")
		return e
	}
	exc := strings.Join(lines[start:], "\n")
	name, value, hasValue := strings.Cut(exc, ":")
	if !isExceptionName(name) {
		// Not "Name: value": keep the text whole.
		if isExceptionName(strings.TrimSpace(exc)) {
			e.Name = strings.TrimSpace(exc)
			return e
		}
		e.Name = "Error"
		e.Value = exc
		return e
	}
	e.Name = name
	if hasValue {
		e.Value = strings.TrimPrefix(value, " ")
	}
	return e
}

// isExceptionName reports whether s looks like a (dotted) Python class name.
func isExceptionName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9', r == '.':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}
