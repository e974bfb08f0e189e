package rfc2217

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iot-kernel/iot-kernel/transport/internal/inbox"
)

// q is the state of one side of a telnet option (RFC 1143, without the
// queue bit: we never change our mind mid-negotiation).
type q uint8

const (
	qNo   q = iota
	qYes    // enabled
	qWant   // we asked to enable it and wait for the answer
)

// conn is a negotiated RFC 2217 link. One goroutine reads the socket,
// answers negotiation and queues data for Read.
type conn struct {
	tcp  net.Conn
	url  string
	baud uint32

	in     *inbox.Inbox
	done   chan struct{} // closed when the socket reader has returned
	closed atomic.Bool

	writeMu sync.Mutex // one writer at a time: user data and replies

	// Replies to the server are queued and written by their own goroutine,
	// so that the socket reader never waits on a write: a server that
	// waits for us to read while we wait for it to read would deadlock.
	replyMu sync.Mutex
	replyQ  []byte
	replyGo chan struct{} // wakes the reply writer
	quit    chan struct{} // closed by Close: the reply writer stops

	mu       sync.Mutex
	us, them [256]q          // option states: ours (WILL) and the server's
	pending  map[byte][]byte // settings sent and not yet acknowledged
	settled  chan struct{}   // closed when the settings are acknowledged or refused
	negErr   error
	lost     error // why the socket reader stopped
}

func newConn(tcp net.Conn, url string, baud uint32) *conn {
	c := &conn{
		tcp: tcp, url: url, baud: baud,
		in:      inbox.New(),
		done:    make(chan struct{}),
		settled: make(chan struct{}),
		replyGo: make(chan struct{}, 1),
		quit:    make(chan struct{}),
	}
	go c.readLoop()
	go c.replyLoop()
	return c
}

// reply queues telnet bytes for the reply writer.
func (c *conn) reply(b []byte) {
	c.replyMu.Lock()
	c.replyQ = append(c.replyQ, b...)
	c.replyMu.Unlock()
	select {
	case c.replyGo <- struct{}{}:
	default:
	}
}

func (c *conn) replyLoop() {
	for {
		select {
		case <-c.replyGo:
		case <-c.quit:
			return
		case <-c.done: // the link is gone: nothing to answer
			return
		}
		c.replyMu.Lock()
		b := c.replyQ
		c.replyQ = nil
		c.replyMu.Unlock()
		if len(b) > 0 && c.send(b) != nil {
			return // the socket reader sees the same failure
		}
	}
}

func (c *conn) readLoop() {
	defer close(c.done)
	var p parser
	buf := make([]byte, 4096)
	var data, replies []byte
	for {
		n, err := c.tcp.Read(buf)
		if n > 0 {
			replies = replies[:0]
			data = p.feed(buf[:n], data[:0], func(ev event) {
				replies = c.handle(ev, &p, replies)
			})
			if len(replies) > 0 {
				c.reply(replies)
			}
			if len(data) > 0 && !c.in.Put(data) {
				return
			}
		}
		if err != nil {
			c.stop(err)
			return
		}
	}
}

// stop records why the link ended and wakes its readers.
func (c *conn) stop(cause error) {
	err := c.closedErr()
	if !c.closed.Load() {
		err = fmt.Errorf("rfc2217 %s: connection lost: %w", c.url, cause)
	}
	c.mu.Lock()
	if c.lost == nil {
		c.lost = cause
	}
	c.mu.Unlock()
	c.in.Fail(err)
}

func (c *conn) lostErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lost != nil {
		return c.lost
	}
	return errors.New("connection lost")
}

// handle answers one telnet command and returns replies with the answer
// appended. It runs on the socket reader, which owns p.
func (c *conn) handle(ev event, p *parser, replies []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := ev.opt
	switch ev.verb {
	case cmdDO:
		var on bool
		if replies, on = enable(&c.us[o], o, cmdWILL, cmdWONT, replies); on && o == optComPort {
			replies = c.configure(replies)
		}
	case cmdDONT:
		var was q
		if replies, was = disable(&c.us[o], o, cmdWONT, replies); o == optComPort && was != qNo {
			c.settle(errRefused)
		}
	case cmdWILL:
		var on bool
		if replies, on = enable(&c.them[o], o, cmdDO, cmdDONT, replies); on && o == optBinary {
			p.binary = true
		}
	case cmdWONT:
		replies, _ = disable(&c.them[o], o, cmdDONT, replies)
		if o == optBinary {
			p.binary = false
		}
	case cmdSB:
		if o == optComPort && len(ev.payload) > 0 {
			c.acknowledge(ev.payload[0], ev.payload[1:])
		}
		// Other notifications (line and modem state, flow control) are
		// of no use to a REPL.
	}
	if o == optBinary {
		c.settleIfReady()
	}
	return replies
}

// enable answers a DO (for our side) or a WILL (for the server's) about
// option o, whose state is *st. Only the options we asked for are agreed
// to, with yes; an echoing server would corrupt the raw REPL. It reports
// whether o has just been enabled.
func enable(st *q, o, yes, no byte, replies []byte) ([]byte, bool) {
	switch *st {
	case qNo:
		if o != optBinary && o != optSGA && o != optComPort {
			return append(replies, cmdIAC, no, o), false
		}
		replies = append(replies, cmdIAC, yes, o)
		fallthrough
	case qWant:
		*st = qYes
		return replies, true
	}
	return replies, false
}

// disable answers a DONT or WONT about option o, whose state is *st, and
// returns the state it was in.
func disable(st *q, o, no byte, replies []byte) ([]byte, q) {
	was := *st
	*st = qNo
	if was == qYes {
		replies = append(replies, cmdIAC, no, o)
	}
	return replies, was
}

// configure sends the line settings once the server agreed to RFC 2217.
// DTR and RTS are left alone: changing them resets many boards.
func (c *conn) configure(replies []byte) []byte {
	if c.pending != nil {
		return replies
	}
	baud := binary.BigEndian.AppendUint32(nil, c.baud)
	c.pending = map[byte][]byte{
		cpSetBaud:     baud,
		cpSetDataSize: {dataBitsEight},
		cpSetParity:   {parityNone},
		cpSetStopSize: {stopBitsOne},
	}
	for _, cmd := range []byte{cpSetBaud, cpSetDataSize, cpSetParity, cpSetStopSize} {
		replies = append(replies, subneg(cmd, c.pending[cmd])...)
	}
	return replies
}

// acknowledge checks the server's answer to a setting.
func (c *conn) acknowledge(cmd byte, value []byte) {
	want, ok := c.pending[cmd-serverOffset]
	if cmd < serverOffset || !ok {
		return
	}
	if string(value) != string(want) {
		names := map[byte]string{cpSetBaud: "baud rate", cpSetDataSize: "data size", cpSetParity: "parity", cpSetStopSize: "stop size"}
		c.settle(fmt.Errorf("the server set the %s to %x instead of %x", names[cmd-serverOffset], value, want))
		return
	}
	delete(c.pending, cmd-serverOffset)
	c.settleIfReady()
}

// settleIfReady ends the negotiation once every setting is acknowledged and
// BINARY is decided both ways: data written before that would be encoded
// for the other mode (a CR sent as CR NUL to a server already in BINARY).
// c.mu is held.
func (c *conn) settleIfReady() {
	if c.pending != nil && len(c.pending) == 0 && c.us[optBinary] != qWant && c.them[optBinary] != qWant {
		c.settle(nil)
	}
}

// settle ends the negotiation with err (nil: success). Only the first
// outcome counts. c.mu is held.
func (c *conn) settle(err error) {
	select {
	case <-c.settled:
	default:
		c.negErr = err
		close(c.settled)
	}
}

// send writes raw telnet bytes.
func (c *conn) send(b []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_, err := c.tcp.Write(b)
	return err
}

// Read returns the board's bytes, blocking until some arrive.
func (c *conn) Read(p []byte) (int, error) {
	return c.in.Read(p)
}

// ReadTimeout reads like Read, waiting at most d for the first byte (d <=
// 0: only what has already arrived). It returns (0, nil) when nothing came
// in time or Wake was called.
func (c *conn) ReadTimeout(p []byte, d time.Duration) (int, error) {
	return c.in.ReadTimeout(p, d)
}

// Wake makes the ReadTimeout in progress, or else the next one, return at
// once.
func (c *conn) Wake() { c.in.Wake() }

// Write sends p to the board, escaping telnet's IAC byte.
func (c *conn) Write(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, c.closedErr()
	}
	c.mu.Lock()
	bin := c.us[optBinary] == qYes
	c.mu.Unlock()
	if err := c.send(escape(nil, p, bin)); err != nil {
		if c.closed.Load() {
			return 0, c.closedErr()
		}
		return 0, fmt.Errorf("rfc2217 %s: write: %w", c.url, err)
	}
	return len(p), nil
}

// Close ends the link and unblocks a pending Read. Closing twice is
// harmless.
func (c *conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.in.Shut(c.closedErr())
	close(c.quit)
	err := c.tcp.Close()
	<-c.done
	if err != nil {
		return fmt.Errorf("rfc2217 %s: close: %w", c.url, err)
	}
	return nil
}

func (c *conn) closedErr() error {
	return fmt.Errorf("rfc2217 %s: %w", c.url, net.ErrClosed)
}
