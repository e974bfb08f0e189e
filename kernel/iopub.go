package kernel

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"
)

// defaultIOPubQueueBytes bounds what one subscriber may have queued.
const defaultIOPubQueueBytes = 32 << 20

// A subscriber has at most maxTopics distinct topics of at most
// maxTopicBytes each: Jupyter clients subscribe to "" (everything).
const (
	maxTopics     = 1024
	maxTopicBytes = 1024
)

// iopubFlushWait bounds how long a reply waits for the outputs published
// before it to be written to a subscriber that is slow to read them.
const iopubFlushWait = 50 * time.Millisecond

// publisher is the IOPub PUB socket. Each subscriber has its own goroutine
// and its own queue bounded in bytes: a subscriber that stops reading loses
// its own messages once its queue is full, and nobody else's.
type publisher struct {
	acc       *acceptor
	log       *slog.Logger
	limit     int
	flushWait time.Duration // bound of a flush: iopubFlushWait

	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
}

func newPublisher(ln net.Listener, log *slog.Logger, limit int) *publisher {
	if limit <= 0 {
		limit = defaultIOPubQueueBytes
	}
	p := &publisher{log: log.With("channel", "iopub"), limit: limit, flushWait: iopubFlushWait, subs: map[*subscriber]struct{}{}}
	p.acc = newAcceptor("iopub", zmq4.Pub, ln, log)
	p.acc.handle = p.handle
	return p
}

// publish queues one message (topic frame first) for every subscriber
// whose subscriptions match the topic. It never blocks on the network.
func (p *publisher) publish(frames [][]byte) {
	size := 0
	for _, f := range frames {
		size += len(f)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	for s := range p.subs {
		s.offer(frames, size)
	}
}

// flush waits, at most p.flushWait, until every subscriber has written all
// that was published before the call, so that a reply sent next follows
// its outputs on the wire: a client that has the reply has them too, as
// with ipykernel, which flushes its streams before replying. A subscriber
// that makes it wait the whole bound is not waited for again until it
// catches up, so a client that stopped reading delays one reply, not
// every one.
func (p *publisher) flush() {
	p.mu.Lock()
	var subs []*subscriber
	var waits []chan struct{}
	for s := range p.subs {
		if w := s.waiter(); w != nil {
			subs, waits = append(subs, s), append(waits, w)
		}
	}
	p.mu.Unlock()
	if len(waits) == 0 {
		return
	}
	t := time.NewTimer(p.flushWait)
	defer t.Stop()
	for i, w := range waits {
		select {
		case <-w:
		case <-t.C:
			for j := i; j < len(subs); j++ {
				subs[j].markSlow(waits[j])
			}
			return
		}
	}
}

func (p *publisher) handle(c net.Conn, _ []byte) {
	s := newSubscriber(c, p.log.With("remote", c.RemoteAddr().String()), p.limit)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.subs[s] = struct{}{}
	p.mu.Unlock()

	done := make(chan struct{})
	go func() { s.writeLoop(); close(done) }()
	s.readLoop() // returns when the peer goes away or the conn is closed
	p.mu.Lock()
	delete(p.subs, s)
	p.mu.Unlock()
	s.stop(false)
	_ = c.Close()
	<-done
}

// shutdown lets every subscriber write what is queued, for at most d, then
// closes all connections.
func (p *publisher) shutdown(d time.Duration) {
	p.mu.Lock()
	p.closed = true
	subs := make([]*subscriber, 0, len(p.subs))
	for s := range p.subs {
		subs = append(subs, s)
	}
	p.mu.Unlock()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for _, s := range subs {
		s.stop(true)
	}
	for _, s := range subs {
		select {
		case <-s.drained:
		case <-deadline.C:
			p.acc.close()
			return
		}
	}
	p.acc.close()
}

// subscriber is one connected SUB peer.
type subscriber struct {
	c     net.Conn
	log   *slog.Logger
	limit int

	mu     sync.Mutex
	topics map[string]int // subscription counts, as libzmq keeps them
	// warnedTopics: a subscription over the bounds was logged once.
	warnedTopics bool
	queue        [][][]byte
	queued       int // bytes in queue
	dropped      int // messages lost in the current overflow
	stopping     bool
	drain        bool // write what is queued before stopping
	// Messages queued and written since the start: a flush waits for
	// written to reach what was queued when it began.
	queuedN, writtenN uint64
	slow              bool   // a flush gave up on it ...
	slowAt            uint64 // ... until writtenN reaches this
	waiters           []flushWaiter
	wake              chan struct{}
	drained           chan struct{} // closed when the write loop ends
}

// flushWaiter is a flush waiting for the messages up to n to be written.
type flushWaiter struct {
	n    uint64
	done chan struct{}
}

func newSubscriber(c net.Conn, log *slog.Logger, limit int) *subscriber {
	return &subscriber{
		c: c, log: log, limit: limit,
		topics:  map[string]int{},
		wake:    make(chan struct{}, 1),
		drained: make(chan struct{}),
	}
}

func (s *subscriber) subscribedLocked(topic []byte) bool {
	for t := range s.topics {
		if bytes.HasPrefix(topic, []byte(t)) {
			return true
		}
	}
	return false
}

// offer queues a message unless the queue is full. A message larger than
// the whole bound still goes through an empty queue, so memory stays
// bounded by the limit plus one message.
func (s *subscriber) offer(frames [][]byte, size int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping || len(frames) == 0 || !s.subscribedLocked(frames[0]) {
		return
	}
	if len(s.queue) > 0 && s.queued+size > s.limit {
		if s.dropped == 0 {
			s.log.Warn("iopub subscriber is not reading; dropping its messages", "queued_bytes", s.queued)
		}
		s.dropped++
		return
	}
	if s.dropped > 0 {
		s.log.Info("iopub subscriber caught up", "dropped_messages", s.dropped)
		s.dropped = 0
	}
	s.queue = append(s.queue, frames)
	s.queued += size
	s.queuedN++
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// waiter returns a channel closed once everything queued so far is
// written, or nil when there is nothing to wait for.
func (s *subscriber) waiter() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping || s.slow || s.writtenN == s.queuedN {
		return nil
	}
	w := flushWaiter{n: s.queuedN, done: make(chan struct{})}
	s.waiters = append(s.waiters, w)
	return w.done
}

// markSlow records that a flush stopped waiting for w: the subscriber is
// not waited for until it has written what w waited for.
func (s *subscriber) markSlow(w chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, fw := range s.waiters {
		if fw.done == w { // still waiting: not written after all
			s.slow, s.slowAt = true, max(s.slowAt, fw.n)
		}
	}
}

// writtenLocked records n more messages written and wakes the flushes
// they complete; all (the write loop ended) wakes every one.
func (s *subscriber) writtenLocked(n int, all bool) {
	s.writtenN += uint64(n)
	if s.writtenN >= s.slowAt {
		s.slow = false // caught up with the backlog a flush gave up on
	}
	kept := s.waiters[:0]
	for _, w := range s.waiters {
		if all || w.n <= s.writtenN {
			close(w.done)
		} else {
			kept = append(kept, w)
		}
	}
	s.waiters = kept
}

func (s *subscriber) stop(drain bool) {
	s.mu.Lock()
	s.stopping = true
	s.drain = drain
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscriber) writeLoop() {
	defer close(s.drained)
	defer func() {
		s.mu.Lock()
		s.writtenLocked(0, true) // nothing more will be written: nobody waits for it
		s.mu.Unlock()
	}()
	bw := bufio.NewWriterSize(s.c, 8<<10) // per subscriber: keep it small; large frames bypass it
	for {
		s.mu.Lock()
		batch := s.queue
		s.queue = nil
		s.queued = 0
		stopping, drain := s.stopping, s.drain
		s.mu.Unlock()
		if stopping && (!drain || len(batch) == 0) {
			return
		}
		if len(batch) == 0 {
			<-s.wake
			continue
		}
		for _, m := range batch {
			if err := writeMessage(bw, m); err != nil {
				s.discard()
				return
			}
		}
		if err := bw.Flush(); err != nil {
			s.discard()
			return
		}
		s.mu.Lock()
		s.writtenLocked(len(batch), false)
		s.mu.Unlock()
	}
}

// discard stops queueing after a write error; the read loop notices the
// closed connection and unregisters the subscriber.
func (s *subscriber) discard() {
	s.mu.Lock()
	s.stopping = true
	s.queue = nil
	s.queued = 0
	s.mu.Unlock()
	_ = s.c.Close()
}

// readLoop honours SUBSCRIBE and CANCEL, as messages (ZMTP 3.0: a frame
// starting 0x01 or 0x00) or as commands (ZMTP 3.1).
func (s *subscriber) readLoop() {
	br := bufio.NewReaderSize(s.c, 4<<10)
	for {
		m, err := readMessage(br)
		if errors.Is(err, errMessageTooLarge) {
			s.log.Error("closing a subscriber: it sent a message too large for a subscription", "err", err)
			return
		}
		if err != nil {
			return
		}
		if len(m.frames) == 0 {
			continue
		}
		var sub bool
		var topic []byte
		if m.command {
			name, body, ok := commandName(m.frames[0])
			switch {
			case !ok:
				continue
			case name == "SUBSCRIBE":
				sub, topic = true, body
			case name == "CANCEL":
				sub, topic = false, body
			default:
				continue
			}
		} else {
			f := m.frames[0]
			if len(f) == 0 || f[0] > 1 {
				continue
			}
			sub, topic = f[0] == 1, f[1:]
		}
		s.mu.Lock()
		if sub && s.topics[string(topic)] == 0 && (len(s.topics) >= maxTopics || len(topic) > maxTopicBytes) {
			// Every message is matched against every topic: a peer
			// must not make that unbounded.
			s.mu.Unlock()
			if !s.warnedTopics {
				s.warnedTopics = true
				s.log.Warn("ignoring a subscription", "topic_bytes", len(topic), "topics", len(s.topics),
					"limit", fmt.Sprintf("%d topics of at most %d bytes", maxTopics, maxTopicBytes))
			}
			continue
		}
		if sub {
			s.topics[string(topic)]++
		} else if s.topics[string(topic)] > 1 {
			s.topics[string(topic)]--
		} else {
			delete(s.topics, string(topic))
		}
		s.mu.Unlock()
	}
}
