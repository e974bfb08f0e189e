package kernel

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"golang.org/x/sync/semaphore"

	"github.com/iot-kernel/iot-kernel/kernel/wire"
)

// testRouter serves a stdin router on loopback; set, when given, changes
// it before it serves.
func testRouter(t *testing.T, set ...func(*router)) (*router, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := newRouter("stdin", ln, slog.New(slog.DiscardHandler), 1<<20, wire.Signer{})
	for _, f := range set {
		f(r)
	}
	go r.acc.serve()
	t.Cleanup(r.close)
	return r, "tcp://" + ln.Addr().String()
}

// A cell asks for input before the client's stdin socket has connected:
// the request waits for it, and reaches it.
func TestSendWaitReachesAPeerThatConnectsLater(t *testing.T) {
	r, ep := testRouter(t)
	ctx := testCtx(t)
	sent := make(chan error, 1)
	go func() {
		sent <- r.sendWait(ctx, [][]byte{[]byte("client-1"), []byte("hello")}, 10*time.Second)
	}()
	d := zmq4.NewDealer(ctx, zmq4.WithID(zmq4.SocketIdentity("client-1")))
	defer d.Close()
	if err := d.Dial(ep); err != nil {
		t.Fatal(err)
	}
	got := make(chan zmq4.Msg, 1)
	go func() {
		if m, err := d.Recv(); err == nil {
			got <- m
		}
	}()
	select {
	case m := <-got:
		if len(m.Frames) != 1 || string(m.Frames[0]) != "hello" {
			t.Fatalf("the peer got %q; want [hello]", m.Frames)
		}
	case <-ctx.Done():
		t.Fatal("the message never reached the peer that connected later")
	}
	if err := <-sent; err != nil {
		t.Fatalf("sendWait = %v", err)
	}
}

// Nobody connects: the wait ends at its bound, or when the cell is
// stopped, with an error.
func TestSendWaitIsBounded(t *testing.T) {
	r, _ := testRouter(t)
	frames := [][]byte{[]byte("nobody"), []byte("x")}
	if err := r.sendWait(context.Background(), frames, 20*time.Millisecond); !errors.Is(err, errNoPeer) {
		t.Fatalf("sendWait with no peer = %v; want errNoPeer", err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("stopped")
	cancel(stop)
	if err := r.sendWait(ctx, frames, time.Hour); !errors.Is(err, stop) {
		t.Fatalf("sendWait on a stopped cell = %v; want its cause", err)
	}
}

// While a cell runs, a peer without the key sends messages: they are
// dropped as they arrive, with a warning, and never queued, so they cannot
// fill the kernel's memory; the signed message after them is queued.
func TestRouterDropsUnsignedMessagesBeforeQueueing(t *testing.T) {
	release, running := make(chan struct{}), make(chan struct{})
	fi := &fakeInterp{exec: func(ctx context.Context, req ExecuteRequest, out Output) (Result, error) {
		close(running)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return Result{}, nil
	}}
	ts := startServer(t, fi, nil, nil)
	defer close(release)
	ctx := testCtx(t)
	c := newClient(t, ts.ConnectionInfo())
	c.waitReady(ctx)
	c.send(c.shell, wire.MsgExecuteRequest, map[string]any{"code": "runs until released"})
	// Taken from the queue: the queue is then empty until the signed
	// message below joins it.
	select {
	case <-running:
	case <-ctx.Done():
		t.Fatal("the cell never ran")
	}

	bad := zmq4.NewDealer(ctx, zmq4.WithID(zmq4.SocketIdentity("intruder")))
	defer bad.Close()
	if err := bad.Dial("tcp://127.0.0.1:" + itoa(ts.ConnectionInfo().ShellPort)); err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 64<<10)
	for range 50 {
		if err := bad.Send(zmq4.NewMsgFrom([]byte(wire.Delimiter), []byte("nosig"), junk, []byte("{}"), []byte("{}"), []byte("{}"))); err != nil {
			t.Fatal(err)
		}
	}
	_, signed := c.build(wire.MsgKernelInfoRequest, map[string]any{})
	if err := bad.Send(zmq4.NewMsgFrom(signed...)); err != nil {
		t.Fatal(err)
	}
	// The same connection is read in order: once the signed message is
	// queued, the 50 before it were read.
	for len(ts.shell.in) == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the signed message was never queued")
		case <-time.After(5 * time.Millisecond):
		}
	}
	if n := len(ts.shell.in); n != 1 {
		t.Errorf("%d messages queued while the cell runs; want 1 (the signed one)", n)
	}
	if n := strings.Count(ts.logs.String(), "bad signature"); n != 50 {
		t.Errorf("%d bad-signature warnings logged, want 50", n)
	}
}

// Messages read and not yet handled are bounded in bytes: past the
// budget, the router stops reading that peer (TCP holds the rest), and
// goes on as messages are taken.
func TestRouterQueueIsBoundedInBytes(t *testing.T) {
	r, ep := testRouter(t, func(r *router) {
		r.queued = semaphore.NewWeighted(10 << 10) // room for two 4 KB messages
	})
	ctx := testCtx(t)
	d := zmq4.NewDealer(ctx, zmq4.WithID(zmq4.SocketIdentity("client-1")))
	defer d.Close()
	if err := d.Dial(ep); err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"value":"` + strings.Repeat("x", 4<<10) + `"}`)
	for range 6 {
		if err := d.Send(zmq4.NewMsgFrom([]byte(wire.Delimiter), []byte(""), []byte(`{"msg_type":"input_reply"}`), []byte("{}"), []byte("{}"), body)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 6 {
		var in inbound
		select {
		case in = <-r.in:
		case <-ctx.Done():
			t.Fatalf("message %d never queued", i)
		}
		// Were the budget not kept, all six would be read by now.
		held := time.After(100 * time.Millisecond)
	wait:
		for r.seq.Load() < 6 {
			select {
			case <-held:
				break wait
			case <-time.After(2 * time.Millisecond):
			}
		}
		if read, taken := r.seq.Load(), uint64(i+1); read-taken > 1 {
			t.Fatalf("after taking %d, %d more were read: over the 10 KB budget", taken, read-taken)
		}
		r.take(in)
	}
}
