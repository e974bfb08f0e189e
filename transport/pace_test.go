package transport

import (
	"context"
	"sync"
	"testing"
	"time"
)

// piecesLink records when each write arrives; the third one stalls, as a
// process the machine deschedules does.
type piecesLink struct {
	mu     sync.Mutex
	sizes  []int
	at     []time.Time
	stall  time.Duration
	writes int
}

func (p *piecesLink) Write(b []byte) (int, error) {
	p.mu.Lock()
	p.writes++
	stall := p.writes == 3
	p.mu.Unlock()
	if stall {
		time.Sleep(p.stall) // the stall being modelled, not a wait for anything
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sizes = append(p.sizes, len(b))
	p.at = append(p.at, time.Now())
	return len(b), nil
}

func (p *piecesLink) Read([]byte) (int, error)                       { select {} }
func (p *piecesLink) ReadTimeout([]byte, time.Duration) (int, error) { return 0, nil }
func (p *piecesLink) Wake()                                          {}
func (p *piecesLink) Close() error                                   { return nil }

// The classic raw REPL has no flow control, so a board with a 64-byte
// buffer gets the code in small pieces with gaps. After a stall the pieces
// keep their gaps: catching up would send the burst the buffer loses.
func TestPacedWritesKeepTheirGapsAfterAStall(t *testing.T) {
	fake := &piecesLink{stall: 20 * time.Millisecond}
	l := newLink(fake, time.Second)
	l.platform = "microbit"
	code := make([]byte, 10*paceChunk)
	if err := l.writePaced(context.Background(), code); err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	total := 0
	for i, n := range fake.sizes {
		total += n
		if n > paceChunk {
			t.Errorf("piece %d is %d bytes, more than %d", i, n, paceChunk)
		}
		if i > 0 {
			// The gap is measured from the end of one write to the end of
			// the next, so it is at least paceGap however slow the machine.
			if gap := fake.at[i].Sub(fake.at[i-1]); gap < paceGap {
				t.Errorf("piece %d left %v after piece %d; want at least %v", i, gap, i-1, paceGap)
			}
		}
	}
	if total != len(code) {
		t.Errorf("sent %d bytes of %d", total, len(code))
	}
}
