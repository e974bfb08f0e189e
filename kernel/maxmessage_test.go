package kernel

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/iot-kernel/iot-kernel/kernel/wire"
)

// A message over the bound is read past without being kept, and the
// message after it arrives whole.
func TestReadMessageLimitDrops(t *testing.T) {
	var buf bytes.Buffer
	big := [][]byte{[]byte("id"), bytes.Repeat([]byte("x"), 300), bytes.Repeat([]byte("y"), 300)}
	small := [][]byte{[]byte("id"), []byte("hello")}
	for _, m := range [][][]byte{big, small} {
		if err := writeMessage(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	r := bufio.NewReader(&buf)
	_, err := readMessageLimit(r, 400, nil)
	var d *droppedError
	if !errors.As(err, &d) || !errors.Is(err, errMessageTooLarge) || d.size != 602 {
		t.Fatalf("err = %v, want a dropped message of 602 bytes", err)
	}
	m, err := readMessageLimit(r, 400, nil)
	if err != nil || len(m.frames) != 2 || string(m.frames[1]) != "hello" {
		t.Fatalf("next message: %v %q", err, m.frames)
	}
}

// An execute_request over Config.MaxMessageBytes fails as a cell does
// with stop_on_error: the cells queued behind it are aborted, since they
// may need what it defines; and one queued behind a failing cell is
// aborted like any other.
func TestOversizedCellAbortsAsAFailingCell(t *testing.T) {
	release := make(chan struct{}, 1)
	fi := &fakeInterp{exec: func(ctx context.Context, req ExecuteRequest, out Output) (Result, error) {
		<-release
		if req.Code == "fails" {
			return Result{}, &ExecError{Name: "ValueError", Value: "bad"}
		}
		return Result{}, nil
	}}
	ts := startServer(t, fi, func(c *Config) { c.MaxMessageBytes = 64 << 10 }, nil)
	ctx := testCtx(t)
	c := newClient(t, ts.ConnectionInfo())
	c.waitReady(ctx)
	large := map[string]any{"code": strings.Repeat("x", 100<<10)}
	// The running cell holds the shell until the n requests sent after it
	// are queued.
	queued := func(n int) {
		for len(ts.shell.in) < n {
			select {
			case <-ctx.Done():
				t.Fatal("the requests were never queued")
			case <-time.After(5 * time.Millisecond):
			}
		}
		release <- struct{}{}
	}
	status := func(id string) string {
		return content[wire.ExecuteReplyError](t, c.recv(ctx, c.shellIn, id)).Status
	}

	first := c.send(c.shell, wire.MsgExecuteRequest, map[string]any{"code": "runs"})
	big := c.send(c.shell, wire.MsgExecuteRequest, large)
	after := c.send(c.shell, wire.MsgExecuteRequest, map[string]any{"code": "after"})
	queued(2)
	if st := status(first); st != wire.StatusOK {
		t.Errorf("first cell: status %s", st)
	}
	if st := status(big); st != wire.StatusError {
		t.Errorf("large cell: status %s, want error", st)
	}
	if st := status(after); st != wire.StatusAborted {
		t.Errorf("cell after the large one: status %s, want aborted", st)
	}

	fails := c.send(c.shell, wire.MsgExecuteRequest, map[string]any{"code": "fails"})
	big = c.send(c.shell, wire.MsgExecuteRequest, large)
	queued(1)
	if st := status(fails); st != wire.StatusError {
		t.Errorf("failing cell: status %s", st)
	}
	if st := status(big); st != wire.StatusAborted {
		t.Errorf("large cell after a failing one: status %s, want aborted", st)
	}
	if n := fi.execCalls.Load(); n != 2 {
		t.Errorf("%d executes, want 2", n)
	}
}

// A peer that announces a huge frame in its handshake (a few bytes, on any
// port, before any key is checked) has its connection closed with a logged
// warning; the kernel goes on serving clients.
func TestHandshakeRefusesAHugeFrame(t *testing.T) {
	ts := startServer(t, &fakeInterp{}, nil, nil)
	ctx := testCtx(t)
	ci := ts.ConnectionInfo()
	for _, port := range []int{ci.HBPort, ci.ShellPort, ci.IOPubPort, ci.StdinPort, ci.ControlPort} {
		conn, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		greeting := make([]byte, 64)
		greeting[0], greeting[9], greeting[10] = 0xff, 0x7f, 3
		copy(greeting[12:], "NULL")
		hdr := make([]byte, 9)
		hdr[0] = flagCommand | flagLong
		binary.BigEndian.PutUint64(hdr[1:], 1<<44)
		if _, err := conn.Write(append(greeting, hdr...)); err != nil {
			t.Fatal(err)
		}
		// The kernel's greeting, then the close.
		_ = conn.SetReadDeadline(time.Now().Add(testTimeout))
		got, err := io.ReadAll(conn)
		conn.Close()
		if err != nil {
			t.Fatalf("port %d: the kernel did not close the connection: %v (read %d bytes)", port, err, len(got))
		}
	}
	c := newClient(t, ci)
	c.waitReady(ctx)
	if rep, _ := c.execute(ctx, map[string]any{"code": "after"}); rep.Header.MsgType != wire.MsgExecuteReply {
		t.Fatalf("reply %s", rep.Header.MsgType)
	}
	if logs := ts.logs.String(); strings.Count(logs, "handshake frame of 17592186044416 bytes") != 5 || !strings.Contains(logs, "level=WARN") {
		t.Errorf("want a warning for each of the 5 connections; logs:\n%s", logs)
	}
}

// A signed request over Config.MaxMessageBytes is answered with an error
// that says why and how to raise the limit, the way a request the kernel
// cannot run is answered, so the notebook does not wait forever: for an
// execute_request, busy, an error and idle on IOPub and an execute_reply
// with status error and the current execution count. Nothing runs, and
// the next request is served.
func TestOversizedRequestIsAnsweredWithAnError(t *testing.T) {
	ts := startServer(t, &fakeInterp{}, func(c *Config) { c.MaxMessageBytes = 64 << 10 }, nil)
	ctx := testCtx(t)
	c := newClient(t, ts.ConnectionInfo())
	c.waitReady(ctx)
	if rep, _ := c.execute(ctx, map[string]any{"code": "first"}); content[wire.ExecuteReplyOK](t, rep).ExecutionCount != 1 {
		t.Fatalf("first cell: %s", rep.Content)
	}

	rep, outs := c.execute(ctx, map[string]any{"code": strings.Repeat("x", 100<<10), "silent": false})
	if rep.Header.MsgType != wire.MsgExecuteReply {
		t.Fatalf("reply %s", rep.Header.MsgType)
	}
	er := content[wire.ExecuteReplyError](t, rep)
	const want = "over the kernel's limit of 0.0625 MiB: split it, or raise the limit with iot-kernel run --max-message-mb 1 or IOT_MAX_MESSAGE_MB=1 in the kernelspec's env"
	if er.Status != wire.StatusError || er.ExecutionCount != 1 || er.Ename != "MessageTooLarge" ||
		!strings.HasPrefix(er.Evalue, "the cell is 0.1 MiB, ") || !strings.HasSuffix(er.Evalue, want) || len(er.Traceback) == 0 {
		t.Errorf("execute_reply %s", rep.Content)
	}
	if got := types(outs); got != "status:busy error status:idle" {
		t.Fatalf("IOPub: %s", got)
	}
	if ec := content[wire.ErrorContent](t, outs[1]); ec.Ename != "MessageTooLarge" || ec.Evalue != er.Evalue || len(ec.Traceback) == 0 {
		t.Errorf("error on IOPub: %s", outs[1].Content)
	}

	// Another request type gets its reply with status error.
	id := c.send(c.shell, wire.MsgCompleteRequest, map[string]any{"code": strings.Repeat("y", 100<<10), "cursor_pos": 0})
	crep := c.recv(ctx, c.shellIn, id)
	if crep.Header.MsgType != wire.MsgCompleteReply {
		t.Fatalf("reply %s", crep.Header.MsgType)
	}
	if ce := content[wire.ErrorReply](t, crep); ce.Status != wire.StatusError || ce.Ename != "MessageTooLarge" ||
		!strings.HasPrefix(ce.Evalue, "the message is 0.1 MiB, over the kernel's limit") {
		t.Errorf("complete_reply %s", crep.Content)
	}
	if got := types(c.outputs(ctx, id)); got != "status:busy status:idle" {
		t.Errorf("IOPub of complete_request: %s", got)
	}

	if rep, _ := c.execute(ctx, map[string]any{"code": "after"}); content[wire.ExecuteReplyOK](t, rep).ExecutionCount != 2 {
		t.Errorf("cell after: %s", rep.Content)
	}
	if n := ts.interp.execCalls.Load(); n != 2 {
		t.Errorf("%d executes, want 2 (the large one not run)", n)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "over the limit") || !strings.Contains(logs, "IOT_MAX_MESSAGE_MB") {
		t.Errorf("the dropped message is not logged:\n%s", logs)
	}
}

// An oversized message without the key's signature gets nothing: no reply
// and nothing on IOPub; it is logged and dropped, and the peer's signed
// request after it is answered.
func TestOversizedUnsignedMessageGetsNothing(t *testing.T) {
	ts := startServer(t, &fakeInterp{}, func(c *Config) { c.MaxMessageBytes = 64 << 10 }, nil)
	ctx := testCtx(t)
	c := newClient(t, ts.ConnectionInfo())
	c.waitReady(ctx)

	peer := zmq4.NewDealer(ctx, zmq4.WithID(zmq4.SocketIdentity("intruder")))
	defer peer.Close()
	if err := peer.Dial("tcp://127.0.0.1:" + itoa(ts.ConnectionInfo().ShellPort)); err != nil {
		t.Fatal(err)
	}
	big := map[string]any{"code": strings.Repeat("x", 100<<10)}
	otherKey, _ := wire.NewSigner("hmac-sha256", "not-the-key")
	badly, badHdr, err := wire.NewSession("intruder", otherKey).Compose(nil, nil, wire.MsgExecuteRequest, big)
	if err != nil {
		t.Fatal(err)
	}
	unsigned, unsignedHdr, err := wire.NewSession("intruder", wire.Signer{}).Compose(nil, nil, wire.MsgExecuteRequest, big)
	if err != nil {
		t.Fatal(err)
	}
	followID, follow := c.build(wire.MsgKernelInfoRequest, map[string]any{})
	for _, m := range [][][]byte{badly, unsigned, follow} {
		if err := peer.Send(zmq4.NewMsgFrom(m...)); err != nil {
			t.Fatal(err)
		}
	}
	// The connection is read in order and the shell answers in order: a
	// reply to either large message would come before this one.
	got, err := peer.Recv()
	if err != nil {
		t.Fatal(err)
	}
	m, err := wire.Decode(got.Frames, c.sess.Signer)
	if err != nil || m.Parent().MsgID != followID {
		t.Fatalf("first reply to the peer: %v, parent %q; want the kernel_info_reply", err, m.Parent().MsgID)
	}
	// So does IOPub, up to the follow-up's idle.
	for {
		var m *wire.Message
		select {
		case m = <-c.iopubIn:
		case <-ctx.Done():
			t.Fatal("no idle for the follow-up request")
		}
		if p := m.Parent().MsgID; p == badHdr.MsgID || p == unsignedHdr.MsgID {
			t.Fatalf("IOPub %s for an unsigned large message", m.Header.MsgType)
		}
		if m.Parent().MsgID == followID && state(m) == "idle" {
			break
		}
	}
	if n := strings.Count(ts.logs.String(), "over the limit"); n != 2 {
		t.Errorf("%d large messages logged, want 2:\n%s", n, ts.logs.String())
	}
}

// An input_reply the kernel cannot take (over the message limit, or with
// content that is not an input_reply's) ends the input() it answers with
// an error that says why, instead of leaving it waiting for an answer that
// will not come; the next input() is answered as usual.
func TestBadInputReplyEndsTheInput(t *testing.T) {
	fi := &fakeInterp{exec: func(ctx context.Context, req ExecuteRequest, out Output) (Result, error) {
		v, err := out.Input(ctx, "name? ", false)
		if err != nil {
			out.Stream("stderr", fmt.Sprintf("is ErrBadInputReply: %v; %v", errors.Is(err, ErrBadInputReply), err))
			return Result{}, nil
		}
		out.Stream("stdout", "hello "+v)
		return Result{}, nil
	}}
	ts := startServer(t, fi, func(c *Config) { c.MaxMessageBytes = 64 << 10 }, nil)
	c := newClient(t, ts.ConnectionInfo())
	ctx := testCtx(t)
	c.waitReady(ctx)

	cell := func(answer any) string {
		t.Helper()
		id := c.send(c.shell, wire.MsgExecuteRequest, map[string]any{"code": "x", "allow_stdin": true})
		select {
		case <-c.stdinIn:
		case <-ctx.Done():
			t.Fatal("no input_request")
		}
		c.send(c.stdin, wire.MsgInputReply, answer)
		c.recv(ctx, c.shellIn, id) // bounded by ctx: the cell ends
		var text []string
		for _, m := range c.outputs(ctx, id) {
			if m.Header.MsgType == wire.MsgStream {
				text = append(text, content[wire.StreamContent](t, m).Text)
			}
		}
		return strings.Join(text, "")
	}
	const big = "is ErrBadInputReply: true; the answer to input() is 0.1 MiB, over the kernel's limit of 0.0625 MiB: raise the limit with iot-kernel run --max-message-mb 1 or IOT_MAX_MESSAGE_MB=1 in the kernelspec's env"
	if got := cell(map[string]any{"value": strings.Repeat("y", 100<<10)}); got != big {
		t.Errorf("an answer over the limit:\n got %q\nwant %q", got, big)
	}
	if got := cell(map[string]any{"value": 5}); !strings.HasPrefix(got, "is ErrBadInputReply: true; the front end's answer to input() is malformed (") {
		t.Errorf("a malformed answer: %q", got)
	}
	if got := cell(map[string]any{"value": "bob"}); got != "hello bob" {
		t.Errorf("the answer after them: %q", got)
	}
}
