package kernel

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// StreamWriter is an io.Writer onto one stream of an Output, for output
// that comes as bytes in arbitrary pieces: a board's, a host command's.
// It passes text on as it arrives, with two fixes a notebook needs:
// "\r\n" becomes "\n" (a lone '\r' is kept, since front ends use it to
// redraw a line), and a UTF-8 character or a "\r\n" cut between two
// writes is held back until its end comes, so no stream message ends
// inside one. Invalid bytes are passed on as they are. It is safe for
// concurrent use.
type StreamWriter struct {
	out  Output
	name string

	mu      sync.Mutex
	pending []byte // the start of a character or a "\r\n"
}

// NewStreamWriter returns a StreamWriter onto the stream name ("stdout"
// or "stderr") of out.
func NewStreamWriter(out Output, name string) *StreamWriter {
	return &StreamWriter{out: out, name: name}
}

// Write implements io.Writer; it never fails.
func (w *StreamWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	buf := append(w.pending, p...)
	hold := incompleteUTF8(buf)
	if hold == 0 && buf[len(buf)-1] == '\r' {
		hold = 1
	}
	cut := len(buf) - hold
	if cut > 0 {
		w.out.Stream(w.name, strings.ReplaceAll(string(buf[:cut]), "\r\n", "\n"))
	}
	w.pending = append(w.pending[:0:0], buf[cut:]...)
	return len(p), nil
}

// Flush passes on what is held back, complete or not (the output ended).
func (w *StreamWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) > 0 {
		w.out.Stream(w.name, string(w.pending))
		w.pending = nil
	}
}

// incompleteUTF8 is the length of a UTF-8 sequence cut short at the end
// of p (0 when p ends on a character boundary or in invalid bytes).
func incompleteUTF8(p []byte) int {
	for i := 1; i <= utf8.UTFMax-1 && i <= len(p); i++ {
		c := p[len(p)-i]
		if c&0xC0 == 0x80 {
			continue // continuation byte: look further back
		}
		if c >= 0xC0 && !utf8.FullRune(p[len(p)-i:]) {
			return i
		}
		return 0
	}
	return 0
}
