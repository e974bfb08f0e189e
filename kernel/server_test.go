package kernel

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/go-zeromq/zmq4"

	"github.com/iot-kernel/iot-kernel/kernel/wire"
)

func TestKernelInfo(t *testing.T) {
	ts := startServer(t, &fakeInterp{}, nil, nil)
	c := newClient(t, ts.ConnectionInfo())
	ctx := testCtx(t)
	c.waitReady(ctx)

	for _, sock := range []zmq4.Socket{c.shell, c.control} {
		ch := c.shellIn
		if sock == c.control {
			ch = c.controlIn
		}
		id := c.send(sock, wire.MsgKernelInfoRequest, struct{}{})
		rep := c.recv(ctx, ch, id)
		if rep.Header.MsgType != wire.MsgKernelInfoReply {
			t.Fatalf("reply type %s", rep.Header.MsgType)
		}
		ki := content[wire.KernelInfoReply](t, rep)
		if ki.Status != "ok" || ki.ProtocolVersion != "5.3" || ki.Implementation != "iot-kernel" || ki.ImplementationVersion != "1.2.3-test" {
			t.Errorf("kernel_info_reply = %+v", ki)
		}
		li := ki.LanguageInfo
		if li.Name != "python" || li.Version != "3" || li.Mimetype != "text/x-python" || li.FileExtension != ".py" ||
			li.PygmentsLexer != "python3" || li.CodemirrorMode != (wire.CodemirrorMode{Name: "python", Version: 3}) {
			t.Errorf("language_info = %+v", li)
		}
		if ki.Banner != "fake banner" || len(ki.HelpLinks) != 1 || ki.HelpLinks[0].Text != "MicroPython" {
			t.Errorf("banner/help_links = %q %+v", ki.Banner, ki.HelpLinks)
		}
		if got := types(c.outputs(ctx, id)); got != "status:busy status:idle" {
			t.Errorf("iopub = %s", got)
		}
	}
}

func TestExecuteStreamsAndResult(t *testing.T) {
	fi := &fakeInterp{exec: func(ctx context.Context, req ExecuteRequest, out Output) (Result, error) {
		out.Stream("stdout", "hello\n")
		out.Stream("stderr", "careful\n")
		out.Stream("stdout", "again\n")
		out.Display(MIMEBundle{"text/plain": "shown"}, nil, "d1", false)
		out.Display(MIMEBundle{"text/plain": "updated"}, nil, "d1", true)
		for range 1000 {
			out.Stream("stdout", "x")
		}
		out.ClearOutput(true)
		return Result{Data: MIMEBundle{"text/plain": "42"}}, nil
	}}
	ts := startServer(t, fi, nil, nil)
	c := newClient(t, ts.ConnectionInfo())
	ctx := testCtx(t)
	c.waitReady(ctx)

	for want := 1; want <= 2; want++ {
		rep, msgs := c.execute(ctx, map[string]any{"code": "print(42)"})
		r := content[wire.ExecuteReplyOK](t, rep)
		if r.Status != "ok" || r.ExecutionCount != want {
			t.Fatalf("execute_reply = %+v, want ok count %d", r, want)
		}
		var seq []string
		var xs strings.Builder
		for _, m := range msgs {
			switch m.Header.MsgType {
			case wire.MsgStream:
				s := content[wire.StreamContent](t, m)
				if strings.Trim(s.Text, "x") == "" {
					xs.WriteString(s.Text)
					if len(seq) > 0 && seq[len(seq)-1] == "xs" {
						continue
					}
					seq = append(seq, "xs")
					continue
				}
				seq = append(seq, s.Name+":"+s.Text)
			case wire.MsgExecuteInput:
				in := content[wire.ExecuteInput](t, m)
				if in.Code != "print(42)" || in.ExecutionCount != want {
					t.Errorf("execute_input = %+v", in)
				}
				seq = append(seq, "input")
			case wire.MsgExecuteResult:
				er := content[wire.ExecuteResult](t, m)
				if er.ExecutionCount != want || er.Data["text/plain"] != "42" {
					t.Errorf("execute_result = %+v", er)
				}
				seq = append(seq, "result")
			case wire.MsgDisplayData, wire.MsgUpdateDisplayData:
				d := content[wire.DisplayData](t, m)
				if d.Transient == nil || d.Transient.DisplayID != "d1" {
					t.Errorf("%s without display id: %+v", m.Header.MsgType, d)
				}
				seq = append(seq, string(m.Header.MsgType)+":"+d.Data["text/plain"].(string))
			default:
				seq = append(seq, types([]*wire.Message{m}))
			}
		}
		got := strings.Join(seq, " | ")
		wantSeq := "status:busy | input | stdout:hello\n | stderr:careful\n | stdout:again\n | display_data:shown | update_display_data:updated | xs | clear_output | result | status:idle"
		if got != wantSeq {
			t.Errorf("iopub sequence\n got: %q\nwant: %q", got, wantSeq)
		}
		if xs.Len() != 1000 {
			t.Errorf("coalesced stream carried %d bytes, want 1000", xs.Len())
		}
	}
}

func TestExecuteError(t *testing.T) {
	errs := []error{
		&ExecError{Name: "ZeroDivisionError", Value: "division by zero", Traceback: []string{"Traceback (most recent call last):", "ZeroDivisionError: division by zero"}},
		errors.New("board unplugged"),
	}
	next := 0
	fi := &fakeInterp{exec: func(ctx context.Context, req ExecuteRequest, out Output) (Result, error) {
		out.Stream("stdout", "before\n")
		err := errs[next]
		next++
		return Result{}, err
	}}
	ts := startServer(t, fi, nil, nil)
	c := newClient(t, ts.ConnectionInfo())
	ctx := testCtx(t)
	c.waitReady(ctx)

	for i, want := range []struct{ ename, evalue, tb0 string }{
		{"ZeroDivisionError", "division by zero", "Traceback (most recent call last):"},
		{"KernelError", "board unplugged", "KernelError: board unplugged"},
	} {
		rep, msgs := c.execute(ctx, map[string]any{"code": "1/0"})
		r := content[wire.ExecuteReplyError](t, rep)
		if r.Status != "error" || r.Ename != want.ename || r.Evalue != want.evalue || r.ExecutionCount != i+1 || len(r.Traceback) == 0 || r.Traceback[0] != want.tb0 {
			t.Errorf("execute_reply = %+v", r)
		}
		if got := types(msgs); got != "status:busy execute_input stream error status:idle" {
			t.Errorf("iopub = %s", got)
		}
		e := content[wire.ErrorContent](t, msgs[3])
		if e.Ename != want.ename || e.Evalue != want.evalue || len(e.Traceback) == 0 {
			t.Errorf("error content = %+v", e)
		}
	}
}

func TestSilentExecute(t *testing.T) {
	var rec recorder[ExecuteRequest]
	fi := &fakeInterp{exec: func(ctx context.Context, req ExecuteRequest, out Output) (Result, error) {
		rec.add(req)
		out.Stream("stdout", "noise\n")
		out.Display(MIMEBundle{"text/plain": "x"}, nil, "", false)
		return Result{Data: MIMEBundle{"text/plain": "1"}}, nil
	}}
	ts := startServer(t, fi, nil, nil)
	c := newClient(t, ts.ConnectionInfo())
	ctx := testCtx(t)
	c.waitReady(ctx)

	rep, msgs := c.execute(ctx, map[string]any{"code": "x", "silent": true})
	if r := content[wire.ExecuteReplyOK](t, rep); r.Status != "ok" || r.ExecutionCount != 0 {
		t.Errorf("silent execute_reply = %+v", r)
	}
	if got := types(msgs); got != "status:busy status:idle" {
		t.Errorf("silent iopub = %s", got)
	}
	// Kept out of history, as IPython does: In[n] does not advance.
	rep, _ = c.execute(ctx, map[string]any{"code": "x", "store_history": false, "allow_stdin": false, "stop_on_error": false})
	if r := content[wire.ExecuteReplyOK](t, rep); r.ExecutionCount != 0 {
		t.Errorf("count after silent and store_history=false = %d, want 0", r.ExecutionCount)
	}
	rep, _ = c.execute(ctx, map[string]any{"code": "x"})
	if r := content[wire.ExecuteReplyOK](t, rep); r.ExecutionCount != 1 {
		t.Errorf("count of the first cell kept in history = %d, want 1", r.ExecutionCount)
	}
	want := []ExecuteRequest{
		{Code: "x", Silent: true, StoreHistory: false, AllowStdin: true, StopOnError: true, ExecutionCount: 0},
		{Code: "x", StoreHistory: false, AllowStdin: false, StopOnError: false, ExecutionCount: 1}, // runs as the next number
		{Code: "x", StoreHistory: true, AllowStdin: true, StopOnError: true, ExecutionCount: 1},
	}
	seen := rec.get()
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("requests seen by the interpreter:\n got %+v\nwant %+v", seen, want)
	}
}

func TestStopOnErrorAbortsQueued(t *testing.T) {
	for _, stop := range []bool{true, false} {
		t.Run(map[bool]string{true: "stop", false: "continue"}[stop], func(t *testing.T) {
			started := make(chan struct{}, 1)
			release := make(chan struct{})
			var ran recorder[string]
			fi := &fakeInterp{exec: func(ctx context.Context, req ExecuteRequest, out Output) (Result, error) {
				ran.add(req.Code)
				if req.Code == "fail" {
					started <- struct{}{}
					select {
					case <-release:
					case <-ctx.Done(): // the test ended early
					}
					return Result{}, &ExecError{Name: "ValueError", Value: "bad"}
				}
				return Result{}, nil
			}}
			arrivals := make(chan uint64, 1024)
			ts := startServer(t, fi, nil, func(s *Server) {
				s.shell.onRead = func(seq uint64) { arrivals <- seq }
			})
			c := newClient(t, ts.ConnectionInfo())
			ctx := testCtx(t)
			c.waitReady(ctx)

			a := c.send(c.shell, wire.MsgExecuteRequest, map[string]any{"code": "fail", "stop_on_error": stop})
			select {
			case <-started:
			case <-ctx.Done():
				t.Fatal("cell did not start")
			}
			base := ts.shell.seq.Load() // includes the running request
			b := c.send(c.shell, wire.MsgExecuteRequest, map[string]any{"code": "b"})
			d := c.send(c.shell, wire.MsgExecuteRequest, map[string]any{"code": "c"})
			// Wait until the kernel has read both queued requests.
			for seq := uint64(0); seq < base+2; {
				select {
				case seq = <-arrivals:
				case <-ctx.Done():
					t.Fatal("queued requests never arrived")
				}
			}
			close(release)

			if r := content[wire.ExecuteReplyError](t, c.recv(ctx, c.shellIn, a)); r.Status != "error" {
				t.Errorf("failing cell: %+v", r)
			}
			wantStatus := "aborted"
			if !stop {
				wantStatus = "ok"
			}
			for _, id := range []string{b, d} {
				m := c.recv(ctx, c.shellIn, id)
				r := content[wire.ExecuteReplyAborted](t, m)
				if r.Status != wantStatus {
					t.Errorf("queued cell status %q, want %q", r.Status, wantStatus)
				}
				// A skipped cell must not look as if it ran: no count of
				// its own (ipykernel sends none either).
				raw := content[map[string]any](t, m)
				if _, has := raw["execution_count"]; stop && has {
					t.Errorf("aborted reply carries an execution count: %s", m.Content)
				}
				if got := types(c.outputs(ctx, id)); stop && got != "status:busy status:idle" {
					t.Errorf("aborted cell iopub = %s", got)
				}
			}
			rep, _ := c.execute(ctx, map[string]any{"code": "after"})
			if r := content[wire.ExecuteReplyOK](t, rep); r.Status != "ok" {
				t.Errorf("request after the abort: %+v", r)
			}
			want := "fail after"
			if !stop {
				want = "fail b c after"
			}
			if got := strings.Join(ran.get(), " "); got != want {
				t.Errorf("cells run: %q, want %q", got, want)
			}
		})
	}
}

// An interpreter's AskExit becomes execute_reply's ask_exit payload, on
// which jupyter console quits.
func TestAskExitPayload(t *testing.T) {
	fi := &fakeInterp{exec: func(ctx context.Context, req ExecuteRequest, out Output) (Result, error) {
		return Result{AskExit: req.Code == "exit"}, nil
	}}
	ts := startServer(t, fi, nil, nil)
	c := newClient(t, ts.ConnectionInfo())
	ctx := testCtx(t)
	c.waitReady(ctx)
	for code, want := range map[string]int{"exit": 1, "x": 0} {
		rep, _ := c.execute(ctx, map[string]any{"code": code})
		r := content[wire.ExecuteReplyOK](t, rep)
		if len(r.Payload) != want {
			t.Fatalf("%s: payload %v, want %d entries", code, r.Payload, want)
		}
		if want == 1 {
			p, _ := r.Payload[0].(map[string]any)
			if p["source"] != "ask_exit" || p["keepkernel"] != false {
				t.Errorf("payload %v, want ask_exit without keepkernel", p)
			}
		}
	}
}

// Busy and execute_input are composed while the cell runs (see execute):
// output a cell publishes at once, or an error it ends in at once, still
// comes after them, every time.
func TestOutputFollowsExecuteInput(t *testing.T) {
	fi := &fakeInterp{exec: func(ctx context.Context, req ExecuteRequest, out Output) (Result, error) {
		out.Display(MIMEBundle{"text/plain": "now"}, nil, "", false)
		out.ClearOutput(true)
		return Result{}, errors.New("at once")
	}}
	ts := startServer(t, fi, nil, nil)
	c := newClient(t, ts.ConnectionInfo())
	ctx := testCtx(t)
	c.waitReady(ctx)
	for i := range 50 {
		_, msgs := c.execute(ctx, map[string]any{"code": "x", "stop_on_error": false})
		if got := types(msgs); got != "status:busy execute_input display_data clear_output error status:idle" {
			t.Fatalf("cell %d: iopub = %s", i+1, got)
		}
	}
}

// An execute_request whose content cannot be read still shows busy, then
// idle, around its error reply.
func TestMalformedExecuteIsBusyThenIdle(t *testing.T) {
	fi := &fakeInterp{exec: func(ctx context.Context, req ExecuteRequest, out Output) (Result, error) {
		t.Error("a malformed request ran")
		return Result{}, nil
	}}
	ts := startServer(t, fi, nil, nil)
	c := newClient(t, ts.ConnectionInfo())
	ctx := testCtx(t)
	c.waitReady(ctx)
	id := c.send(c.shell, wire.MsgExecuteRequest, map[string]any{"code": 5})
	rep := c.recv(ctx, c.shellIn, id)
	if got := types(c.outputs(ctx, id)); got != "status:busy status:idle" {
		t.Errorf("iopub = %s", got)
	}
	if !strings.Contains(string(rep.Content), `"status":"error"`) {
		t.Errorf("reply = %s", rep.Content)
	}
}

// Stream text an interpreter reports after its cell ended (a board's timer
// printing) goes out under that cell, after its idle, and before the next
// cell's busy; once the next cell began, it is dropped.
func TestStreamAfterTheCellEnded(t *testing.T) {
	outs := make(chan Output, 2)
	fi := &fakeInterp{exec: func(ctx context.Context, req ExecuteRequest, out Output) (Result, error) {
		outs <- out
		return Result{}, nil
	}}
	ts := startServer(t, fi, nil, nil)
	c := newClient(t, ts.ConnectionInfo())
	ctx := testCtx(t)
	c.waitReady(ctx)

	first, _ := c.execute(ctx, map[string]any{"code": "start a timer"})
	firstID := first.Parent().MsgID
	out1 := <-outs
	out1.Stream("stdout", "tick 1\n")
	if m := c.recv(ctx, c.iopubIn, firstID); m.Header.MsgType != wire.MsgStream || content[wire.StreamContent](t, m).Text != "tick 1\n" {
		t.Fatalf("after the cell: %s %s", m.Header.MsgType, m.Content)
	}
	out1.Stream("stdout", "tick 2\n") // buffered when the next cell comes

	id := c.send(c.shell, wire.MsgExecuteRequest, map[string]any{"code": "next"})
	// IOPub in order: the first cell's tick 2, then the second cell.
	var seq []string
	for len(seq) == 0 || seq[len(seq)-1] != "idle" {
		select {
		case m := <-c.iopubIn:
			switch p := m.Parent().MsgID; {
			case p == firstID:
				seq = append(seq, "first:"+content[wire.StreamContent](t, m).Text)
			case p == id:
				seq = append(seq, state(m))
			}
		case <-ctx.Done():
			t.Fatalf("iopub so far: %q", seq)
		}
	}
	c.recv(ctx, c.shellIn, id)
	if got := strings.Join(seq, " "); got != "first:tick 2\n busy  idle" {
		t.Errorf("iopub = %q", got)
	}
	<-outs
	out1.Stream("stdout", "tick 3\n") // the next cell began: dropped
	_, msgs := c.execute(ctx, map[string]any{"code": "third"})
	<-outs
	for _, m := range msgs {
		if m.Parent().MsgID == firstID {
			t.Errorf("the first cell's output after the second began: %s", m.Content)
		}
	}
	select {
	case m := <-c.iopubIn:
		t.Errorf("unexpected %s under %s", m.Header.MsgType, m.Parent().MsgID)
	default:
	}
}
