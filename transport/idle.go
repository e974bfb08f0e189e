package transport

import "time"

// idleAfter is how long a link may sit unread between operations before a
// reader starts draining it. A board that prints while no operation runs
// (a timer callback) must not stall on a full host buffer, as boards with
// native USB do; operations in quick succession never wait for that reader
// to stop.
const idleAfter = 500 * time.Millisecond

// The idle reader polls rather than waiting in a read: a serial read
// cannot be ended early, and the next operation must not wait for one. It
// looks often while the board prints and backs off while it is quiet, so
// an idle kernel wakes about twice a second.
const (
	drainPollMin = 25 * time.Millisecond
	drainPollMax = 500 * time.Millisecond
)

// drain reads a link between operations and passes what it reads to the
// board's between (dropped without one), as the next operation's discard
// would.
type drain struct {
	l    *link
	quit chan struct{}
	done chan struct{}
	err  error // why reading failed; read once done is closed
	// watch notices a reset banner among what is dropped; read once
	// done is closed.
	watch resetWatch
	bg    *between // passes on what is read; nil: it is dropped
}

func (d *drain) run() {
	defer close(d.done)
	buf := make([]byte, 4096)
	every := drainPollMin
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-d.quit:
			return
		case <-t.C:
		}
		// Take all there is, within reason.
		got := false
		for range discardMax {
			if isDone(d.quit) {
				return
			}
			n, err := d.l.rd.ReadTimeout(buf, 0)
			if err != nil {
				d.err = err
				return
			}
			if n == 0 {
				break
			}
			d.watch.see(buf[:n])
			d.bg.see(buf[:n])
			got = true
		}
		if got {
			every = drainPollMin
		} else {
			every = min(2*every, drainPollMax)
		}
		t.Reset(every)
	}
}

// halt stops the reader and waits for it, at most bound; a link whose
// polls do not return is closed instead. A read failure is recorded on
// the link, so the operation that follows reopens it.
func (d *drain) halt(bound time.Duration) {
	close(d.quit)
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-d.done:
		if d.err != nil {
			d.l.fail(d.err)
		}
		d.l.noticeReset(d.watch.kind, false)
		d.l.keepDropped(&d.watch)
	case <-t.C:
		d.l.close()
		d.l.fail(errPollStuck)
	}
}

// idle arms the idle reader after an operation; b.mu is held.
func (b *Board) idle() {
	if b.closed || b.ln == nil {
		return
	}
	b.idleTimer = time.AfterFunc(idleAfter, b.startDrain)
}

// startDrain starts the idle reader unless an operation runs.
func (b *Board) startDrain() {
	select {
	case b.sem <- struct{}{}:
	default:
		return // the operation reads the link
	}
	defer func() { <-b.sem }()
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.ln
	if b.closed || l == nil || l.dead() || b.drain != nil {
		return
	}
	d := &drain{l: l, bg: b.bg, quit: make(chan struct{}), done: make(chan struct{})}
	d.watch.see(l.dropped) // a reboot's line may have begun there
	b.drain = d
	go d.run()
}

// stopIdle stops the idle timer and takes the idle reader, if any, for
// the caller to halt.
func (b *Board) stopIdle() *drain {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.idleTimer != nil {
		b.idleTimer.Stop()
		b.idleTimer = nil
	}
	d := b.drain
	b.drain = nil
	return d
}

func isDone(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
