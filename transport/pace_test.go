package transport

import (
	"context"
	"strings"
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

// cannedLink answers reads with fixed text, then nothing.
type cannedLink struct {
	piecesLink
	mu   sync.Mutex
	text []byte
}

func (c *cannedLink) ReadTimeout(p []byte, d time.Duration) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.text) == 0 {
		time.Sleep(min(d, 10*time.Millisecond))
		return 0, nil
	}
	n := copy(p, c.text)
	c.text = c.text[n:]
	return n, nil
}

// A board that was reset behind our back answers the raw-paste request
// from its friendly REPL: the exec fails at once, not at the timeout.
func TestRawPasteAnsweredByFriendlyREPL(t *testing.T) {
	fake := &cannedLink{text: []byte("\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== A")}
	l := newLink(fake, time.Minute)
	start := time.Now()
	_, _, err := l.sendRawPaste(context.Background(), []byte("print(1)"))
	if err == nil || !strings.Contains(err.Error(), "friendly REPL") || time.Since(start) > 30*time.Second {
		t.Fatalf("sendRawPaste = %v after %v; want an error naming the friendly REPL, at once", err, time.Since(start))
	}
	if l.inRaw {
		t.Error("the link still counts as at the raw prompt")
	}
}
