package testboard

import (
	"fmt"
	"io"
	"time"
)

// pacedWriter writes at most baud/10 bytes per second, the rate of a UART
// with 8N1 framing, in bursts of about one millisecond of data.
type pacedWriter struct {
	w       io.Writer
	perByte time.Duration
	burst   int
	next    time.Time // when the next byte may leave
	stop    <-chan struct{}
}

// newPacedWriter returns w itself when baud <= 0.
func newPacedWriter(w io.Writer, baud int, stop <-chan struct{}) io.Writer {
	if baud <= 0 {
		return w
	}
	bytesPerSec := baud / 10
	if bytesPerSec < 1 {
		bytesPerSec = 1
	}
	return &pacedWriter{
		w:       w,
		perByte: time.Second / time.Duration(bytesPerSec),
		burst:   max(1, bytesPerSec/1000),
		stop:    stop,
	}
}

func (p *pacedWriter) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		now := time.Now()
		if p.next.Before(now) {
			// An idle line earns no credit: a UART cannot send faster later.
			p.next = now
		} else if wait := p.next.Sub(now); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-p.stop:
				t.Stop()
				return written, fmt.Errorf("paced write: %w", io.ErrClosedPipe)
			}
		}
		n := min(p.burst, len(b))
		m, err := p.w.Write(b[:n])
		written += m
		if err != nil {
			return written, err
		}
		p.next = p.next.Add(time.Duration(m) * p.perByte)
		b = b[m:]
	}
	return written, nil
}
