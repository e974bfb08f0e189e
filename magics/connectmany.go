package magics

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/iot-kernel/iot-kernel/kernel"
)

// How a concurrent %%connect shows its boards: one display per board,
// redrawn at most every sectionEvery while the boards run; a redraw shows
// the last sectionTail lines, the final one all that was kept. A section
// keeps its last sectionKeep bytes: each redraw sends the section whole,
// and a board printing for hours must not grow the kernel without bound.
const (
	sectionEvery = 200 * time.Millisecond
	sectionTail  = 200
	sectionKeep  = 1 << 20
)

// runConcurrently runs body on every target at once, each board's output in
// a display of its own (headed by its name, updated in place as it comes),
// and returns the targets that failed. A stop (ctx) reaches every board;
// runConcurrently returns once they all have ended.
func runConcurrently(ctx context.Context, env *Env, opener BoardOpener, targets []string, body string) []string {
	fan := &fanOut{parent: env.Out, id: uuid.NewString()}
	secs := make([]*section, len(targets))
	for i, t := range targets {
		secs[i] = &section{fan: fan, name: t, id: fmt.Sprintf("iot-connect-%s-%d", fan.id, i)}
		fan.show(secs[i], false)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(targets))
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			benv := *env
			benv.Out = secs[i]
			errs[i] = runOnTarget(ctx, &benv, opener, t, body)
			secs[i].finish(errs[i])
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(sectionEvery)
	defer tick.Stop()
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-tick.C:
		}
		for _, s := range secs {
			fan.show(s, !running)
		}
	}
	var failed []string
	for i, err := range errs {
		if err != nil {
			failed = append(failed, targets[i])
		}
	}
	return failed
}

// fanOut serialises the boards' calls on the cell's own Output.
type fanOut struct {
	mu     sync.Mutex
	parent kernel.Output
	id     string
	input  sync.Mutex // one board asks for input at a time
}

// show draws s in its display: the first time as display_data, then as an
// update when s changed (all of its text when final, else its tail).
func (f *fanOut) show(s *section, final bool) {
	s.mu.Lock()
	if s.shown && !s.dirty {
		s.mu.Unlock()
		return
	}
	text := s.render(final)
	update := s.shown
	s.shown, s.dirty = true, false
	s.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.parent.Display(kernel.MIMEBundle{"text/plain": text}, nil, s.id, update)
}

// section is one board's part of a concurrent %%connect: the kernel.Output
// its cell writes to.
type section struct {
	fan      *fanOut
	name, id string

	mu           sync.Mutex
	text         strings.Builder
	dropped      int    // lines cut from the front to keep sectionKeep
	status       string // "" while running
	shown, dirty bool
}

var _ kernel.Output = (*section)(nil)

func (s *section) render(final bool) string {
	body := s.text.String()
	above := s.dropped
	if !final {
		lines := strings.SplitAfter(body, "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1] // after the last newline
		}
		if n := len(lines) - sectionTail; n > 0 {
			above += n
			body = strings.Join(lines[n:], "")
		}
	}
	switch {
	case above > 0 && final:
		body = fmt.Sprintf("… %d lines above not kept (run the cell on this board alone to see all of its output) …\n", above) + body
	case above > 0:
		body = fmt.Sprintf("… %d lines above …\n", above) + body
	}
	head := "── " + s.name + " ──"
	switch {
	case s.status != "":
		head += "  " + s.status
	case !final:
		head += "  (running)"
	}
	return head + "\n" + body
}

func (s *section) add(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.text.WriteString(text)
	s.dirty = true
	if s.text.Len() <= sectionKeep {
		return
	}
	// Cut whole lines from the front, down to half the bound, so that
	// cutting is rare.
	all := s.text.String()
	cut := len(all) - sectionKeep/2
	if i := strings.IndexByte(all[cut:], '\n'); i >= 0 {
		cut += i + 1
	}
	s.dropped += strings.Count(all[:cut], "\n")
	if cut < len(all) && !strings.HasSuffix(all[:cut], "\n") {
		s.dropped++ // a cut within the line
	}
	rest := all[cut:]
	s.text.Reset()
	s.text.WriteString(rest)
}

// finish records how the board's run ended.
func (s *section) finish(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.status = "done"
	} else {
		if t := s.text.String(); t != "" && !strings.HasSuffix(t, "\n") {
			s.text.WriteString("\n")
		}
		s.text.WriteString(errorText(err) + "\n")
		s.status = "failed"
	}
	s.dirty = true
}

// Stream implements kernel.Output: the text joins the board's section.
func (s *section) Stream(_, text string) { s.add(text) }

// Display implements kernel.Output: a plain-text value joins the section,
// as a REPL shows it; anything richer (a plot, an image) is shown on its
// own, after the sections.
func (s *section) Display(data kernel.MIMEBundle, metadata map[string]any, displayID string, update bool) {
	if t, ok := data["text/plain"].(string); ok && len(data) == 1 && displayID == "" {
		s.add(t + "\n")
		return
	}
	s.fan.mu.Lock()
	defer s.fan.mu.Unlock()
	s.fan.parent.Display(data, metadata, displayID, update)
}

// ClearOutput implements kernel.Output: it empties the section.
func (s *section) ClearOutput(bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.text.Reset()
	s.dropped = 0
	s.dirty = true
}

// Input implements kernel.Output: boards ask one at a time, each prompt
// naming its board.
func (s *section) Input(ctx context.Context, prompt string, password bool) (string, error) {
	s.fan.input.Lock()
	defer s.fan.input.Unlock()
	return s.fan.parent.Input(ctx, "["+s.name+"] "+prompt, password)
}
