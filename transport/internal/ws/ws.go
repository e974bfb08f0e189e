// Package ws is a WebSocket client (RFC 6455) for links to boards:
// MicroPython's WebREPL and servers like it.
//
// It speaks what such a link needs and no more: ws:// over a TCP connection
// the caller dials, text and binary messages (fragmented ones are joined),
// ping answered with pong, and the closing handshake. It has no TLS, no
// extensions, no subprotocols and no proxies.
//
// It is written here rather than taken from a WebSocket library because
// the well-kept Go clients (coder/websocket, gorilla/websocket) link
// net/http and crypto/tls, which were 2.8 MB of the kernel's binary and
// 2 MB of its idle resident memory, a fifth of the kernel's budget, for a
// board protocol that uses neither. MicroPython's handshake also matches
// header names case-sensitively, which net/http's canonical spelling
// breaks.
package ws

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"
)

// MessageType is the kind of a data message.
type MessageType int

// Message types, numbered as their frame opcodes.
const (
	Text   MessageType = 1
	Binary MessageType = 2
)

// Frame opcodes (RFC 6455 section 5.2).
const (
	opContinuation = 0
	opText         = 1
	opBinary       = 2
	opClose        = 8
	opPing         = 9
	opPong         = 10
)

// StatusNormalClosure is the close code of a session ended on purpose.
const StatusNormalClosure = 1000

// acceptGUID is the key suffix the server hashes to prove it speaks
// WebSocket (RFC 6455 section 1.3).
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Bounds on the server's handshake answer: a board's is a few lines.
const (
	maxHeaderBytes = 16 << 10
	maxHeaderLines = 100
)

// DefaultReadLimit bounds a message's size until SetReadLimit changes it.
const DefaultReadLimit = 1 << 20

// ErrBroken reports an operation on a connection whose stream was left
// mid-frame by an earlier failure or cancellation.
var ErrBroken = errors.New("websocket connection broken by an earlier error")

// CloseError is the server's close frame.
type CloseError struct {
	Code   int // 1005 when the frame had none
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("the server closed the WebSocket (status %d)", e.Code)
	}
	return fmt.Sprintf("the server closed the WebSocket (status %d: %s)", e.Code, e.Reason)
}

// HandshakeError is a server's answer that is not a WebSocket upgrade.
type HandshakeError struct {
	Status string // the status line's code and text, "" if there was none
	Reason string
}

func (e *HandshakeError) Error() string {
	if e.Status != "" {
		return fmt.Sprintf("the server answered HTTP %s, not a WebSocket upgrade", e.Status)
	}
	return "not a WebSocket server: " + e.Reason
}

// DialFunc opens the TCP connection under a WebSocket.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Conn is a client WebSocket. One goroutine may Read while others Write.
type Conn struct {
	nc net.Conn
	br *bufio.Reader

	readLimit int64 // set before the first Read
	rbroken   bool  // only the reading goroutine touches it

	wlock   chan struct{} // holds a token while a frame is written
	wbuf    []byte
	wbroken bool
	sentFin bool // a close frame was sent: no frame may follow
}

// Dial connects to rawURL (ws://host:port/path) over a connection from
// dial (net.Dialer's when nil) and performs the opening handshake. ctx
// bounds both, not the life of the connection.
func Dial(ctx context.Context, rawURL string, dial DialFunc) (*Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("malformed URL")
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("URL scheme %q is not ws://", u.Scheme)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	nc, err := dial(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	c := newConn(nc)
	if err := c.handshake(ctx, u); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func newConn(nc net.Conn) *Conn {
	return &Conn{nc: nc, br: bufio.NewReader(nc), readLimit: DefaultReadLimit, wlock: make(chan struct{}, 1)}
}

// handshake sends the upgrade request and checks the answer.
func (c *Conn) handshake(ctx context.Context, u *url.URL) error {
	defer deadlineOn(ctx, c.nc.SetDeadline)()
	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	path := u.RequestURI()
	// The header names are spelled as RFC 6455 spells them: MicroPython
	// compares them case-sensitively.
	req := "GET " + path + " HTTP/1.1\r\n" +
		"Host: " + u.Host + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c.nc, req); err != nil {
		return ctxErr(ctx, fmt.Errorf("sending the WebSocket handshake: %w", err))
	}
	status, headers, err := c.readAnswer()
	if err != nil {
		return ctxErr(ctx, err)
	}
	if !strings.HasPrefix(status, "101") {
		return &HandshakeError{Status: status}
	}
	if !strings.EqualFold(headers["upgrade"], "websocket") {
		return &HandshakeError{Reason: "its answer has no 'Upgrade: websocket'"}
	}
	if headers["sec-websocket-accept"] != acceptKey(key) {
		return &HandshakeError{Reason: "its Sec-WebSocket-Accept does not match the key"}
	}
	return nil
}

// acceptKey is the Sec-WebSocket-Accept a server answers key with.
func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// readAnswer reads the status line and headers of the server's answer,
// and returns the status (code and text) and the headers by lower-case
// name.
func (c *Conn) readAnswer() (string, map[string]string, error) {
	total := 0
	line := func() (string, error) {
		var b []byte
		for {
			frag, more, err := c.br.ReadLine()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return "", fmt.Errorf("reading the WebSocket handshake's answer: %w", err)
			}
			total += len(frag)
			if total > maxHeaderBytes {
				return "", &HandshakeError{Reason: "its answer's headers are too long"}
			}
			b = append(b, frag...)
			if !more {
				return string(b), nil
			}
		}
	}
	first, err := line()
	if err != nil {
		return "", nil, err
	}
	proto, status, _ := strings.Cut(first, " ")
	if !strings.HasPrefix(proto, "HTTP/1.") {
		return "", nil, &HandshakeError{Reason: fmt.Sprintf("its answer %q is not HTTP", clip(first))}
	}
	headers := map[string]string{}
	for n := 0; ; n++ {
		if n > maxHeaderLines {
			return "", nil, &HandshakeError{Reason: "its answer has too many headers"}
		}
		l, err := line()
		if err != nil {
			return "", nil, err
		}
		if l == "" {
			return strings.TrimSpace(status), headers, nil
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return "", nil, &HandshakeError{Reason: fmt.Sprintf("malformed header %q", clip(l))}
		}
		headers[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// ctxErr gives ctx's error, with what was being done, once ctx has ended:
// the I/O error it caused (a deadline in the past) says nothing true.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// NetConn returns the TCP connection under c, for ending it for sure.
func (c *Conn) NetConn() net.Conn { return c.nc }

// SetReadLimit bounds the size of the messages Read returns. Call it
// before the first Read.
func (c *Conn) SetReadLimit(n int64) { c.readLimit = n }

// Read returns the next data message. It answers pings meanwhile. When the
// server closes, it answers the close and returns a *CloseError. If ctx
// ends, the stream is left mid-frame and c is broken.
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	if c.rbroken {
		return 0, nil, ErrBroken
	}
	release := deadlineOn(ctx, c.nc.SetReadDeadline)
	typ, data, err := c.readMessage(ctx)
	release()
	if err != nil {
		c.rbroken = true
		return 0, nil, ctxErr(ctx, err)
	}
	return typ, data, nil
}

// frameHeader is a frame's header, as read.
type frameHeader struct {
	fin    bool
	opcode byte
	length int64
}

// readMessage reads frames until a whole data message has come. The pongs
// and the close answer it writes meanwhile are bounded by ctx too: a server
// that sends but does not read would otherwise hold them up for good.
func (c *Conn) readMessage(ctx context.Context) (MessageType, []byte, error) {
	var (
		typ  MessageType
		data []byte
	)
	for {
		h, err := c.readHeader()
		if err != nil {
			return 0, nil, err
		}
		switch h.opcode {
		case opPing, opPong, opClose:
			if !h.fin || h.length > 125 {
				return 0, nil, errors.New("websocket protocol error: a fragmented or long control frame")
			}
			payload := make([]byte, h.length)
			if _, err := io.ReadFull(c.br, payload); err != nil {
				return 0, nil, frameErr(err)
			}
			switch h.opcode {
			case opPing:
				// After our close frame no pong may follow (RFC 6455
				// 5.5.1); the server's close answer is still to be read.
				if err := c.writeFrame(ctx, opPong, payload); err != nil && !errors.Is(err, net.ErrClosed) {
					return 0, nil, err
				}
			case opClose:
				return 0, nil, c.closed(ctx, payload)
			}
			continue
		case opText, opBinary:
			if typ != 0 {
				return 0, nil, errors.New("websocket protocol error: a new message inside a fragmented one")
			}
			typ = MessageType(h.opcode)
		case opContinuation:
			if typ == 0 {
				return 0, nil, errors.New("websocket protocol error: a continuation frame with no message")
			}
		default:
			return 0, nil, fmt.Errorf("websocket protocol error: unknown opcode %d", h.opcode)
		}
		if int64(len(data))+h.length > c.readLimit {
			return 0, nil, fmt.Errorf("a WebSocket message over the limit of %d bytes", c.readLimit)
		}
		start := len(data)
		data = append(data, make([]byte, h.length)...)
		if _, err := io.ReadFull(c.br, data[start:]); err != nil {
			return 0, nil, frameErr(err)
		}
		if h.fin {
			return typ, data, nil
		}
	}
}

// readHeader reads a frame's header. A server's frames are not masked.
func (c *Conn) readHeader() (frameHeader, error) {
	var b [8]byte
	if _, err := io.ReadFull(c.br, b[:2]); err != nil {
		return frameHeader{}, err // io.EOF between frames: the server hung up
	}
	h := frameHeader{fin: b[0]&0x80 != 0, opcode: b[0] & 0x0f}
	if b[0]&0x70 != 0 {
		return h, errors.New("websocket protocol error: reserved bits set (no extension was agreed)")
	}
	if b[1]&0x80 != 0 {
		return h, errors.New("websocket protocol error: a masked frame from the server")
	}
	switch n := b[1] & 0x7f; n {
	case 126:
		if _, err := io.ReadFull(c.br, b[:2]); err != nil {
			return h, frameErr(err)
		}
		h.length = int64(binary.BigEndian.Uint16(b[:2]))
	case 127:
		if _, err := io.ReadFull(c.br, b[:8]); err != nil {
			return h, frameErr(err)
		}
		v := binary.BigEndian.Uint64(b[:8])
		if v > 1<<62 {
			return h, errors.New("websocket protocol error: a frame length over 2^62")
		}
		h.length = int64(v)
	default:
		h.length = int64(n)
	}
	return h, nil
}

// frameErr is err met inside a frame: an end there is unexpected.
func frameErr(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// closed answers the server's close frame, within ctx, and gives it as an
// error.
func (c *Conn) closed(ctx context.Context, payload []byte) error {
	ce := &CloseError{Code: 1005}
	if len(payload) >= 2 {
		ce.Code = int(binary.BigEndian.Uint16(payload))
		ce.Reason = string(payload[2:])
	}
	c.sendClose(ctx, ce.Code)
	return ce
}

// Write sends p as one message of type typ.
func (c *Conn) Write(ctx context.Context, typ MessageType, p []byte) error {
	if typ != Text && typ != Binary {
		return fmt.Errorf("websocket: message type %d", typ)
	}
	return c.writeFrame(ctx, byte(typ), p)
}

// writeFrame sends one masked, final frame.
func (c *Conn) writeFrame(ctx context.Context, opcode byte, p []byte) error {
	// Waiting for the frame before is bounded by ctx too: a peer that does
	// not read can hold that one up for good.
	select {
	case c.wlock <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.wlock }()
	if c.wbroken {
		return ErrBroken
	}
	if c.sentFin {
		return net.ErrClosed
	}
	if opcode == opClose {
		c.sentFin = true
	}
	b := c.wbuf[:0]
	b = append(b, 0x80|opcode)
	switch n := len(p); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var key [4]byte
	rand.Read(key[:])
	b = append(b, key[:]...)
	start := len(b)
	b = append(b, p...)
	for i := range p {
		b[start+i] ^= key[i&3]
	}
	c.wbuf = b
	release := deadlineOn(ctx, c.nc.SetWriteDeadline)
	_, err := c.nc.Write(b)
	if release() && err != nil {
		err = ctx.Err()
	}
	if err != nil {
		c.wbroken = true // the frame may be half sent
	}
	if cap(c.wbuf) > 64<<10 {
		c.wbuf = nil // a big file frame's buffer is not kept
	}
	return err
}

// sendClose sends a close frame with code; after the first, it returns
// net.ErrClosed. Code 1005 (no status) goes as an empty frame: RFC 6455
// section 7.4.1 forbids it on the wire.
func (c *Conn) sendClose(ctx context.Context, code int) error {
	var payload []byte
	if code != 1005 {
		payload = binary.BigEndian.AppendUint16(nil, uint16(code))
	}
	return c.writeFrame(ctx, opClose, payload)
}

// Close starts the closing handshake: it sends a close frame with code
// (bounded by ctx), or returns net.ErrClosed when one was sent already. The connection ends when the server answers, which
// Read then reports with a *CloseError, or when CloseNow is called.
func (c *Conn) Close(ctx context.Context, code int) error {
	return c.sendClose(ctx, code)
}

// CloseNow ends the TCP connection without the closing handshake.
func (c *Conn) CloseNow() error { return c.nc.Close() }

// deadlineOn makes set put a deadline in the past when ctx ends, which
// unblocks the I/O in progress, until the function it returns is called.
// That function puts the deadline back and reports whether ctx ended.
func deadlineOn(ctx context.Context, set func(time.Time) error) func() bool {
	if ctx.Done() == nil {
		return func() bool { return false }
	}
	var (
		mu          sync.Mutex
		fired, over bool
	)
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !over {
			fired = true
			set(time.Unix(1, 0))
		}
	})
	return func() bool {
		stop()
		mu.Lock()
		defer mu.Unlock()
		over = true
		if fired {
			set(time.Time{})
		}
		return fired
	}
}
