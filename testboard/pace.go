package testboard

import (
	"fmt"
	"io"
	"time"
)

// pacedWriter feeds the emulator's UART the way a real line would: never
// faster than the emulator takes the bytes in, and, when a baud rate is
// set, no faster than that rate (baud/10 bytes per second, 8N1) in bursts of
// about one millisecond of data.
//
// The first rule is what keeps the micro:bit's 64-byte receive buffer from
// overflowing on a busy machine. A wall-clock pacer alone keeps sending
// while QEMU is starved of CPU; the bytes pile up in the pipe, and when QEMU
// runs again its UART delivers the whole pile at emulated speed, faster than
// the firmware drains its ring. QEMU reads its stdin only when the emulated
// UART has room (a few bytes), so the bytes still unread in the pipe tell
// what the UART has not consumed: the writer waits for the pipe to empty
// before each burst, and at most one burst is ever in flight.
type pacedWriter struct {
	w       io.Writer
	unread  func() (int, error) // bytes written that the reader has not taken; nil: unknown
	perByte time.Duration       // 0: no line rate
	burst   int
	next    time.Time // when the next byte may leave
	stop    <-chan struct{}
}

// gatePoll is how often the writer looks whether the emulator has read the
// last burst. A burst at 115200 baud is one millisecond of data, so a poll
// a quarter of that keeps the line close to its rate.
const gatePoll = 250 * time.Microsecond

// unpacedBurst is the largest burst when no baud rate is set: small against
// the micro:bit's 64-byte ring, so a starved emulator never gets more.
const unpacedBurst = 16

// newPacedWriter returns a writer into w paced at baud (none when <= 0)
// and, when unread is set, gated by what the reader has consumed. It
// returns w itself when there is neither.
func newPacedWriter(w io.Writer, baud int, unread func() (int, error), stop <-chan struct{}) io.Writer {
	if baud <= 0 && unread == nil {
		return w
	}
	p := &pacedWriter{w: w, unread: unread, burst: unpacedBurst, stop: stop}
	if baud > 0 {
		bytesPerSec := max(1, baud/10)
		p.perByte = time.Second / time.Duration(bytesPerSec)
		p.burst = max(1, bytesPerSec/1000)
	}
	return p
}

func (p *pacedWriter) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		if err := p.waitConsumed(); err != nil {
			return written, err
		}
		if p.perByte > 0 {
			now := time.Now()
			if p.next.Before(now) {
				// An idle line earns no credit: a UART cannot send faster later.
				p.next = now
			} else if err := p.sleep(p.next.Sub(now)); err != nil {
				return written, err
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

// waitConsumed waits until the reader has taken every byte written so far.
// It has no deadline of its own: an emulator that stops reading has hung or
// exited, and the run's stop channel ends the wait.
func (p *pacedWriter) waitConsumed() error {
	if p.unread == nil {
		return nil
	}
	for {
		n, err := p.unread()
		if err != nil || n == 0 {
			// Without FIONREAD the writer falls back to the line rate alone.
			return nil
		}
		if err := p.sleep(gatePoll); err != nil {
			return err
		}
	}
}

func (p *pacedWriter) sleep(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-p.stop:
		return fmt.Errorf("paced write: %w", io.ErrClosedPipe)
	}
}
