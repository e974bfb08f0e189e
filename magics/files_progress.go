package magics

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html"
	"strings"
	"sync"
	"time"

	"github.com/iot-kernel/iot-kernel/kernel"
)

// Progress bar timing: a transfer gets a bar once it has taken showAfter,
// and the bar is redrawn at most every redrawEvery, only when what it
// shows (the percentage, or the bytes done when the total is unknown)
// changed, and once at the end. This is the one place that limits the
// updates of every transfer over every link: a link may report progress
// thousands of times a second (WebREPL reports each 256-byte chunk of a
// download), and each report would be an update_display_data message.
const (
	showAfter   = time.Second
	redrawEvery = 200 * time.Millisecond
	barWidth    = 20
)

// progress draws a progress bar for one transfer as display_data that is
// updated in place. Quick transfers never show one. Its update method is
// a transport.Progress and may be called from any goroutine.
type progress struct {
	out   kernel.Output
	now   func() time.Time
	label string

	mu        sync.Mutex
	start     time.Time
	id        string // display_id once the bar is shown
	drawn     time.Time
	done      int64
	total     int64
	drawnDone int64  // done as last drawn
	shown     string // the shown value as last drawn (see shownValue)
}

func newProgress(out kernel.Output, now func() time.Time, label string) *progress {
	return &progress{out: out, now: now, label: label, start: now(), drawnDone: -1}
}

// update records that done of total bytes are through, drawing the bar
// when it is due.
func (p *progress) update(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.total = done, total
	now := p.now()
	switch {
	case p.id == "":
		if now.Sub(p.start) < showAfter {
			return
		}
		p.id = newDisplayID()
		p.draw(now, false, "")
	case now.Sub(p.drawn) >= redrawEvery && shownValue(done, total) != p.shown:
		p.draw(now, true, "")
	}
}

// shownValue is what a bar shows of done out of total, apart from the
// rate: the whole percentage, or the size done when total is unknown.
func shownValue(done, total int64) string {
	if total <= 0 {
		return formatSize(done)
	}
	return fmt.Sprint(min(max(done*100/total, 0), 100))
}

// finish ends the transfer: a shown bar is brought to its final state (100 %,
// or marked failed when err is set).
func (p *progress) finish(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.id == "" {
		return
	}
	if err != nil {
		p.draw(p.now(), true, "failed")
		return
	}
	if p.total >= 0 && p.done != p.total {
		p.done = p.total
	}
	if p.drawnDone != p.done {
		p.draw(p.now(), true, "")
	}
}

// draw publishes the bar; the caller holds p.mu.
func (p *progress) draw(now time.Time, update bool, note string) {
	p.drawn = now
	p.drawnDone = p.done
	p.shown = shownValue(p.done, p.total)
	text, htm := renderProgress(p.done, p.total, now.Sub(p.start), p.label, note)
	p.out.Display(kernel.MIMEBundle{"text/plain": text, "text/html": htm}, nil, p.id, update)
}

// renderProgress renders the bar as text ("[#####-----]  45%  12.3 KB/s
// file.py") and as HTML with a <progress> element.
func renderProgress(done, total int64, elapsed time.Duration, label, note string) (string, string) {
	frac := 1.0
	if total > 0 {
		frac = min(max(float64(done)/float64(total), 0), 1)
	}
	pct := int(frac * 100)
	filled := int(frac * barWidth)
	rate := "-"
	if s := elapsed.Seconds(); s > 0 {
		rate = formatSize(int64(float64(done)/s)) + "/s"
	}
	tail := ""
	if note != "" {
		tail = "  (" + note + ")"
	}
	text := fmt.Sprintf("[%s%s] %3d%%  %s  %s%s",
		strings.Repeat("#", filled), strings.Repeat("-", barWidth-filled), pct, rate, label, tail)
	htm := fmt.Sprintf(`<progress value="%d" max="100" style="width:20em"></progress> %d%% &nbsp;%s&nbsp; %s%s`,
		pct, pct, html.EscapeString(rate), html.EscapeString(label), html.EscapeString(tail))
	return text, htm
}

// newDisplayID returns a display_id no other output uses.
func newDisplayID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return "iot-progress-" + hex.EncodeToString(b[:])
}
