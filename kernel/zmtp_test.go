package kernel

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

func TestReadMessageBounds(t *testing.T) {
	long := func(flags byte, n uint64) []byte {
		b := []byte{flags | flagLong, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint64(b[1:], n)
		return b
	}
	for _, tc := range []struct {
		name   string
		in     []byte
		frames int
		want   error
	}{
		{"one frame", []byte{0, 2, 'h', 'i'}, 1, nil},
		{"two frames", []byte{flagMore, 1, 'a', 0, 0}, 2, nil},
		{"command", []byte{flagCommand, 5, 4, 'P', 'I', 'N', 'G'}, 1, nil},
		{"long frame", append(long(0, 3), 'a', 'b', 'c'), 1, nil},
		{"huge announced length", long(0, 1<<62), 0, errMessageTooLarge},
		{"max uint64 length", long(0, ^uint64(0)), 0, errMessageTooLarge},
		{"truncated body", []byte{0, 5, 'a'}, 0, io.ErrUnexpectedEOF},
		{"truncated length", []byte{flagLong, 0, 0}, 0, io.ErrUnexpectedEOF},
		{"missing last frame", []byte{flagMore, 1, 'a'}, 0, io.ErrUnexpectedEOF},
		{"empty", nil, 0, io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := readMessage(bufio.NewReader(bytes.NewReader(tc.in)))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && len(m.frames) != tc.frames {
				t.Errorf("%d frames, want %d", len(m.frames), tc.frames)
			}
		})
	}
	// writeMessage and readMessage agree, short and long frames alike.
	var buf bytes.Buffer
	in := [][]byte{[]byte("id"), {}, bytes.Repeat([]byte("x"), 300)}
	if err := writeMessage(&buf, in); err != nil {
		t.Fatal(err)
	}
	m, err := readMessage(bufio.NewReader(&buf))
	if err != nil || len(m.frames) != 3 || !bytes.Equal(m.frames[2], in[2]) || m.command {
		t.Errorf("round trip: %v %q", err, m.frames)
	}
}

// A peer whose READY command is malformed must not take the kernel down
// (zmq4's metadata parser panics on some truncated properties).
func TestMalformedHandshake(t *testing.T) {
	ts := startServer(t, &fakeInterp{}, nil, nil)
	ctx := testCtx(t)
	for _, ready := range [][]byte{
		append([]byte{5}, "READY\x0bSocket-Type"...),     // property without its length
		append([]byte{5}, "READY\x0bSocket-Type\xff"...), // truncated length
		append([]byte{5}, "READY\xff"...),                // key length past the end
		[]byte("\x05HELLO"),                              // wrong command
	} {
		conn, err := net.Dial("tcp", "127.0.0.1:"+itoa(ts.ConnectionInfo().ShellPort))
		if err != nil {
			t.Fatal(err)
		}
		g := make([]byte, 64)
		g[0], g[9], g[10] = 0xff, 0x7f, 3
		copy(g[12:], "NULL")
		if _, err := conn.Write(g); err != nil {
			t.Fatal(err)
		}
		if err := writeCommand(conn, ready); err != nil {
			t.Fatal(err)
		}
		// The kernel closes the connection after reading its greeting;
		// the deadline turns a kernel that does not into a failure.
		_ = conn.SetReadDeadline(time.Now().Add(testTimeout))
		if _, err := io.Copy(io.Discard, conn); err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("the kernel kept a connection with a malformed greeting open")
		}
		_ = conn.Close()
	}
	c := newClient(t, ts.ConnectionInfo())
	c.waitReady(ctx)
	if !bytes.Contains([]byte(ts.logs.String()), []byte("malformed peer data")) {
		t.Error("no malformed handshake reached the recovered parser panic")
	}
}

func writeCommand(w io.Writer, body []byte) error {
	_, err := w.Write(append([]byte{flagCommand, byte(len(body))}, body...))
	return err
}
