// Package kerneltest helps test kernel.Interpreter implementations and the
// code behind them: Recorder stands in for the kernel's Output.
package kerneltest

import (
	"context"
	"strings"
	"sync"

	"github.com/iot-kernel/iot-kernel/kernel"
)

// Event is one call on a Recorder.
type Event struct {
	Kind      string // "stream", "display" or "clear"
	Name      string // stream name: "stdout" or "stderr"
	Text      string // stream text
	Data      kernel.MIMEBundle
	Metadata  map[string]any
	DisplayID string
	Update    bool // update_display_data rather than display_data
}

// Recorder is a kernel.Output that records what it is told, in order. It is
// safe for concurrent use. Its zero value refuses input, as a client that
// does not allow stdin does.
type Recorder struct {
	// Answer, when set, answers Input: the line the user types, or an error.
	// Set it before the Recorder is used.
	Answer func(prompt string) (string, error)
	// OnStream, when set, is called with each stream write, after it is
	// recorded and outside the lock (it may call the Recorder). Set it
	// before use, or later with SetOnStream.
	OnStream func(name, text string)

	mu      sync.Mutex
	events  []Event
	prompts []string
}

var _ kernel.Output = (*Recorder)(nil)

// SetOnStream replaces OnStream while the Recorder may be in use.
func (r *Recorder) SetOnStream(f func(name, text string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.OnStream = f
}

// Stream implements kernel.Output.
func (r *Recorder) Stream(name, text string) {
	r.mu.Lock()
	r.events = append(r.events, Event{Kind: "stream", Name: name, Text: text})
	f := r.OnStream
	r.mu.Unlock()
	if f != nil {
		f(name, text)
	}
}

// Display implements kernel.Output.
func (r *Recorder) Display(data kernel.MIMEBundle, metadata map[string]any, displayID string, update bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, Event{Kind: "display", Data: data, Metadata: metadata, DisplayID: displayID, Update: update})
}

// ClearOutput implements kernel.Output.
func (r *Recorder) ClearOutput(wait bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, Event{Kind: "clear"})
}

// Input implements kernel.Output: it records the prompt and asks Answer,
// or fails with kernel.ErrNoStdin when Answer is nil.
func (r *Recorder) Input(ctx context.Context, prompt string, password bool) (string, error) {
	r.mu.Lock()
	r.prompts = append(r.prompts, prompt)
	f := r.Answer
	r.mu.Unlock()
	if f == nil {
		return "", kernel.ErrNoStdin
	}
	return f(prompt)
}

// Text returns everything written to the named stream.
func (r *Recorder) Text(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, e := range r.events {
		if e.Kind == "stream" && e.Name == name {
			b.WriteString(e.Text)
		}
	}
	return b.String()
}

// Stdout returns everything written to stdout.
func (r *Recorder) Stdout() string { return r.Text("stdout") }

// Stderr returns everything written to stderr.
func (r *Recorder) Stderr() string { return r.Text("stderr") }

// Events returns every call recorded, in order.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// Streams returns the stream writes, in order, one per call.
func (r *Recorder) Streams() []Event { return r.filter("stream", false) }

// Displays returns the display_data and update_display_data calls, in order.
func (r *Recorder) Displays() []Event { return r.filter("display", false) }

// Prompts returns the prompts Input was called with, in order.
func (r *Recorder) Prompts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.prompts...)
}

// TakeText returns what was written to stdout and stderr and forgets the
// stream writes, so that the next call sees only what came after.
func (r *Recorder) TakeText() (stdout, stderr string) {
	var out, errOut strings.Builder
	for _, e := range r.filter("stream", true) {
		switch e.Name {
		case "stdout":
			out.WriteString(e.Text)
		case "stderr":
			errOut.WriteString(e.Text)
		}
	}
	return out.String(), errOut.String()
}

// TakeDisplays returns the display calls and forgets them.
func (r *Recorder) TakeDisplays() []Event { return r.filter("display", true) }

// filter returns the events of kind, removing them when take is set.
func (r *Recorder) filter(kind string, take bool) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var got, kept []Event
	for _, e := range r.events {
		if e.Kind == kind {
			got = append(got, e)
		} else {
			kept = append(kept, e)
		}
	}
	if take {
		r.events = kept
	}
	return got
}
