package kernel

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/iot-kernel/iot-kernel/kernel/wire"
)

const testKey = "a3f1c0de-test-hmac-key-5e9b"

// testTimeout bounds every wait of a protocol test.
const testTimeout = 10 * time.Second

// fakeInterp is an Interpreter whose Execute each test supplies.
type fakeInterp struct {
	exec      func(ctx context.Context, req ExecuteRequest, out Output) (Result, error)
	execCalls atomic.Int32
	shutdowns atomic.Int32
	restart   atomic.Bool
}

func (f *fakeInterp) Execute(ctx context.Context, req ExecuteRequest, out Output) (Result, error) {
	f.execCalls.Add(1)
	if f.exec == nil {
		return Result{}, nil
	}
	return f.exec(ctx, req, out)
}

func (f *fakeInterp) Complete(ctx context.Context, code string, cursor int) (Completion, error) {
	return Completion{Matches: []string{"print"}, CursorStart: 0, CursorEnd: cursor}, nil
}

func (f *fakeInterp) Inspect(ctx context.Context, code string, cursor, detail int) (Inspection, error) {
	return Inspection{Found: true, Data: MIMEBundle{"text/plain": "doc of " + code}}, nil
}

func (f *fakeInterp) KernelInfo() Info {
	return Info{Banner: "fake banner", HelpLinks: []HelpLink{{Text: "MicroPython", URL: "https://docs.micropython.org"}}}
}

func (f *fakeInterp) Shutdown(ctx context.Context, restart bool) error {
	f.shutdowns.Add(1)
	f.restart.Store(restart)
	return nil
}

// syncBuffer collects log output from every goroutine of the server.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testServer is a running Server on ephemeral loopback ports.
type testServer struct {
	*Server
	interp *fakeInterp
	logs   *syncBuffer
	done   chan error // receives Serve's result
	cancel context.CancelFunc
}

// startServer starts a Server; withCfg and beforeServe, when not nil, adjust
// it before it serves.
func startServer(t *testing.T, interp *fakeInterp, withCfg func(*Config), beforeServe func(*Server)) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	cfg := Config{
		Conn:    ConnectionInfo{Transport: "tcp", IP: "127.0.0.1", Key: testKey, SignatureScheme: "hmac-sha256"},
		Interp:  interp,
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Version: "1.2.3-test",
	}
	if withCfg != nil {
		withCfg(&cfg)
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	if beforeServe != nil {
		beforeServe(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{Server: s, interp: interp, logs: logs, done: make(chan error, 1), cancel: cancel}
	go func() { ts.done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ts.done:
		case <-time.After(testTimeout):
			t.Errorf("Serve did not return after cancel")
		}
		if strings.Contains(logs.String(), testKey) {
			t.Errorf("HMAC key appears in the logs")
		}
		if t.Failed() {
			t.Logf("server logs:\n%s", logs.String())
		}
	})
	return ts
}

// client is a Jupyter client built from zmq4 sockets.
type client struct {
	t    *testing.T
	sess wire.Session

	shell, control, stdin zmq4.Socket
	iopub                 zmq4.Socket

	shellIn, controlIn, stdinIn, iopubIn chan *wire.Message
}

func newClient(t *testing.T, ci ConnectionInfo) *client {
	t.Helper()
	sign, err := wire.NewSigner(ci.SignatureScheme, ci.Key)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &client{
		t: t, sess: wire.NewSession("test", sign),
		shellIn: make(chan *wire.Message, 1024), controlIn: make(chan *wire.Message, 1024),
		stdinIn: make(chan *wire.Message, 1024), iopubIn: make(chan *wire.Message, 1<<16),
	}
	id := zmq4.WithID(zmq4.SocketIdentity(c.sess.ID))
	ep := func(p int) string {
		if ci.Transport == "ipc" {
			return "ipc://" + ci.IP + "-" + strconv.Itoa(p)
		}
		return "tcp://" + ci.IP + ":" + strconv.Itoa(p)
	}
	c.shell = zmq4.NewDealer(ctx, id)
	c.control = zmq4.NewDealer(ctx, id)
	c.stdin = zmq4.NewDealer(ctx, id)
	c.iopub = zmq4.NewSub(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		for _, s := range []zmq4.Socket{c.shell, c.control, c.stdin, c.iopub} {
			_ = s.Close()
		}
		wg.Wait()
	})
	for _, x := range []struct {
		s    zmq4.Socket
		port int
		ch   chan *wire.Message
	}{{c.shell, ci.ShellPort, c.shellIn}, {c.control, ci.ControlPort, c.controlIn}, {c.stdin, ci.StdinPort, c.stdinIn}, {c.iopub, ci.IOPubPort, c.iopubIn}} {
		if err := x.s.Dial(ep(x.port)); err != nil {
			t.Fatalf("dial %d: %v", x.port, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := x.s.Recv()
				if err != nil {
					return
				}
				msg, err := wire.Decode(m.Frames, sign)
				if err != nil {
					t.Errorf("client got a bad message: %v", err)
					return
				}
				select {
				case x.ch <- msg:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	if err := c.iopub.SetOption(zmq4.OptionSubscribe, ""); err != nil {
		t.Fatal(err)
	}
	return c
}

// build returns the frames of a signed request.
func (c *client) build(t wire.MsgType, content any) (string, [][]byte) {
	frames, h, err := c.sess.Compose(nil, nil, t, content)
	if err != nil {
		c.t.Fatal(err)
	}
	return h.MsgID, frames
}

// send sends a request on sock and returns its msg_id.
func (c *client) send(sock zmq4.Socket, t wire.MsgType, content any) string {
	c.t.Helper()
	id, frames := c.build(t, content)
	if err := sock.Send(zmq4.NewMsgFrom(frames...)); err != nil {
		c.t.Fatalf("send %s: %v", t, err)
	}
	return id
}

// recv waits for the message on ch whose parent is msgID.
func (c *client) recv(ctx context.Context, ch chan *wire.Message, msgID string) *wire.Message {
	c.t.Helper()
	for {
		select {
		case m := <-ch:
			if m.Parent().MsgID == msgID {
				return m
			}
		case <-ctx.Done():
			c.t.Fatalf("no reply to %s: %v", msgID, ctx.Err())
			return nil
		}
	}
}

// outputs collects the IOPub messages whose parent is msgID, up to and
// including status idle.
func (c *client) outputs(ctx context.Context, msgID string) []*wire.Message {
	c.t.Helper()
	var got []*wire.Message
	for {
		m := c.recv(ctx, c.iopubIn, msgID)
		got = append(got, m)
		if m.Header.MsgType == wire.MsgStatus && state(m) == "idle" {
			return got
		}
	}
}

func state(m *wire.Message) string {
	var s wire.StatusContent
	_ = json.Unmarshal(m.Content, &s)
	return s.ExecutionState
}

// waitReady sends kernel_info until IOPub delivers, as jupyter_client does
// to get past the slow-joiner window of a new subscription.
func (c *client) waitReady(ctx context.Context) {
	c.t.Helper()
	for {
		id := c.send(c.shell, wire.MsgKernelInfoRequest, struct{}{})
		c.recv(ctx, c.shellIn, id)
		try, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		got := false
	wait:
		for {
			select {
			case m := <-c.iopubIn:
				if m.Parent().MsgID == id && state(m) == "idle" {
					got = true
					break wait
				}
			case <-try.Done():
				break wait
			}
		}
		cancel()
		if got {
			return
		}
		if ctx.Err() != nil {
			c.t.Fatalf("IOPub never delivered: %v", ctx.Err())
		}
	}
}

// execute sends an execute_request and returns the reply and the IOPub
// messages of that request.
func (c *client) execute(ctx context.Context, content map[string]any) (*wire.Message, []*wire.Message) {
	c.t.Helper()
	id := c.send(c.shell, wire.MsgExecuteRequest, content)
	rep := c.recv(ctx, c.shellIn, id)
	return rep, c.outputs(ctx, id)
}

func content[T any](t *testing.T, m *wire.Message) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(m.Content, &v); err != nil {
		t.Fatalf("content of %s: %v", m.Header.MsgType, err)
	}
	return v
}

// types lists the msg_types of msgs, with stream names, for comparisons.
func types(msgs []*wire.Message) string {
	var b strings.Builder
	for i, m := range msgs {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(string(m.Header.MsgType))
		switch m.Header.MsgType {
		case wire.MsgStatus:
			fmt.Fprintf(&b, ":%s", state(m))
		}
	}
	return b.String()
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// recorder collects values from the shell goroutine for the test to read.
type recorder[T any] struct {
	mu    sync.Mutex
	items []T
}

func (r *recorder[T]) add(v T) {
	r.mu.Lock()
	r.items = append(r.items, v)
	r.mu.Unlock()
}

func (r *recorder[T]) get() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.items...)
}

func itoa(i int) string { return strconv.Itoa(i) }
