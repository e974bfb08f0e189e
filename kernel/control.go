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
// cell, it stops the next cell if that was already sent: a stop pressed
// right after Run arrives on control while the shell is still starting the
// cell, and must not be lost. A stop when nothing was sent does nothing.
func (s *Server) Interrupt() {
	s.execMu.Lock()
	cancel := s.cancelExec
	if cancel == nil {
		s.interruptMark = s.shell.seq.Load()
	}
	s.execMu.Unlock()
	if cancel != nil {
		s.log.Info("interrupting the running cell")
		cancel(ErrInterrupted)
	}
}

// setRunning records the running cell's cancel (nil: none). It reports
// whether the cell, the shell request seq, was stopped before it started.
func (s *Server) setRunning(cancel context.CancelCauseFunc, seq uint64) (stopped bool) {
	s.execMu.Lock()
	defer s.execMu.Unlock()
	s.cancelExec = cancel
	if cancel != nil && seq <= s.interruptMark {
		s.interruptMark = 0
		return true
	}
	return false
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
