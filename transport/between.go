package transport

import (
	"bytes"
	"io"
)

// between passes on what a board prints between operations (a
// machine.Timer's callback, a pin interrupt's, a _thread thread) to
// Options.Background, a line at a time, as a serial monitor would show it.
// A reset's own lines are not the program's: from the first one on it
// stays quiet until the next operation, whose Exec tells of the reset.
// It is used by one goroutine at a time: the idle reader, then the
// operation that halted it.
type between struct {
	w     io.Writer
	line  []byte // printed, not yet ended by a newline
	blank []byte // a blank line held back: the REPL's own if a reset's line follows
	quiet bool   // a reset's line came
}

// maxLine bounds a line held back: a board printing without newlines
// still shows up.
const maxLine = 4096

// see takes bytes the board printed between operations.
func (b *between) see(p []byte) {
	if b == nil || b.quiet {
		return
	}
	b.line = append(b.line, p...)
	for !b.quiet {
		i := bytes.IndexByte(b.line, '\n')
		if i < 0 {
			if len(b.line) > maxLine {
				b.pass(b.line)
				b.line = b.line[:0]
			}
			return
		}
		b.pass(b.line[:i+1])
		if b.quiet {
			return
		}
		b.line = append(b.line[:0], b.line[i+1:]...)
	}
}

// pass writes one piece, unless it shows the board resetting or is only
// the REPL's prompt bytes.
func (b *between) pass(p []byte) {
	if resetLine(p) {
		// A blank line just before it is the REPL's newline ahead of
		// "soft reboot" (left over by a soft reset that was stopped).
		b.quiet, b.blank = true, b.blank[:0]
		b.line = b.line[:0] // p may be part of it: callers check quiet
		return
	}
	if promptOnly(p) {
		return
	}
	b.flushBlank()
	if len(bytes.Trim(p, "\r\n")) == 0 {
		b.blank = append(b.blank, p...)
		return
	}
	_, _ = b.w.Write(p)
}

// flushBlank writes the blank line held back: no reset line followed it.
func (b *between) flushBlank() {
	if len(b.blank) > 0 {
		_, _ = b.w.Write(b.blank)
		b.blank = b.blank[:0]
	}
}

// promptOnly reports whether p holds nothing but a REPL's prompt and
// control bytes (">", Ctrl-D, NUL) and blanks: the REPL's, not the
// program's.
func promptOnly(p []byte) bool {
	if len(bytes.Trim(p, " \r\n\x00\x04>")) > 0 {
		return false
	}
	return bytes.ContainsAny(p, ">\x00\x04")
}

// end is called when an operation begins: a line left unended was printed
// before it, so it goes out too; what comes next is the operation's.
func (b *between) end() {
	if b == nil {
		return
	}
	if !b.quiet && len(b.line) > 0 {
		b.pass(b.line)
	}
	if !b.quiet {
		b.flushBlank()
	}
	b.line, b.blank, b.quiet = b.line[:0], b.blank[:0], false
}

// resetLine reports whether a line is one a board prints as it resets:
// its soft reboot line, its boot banner, or the raw REPL's greeting after
// a soft reset there.
func resetLine(p []byte) bool {
	return bytes.Contains(p, []byte(softRebootLine)) || bytes.Contains(p, []byte(bannerStart)) ||
		bytes.Contains(p, []byte(rawGreeting))
}
