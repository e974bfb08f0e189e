package kernel

import (
	"bufio"
	"errors"
	"log/slog"
	"net"

	"github.com/go-zeromq/zmq4"
)

// newHeartbeat returns a REP acceptor that echoes every message back on the
// connection it came from. Each client has its own goroutine, so any number
// of clients are served at once; echoing the whole message, envelope
// included, is exactly what a REP socket answers to a REQ peer.
func newHeartbeat(ln net.Listener, log *slog.Logger) *acceptor {
	a := newAcceptor("hb", zmq4.Rep, ln, log)
	a.handle = func(c net.Conn, _ []byte) {
		br := bufio.NewReaderSize(c, 4<<10)
		for {
			m, err := readMessage(br)
			if errors.Is(err, errMessageTooLarge) {
				log.Error("closing a heartbeat connection: it sent a message too large to echo", "channel", "hb", "err", err)
				return
			}
			if err != nil {
				return
			}
			if m.command {
				continue
			}
			if err := writeMessage(c, m.frames); err != nil {
				return
			}
		}
	}
	return a
}
