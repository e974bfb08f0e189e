package kernel

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
)

func testRouter(t *testing.T) (*router, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := newRouter("stdin", ln, slog.New(slog.DiscardHandler), 1<<20)
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
