// Package inbox is the byte queue between a link's socket reader goroutine
// and the link's Read: bounded, blocking, and ending with an error only
// after the bytes that came before it. ReadTimeout and Wake let the raw
// REPL engine read it with a bound and interrupt its wait.
package inbox

import (
	"sync"
	"time"
)

// Max bounds the REPL output held for a slow reader; the socket
// reader waits when it is reached.
const Max = 4 << 20

// Inbox holds REPL bytes between the socket reader and Read.
type Inbox struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	buf     []byte
	err     error // once set, no more bytes arrive
	woken   bool  // Wake was called and no ReadTimeout has returned since
}

// New returns an empty Inbox.
func New() *Inbox {
	return &Inbox{changed: make(chan struct{})}
}

// signal wakes every waiter; b.mu is held.
func (b *Inbox) signal() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// Put appends p, waiting while the inbox is full. It reports false once
// the inbox has failed.
func (b *Inbox) Put(p []byte) bool {
	b.mu.Lock()
	for len(b.buf) >= Max && b.err == nil {
		ch := b.changed
		b.mu.Unlock()
		<-ch
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	return b.add(p)
}

// PutNow appends p without waiting for room, for a few bytes handed back
// by the inbox's own reader (which would wait for itself). It reports false
// once the inbox has failed.
func (b *Inbox) PutNow(p []byte) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.add(p)
}

// add appends p unless the inbox has failed; b.mu is held.
func (b *Inbox) add(p []byte) bool {
	if b.err != nil {
		return false
	}
	b.buf = append(b.buf, p...)
	b.signal()
	return true
}

// Read waits for bytes or an error. Bytes that arrived before the error
// are returned first. An empty p returns at once.
func (b *Inbox) Read(p []byte) (int, error) {
	for {
		n, err := b.ReadTimeout(p, time.Hour)
		if n > 0 || err != nil || len(p) == 0 {
			return n, err
		}
	}
}

// ReadTimeout is Read waiting at most d for the first byte (d <= 0: only
// what is already here). It returns (0, nil) when nothing came in time or
// Wake was called.
func (b *Inbox) ReadTimeout(p []byte, d time.Duration) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var timeout <-chan time.Time
	b.mu.Lock()
	for len(b.buf) == 0 && b.err == nil && !b.woken {
		if d <= 0 {
			b.mu.Unlock()
			return 0, nil
		}
		if timeout == nil {
			t := time.NewTimer(d)
			defer t.Stop()
			timeout = t.C
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-timeout:
			b.mu.Lock()
			b.woken = false // a Wake racing the timeout is answered too
			b.mu.Unlock()
			return 0, nil
		}
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	b.woken = false
	if len(b.buf) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		return 0, nil // woken
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	if len(b.buf) == 0 {
		b.buf = nil
	}
	b.signal()
	return n, nil
}

// Wake makes the ReadTimeout in progress, or else the next one, return at
// once. It may be called from any goroutine.
func (b *Inbox) Wake() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.woken = true
	b.signal()
}

// Fail ends the inbox with err after the bytes already in it. The first
// error wins.
func (b *Inbox) Fail(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		b.err = err
	}
	b.signal()
}

// Shut ends the inbox with err at once, dropping unread bytes: after Close
// nothing more is read.
func (b *Inbox) Shut(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err = err
	b.buf = nil
	b.signal()
}
