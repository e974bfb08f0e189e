package cells

import (
	"strings"
	"sync"

	"github.com/iot-kernel/iot-kernel/kernel"
)

// streamWriter passes board output to a Jupyter stream as it arrives,
// turning the board's "\r\n" into "\n". A '\r' at the end of a write is
// held back until the next byte shows whether it starts a "\r\n"; a lone
// '\r' is kept, since frontends use it to redraw a line.
type streamWriter struct {
	out  kernel.Output
	name string

	mu        sync.Mutex
	pendingCR bool
}

func newStreamWriter(out kernel.Output, name string) *streamWriter {
	return &streamWriter{out: out, name: name}
}

// Write implements io.Writer.
func (w *streamWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	s := string(p)
	if w.pendingCR {
		s = "\r" + s
		w.pendingCR = false
	}
	if strings.HasSuffix(s, "\r") {
		s = s[:len(s)-1]
		w.pendingCR = true
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	if s != "" {
		w.out.Stream(w.name, s)
	}
	return len(p), nil
}

// Flush writes a held-back '\r'.
func (w *streamWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pendingCR {
		w.pendingCR = false
		w.out.Stream(w.name, "\r")
	}
}
