package kernel

import (
	"context"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/iot-kernel/iot-kernel/kernel/wire"
)

// Stream coalescing: text is held per stream and published every
// streamFlushInterval or once streamFlushBytes have gathered, and always
// before any other IOPub message of the cell, so order is kept.
const (
	streamFlushInterval = 50 * time.Millisecond
	streamFlushBytes    = 64 << 10
)

// cellOutput is the Output handed to Interpreter.Execute for one request.
type cellOutput struct {
	s          *Server
	parent     *wire.Message
	silent     bool
	allowStdin bool

	mu    sync.Mutex
	name  string // stream whose text is in buf
	buf   strings.Builder
	timer *time.Timer
	// closed: Execute has returned. Stream text still goes out, under
	// this cell, as IPython shows what a thread prints after its cell
	// ended, until retired: the next cell began; then it is dropped, as
	// is any other output after close.
	closed, retired bool

	// started is closed once the request's busy and execute_input are
	// published: nothing of the cell's may go out before them.
	started <-chan struct{}
}

func newCellOutput(s *Server, parent *wire.Message, req ExecuteRequest, started <-chan struct{}) *cellOutput {
	return &cellOutput{s: s, parent: parent, silent: req.Silent, allowStdin: req.AllowStdin, started: started}
}

// Stream implements Output.
func (o *cellOutput) Stream(name, text string) {
	if o.silent || text == "" {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.retired {
		return
	}
	if name != o.name && o.buf.Len() > 0 {
		o.flushLocked()
	}
	o.name = name
	o.buf.WriteString(text)
	if o.buf.Len() >= streamFlushBytes {
		o.flushLocked()
		return
	}
	if o.timer == nil {
		var t *time.Timer
		t = time.AfterFunc(streamFlushInterval, func() {
			o.mu.Lock()
			defer o.mu.Unlock()
			if o.timer == t {
				o.flushLocked()
			}
		})
		o.timer = t
	}
}

// flushLocked publishes buffered text in chunks of at most
// streamFlushBytes, split on rune boundaries.
func (o *cellOutput) flushLocked() {
	if o.timer != nil {
		o.timer.Stop()
		o.timer = nil
	}
	text := o.buf.String()
	o.buf.Reset()
	if text != "" {
		<-o.started
	}
	for text != "" {
		n := chunkLen(text, streamFlushBytes)
		o.s.publish(o.parent, wire.MsgStream, wire.StreamContent{Name: o.name, Text: text[:n]})
		text = text[n:]
	}
}

// chunkLen returns how much of text fits in max bytes without cutting a
// UTF-8 sequence.
func chunkLen(text string, max int) int {
	if len(text) <= max {
		return len(text)
	}
	i := max
	for i > max-utf8.UTFMax && i > 0 && !utf8.RuneStart(text[i]) {
		i--
	}
	if i <= 0 || !utf8.RuneStart(text[i]) {
		return max // not UTF-8 here anyway
	}
	return i
}

// Display implements Output.
func (o *cellOutput) Display(data MIMEBundle, metadata map[string]any, displayID string, update bool) {
	if update && displayID == "" {
		o.s.log.Warn("update_display_data without a display id is dropped")
		return
	}
	c := wire.DisplayData{Data: orEmpty(data), Metadata: orEmpty(metadata)}
	if displayID != "" {
		c.Transient = &wire.Transient{DisplayID: displayID}
	}
	t := wire.MsgDisplayData
	if update {
		t = wire.MsgUpdateDisplayData
	}
	o.emit(t, c)
}

// ClearOutput implements Output.
func (o *cellOutput) ClearOutput(wait bool) {
	o.emit(wire.MsgClearOutput, wire.ClearOutput{Wait: wait})
}

// emit publishes one output message after the stream text buffered so far,
// unless the request is silent or Execute has returned.
func (o *cellOutput) emit(t wire.MsgType, content any) {
	if o.silent {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.flushLocked()
	<-o.started
	o.s.publish(o.parent, t, content)
}

// Input implements Output: the prompt follows everything written so far.
func (o *cellOutput) Input(ctx context.Context, prompt string, password bool) (string, error) {
	if !o.allowStdin {
		return "", ErrNoStdin
	}
	o.mu.Lock()
	o.flushLocked()
	o.mu.Unlock()
	<-o.started // the prompt follows busy too
	return o.s.requestInput(ctx, o.parent, prompt, password)
}

// close flushes what is buffered; after it, only stream text goes out
// (until retire). Once it returns, the request's own messages (busy,
// execute_input) are published, so the error, result and idle that follow
// come after them.
func (o *cellOutput) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.flushLocked()
	<-o.started
	o.closed = true
}

// retire flushes the stream text that came after close and drops any that
// comes later: the next cell has begun.
func (o *cellOutput) retire() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.flushLocked()
	o.retired = true
}
