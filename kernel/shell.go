package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/iot-kernel/iot-kernel/kernel/wire"
)

// response is what a handler wants sent after idle: a reply (typ empty for
// none) and an action to run once the reply is out.
type response struct {
	typ     wire.MsgType
	content any
	after   func()
}

// dispatch runs one request: busy, the handler (which publishes its
// outputs), idle, then the reply. Idle is published and written out before
// the reply, so a client that has the reply finds the whole IOPub sequence
// already sent. An execute_request publishes its own busy (see execute).
func (s *Server) dispatch(ch *router, in inbound) {
	msg := in.msg // authenticated by the router
	t := msg.Header.MsgType
	s.log.Debug("request", "channel", ch.name, "msg_type", t, "msg_id", msg.Header.MsgID)
	if t != wire.MsgExecuteRequest || ch != s.shell {
		s.publishBusy(msg)
	}
	r := s.handle(ch, msg, in)
	s.publish(msg, wire.MsgStatus, wire.StatusContent{ExecutionState: "idle"})
	if r.typ != "" {
		s.iopub.flush() // publishing only queues: the outputs go out first
		s.reply(ch, msg, r.typ, r.content)
	}
	if r.after != nil {
		r.after()
	}
}

func (s *Server) publishBusy(msg *wire.Message) {
	s.publish(msg, wire.MsgStatus, wire.StatusContent{ExecutionState: "busy"})
}

func (s *Server) handle(ch *router, msg *wire.Message, in inbound) response {
	if in.tooLarge != 0 {
		return s.tooLarge(ch, msg, in)
	}
	onShell := ch == s.shell
	switch t := msg.Header.MsgType; {
	case t == wire.MsgKernelInfoRequest:
		return s.kernelInfo()
	case t == wire.MsgShutdownRequest:
		return s.shutdown(msg)
	case t == wire.MsgIsCompleteRequest:
		var c wire.IsCompleteRequest
		if err := json.Unmarshal(msg.Content, &c); err != nil {
			return badRequest(t, err)
		}
		st, ind := isComplete(c.Code)
		return response{typ: wire.MsgIsCompleteReply, content: wire.IsCompleteReply{Status: st, Indent: ind}}
	case t == wire.MsgInterruptRequest && !onShell:
		s.Interrupt()
		return response{typ: wire.MsgInterruptReply, content: wire.InterruptReply{Status: wire.StatusOK}}
	case !onShell:
		s.log.Warn("message type not served on this channel", "channel", ch.name, "msg_type", t)
		return response{}
	case t == wire.MsgExecuteRequest:
		return s.execute(msg, in)
	case t == wire.MsgCompleteRequest:
		return s.complete(msg)
	case t == wire.MsgInspectRequest:
		return s.inspect(msg)
	case t == wire.MsgHistoryRequest:
		return response{typ: wire.MsgHistoryReply, content: wire.HistoryReply{Status: wire.StatusOK, History: []any{}}}
	case t == wire.MsgCommInfoRequest:
		return response{typ: wire.MsgCommInfoReply, content: wire.CommInfoReply{Status: wire.StatusOK, Comms: map[string]any{}}}
	case t == wire.MsgCommOpen:
		// No comm targets exist: close the comm so the frontend stops waiting.
		var c wire.CommOpen
		if err := json.Unmarshal(msg.Content, &c); err != nil {
			s.log.Warn("bad comm_open", "err", err)
			return response{}
		}
		s.publish(msg, wire.MsgCommClose, wire.CommClose{CommID: c.CommID, Data: map[string]any{}})
		return response{}
	case t == wire.MsgCommMsg || t == wire.MsgCommClose:
		return response{} // no comms are open
	default:
		s.log.Warn("unknown message type", "channel", ch.name, "msg_type", t)
		return response{}
	}
}

func (s *Server) kernelInfo() response {
	info := s.cfg.Interp.KernelInfo()
	links := info.HelpLinks
	if links == nil {
		links = []HelpLink{}
	}
	return response{typ: wire.MsgKernelInfoReply, content: wire.KernelInfoReply{
		Status:                wire.StatusOK,
		ProtocolVersion:       wire.ProtocolVersion,
		Implementation:        Implementation,
		ImplementationVersion: s.cfg.Version,
		LanguageInfo: wire.LanguageInfo{
			Name:              "python",
			Version:           "3",
			Mimetype:          "text/x-python",
			FileExtension:     ".py",
			PygmentsLexer:     "python3",
			CodemirrorMode:    wire.CodemirrorMode{Name: "python", Version: 3},
			NbconvertExporter: "python",
		},
		Banner:    info.Banner,
		HelpLinks: links,
	}}
}

func (s *Server) execute(msg *wire.Message, in inbound) response {
	var c wire.ExecuteRequest
	if err := json.Unmarshal(msg.Content, &c); err != nil {
		s.publishBusy(msg)
		return badRequest(msg.Header.MsgType, err)
	}
	if s.lingering != nil && !c.Silent {
		// What the last cell's interpreter reported after it goes out
		// before anything of this one's.
		s.lingering.retire()
		s.lingering = nil
	}
	req := ExecuteRequest{
		Code:         c.Code,
		Silent:       c.Silent,
		StoreHistory: boolOr(c.StoreHistory, !c.Silent) && !c.Silent,
		AllowStdin:   boolOr(c.AllowStdin, true),
		StopOnError:  boolOr(c.StopOnError, true),
	}
	for name, v := range c.UserExpressions {
		if expr, ok := v.(string); ok {
			if req.UserExpressions == nil {
				req.UserExpressions = map[string]string{}
			}
			req.UserExpressions[name] = expr
		}
	}
	if in.seq <= s.abortMark {
		return s.abort(msg)
	}
	// As IPython: a cell kept out of history does not advance In[n]; it
	// runs as the next number (its tracebacks say so), and its reply gives
	// the last one.
	replyCount := s.count
	if req.StoreHistory {
		s.count++
		replyCount = s.count
	}
	req.ExecutionCount = s.count
	if !req.Silent && !req.StoreHistory {
		req.ExecutionCount = s.count + 1
	}
	// Busy and execute_input are composed while the cell already runs: a
	// board cell spends that time waiting for the board. Everything the
	// cell publishes waits for them (cellOutput.started), so IOPub keeps
	// its order.
	started := make(chan struct{})
	go func() {
		defer close(started)
		s.publishBusy(msg)
		if !req.Silent {
			s.publish(msg, wire.MsgExecuteInput, wire.ExecuteInput{Code: c.Code, ExecutionCount: req.ExecutionCount})
		}
	}()

	out := newCellOutput(s, msg, req, started)
	ctx, cancel := context.WithCancelCause(s.base)
	var res Result
	var err error
	if s.setRunning(cancel, in.seq) {
		s.log.Info("interrupting the cell: stopped before it started")
		err = ErrInterrupted
	} else {
		res, err = s.run(ctx, req, out)
	}
	s.setRunning(nil, 0)
	cancel(nil)
	out.close()
	if !req.Silent {
		s.lingering = out
	}

	if err != nil {
		ee := toExecError(err)
		if !req.Silent {
			s.publish(msg, wire.MsgError, wire.ErrorContent{Ename: ee.Name, Evalue: ee.Value, Traceback: ee.Traceback})
		}
		if req.StopOnError {
			// Everything that has arrived by now is aborted, as ipykernel does.
			s.abortMark = s.shell.seq.Load()
		}
		return response{typ: wire.MsgExecuteReply, content: wire.ExecuteReplyError{
			Status: wire.StatusError, ExecutionCount: replyCount,
			Ename: ee.Name, Evalue: ee.Value, Traceback: ee.Traceback,
		}}
	}
	if res.Data != nil && !req.Silent {
		s.publish(msg, wire.MsgExecuteResult, wire.ExecuteResult{
			ExecutionCount: req.ExecutionCount, Data: res.Data, Metadata: orEmpty(res.Metadata),
		})
	}
	payload := []any{}
	if res.AskExit {
		payload = append(payload, map[string]any{"source": "ask_exit", "keepkernel": false})
	}
	return response{typ: wire.MsgExecuteReply, content: wire.ExecuteReplyOK{
		Status: wire.StatusOK, ExecutionCount: replyCount,
		UserExpressions: userExpressions(res.UserExpressions), Payload: payload,
	}}
}

// abort answers an execute_request that arrived before a cell failed.
func (s *Server) abort(msg *wire.Message) response {
	s.log.Info("aborting execute_request queued before an error", "msg_id", msg.Header.MsgID)
	s.publishBusy(msg)
	return response{typ: wire.MsgExecuteReply, content: wire.ExecuteReplyAborted{Status: wire.StatusAborted}}
}

// run calls the interpreter; a panic in it becomes a KernelError.
func (s *Server) run(ctx context.Context, req ExecuteRequest, out Output) (res Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("interpreter panicked", "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("interpreter panic: %v", r)
		}
	}()
	return s.cfg.Interp.Execute(ctx, req, out)
}

func (s *Server) complete(msg *wire.Message) response {
	var c wire.CompleteRequest
	if err := json.Unmarshal(msg.Content, &c); err != nil {
		return badRequest(msg.Header.MsgType, err)
	}
	comp, err := s.cfg.Interp.Complete(s.base, c.Code, c.CursorPos)
	if err != nil {
		return response{typ: wire.MsgCompleteReply, content: errorReplyOf(toExecError(err))}
	}
	matches := comp.Matches
	if matches == nil {
		matches = []string{}
	}
	return response{typ: wire.MsgCompleteReply, content: wire.CompleteReply{
		Status: wire.StatusOK, Matches: matches,
		CursorStart: comp.CursorStart, CursorEnd: comp.CursorEnd,
		Metadata: orEmpty(comp.Metadata),
	}}
}

func (s *Server) inspect(msg *wire.Message) response {
	var c wire.InspectRequest
	if err := json.Unmarshal(msg.Content, &c); err != nil {
		return badRequest(msg.Header.MsgType, err)
	}
	in, err := s.cfg.Interp.Inspect(s.base, c.Code, c.CursorPos, c.DetailLevel)
	if err != nil {
		return response{typ: wire.MsgInspectReply, content: errorReplyOf(toExecError(err))}
	}
	return response{typ: wire.MsgInspectReply, content: wire.InspectReply{
		Status: wire.StatusOK, Found: in.Found, Data: orEmpty(in.Data), Metadata: orEmpty(in.Metadata),
	}}
}

// toExecError turns an Execute error into what the user sees. A traceback
// is never empty, because frontends show only the traceback.
func toExecError(err error) *ExecError {
	var ee *ExecError
	switch {
	case errors.As(err, &ee):
		ee = &ExecError{Name: ee.Name, Value: ee.Value, Traceback: ee.Traceback}
	case errors.Is(err, ErrInterrupted):
		ee = &ExecError{Name: "KeyboardInterrupt", Value: err.Error()}
	default:
		ee = &ExecError{Name: "KernelError", Value: err.Error()}
	}
	if len(ee.Traceback) == 0 {
		ee.Traceback = []string{ee.Error()}
	}
	return ee
}

func errorReplyOf(ee *ExecError) wire.ErrorReply {
	tb := ee.Traceback
	if tb == nil {
		tb = []string{}
	}
	return wire.ErrorReply{Status: wire.StatusError, Ename: ee.Name, Evalue: ee.Value, Traceback: tb}
}

// badRequest answers a request whose content does not decode.
func badRequest(t wire.MsgType, err error) response {
	return response{typ: t.Reply(), content: errorReplyOf(&ExecError{Name: "BadRequest", Value: err.Error()})}
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// userExpressions words each value as IPython does in execute_reply: the
// data of a display, or the error's name, value and traceback.
func userExpressions(vs map[string]ExprValue) map[string]any {
	out := make(map[string]any, len(vs))
	for name, v := range vs {
		if v.Err != nil {
			tb := v.Err.Traceback
			if tb == nil {
				tb = []string{}
			}
			out[name] = map[string]any{"status": wire.StatusError, "ename": v.Err.Name, "evalue": v.Err.Value, "traceback": tb}
			continue
		}
		out[name] = map[string]any{"status": wire.StatusOK, "data": orEmpty(v.Data), "metadata": map[string]any{}}
	}
	return out
}
