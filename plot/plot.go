package plot

import (
	"bytes"
	"sync"
	"time"
	"unicode/utf8"
)

// maxLine bounds a line held while waiting for its end. A longer line is
// not data: it is text, passed on as it comes and never held, so memory
// stays bounded and no number is cut in two.
const maxLine = 4096

// Config configures a Plot.
type Config struct {
	// Window is how many samples are kept (DefaultWindow when 0).
	Window int
	// Time puts the seconds since Start on the x axis instead of the
	// sample number.
	Time bool
	// Render shapes the chart (axes, size, title); its XLabel is set
	// from Time when empty.
	Render Options
	// Text receives the text of each line that holds no number, ending
	// in "\n". A line longer than 4096 bytes is never data: it comes in
	// pieces as it arrives (never cut inside a UTF-8 character), the last
	// ending in "\n".
	Text func(text string)
	// Sample receives every value as it is parsed (for a CSV file), with
	// the time since Start and its series' label.
	Sample func(t time.Duration, label string, v float64)
	// Now is the clock (time.Now when nil), for tests.
	Now func() time.Time
}

// Plot gathers the numbers of a stream of output into a chart. Write and
// Flush feed it (from the goroutine reading a board); Frame renders the
// latest state (from another goroutine). It is safe for concurrent use.
type Plot struct {
	cfg   Config
	start time.Time

	mu      sync.Mutex
	partial []byte  // the start of a line whose end has not come
	long    bool    // the line being read is past maxLine: text, passed on as it comes
	cut     []byte  // the start of a UTF-8 character a piece of a long line ended in
	vals    []Value // the values of the line being parsed, reused
	win     *Window
	version uint64 // bumped on every change of win
}

// New returns an empty Plot whose clock starts now.
func New(cfg Config) *Plot {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Render.XLabel == "" {
		cfg.Render.XLabel = "sample"
		if cfg.Time {
			cfg.Render.XLabel = "time (s)"
		}
	}
	return &Plot{cfg: cfg, start: cfg.Now(), win: NewWindow(cfg.Window)}
}

// Write feeds output; complete lines are parsed at once. A line may come
// in several writes, and is taken the same however they were cut. It
// never fails.
func (p *Plot) Write(b []byte) (int, error) {
	n := len(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(b) > 0 {
		i := bytes.IndexAny(b, "\n\r")
		if p.long {
			if i < 0 {
				p.textLocked(b, false)
				break
			}
			p.textLocked(b[:i], true)
			p.long = false
			b = b[i+1:]
			continue
		}
		room := maxLine - len(p.partial)
		if i >= 0 && i <= room {
			p.partial = append(p.partial, b[:i]...)
			b = b[i+1:]
			p.lineLocked()
			continue
		}
		if i < 0 && len(b) <= room {
			p.partial = append(p.partial, b...)
			break
		}
		// the line passes maxLine: what is held of it goes on as text,
		// and the rest will as it comes
		p.long = true
		p.textLocked(p.partial, false)
		p.partial = p.partial[:0]
	}
	return n, nil
}

// Flush takes what is held of an unfinished line as a line.
func (p *Plot) Flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.long:
		p.textLocked(nil, true)
		p.long = false
	case len(p.partial) > 0:
		p.lineLocked()
	}
}

// textLocked passes a piece of a line too long to be data on to Text;
// end says the line ends with it. A UTF-8 character the piece ends
// inside waits for the rest, so that every piece is valid text.
func (p *Plot) textLocked(piece []byte, end bool) {
	if p.cfg.Text == nil {
		return
	}
	text := string(p.cut) + string(piece)
	p.cut = p.cut[:0]
	if end {
		text += "\n"
	} else if k := unfinishedRune(text); k > 0 {
		p.cut = append(p.cut, text[len(text)-k:]...)
		text = text[:len(text)-k]
	}
	if text != "" {
		p.cfg.Text(text)
	}
}

// unfinishedRune is how many bytes at the end of s begin a UTF-8
// character that is not complete.
func unfinishedRune(s string) int {
	for i := len(s) - 1; i >= 0 && i >= len(s)-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if utf8.FullRuneInString(s[i:]) {
				return 0
			}
			return len(s) - i
		}
	}
	return 0
}

// lineLocked handles the line in p.partial. Empty lines (such as the
// second half of a "\r\n") are neither text nor data.
func (p *Plot) lineLocked() {
	line := string(p.partial)
	p.partial = p.partial[:0]
	if line == "" {
		return
	}
	p.vals = AppendValues(p.vals[:0], line)
	vals := p.vals
	if len(vals) == 0 {
		if p.cfg.Text != nil {
			p.cfg.Text(line + "\n")
		}
		return
	}
	var since time.Duration
	if p.cfg.Time || p.cfg.Sample != nil { // the clock costs a fifth of a line's parsing
		since = p.cfg.Now().Sub(p.start)
	}
	x := float64(p.win.Lines() + 1)
	if p.cfg.Time {
		x = since.Seconds()
	}
	p.win.Add(x, vals)
	p.version++
	if p.cfg.Sample != nil {
		for i, v := range vals {
			p.cfg.Sample(since, seriesLabel(v, i), v.V)
		}
	}
}

// Version changes whenever the data does; a frame need only be sent again
// when it has.
func (p *Plot) Version() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.version
}

// Frame is one rendering of the chart.
type Frame struct {
	SVG     []byte
	Summary string // text/plain: points, last values, min/max per series
	Version uint64
	Lines   int // lines with numbers so far
}

// Frame renders the chart as it is now. What will be drawn of the data is
// copied under the lock (decimated to the chart's width, never more than
// it shows) and drawn outside it, so feeding is held up by neither.
func (p *Plot) Frame() Frame {
	cols := p.cfg.Render.Width
	if cols <= 0 {
		cols = defaultWidth
	}
	p.mu.Lock()
	series := p.win.Drawn(cols)
	lines, dropped, v := p.win.Lines(), p.win.Dropped(), p.version
	p.mu.Unlock()
	return Frame{
		SVG:     Render(series, p.cfg.Render),
		Summary: Summary(series, lines, dropped),
		Version: v,
		Lines:   lines,
	}
}

// Series returns a copy of the kept points, for tests and callers that
// draw by themselves.
func (p *Plot) Series() []Series {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.win.Series()
}
