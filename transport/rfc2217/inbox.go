package rfc2217

import "sync"

// inboxMax bounds the REPL output held for a slow reader; the socket
// reader waits when it is reached.
const inboxMax = 4 << 20

// inbox holds REPL bytes between the socket reader and Read.
type inbox struct {
	mu   sync.Mutex
	cond sync.Cond
	buf  []byte
	err  error // once set, no more bytes arrive
}

func newInbox() *inbox {
	b := &inbox{}
	b.cond.L = &b.mu
	return b
}

// put appends p, waiting while the inbox is full. It reports false once
// the inbox has failed.
func (b *inbox) put(p []byte) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.buf) >= inboxMax && b.err == nil {
		b.cond.Wait()
	}
	if b.err != nil {
		return false
	}
	b.buf = append(b.buf, p...)
	b.cond.Broadcast()
	return true
}

// read waits for bytes or an error. Bytes that arrived before the error
// are returned first.
func (b *inbox) read(p []byte) (int, error) {
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

// fail ends the inbox with err after the bytes already in it. The first
// error wins.
func (b *inbox) fail(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		b.err = err
	}
	b.cond.Broadcast()
}

// shut ends the inbox with err at once, dropping unread bytes: after Close
// nothing more is read.
func (b *inbox) shut(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err = err
	b.buf = nil
	b.cond.Broadcast()
}
