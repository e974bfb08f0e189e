// Package inbox is the byte queue between a link's socket reader goroutine
// and the link's Read: bounded, blocking, and ending with an error only
// after the bytes that came before it.
package inbox

import "sync"

// Max bounds the REPL output held for a slow reader; the socket
// reader waits when it is reached.
const Max = 4 << 20

// Inbox holds REPL bytes between the socket reader and Read.
type Inbox struct {
	mu   sync.Mutex
	cond sync.Cond
	buf  []byte
	err  error // once set, no more bytes arrive
}

// New returns an empty Inbox.
func New() *Inbox {
	b := &Inbox{}
	b.cond.L = &b.mu
	return b
}

// Put appends p, waiting while the inbox is full. It reports false once
// the inbox has failed.
func (b *Inbox) Put(p []byte) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.buf) >= Max && b.err == nil {
		b.cond.Wait()
	}
	if b.err != nil {
		return false
	}
	b.buf = append(b.buf, p...)
	b.cond.Broadcast()
	return true
}

// Read waits for bytes or an error. Bytes that arrived before the error
// are returned first. An empty p returns at once.
func (b *Inbox) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.buf) == 0 && b.err == nil {
		b.cond.Wait()
	}
	if len(b.buf) == 0 {
		return 0, b.err
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	if len(b.buf) == 0 {
		b.buf = nil
	}
	b.cond.Broadcast()
	return n, nil
}

// Fail ends the inbox with err after the bytes already in it. The first
// error wins.
func (b *Inbox) Fail(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		b.err = err
	}
	b.cond.Broadcast()
}

// Shut ends the inbox with err at once, dropping unread bytes: after Close
// nothing more is read.
func (b *Inbox) Shut(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err = err
	b.buf = nil
	b.cond.Broadcast()
}
