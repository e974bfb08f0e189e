package kernel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
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

// wireLog records, across connections, when each write starts and ends,
// and where it falls in its connection's byte stream.
type wireLog struct {
	mu     sync.Mutex
	events []wireEvent
	sent   map[string][]byte // per channel, everything written
}

type wireEvent struct {
	ch       string
	end      bool // the write returned
	from, to int  // the write's bytes in sent[ch]
}

func (l *wireLog) write(ch string, c net.Conn, p []byte) (int, error) {
	l.mu.Lock()
	from := len(l.sent[ch])
	l.events = append(l.events, wireEvent{ch: ch, from: from, to: from + len(p)})
	l.mu.Unlock()
	n, err := c.Write(p)
	l.mu.Lock()
	l.sent[ch] = append(l.sent[ch], p[:n]...)
	l.events = append(l.events, wireEvent{ch: ch, end: true, from: from, to: from + n})
	l.mu.Unlock()
	return n, err
}

// at returns the index of the first event of ch, start or end, whose
// write covers byte offset off of sent[ch]; -1 if none.
func (l *wireLog) at(ch string, end bool, off int) int {
	for i, e := range l.events {
		if e.ch == ch && e.end == end && e.from <= off && off < e.to {
			return i
		}
	}
	return -1
}

type loggedConn struct {
	net.Conn
	ch  string
	log *wireLog
}

func (c loggedConn) Write(p []byte) (int, error) { return c.log.write(c.ch, c.Conn, p) }

type loggedListener struct {
	net.Listener
	ch  string
	log *wireLog
}

func (l loggedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return loggedConn{c, l.ch, l.log}, nil
}

// before reports whether the bytes at offset a of channel ca were written
// (the write returned) before the write carrying offset b of cb started.
func (l *wireLog) before(ca string, a int, cb string, b int) bool {
	written, started := l.at(ca, true, a), l.at(cb, false, b)
	return written >= 0 && started >= 0 && written < started
}

// find returns the offset in sent[ch] of the first s at or after from, or -1.
func (l *wireLog) find(ch string, from int, s string) int {
	if i := bytes.Index(l.sent[ch][from:], []byte(s)); i >= 0 {
		return from + i
	}
	return -1
}

// A client that has a cell's reply has its outputs too, and one asked for
// input has the text printed before the prompt: publishing only queues a
// message, so without a flush the reply or input_request, written at once,
// went out before the outputs (a client that reads IOPub only until the
// reply, or shows the input box where it arrives, got them wrong).
func TestOutputsAreWrittenBeforeTheReply(t *testing.T) {
	const beforeInput, beforeReply = "printed-before-input", "printed-before-reply"
	fi := &fakeInterp{exec: func(ctx context.Context, req ExecuteRequest, out Output) (Result, error) {
		out.Stream("stdout", beforeInput+"\n")
		if _, err := out.Input(ctx, "name? ", false); err != nil {
			return Result{}, err
		}
		out.Stream("stdout", beforeReply+"\n")
		return Result{}, nil
	}}
	wl := &wireLog{sent: map[string][]byte{}}
	ts := startServer(t, fi, nil, func(s *Server) {
		s.iopub.flushWait = testTimeout // the order, not the bound, is under test
		s.shell.acc.ln = loggedListener{s.shell.acc.ln, "shell", wl}
		s.stdin.acc.ln = loggedListener{s.stdin.acc.ln, "stdin", wl}
		s.iopub.acc.ln = loggedListener{s.iopub.acc.ln, "iopub", wl}
	})
	c := newClient(t, ts.ConnectionInfo())
	ctx := testCtx(t)
	c.waitReady(ctx)
	for i := range 20 { // the order used to depend on goroutine scheduling: try it often
		wl.mu.Lock()
		from := map[string]int{"shell": len(wl.sent["shell"]), "stdin": len(wl.sent["stdin"]), "iopub": len(wl.sent["iopub"])}
		wl.mu.Unlock()
		id := c.send(c.shell, wire.MsgExecuteRequest, map[string]any{"code": "ask", "allow_stdin": true})
		select {
		case <-c.stdinIn:
		case <-ctx.Done():
			t.Fatalf("cell %d: no input_request", i)
		}
		c.send(c.stdin, wire.MsgInputReply, map[string]any{"value": "bob"})
		rep := c.recv(ctx, c.shellIn, id)
		if got := types(c.outputs(ctx, id)); got != "status:busy execute_input stream stream status:idle" {
			t.Fatalf("cell %d: IOPub gave %s", i, got)
		}
		if r := content[wire.ExecuteReplyOK](t, rep); r.Status != "ok" {
			t.Fatalf("cell %d: execute_reply %+v", i, r)
		}
		wl.mu.Lock()
		out1 := wl.find("iopub", from["iopub"], beforeInput)
		out2 := wl.find("iopub", from["iopub"], beforeReply)
		idle := -1
		if out2 >= 0 {
			idle = wl.find("iopub", out2, `"idle"`)
		}
		request := wl.find("stdin", from["stdin"], "input_request")
		reply := wl.find("shell", from["shell"], "execute_reply")
		inputOK := out1 >= 0 && request >= 0 && wl.before("iopub", out1, "stdin", request)
		replyOK := idle >= 0 && reply >= 0 && wl.before("iopub", idle, "shell", reply)
		wl.mu.Unlock()
		if !inputOK {
			t.Errorf("cell %d: the input_request went out before the text printed before it", i)
		}
		if !replyOK {
			t.Errorf("cell %d: the execute_reply went out before the cell's last output and idle", i)
		}
		if t.Failed() {
			return
		}
	}
}

// A subscriber that sends thousands of distinct subscriptions keeps at
// most maxTopics of them (each message is matched against all), with one
// warning; other clients are served as before.
func TestSubscriptionsAreBounded(t *testing.T) {
	ts := startServer(t, &fakeInterp{}, nil, nil)
	ctx := testCtx(t)
	sub := zmq4.NewSub(ctx)
	defer sub.Close()
	if err := sub.Dial("tcp://127.0.0.1:" + itoa(ts.ConnectionInfo().IOPubPort)); err != nil {
		t.Fatal(err)
	}
	for i := range maxTopics + 500 {
		if err := sub.SetOption(zmq4.OptionSubscribe, "topic-"+itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	for !strings.Contains(ts.logs.String(), "ignoring a subscription") {
		select {
		case <-ctx.Done():
			t.Fatalf("no warning for subscriptions over the bound; logs:\n%s", ts.logs.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	ts.iopub.mu.Lock()
	for s := range ts.iopub.subs {
		s.mu.Lock()
		if n := len(s.topics); n > maxTopics {
			t.Errorf("a subscriber holds %d topics, over %d", n, maxTopics)
		}
		s.mu.Unlock()
	}
	ts.iopub.mu.Unlock()
	c := newClient(t, ts.ConnectionInfo())
	c.waitReady(ctx)
	if rep, _ := c.execute(ctx, map[string]any{"code": "x"}); rep.Header.MsgType != wire.MsgExecuteReply {
		t.Fatalf("reply %s", rep.Header.MsgType)
	}
	if n := strings.Count(ts.logs.String(), "ignoring a subscription"); n != 1 {
		t.Errorf("%d warnings, want 1", n)
	}
}
