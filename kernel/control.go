package kernel

import (
	"context"
	"encoding/json"

	"github.com/iot-kernel/iot-kernel/kernel/wire"
)

// The control channel has its own goroutine (Server.loop), so interrupt
// and shutdown are answered while a cell runs on the shell goroutine.

// Interrupt cancels the running cell's ctx with cause ErrInterrupted, as
// interrupt_request does; the command calls it on SIGINT. Without a running
// cell it does nothing.
func (s *Server) Interrupt() {
	s.execMu.Lock()
	cancel := s.cancelExec
	s.execMu.Unlock()
	if cancel != nil {
		s.log.Info("interrupting the running cell")
		cancel(ErrInterrupted)
	}
}

func (s *Server) setRunning(cancel context.CancelCauseFunc) {
	s.execMu.Lock()
	s.cancelExec = cancel
	s.execMu.Unlock()
}

func (s *Server) shutdown(msg *wire.Message) response {
	var c wire.ShutdownRequest
	if err := json.Unmarshal(msg.Content, &c); err != nil {
		return badRequest(msg.Header.MsgType, err)
	}
	return response{
		typ:     wire.MsgShutdownReply,
		content: wire.ShutdownReply{Status: wire.StatusOK, Restart: c.Restart},
		after: func() {
			s.restart.Store(c.Restart)
			s.requestStop()
		},
	}
}
