package plot

import (
	"bufio"
	"encoding/csv"
	"io"
	"strconv"
	"sync"
	"time"
)

// MinInterval is the shortest time between two frames of Live: at most
// ten a second, which a notebook renders smoothly.
const MinInterval = 100 * time.Millisecond

// Live shows a new frame of p every interval (at least MinInterval) while
// its data changes, and only the newest: frames are rendered on Live's own
// goroutine, never on the one feeding p. stop ends it, waits for a frame
// being shown, and shows a last frame when the data changed since; after
// stop returns, show is not called again. It returns how many frames were
// shown in all.
func (p *Plot) Live(interval time.Duration, show func(Frame)) (stop func() int) {
	interval = max(interval, MinInterval)
	done := make(chan struct{})
	finished := make(chan struct{})
	var shown uint64 // the version last shown
	frames := 0
	next := func() {
		if p.Version() == shown {
			return
		}
		f := p.Frame()
		shown = f.Version
		frames++
		show(f)
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				next()
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return func() int {
		once.Do(func() {
			close(done)
			<-finished
			next()
		})
		return frames
	}
}

// CSV writes samples as rows "time,label,value" (seconds since the start,
// to the microsecond) after a header row. Rows are buffered; Flush writes
// them out. It is safe for concurrent use.
type CSV struct {
	mu  sync.Mutex
	buf *bufio.Writer
	w   *csv.Writer
	err error
}

// NewCSV starts a CSV of samples on w, with its header.
func NewCSV(w io.Writer) *CSV {
	b := bufio.NewWriterSize(w, 64<<10)
	c := &CSV{buf: b, w: csv.NewWriter(b)}
	c.err = c.w.Write([]string{"time", "label", "value"})
	return c
}

// Sample adds one row; it has the signature of Config.Sample.
func (c *CSV) Sample(t time.Duration, label string, v float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = c.w.Write([]string{
		strconv.FormatFloat(t.Seconds(), 'f', 6, 64),
		label,
		strconv.FormatFloat(v, 'g', -1, 64),
	})
}

// Flush writes the buffered rows; it returns the first error of any write
// so far.
func (c *CSV) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.w.Flush()
	if c.err == nil {
		c.err = c.w.Error()
	}
	if c.err == nil {
		c.err = c.buf.Flush()
	}
	return c.err
}
