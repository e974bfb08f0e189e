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
// them out. After a failed write it writes nothing more. It is safe for
// concurrent use.
type CSV struct {
	onErr func(error)

	mu  sync.Mutex
	buf *bufio.Writer
	w   *csv.Writer
	err error
}

// NewCSV starts a CSV of samples on w, with its header. onErr, when not
// nil, is called once, with the first error of a write, as soon as it
// happens (in Sample or Flush, so possibly while a Plot is fed).
func NewCSV(w io.Writer, onErr func(error)) *CSV {
	b := bufio.NewWriterSize(w, 64<<10)
	c := &CSV{onErr: onErr, buf: b, w: csv.NewWriter(b)}
	c.err = c.w.Write([]string{"time", "label", "value"})
	c.failed(c.err)
	return c
}

// Sample adds one row; it has the signature of Config.Sample.
func (c *CSV) Sample(t time.Duration, label string, v float64) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = c.w.Write([]string{
		strconv.FormatFloat(t.Seconds(), 'f', 6, 64),
		label,
		strconv.FormatFloat(v, 'g', -1, 64),
	})
	err := c.err
	c.mu.Unlock()
	c.failed(err)
}

// Flush writes the buffered rows; it returns the first error of any write
// so far.
func (c *CSV) Flush() error {
	c.mu.Lock()
	before := c.err
	c.w.Flush()
	if c.err == nil {
		c.err = c.w.Error()
	}
	if c.err == nil {
		c.err = c.buf.Flush()
	}
	err := c.err
	c.mu.Unlock()
	if before == nil {
		c.failed(err)
	}
	return err
}

// failed tells onErr of the first error, outside the lock (onErr may
// write to the notebook, which takes its own locks). Only the call that
// set c.err passes one that is not nil.
func (c *CSV) failed(err error) {
	if err != nil && c.onErr != nil {
		c.onErr(err)
	}
}
