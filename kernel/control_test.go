package kernel

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/iot-kernel/iot-kernel/kernel/wire"
)

// blockingInterp runs cells that wait for their ctx to end and records
// its cause.
func blockingInterp(started chan<- struct{}, causes *recorder[error]) *fakeInterp {
	return &fakeInterp{exec: func(ctx context.Context, req ExecuteRequest, out Output) (Result, error) {
		out.Stream("stdout", "running\n")
		started <- struct{}{}
		<-ctx.Done()
		causes.add(context.Cause(ctx))
		return Result{}, context.Cause(ctx)
	}}
}

func TestInterrupt(t *testing.T) {
	for _, via := range []string{"interrupt_request", "Server.Interrupt"} {
		t.Run(via, func(t *testing.T) {
			started := make(chan struct{}, 1)
			var causes recorder[error]
			ts := startServer(t, blockingInterp(started, &causes), nil, nil)
			c := newClient(t, ts.ConnectionInfo())
			ctx := testCtx(t)
			c.waitReady(ctx)

			id := c.send(c.shell, wire.MsgExecuteRequest, map[string]any{"code": "while True: pass"})
			select {
			case <-started:
			case <-ctx.Done():
				t.Fatal("cell did not start")
			}
			if via == "Server.Interrupt" {
				ts.Interrupt()
			} else {
				iid := c.send(c.control, wire.MsgInterruptRequest, struct{}{})
				rep := c.recv(ctx, c.controlIn, iid)
				if rep.Header.MsgType != wire.MsgInterruptReply || content[wire.InterruptReply](t, rep).Status != "ok" {
					t.Errorf("interrupt reply: %s %s", rep.Header.MsgType, rep.Content)
				}
			}
			r := content[wire.ExecuteReplyError](t, c.recv(ctx, c.shellIn, id))
			if r.Status != "error" || r.Ename != "KeyboardInterrupt" {
				t.Errorf("interrupted cell reply = %+v", r)
			}
			if got := causes.get(); len(got) != 1 || !errors.Is(got[0], ErrInterrupted) {
				t.Errorf("cell ctx cause = %v, want ErrInterrupted", got)
			}
			// The kernel goes on serving.
			kid := c.send(c.shell, wire.MsgKernelInfoRequest, struct{}{})
			c.recv(ctx, c.shellIn, kid)
		})
	}
}

func TestShutdown(t *testing.T) {
	for _, tc := range []struct {
		name    string
		restart bool
		onShell bool
		running bool
	}{
		{"control", false, false, false},
		{"control restart", true, false, false},
		{"shell", false, true, false},
		{"while a cell runs", false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			started := make(chan struct{}, 1)
			var causes recorder[error]
			fi := blockingInterp(started, &causes)
			ts := startServer(t, fi, nil, nil)
			c := newClient(t, ts.ConnectionInfo())
			ctx := testCtx(t)
			c.waitReady(ctx)
			if tc.running {
				c.send(c.shell, wire.MsgExecuteRequest, map[string]any{"code": "while True: pass"})
				select {
				case <-started:
				case <-ctx.Done():
					t.Fatal("cell did not start")
				}
			}

			sock, ch := c.control, c.controlIn
			if tc.onShell {
				sock, ch = c.shell, c.shellIn
			}
			id := c.send(sock, wire.MsgShutdownRequest, map[string]any{"restart": tc.restart})
			rep := c.recv(ctx, ch, id)
			if r := content[wire.ShutdownReply](t, rep); rep.Header.MsgType != wire.MsgShutdownReply || r.Status != "ok" || r.Restart != tc.restart {
				t.Errorf("shutdown reply %s %+v", rep.Header.MsgType, r)
			}
			// The protocol asks for prompt exit; 1 s is the contract,
			// the bound here leaves room for a loaded machine.
			select {
			case err := <-ts.done:
				if err != nil {
					t.Errorf("Serve returned %v, want nil", err)
				}
				ts.done <- err // for the cleanup
			case <-time.After(2 * time.Second):
				t.Fatal("Serve did not return after shutdown_request")
			}
			if ts.Restart() != tc.restart || fi.shutdowns.Load() != 1 || fi.restart.Load() != tc.restart {
				t.Errorf("Restart()=%v, Interpreter.Shutdown calls=%d restart=%v", ts.Restart(), fi.shutdowns.Load(), fi.restart.Load())
			}
			if tc.running {
				if got := causes.get(); len(got) != 1 || !errors.Is(got[0], ErrShutdown) {
					t.Errorf("running cell's cause = %v, want ErrShutdown", got)
				}
			}
		})
	}
}

func TestMalformedMessagesDropped(t *testing.T) {
	fi := &fakeInterp{}
	ts := startServer(t, fi, nil, nil)
	c := newClient(t, ts.ConnectionInfo())
	ctx := testCtx(t)
	c.waitReady(ctx)

	wrong := *c
	wrong.sess.Signer, _ = wire.NewSigner("hmac-sha256", "not-the-key")
	badSig := wrong.send(c.shell, wire.MsgExecuteRequest, map[string]any{"code": "x"})

	goodID, good := c.build(wire.MsgExecuteRequest, map[string]any{"code": "x"})
	bad := [][][]byte{
		{[]byte("no delimiter at all")},
		good[:4], // too few frames
		append(append([][]byte{}, good[:2]...), []byte("{not json"), good[3], good[4], good[5]),
		{[]byte(wire.Delimiter), []byte(""), []byte("{}"), []byte("{}"), []byte("{}"), []byte("{}")}, // unsigned, no msg_type
	}
	for _, f := range bad {
		if err := c.shell.Send(zmq4.NewMsgFrom(f...)); err != nil {
			t.Fatal(err)
		}
	}
	id := c.send(c.shell, wire.MsgKernelInfoRequest, struct{}{})
	select {
	case m := <-c.shellIn:
		if m.Parent().MsgID != id {
			t.Fatalf("first reply is to %s (%s), want the kernel_info_request", m.Parent().MsgID, m.Header.MsgType)
		}
	case <-ctx.Done():
		t.Fatal("no reply after malformed messages")
	}
	// The kernel handles requests in order and publishes a request's
	// status on IOPub before its reply: everything it published for the
	// dropped messages is here before kernel_info's idle. Look at all of
	// it, not only what is parented to kernel_info.
	for {
		var m *wire.Message
		select {
		case m = <-c.iopubIn:
		case <-ctx.Done():
			t.Fatal("no idle status for the kernel_info_request")
		}
		if p := m.Parent().MsgID; p == badSig || p == goodID {
			t.Errorf("a dropped request (%s) got %s on iopub", p, m.Header.MsgType)
		}
		if m.Parent().MsgID == id && state(m) == "idle" {
			break
		}
	}
	if n := fi.execCalls.Load(); n != 0 {
		t.Errorf("interpreter ran %d cells from malformed messages", n)
	}
}

func TestInputRoundTrip(t *testing.T) {
	fi := &fakeInterp{exec: func(ctx context.Context, req ExecuteRequest, out Output) (Result, error) {
		out.Stream("stdout", "before prompt\n")
		v, err := out.Input(ctx, "name? ", req.Code == "password")
		if err != nil {
			out.Stream("stderr", err.Error())
			return Result{}, nil
		}
		out.Stream("stdout", "hello "+v)
		return Result{}, nil
	}}
	ts := startServer(t, fi, nil, nil)
	c := newClient(t, ts.ConnectionInfo())
	ctx := testCtx(t)
	c.waitReady(ctx)

	id := c.send(c.shell, wire.MsgExecuteRequest, map[string]any{"code": "password", "allow_stdin": true})
	var req *wire.Message
	select {
	case req = <-c.stdinIn:
	case <-ctx.Done():
		t.Fatal("no input_request")
	}
	ir := content[wire.InputRequest](t, req)
	if req.Header.MsgType != wire.MsgInputRequest || ir.Prompt != "name? " || !ir.Password || req.Parent().MsgID != id {
		t.Fatalf("input_request = %s %+v parent %s", req.Header.MsgType, ir, req.Parent().MsgID)
	}
	c.send(c.stdin, wire.MsgInputReply, map[string]any{"value": "bob"})
	c.recv(ctx, c.shellIn, id)
	var text []string
	for _, m := range c.outputs(ctx, id) {
		if m.Header.MsgType == wire.MsgStream {
			text = append(text, content[wire.StreamContent](t, m).Text)
		}
	}
	if len(text) != 2 || text[0] != "before prompt\n" || text[1] != "hello bob" {
		t.Errorf("streams = %q", text)
	}

	_, msgs := c.execute(ctx, map[string]any{"code": "x", "allow_stdin": false})
	found := false
	for _, m := range msgs {
		if m.Header.MsgType == wire.MsgStream && content[wire.StreamContent](t, m).Text == ErrNoStdin.Error() {
			found = true
		}
	}
	if !found {
		t.Errorf("allow_stdin false: Input did not fail with ErrNoStdin: %s", types(msgs))
	}
}

func TestCommsHistoryCompleteInspect(t *testing.T) {
	ts := startServer(t, &fakeInterp{}, nil, nil)
	c := newClient(t, ts.ConnectionInfo())
	ctx := testCtx(t)
	c.waitReady(ctx)

	id := c.send(c.shell, wire.MsgCommOpen, map[string]any{"comm_id": "c-1", "target_name": "jupyter.widget", "data": map[string]any{}})
	msgs := c.outputs(ctx, id)
	if got := types(msgs); got != "status:busy comm_close status:idle" {
		t.Fatalf("comm_open iopub = %s", got)
	}
	if cc := content[wire.CommClose](t, msgs[1]); cc.CommID != "c-1" {
		t.Errorf("comm_close = %+v", cc)
	}
	c.noShellReply(ctx, t, "comm_open")

	id = c.send(c.shell, wire.MsgCommInfoRequest, map[string]any{})
	if r := content[wire.CommInfoReply](t, c.recv(ctx, c.shellIn, id)); r.Status != "ok" || r.Comms == nil || len(r.Comms) != 0 {
		t.Errorf("comm_info_reply = %+v", r)
	}
	id = c.send(c.shell, wire.MsgHistoryRequest, map[string]any{"hist_access_type": "tail", "n": 10})
	if r := content[wire.HistoryReply](t, c.recv(ctx, c.shellIn, id)); r.Status != "ok" || r.History == nil || len(r.History) != 0 {
		t.Errorf("history_reply = %+v", r)
	}
	id = c.send(c.shell, wire.MsgCompleteRequest, map[string]any{"code": "pri", "cursor_pos": 3})
	if r := content[wire.CompleteReply](t, c.recv(ctx, c.shellIn, id)); r.Status != "ok" || len(r.Matches) != 1 || r.CursorEnd != 3 {
		t.Errorf("complete_reply = %+v", r)
	}
	id = c.send(c.shell, wire.MsgInspectRequest, map[string]any{"code": "len", "cursor_pos": 3, "detail_level": 0})
	if r := content[wire.InspectReply](t, c.recv(ctx, c.shellIn, id)); r.Status != "ok" || !r.Found || r.Data["text/plain"] != "doc of len" {
		t.Errorf("inspect_reply = %+v", r)
	}
	id = c.send(c.shell, wire.MsgIsCompleteRequest, map[string]any{"code": "for i in x:"})
	if r := content[wire.IsCompleteReply](t, c.recv(ctx, c.shellIn, id)); r.Status != "incomplete" || r.Indent != "    " {
		t.Errorf("is_complete_reply = %+v", r)
	}
	// An unknown type gets busy/idle and no reply.
	id = c.send(c.shell, "no_such_request", map[string]any{})
	if got := types(c.outputs(ctx, id)); got != "status:busy status:idle" {
		t.Errorf("unknown type iopub = %s", got)
	}
	c.noShellReply(ctx, t, "an unknown request type")
}

// noShellReply checks that the request just sent got no shell reply: shell
// answers in order, so the next shell message must be the reply to a
// kernel_info_request sent now.
func (c *client) noShellReply(ctx context.Context, t *testing.T, what string) {
	t.Helper()
	kid := c.send(c.shell, wire.MsgKernelInfoRequest, struct{}{})
	select {
	case m := <-c.shellIn:
		if m.Parent().MsgID != kid {
			t.Errorf("%s got a shell reply: %s", what, m.Header.MsgType)
		}
	case <-ctx.Done():
		t.Fatalf("no kernel_info_reply after %s", what)
	}
}

func TestHeartbeatConcurrentClients(t *testing.T) {
	ts := startServer(t, &fakeInterp{}, nil, nil)
	ctx := testCtx(t)
	const n = 6
	errc := make(chan error, n)
	var reqs []zmq4.Socket
	for range n {
		req := zmq4.NewReq(ctx)
		t.Cleanup(func() { _ = req.Close() })
		if err := req.Dial("tcp://127.0.0.1:" + itoa(ts.ConnectionInfo().HBPort)); err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, req)
	}
	for i, req := range reqs {
		go func() {
			for j := range 20 {
				ping := []byte("ping-" + itoa(i) + "-" + itoa(j))
				if err := req.Send(zmq4.NewMsg(ping)); err != nil {
					errc <- err
					return
				}
				m, err := req.Recv()
				if err != nil {
					errc <- err
					return
				}
				if len(m.Frames) != 1 || string(m.Frames[0]) != string(ping) {
					errc <- errors.New("echo mismatch: " + m.String())
					return
				}
			}
			errc <- nil
		}()
	}
	for range n {
		select {
		case err := <-errc:
			if err != nil {
				t.Error(err)
			}
		case <-ctx.Done():
			t.Fatal("heartbeat clients did not finish")
		}
	}
}

// A stop pressed right after Run can reach the control channel before the
// shell has started the cell: the cell is stopped all the same, before it
// runs, and the stop is used up (the next cell runs). A stop while nothing
// was sent stops nothing.
func TestInterruptBeforeTheCellStarts(t *testing.T) {
	fi := &fakeInterp{exec: func(ctx context.Context, req ExecuteRequest, out Output) (Result, error) {
		out.Stream("stdout", "ran "+req.Code+"\n")
		return Result{}, nil
	}}
	var armed atomic.Bool
	ts := startServer(t, fi, nil, func(s *Server) {
		// The execute_request is read, not yet started: stop now.
		s.shell.onRead = func(uint64) {
			if armed.CompareAndSwap(true, false) {
				s.Interrupt()
			}
		}
	})
	c := newClient(t, ts.ConnectionInfo())
	ctx := testCtx(t)
	c.waitReady(ctx)

	ts.Interrupt() // nothing sent yet: no effect on the cells to come
	rep, msgs := c.execute(ctx, map[string]any{"code": "zeroth"})
	if r := content[wire.ExecuteReplyOK](t, rep); r.Status != wire.StatusOK || types(msgs) != "status:busy execute_input stream status:idle" {
		t.Errorf("a cell after a stop pressed while idle: %+v, %s; want it to run", r, types(msgs))
	}
	armed.Store(true)
	rep, msgs = c.execute(ctx, map[string]any{"code": "first"})
	if r := content[wire.ExecuteReplyError](t, rep); r.Status != wire.StatusError || r.Ename != "KeyboardInterrupt" {
		t.Errorf("the cell stopped before it started replied %+v, want a KeyboardInterrupt error", r)
	}
	if got := types(msgs); got != "status:busy execute_input error status:idle" {
		t.Errorf("its IOPub: %s", got)
	}
	if n := fi.execCalls.Load(); n != 1 {
		t.Errorf("the interpreter ran %d cells, want 1 (the one before the stop)", n)
	}
	rep, msgs = c.execute(ctx, map[string]any{"code": "second"})
	if r := content[wire.ExecuteReplyOK](t, rep); r.Status != wire.StatusOK {
		t.Errorf("the next cell replied %+v, want ok", r)
	}
	if got := types(msgs); got != "status:busy execute_input stream status:idle" {
		t.Errorf("the next cell's IOPub: %s", got)
	}
}
