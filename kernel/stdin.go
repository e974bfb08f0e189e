package kernel

import (
	"context"
	"encoding/json"
	"errors"
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
	ch := make(chan inputAnswer, 1)
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
	case a := <-ch:
		return a.value, a.err
	case <-ctx.Done():
		return "", context.Cause(ctx)
	case <-s.base.Done():
		return "", context.Cause(s.base)
	}
}

// inputAnswer is what an input_reply brings the waiting Input call: the
// user's line, or why there is none.
type inputAnswer struct {
	value string
	err   error
}

// ErrBadInputReply is returned by Output.Input when the client's
// input_reply could not be taken (over the message limit, or its content
// unreadable): the input() it answered ends with this error instead of
// waiting for an answer that will not come.
var ErrBadInputReply = errors.New("the answer to input() could not be taken")

// badInputReply says why an input_reply was not taken; it is
// ErrBadInputReply.
type badInputReply struct{ why string }

func (e *badInputReply) Error() string        { return e.why }
func (e *badInputReply) Is(target error) bool { return target == ErrBadInputReply }

func (s *Server) setWaiter(ch chan inputAnswer) {
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
		if msg.Header.MsgType != wire.MsgInputReply {
			if in.tooLarge == 0 { // else logged by the router
				s.log.Warn("unexpected message type", "channel", "stdin", "msg_type", msg.Header.MsgType)
			}
			continue
		}
		var a inputAnswer
		if in.tooLarge != 0 {
			// Logged by the router. The input() it answered must not wait
			// on: it fails with the reason.
			a.err = &badInputReply{tooLargeError("answer to input()", false, in.tooLarge, s.stdin.maxMessage).Value}
		} else {
			var c wire.InputReply
			if err := json.Unmarshal(msg.Content, &c); err != nil {
				s.log.Warn("bad input_reply", "err", err)
				a.err = &badInputReply{fmt.Sprintf("the front end's answer to input() is malformed (%v)", err)}
			} else {
				a.value = c.Value
			}
		}
		s.waiterMu.Lock()
		ch := s.waiter
		s.waiter = nil
		s.waiterMu.Unlock()
		if ch == nil {
			s.log.Debug("input_reply with no pending input_request")
			continue
		}
		ch <- a
	}
}
