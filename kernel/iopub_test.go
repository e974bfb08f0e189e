package kernel

import (
	"bufio"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/security/null"

	"github.com/iot-kernel/iot-kernel/kernel/wire"
)

// stalledSubscriber connects to IOPub, subscribes to everything, reads
// until it has seen one message (so its subscription is in effect), then
// never reads again.
func stalledSubscriber(t *testing.T, ctx context.Context, port int, kick func()) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if _, err := zmq4.Open(conn, null.Security(), zmq4.Sub, nil, false, nil); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if err := writeMessage(conn, [][]byte{{1}}); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := readMessage(bufio.NewReaderSize(conn, 1)) // reads no further than one message
		got <- err
	}()
	for {
		kick() // again after each quiet retry interval: the slow-joiner window
		retry := time.NewTimer(200 * time.Millisecond)
		select {
		case err := <-got:
			retry.Stop()
			if err != nil {
				t.Fatalf("stalled subscriber: %v", err)
			}
			return conn
		case <-retry.C:
		case <-ctx.Done():
			t.Fatal("stalled subscriber never got a message")
		}
	}
}

func TestSlowSubscriberDoesNotStallOthers(t *testing.T) {
	const total = 20 << 20
	chunk := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	fi := &fakeInterp{exec: func(ctx context.Context, req ExecuteRequest, out Output) (Result, error) {
		for range total / len(chunk) {
			out.Stream("stdout", chunk)
		}
		return Result{}, nil
	}}
	ts := startServer(t, fi, nil, nil)
	c := newClient(t, ts.ConnectionInfo())
	ctx := testCtx(t)
	c.waitReady(ctx)
	stalledSubscriber(t, ctx, ts.ConnectionInfo().IOPubPort, func() {
		c.recv(ctx, c.shellIn, c.send(c.shell, wire.MsgKernelInfoRequest, struct{}{}))
	})

	rep, msgs := c.execute(ctx, map[string]any{"code": "big"})
	if r := content[wire.ExecuteReplyOK](t, rep); r.Status != "ok" {
		t.Fatalf("execute_reply %+v", r)
	}
	// The stalled subscriber really is behind: its queue holds megabytes.
	ts.iopub.mu.Lock()
	backlog := 0
	for sub := range ts.iopub.subs {
		sub.mu.Lock()
		backlog = max(backlog, sub.queued)
		sub.mu.Unlock()
	}
	ts.iopub.mu.Unlock()
	if backlog < 1<<20 {
		t.Errorf("largest subscriber backlog is %d bytes; the stalled subscriber was not stalled", backlog)
	}
	h := sha256.New()
	n := 0
	for _, m := range msgs {
		if m.Header.MsgType == wire.MsgStream {
			s := content[wire.StreamContent](t, m)
			if len(s.Text) > streamFlushBytes {
				t.Errorf("stream message of %d bytes, want at most %d", len(s.Text), streamFlushBytes)
			}
			n += len(s.Text)
			_, _ = io.WriteString(h, s.Text)
		}
	}
	want := sha256.New()
	for range total / len(chunk) {
		_, _ = io.WriteString(want, chunk)
	}
	if n != total || string(h.Sum(nil)) != string(want.Sum(nil)) {
		t.Errorf("reading subscriber got %d bytes (intact: %v), want %d", n, string(h.Sum(nil)) == string(want.Sum(nil)), total)
	}
}

func TestSubscriberQueueIsBounded(t *testing.T) {
	const limit = 1000
	s := newSubscriber(nil, slog.New(slog.DiscardHandler), limit)
	s.topics[""] = 1
	msg := [][]byte{[]byte("topic"), make([]byte, 90)}
	for range 100 {
		s.offer(msg, 95)
	}
	if s.queued > limit || len(s.queue) != limit/95 || s.dropped != 100-limit/95 {
		t.Errorf("queued %d bytes in %d messages, dropped %d; limit %d", s.queued, len(s.queue), s.dropped, limit)
	}
	// Topics are prefix matches; no subscription means no messages.
	u := newSubscriber(nil, slog.New(slog.DiscardHandler), limit)
	u.offer(msg, 95)
	u.topics["top"] = 1
	u.offer([][]byte{[]byte("other")}, 5)
	u.offer(msg, 95)
	if len(u.queue) != 1 {
		t.Errorf("topic filtering queued %d messages, want 1", len(u.queue))
	}
}
