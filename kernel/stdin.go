package kernel

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/iot-kernel/iot-kernel/kernel/wire"
)

// stdinConnectWait bounds the wait for a client's stdin socket that has
// not finished connecting when a cell asks for input.
const stdinConnectWait = 2 * time.Second

// requestInput sends input_request on the stdin channel to the client that
// sent parent (the same identities: Jupyter clients give their shell and
// stdin sockets one identity) and waits for input_reply.
func (s *Server) requestInput(ctx context.Context, parent *wire.Message, prompt string, password bool) (string, error) {
	s.inputMu.Lock()
	defer s.inputMu.Unlock()
	ch := make(chan string, 1)
	s.setWaiter(ch)
	defer s.setWaiter(nil)

	f, err := s.frames(parent.Identities, parent, wire.MsgInputRequest, wire.InputRequest{Prompt: prompt, Password: password})
	if err != nil {
		return "", err
	}
	s.iopub.flush() // what was printed before the prompt goes out first
	if err := s.stdin.sendWait(ctx, f, stdinConnectWait); err != nil {
		return "", fmt.Errorf("send input_request: %w", err)
	}
	select {
	case v := <-ch:
		return v, nil
	case <-ctx.Done():
		return "", context.Cause(ctx)
	case <-s.base.Done():
		return "", context.Cause(s.base)
	}
}

func (s *Server) setWaiter(ch chan string) {
	s.waiterMu.Lock()
	s.waiter = ch
	s.waiterMu.Unlock()
}

// serveStdin delivers input_reply messages to the waiting Input call.
// Clients do not always set the parent of input_reply, so the reply goes
// to whichever request is pending.
func (s *Server) serveStdin() {
	for {
		var in inbound
		select {
		case <-s.stop:
			return
		case in = <-s.stdin.in:
			s.stdin.take(in)
		}
		msg := in.msg // authenticated by the router
		if in.tooLarge != 0 {
			continue // logged by the router; no content to deliver
		}
		if msg.Header.MsgType != wire.MsgInputReply {
			s.log.Warn("unexpected message type", "channel", "stdin", "msg_type", msg.Header.MsgType)
			continue
		}
		var c wire.InputReply
		if err := json.Unmarshal(msg.Content, &c); err != nil {
			s.log.Warn("bad input_reply", "err", err)
			continue
		}
		s.waiterMu.Lock()
		ch := s.waiter
		s.waiter = nil
		s.waiterMu.Unlock()
		if ch == nil {
			s.log.Debug("input_reply with no pending input_request")
			continue
		}
		ch <- c.Value
	}
}
