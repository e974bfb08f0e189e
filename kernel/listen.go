package kernel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/iot-kernel/iot-kernel/internal/rawio"
)

// acceptor listens on one endpoint, performs the ZMTP handshake for each
// connection on its own goroutine and hands the connection to handle. It
// tracks connections so that close can end them all.
type acceptor struct {
	typ    zmq4.SocketType
	ln     net.Listener
	log    *slog.Logger
	handle func(c net.Conn, identity []byte) // runs until the connection ends

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// listen binds one endpoint. For tcp, port 0 picks a free port; the real
// port is then available from the listener address.
func listen(transport, ip string, port int) (net.Listener, error) {
	switch transport {
	case "", "tcp":
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			return nil, fmt.Errorf("listen tcp %s:%d: %w", ip, port, err)
		}
		return ln, nil
	case "ipc":
		// Same naming as ipykernel and libzmq clients: "<ip>-<port>".
		path := ip + "-" + strconv.Itoa(port)
		ln, err := net.Listen("unix", path)
		if err != nil {
			return nil, fmt.Errorf("listen ipc %s: %w", path, err)
		}
		return ln, nil
	default:
		return nil, fmt.Errorf("unsupported transport %q", transport)
	}
}

// port reports the TCP port a listener is bound to (0 for ipc).
func port(ln net.Listener) int {
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

func newAcceptor(name string, typ zmq4.SocketType, ln net.Listener, log *slog.Logger) *acceptor {
	return &acceptor{typ: typ, ln: ln, log: log.With("channel", name), conns: map[net.Conn]struct{}{}}
}

// serve accepts until the listener is closed.
func (a *acceptor) serve() {
	backoff := 5 * time.Millisecond
	for {
		c, err := a.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || a.isClosed() {
				return
			}
			// Typically EMFILE: wait for descriptors to free up.
			a.log.Warn("accept failed", "err", err)
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		if !a.track(c) {
			_ = c.Close()
			return
		}
		go func() {
			defer a.untrack(c)
			defer func() { _ = c.Close() }()
			id, err := handshake(c, a.typ)
			if err != nil {
				// A peer that connects and goes away is no fault of
				// its own; one that sends what no client sends is.
				level := slog.LevelWarn
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) {
					level = slog.LevelDebug
				}
				a.log.Log(context.Background(), level, "handshake failed: connection closed", "remote", c.RemoteAddr().String(), "err", err)
				return
			}
			// From here on the kernel's own frame reader and writer
			// do the I/O, with raw system calls (see rawio): the
			// handshake is over.
			a.handle(rawio.WrapConn(c), id)
		}()
	}
}

func (a *acceptor) isClosed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closed
}

func (a *acceptor) track(c net.Conn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	a.conns[c] = struct{}{}
	return true
}

func (a *acceptor) untrack(c net.Conn) {
	a.mu.Lock()
	delete(a.conns, c)
	a.mu.Unlock()
}

// close stops accepting and closes every connection.
func (a *acceptor) close() {
	a.mu.Lock()
	a.closed = true
	conns := make([]net.Conn, 0, len(a.conns))
	for c := range a.conns {
		conns = append(conns, c)
	}
	a.mu.Unlock()
	_ = a.ln.Close()
	for _, c := range conns {
		_ = c.Close()
	}
}
