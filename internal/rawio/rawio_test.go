//go:build linux

package rawio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// bound is how long any step of these tests may take.
const bound = 10 * time.Second

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	a, err = net.DialTimeout("tcp", ln.Addr().String(), bound)
	if err != nil {
		t.Fatal(err)
	}
	b = <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	// Small buffers, so that a large write ends part way, many times.
	for _, c := range []net.Conn{a, b} {
		tc := c.(*net.TCPConn)
		if err := tc.SetWriteBuffer(16 << 10); err != nil {
			t.Fatal(err)
		}
		if err := tc.SetReadBuffer(16 << 10); err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

func rawOf(t *testing.T, c syscall.Conn) *Conn {
	t.Helper()
	r, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type result struct {
	n   int
	err error
	b   []byte
}

func readAsync(r *Conn, size int) <-chan result {
	ch := make(chan result, 1)
	go func() {
		p := make([]byte, size)
		n, err := r.Read(p)
		ch <- result{n, err, p[:n]}
	}()
	return ch
}

func await(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(bound):
		t.Fatal("the read did not return")
		return result{}
	}
}

func TestReadWaitsForData(t *testing.T) {
	a, b := tcpPair(t)
	got := readAsync(rawOf(t, b.(syscall.Conn)), 64)
	if _, err := a.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	r := await(t, got)
	if r.err != nil || string(r.b) != "hello" {
		t.Fatalf("Read = %q, %v; want hello", r.b, r.err)
	}
}

func TestReadNowTakesOnlyWhatIsThere(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	r := rawOf(t, pr)
	p := make([]byte, 16)
	if n, err := r.ReadNow(p); n != 0 || err != nil {
		t.Fatalf("ReadNow on an empty pipe = %d, %v; want 0, nil", n, err)
	}
	if _, err := pw.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if n, err := r.ReadNow(p); err != nil || string(p[:n]) != "abc" {
		t.Fatalf("ReadNow = %q, %v; want abc", p[:n], err)
	}
	pw.Close()
	if n, err := r.ReadNow(p); n != 0 || err != io.EOF {
		t.Fatalf("ReadNow after the writer closed = %d, %v; want io.EOF", n, err)
	}
}

func TestReadHonoursDeadline(t *testing.T) {
	_, b := tcpPair(t)
	if err := b.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	r := await(t, readAsync(rawOf(t, b.(syscall.Conn)), 8))
	if !errors.Is(r.err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline = %d, %v; want os.ErrDeadlineExceeded", r.n, r.err)
	}
}

func TestReadEndsAtEOFAndClose(t *testing.T) {
	a, b := tcpPair(t)
	got := readAsync(rawOf(t, b.(syscall.Conn)), 8)
	a.Close()
	if r := await(t, got); r.err != io.EOF {
		t.Fatalf("Read after the peer closed = %d, %v; want io.EOF", r.n, r.err)
	}

	c, d := tcpPair(t)
	_ = c
	got = readAsync(rawOf(t, d.(syscall.Conn)), 8)
	d.Close() // our own end: the waiting read must end
	if r := await(t, got); !errors.Is(r.err, net.ErrClosed) {
		t.Fatalf("Read on a closed conn = %d, %v; want net.ErrClosed", r.n, r.err)
	}
}

// pattern is n bytes that show any loss, duplication or reordering.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

func readAllAsync(c net.Conn) <-chan result {
	ch := make(chan result, 1)
	go func() {
		_ = c.SetReadDeadline(time.Now().Add(bound))
		b, err := io.ReadAll(c)
		ch <- result{len(b), err, b}
	}()
	return ch
}

func TestWriteWaitsForRoom(t *testing.T) {
	a, b := tcpPair(t)
	got := readAllAsync(b)
	data := pattern(8<<20, 1) // far more than the socket buffers hold
	n, err := rawOf(t, a.(syscall.Conn)).Write(data)
	if n != len(data) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(data))
	}
	a.Close()
	r := await(t, got)
	if r.err != nil || !bytes.Equal(r.b, data) {
		t.Fatalf("the reader got %d bytes (err %v), equal: %v; want the %d written", len(r.b), r.err, bytes.Equal(r.b, data), len(data))
	}
}

func TestWriteBuffersKeepsOrderAcrossPartialWrites(t *testing.T) {
	a, b := tcpPair(t)
	got := readAllAsync(b)
	// More buffers than one writev takes, empty ones among them, and one
	// larger than the socket buffers, so writes end part way.
	var bufs [][]byte
	var want []byte
	for i := range 3000 {
		size := i % 7 * 13
		if i == 1500 {
			size = 6 << 20
		}
		p := pattern(size, byte(i))
		bufs = append(bufs, p)
		want = append(want, p...)
	}
	saved := append([][]byte(nil), bufs...)
	n, err := rawOf(t, a.(syscall.Conn)).WriteBuffers(bufs)
	if n != int64(len(want)) || err != nil {
		t.Fatalf("WriteBuffers = %d, %v; want %d, nil", n, err, len(want))
	}
	for i := range bufs {
		if len(bufs[i]) != len(saved[i]) || len(bufs[i]) > 0 && &bufs[i][0] != &saved[i][0] {
			t.Fatalf("WriteBuffers changed the caller's buffer %d", i)
		}
	}
	a.Close()
	r := await(t, got)
	if r.err != nil || !bytes.Equal(r.b, want) {
		t.Fatalf("the reader got %d bytes (err %v); want the %d written, in order", len(r.b), r.err, len(want))
	}
}

func TestWriteHonoursDeadline(t *testing.T) {
	a, _ := tcpPair(t) // nobody reads the other end
	if err := a.SetWriteDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	data := pattern(64<<20, 2)
	raw := rawOf(t, a.(syscall.Conn)) // t.Fatal only on the test's goroutine
	done := make(chan result, 1)
	go func() {
		n, err := raw.Write(data)
		done <- result{n: n, err: err}
	}()
	r := await(t, done)
	if !errors.Is(r.err, os.ErrDeadlineExceeded) || r.n >= len(data) {
		t.Fatalf("Write to a peer that reads nothing = %d, %v; want a part, then os.ErrDeadlineExceeded", r.n, r.err)
	}
}

func TestWrapConn(t *testing.T) {
	a, b := tcpPair(t)
	wa := WrapConn(a)
	if _, ok := wa.(interface {
		WriteBuffers([][]byte) (int64, error)
	}); !ok {
		t.Fatalf("WrapConn(TCP conn) = %T; want a conn with raw WriteBuffers", wa)
	}
	got := readAsync(rawOf(t, b.(syscall.Conn)), 64)
	if _, err := wa.(interface {
		WriteBuffers([][]byte) (int64, error)
	}).WriteBuffers([][]byte{[]byte("ab"), nil, []byte("cd")}); err != nil {
		t.Fatal(err)
	}
	if r := await(t, got); string(r.b) != "abcd" {
		t.Fatalf("read %q through the wrapped conn; want abcd", r.b)
	}
	p1, p2 := net.Pipe() // no descriptor: left as it is
	defer p1.Close()
	defer p2.Close()
	if w := WrapConn(p1); w != p1 {
		t.Fatalf("WrapConn(net.Pipe) = %T; want the conn itself", w)
	}
}
