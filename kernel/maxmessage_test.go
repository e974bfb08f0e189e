package kernel

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

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
	_, err := readMessageLimit(r, 400)
	var d *droppedError
	if !errors.As(err, &d) || !errors.Is(err, errMessageTooLarge) || d.size != 602 {
		t.Fatalf("err = %v, want a dropped message of 602 bytes", err)
	}
	m, err := readMessageLimit(r, 400)
	if err != nil || len(m.frames) != 2 || string(m.frames[1]) != "hello" {
		t.Fatalf("next message: %v %q", err, m.frames)
	}
}

// A signed request over Config.MaxMessageBytes is dropped with a logged
// error, like a malformed one: it runs nothing, and the kernel answers the
// next request on the same connection.
func TestMaxMessageBytes(t *testing.T) {
	ts := startServer(t, &fakeInterp{}, func(c *Config) { c.MaxMessageBytes = 64 << 10 }, nil)
	ctx := testCtx(t)
	c := newClient(t, ts.ConnectionInfo())
	c.waitReady(ctx)
	c.send(c.shell, wire.MsgExecuteRequest, map[string]any{"code": strings.Repeat("x", 100<<10), "silent": false})
	// The same connection reads in order: once the next request is
	// answered, the large one was handled.
	rep, _ := c.execute(ctx, map[string]any{"code": "small", "silent": false})
	if rep.Header.MsgType != wire.MsgExecuteReply {
		t.Fatalf("reply %s", rep.Header.MsgType)
	}
	logs := ts.logs.String()
	if !strings.Contains(logs, "over the limit") || !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "IOT_MAX_MESSAGE_MB") {
		t.Errorf("no error logged for the large message that says how to raise the limit:\n%s", logs)
	}
	if n := ts.interp.execCalls.Load(); n != 1 {
		t.Errorf("%d executes, want 1 (the large one dropped)", n)
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
