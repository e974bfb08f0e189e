package kernel

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zeromq/zmq4"
	"golang.org/x/sync/semaphore"

	"github.com/iot-kernel/iot-kernel/kernel/wire"
)

// routerWriteTimeout bounds one reply write to a peer that stopped reading;
// the peer is then dropped so the goroutine sending replies moves on.
const routerWriteTimeout = 10 * time.Second

var errNoPeer = errors.New("no connected peer with that identity")

// inbound is one authenticated message received on a ROUTER.
type inbound struct {
	msg  *wire.Message // its Identities start with the peer's
	seq  uint64        // arrival order on this router, from 1
	size int           // bytes, held against the router's queue budget
	// tooLarge, when not 0, is the size in bytes of a message over the
	// limit: msg has its identities and header, and no content.
	tooLarge uint64
}

// router is a ROUTER socket: messages from all peers arrive on in with the
// peer identity prepended; send routes on the first frame.
type router struct {
	name string
	acc  *acceptor
	log  *slog.Logger
	in   chan inbound
	done chan struct{}
	once sync.Once

	maxMessage int         // bytes; a larger inbound message is dropped
	signer     wire.Signer // checks each message before it is queued
	// queued bounds the bytes of messages read and not yet taken from
	// in: a client that sends faster than cells run waits in TCP instead.
	queued *semaphore.Weighted
	ctx    context.Context // ends with close: stops a wait for budget
	cancel context.CancelFunc

	seq  atomic.Uint64 // messages read so far
	anon atomic.Uint32 // counter for generated identities

	mu     sync.Mutex
	peers  map[string]*routerPeer
	joined chan struct{} // closed (and replaced) when a peer connects

	// onRead, when set (by tests, before serving), sees every arrival.
	onRead func(seq uint64)
}

type routerPeer struct {
	c   net.Conn
	wmu sync.Mutex
}

func newRouter(name string, ln net.Listener, log *slog.Logger, maxMessage int, signer wire.Signer) *router {
	budget := max(int64(routerQueueBytes), int64(maxMessage))
	ctx, cancel := context.WithCancel(context.Background())
	r := &router{
		name:       name,
		maxMessage: maxMessage,
		signer:     signer,
		queued:     semaphore.NewWeighted(budget),
		ctx:        ctx,
		cancel:     cancel,
		log:        log.With("channel", name),
		in:         make(chan inbound, 1024),
		done:       make(chan struct{}),
		peers:      map[string]*routerPeer{},
		joined:     make(chan struct{}),
	}
	r.acc = newAcceptor(name, zmq4.Router, ln, log)
	r.acc.handle = r.handle
	return r
}

func (r *router) handle(c net.Conn, id []byte) {
	if len(id) == 0 {
		// As libzmq does for anonymous peers: 0x00 then a 32-bit counter.
		id = binary.BigEndian.AppendUint32([]byte{0}, r.anon.Add(1))
	}
	key := string(id)
	p := &routerPeer{c: c}
	r.mu.Lock()
	old := r.peers[key]
	r.peers[key] = p // handover: a reconnecting client replaces its old link
	close(r.joined)
	r.joined = make(chan struct{})
	r.mu.Unlock()
	if old != nil {
		_ = old.c.Close()
	}
	defer func() {
		r.mu.Lock()
		if r.peers[key] == p {
			delete(r.peers, key)
		}
		r.mu.Unlock()
	}()

	br := bufio.NewReaderSize(c, 4<<10) // larger frames bypass the buffer
	for {
		var part *wire.Partial
		m, err := readMessageLimit(br, r.maxMessage, func(kept [][]byte) frameSink {
			part = wire.NewPartial(kept, r.signer)
			return part
		})
		var dropped *droppedError
		if errors.As(err, &dropped) {
			// Its content is dropped and the peer kept; a signed request
			// is still answered, with an error, or its client would wait
			// forever. A peer without the key gets nothing.
			r.log.Error("dropping message", "err", err,
				"hint", "a larger limit: iot-kernel run --max-message-mb N, or IOT_MAX_MESSAGE_MB=N in the kernel's environment")
			msg, err := part.Message()
			if err != nil {
				r.log.Debug("not answering the large message", "err", err)
				continue
			}
			msg.Identities = append([][]byte{id}, msg.Identities...)
			size := len(msg.RawHeader)
			for _, f := range msg.Identities {
				size += len(f)
			}
			if !r.enqueue(inbound{msg: msg, size: size, tooLarge: dropped.size}) {
				return
			}
			continue
		}
		if errors.Is(err, errMessageTooLarge) {
			r.log.Error("closing a connection: it sent a message too large even to read past", "err", err)
			return
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				r.log.Debug("peer read failed", "err", err)
			}
			return
		}
		if m.command {
			continue // ZMTP 3.0 peers send no commands after READY
		}
		// Checked here, not when handled: a peer without the key must not
		// fill the queue while a cell runs.
		msg, err := wire.Decode(append([][]byte{id}, m.frames...), r.signer)
		if err != nil {
			r.log.Warn("dropping message", "err", err)
			continue
		}
		size := 0
		for _, f := range m.frames {
			size += len(f)
		}
		if !r.enqueue(inbound{msg: msg, size: size}) {
			return
		}
	}
}

// enqueue numbers in and queues it once the budget has room for its
// size; false means the router closed.
func (r *router) enqueue(in inbound) bool {
	if r.queued.Acquire(r.ctx, int64(in.size)) != nil {
		return false
	}
	in.seq = r.seq.Add(1)
	if r.onRead != nil {
		r.onRead(in.seq)
	}
	select {
	case r.in <- in:
		return true
	case <-r.done:
		return false
	}
}

// routerQueueBytes bounds the messages a router holds that were read and
// not yet handled (or one message, when that is larger).
const routerQueueBytes = 64 << 20

// take returns the budget of a message taken from in.
func (r *router) take(in inbound) {
	r.queued.Release(int64(in.size))
}

// sendWait is send to a peer that may not have connected yet: it waits
// for it at most d, or until ctx ends. A client connects its sockets
// together, but a cell can ask for input before the kernel has finished
// the stdin socket's handshake.
func (r *router) sendWait(ctx context.Context, frames [][]byte, d time.Duration) error {
	if len(frames) < 2 {
		return errors.New("router send: no identity")
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		r.mu.Lock()
		p, joined := r.peers[string(frames[0])], r.joined
		r.mu.Unlock()
		if p != nil {
			return r.send(frames)
		}
		select {
		case <-joined:
		case <-t.C:
			return errNoPeer
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-r.done:
			return errNoPeer
		}
	}
}

// send routes frames[1:] to the peer named by frames[0].
func (r *router) send(frames [][]byte) error {
	if len(frames) < 2 {
		return errors.New("router send: no identity")
	}
	r.mu.Lock()
	p := r.peers[string(frames[0])]
	r.mu.Unlock()
	if p == nil {
		return errNoPeer
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.c.SetWriteDeadline(time.Now().Add(routerWriteTimeout))
	if err := writeMessage(p.c, frames[1:]); err != nil {
		_ = p.c.Close() // a partial write leaves the stream unusable
		return err
	}
	// Clear the deadline, or its timer wakes the idle kernel once, later.
	_ = p.c.SetWriteDeadline(time.Time{})
	return nil
}

func (r *router) close() {
	r.once.Do(func() { close(r.done); r.cancel() })
	r.acc.close()
}
