package transport

import (
	"bytes"
	"io"
)

// The board-side input() shim prints inputMarker, the prompt and inputEnd,
// then reads a line from stdin. An OSC-style escape that no terminal acts
// on: ordinary output does not contain it.
const (
	inputMarker = "\x1b]iot-input;"
	inputEnd    = '\x07'
	// maxPrompt bounds how much output is held back waiting for inputEnd;
	// past it the "marker" is passed through as ordinary output.
	maxPrompt = 4096
	// valueEnd ends the frame the board's display hook prints (see
	// valueMarker).
	valueEnd = '\x07'
	// maxValue bounds how much output is held back after a value marker,
	// waiting for the end of the output; past it the frame is passed
	// through as ordinary output.
	maxValue = 16 << 20
)

// valueMarkerPrefix starts the frame the display hook prints: the marker is
// this, the link's nonce and ';', so no program prints it by accident.
const valueMarkerPrefix = "\x1b]iot-v"

// valueMarkerEsc is valueMarkerPrefix as a Python string literal's text.
const valueMarkerEsc = `\x1b]iot-v`

// outFilter passes the board's stdout to w as it arrives, never splitting
// a UTF-8 character across two writes, and picks out input() requests and
// the value of the code's last expression.
type outFilter struct {
	w       io.Writer
	markers bool   // look for input markers
	value   []byte // the value marker to look for; nil: none
	holding bool   // a value marker came: all that follows is held to the end
	buf     []byte // held back: a partial character or marker
	err     error  // first write error; output is then discarded

	repr     string // the value's repr, once found by flush
	hasValue bool
}

// feed adds p and writes out what is safe to write. It stops at the first
// complete input marker and returns its prompt; call it again (with nil) to
// go on with the bytes after the marker.
func (f *outFilter) feed(p []byte) (prompt string, found bool) {
	f.buf = append(f.buf, p...)
	if f.holding {
		if len(f.buf) > maxValue {
			// Not a frame of ours after all: let it through.
			f.holding = false
			f.emit(f.buf)
			f.buf = f.buf[:0]
		}
		return "", false
	}
	vi := -1
	if f.value != nil {
		vi = bytes.Index(f.buf, f.value)
	}
	ii := -1
	if f.markers {
		ii = bytes.Index(f.buf, []byte(inputMarker))
	}
	if vi >= 0 && (ii < 0 || vi < ii) {
		// The display hook runs after the program: what follows is its
		// frame, decided at the end of the output (flush).
		f.emit(f.buf[:vi])
		f.buf = append(f.buf[:0], f.buf[vi:]...)
		f.holding = true
		return "", false
	}
	if ii >= 0 {
		i := ii
		f.emit(f.buf[:i])
		rest := f.buf[i+len(inputMarker):]
		if j := bytes.IndexByte(rest, inputEnd); j >= 0 {
			prompt = string(rest[:j])
			f.buf = append(f.buf[:0], rest[j+1:]...)
			return prompt, true
		}
		if len(rest) <= maxPrompt {
			f.buf = append(f.buf[:0], f.buf[i:]...)
			return "", false
		}
		// Too long to be ours: let it through as text.
		f.emit(f.buf[i : i+1])
		f.buf = append(f.buf[:0], f.buf[i+1:]...)
		return f.feed(nil)
	}
	cut := len(f.buf) - utf8Incomplete(f.buf)
	if f.markers {
		cut = min(cut, len(f.buf)-markerPrefix(f.buf, inputMarker))
	}
	if f.value != nil {
		cut = min(cut, len(f.buf)-markerPrefix(f.buf, string(f.value)))
	}
	f.emit(f.buf[:cut])
	f.buf = append(f.buf[:0], f.buf[cut:]...)
	return "", false
}

// flush writes everything held back (the output has ended). Held bytes
// that end in the display hook's frame give the value instead.
func (f *outFilter) flush() {
	if f.holding {
		f.holding = false
		// The hook prints last: its frame is the last marker, and it ends
		// the output. Anything else was the program's own text.
		if k := bytes.LastIndex(f.buf, f.value); k >= 0 && len(f.buf) > k+len(f.value) && f.buf[len(f.buf)-1] == valueEnd {
			f.emit(f.buf[:k])
			f.repr = string(f.buf[k+len(f.value) : len(f.buf)-1])
			f.hasValue = true
			f.buf = f.buf[:0]
			return
		}
	}
	f.emit(f.buf)
	f.buf = f.buf[:0]
}

func (f *outFilter) emit(p []byte) {
	if len(p) == 0 || f.w == nil || f.err != nil {
		return
	}
	if _, err := f.w.Write(p); err != nil {
		f.err = err
	}
}

// utf8Incomplete is the length of an incomplete UTF-8 sequence at the end
// of p (0 if p ends on a character boundary or in invalid bytes, which are
// passed through as they are).
func utf8Incomplete(p []byte) int {
	for k := 1; k <= 3 && k <= len(p); k++ {
		c := p[len(p)-k]
		if c&0xC0 == 0x80 {
			continue // continuation byte: look further back
		}
		need := 0
		switch {
		case c&0xE0 == 0xC0:
			need = 2
		case c&0xF0 == 0xE0:
			need = 3
		case c&0xF8 == 0xF0:
			need = 4
		}
		if need > k {
			return k
		}
		return 0
	}
	return 0
}

// markerPrefix is the length of the longest suffix of p that is a proper
// prefix of marker.
func markerPrefix(p []byte, marker string) int {
	for n := min(len(marker)-1, len(p)); n > 0; n-- {
		if bytes.HasSuffix(p, []byte(marker[:n])) {
			return n
		}
	}
	return 0
}
