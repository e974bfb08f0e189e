package inbox

import (
	"errors"
	"io"
	"testing"
	"time"
)

func TestBytesBeforeError(t *testing.T) {
	b := New()
	b.Put([]byte("hello "))
	b.Put([]byte("board"))
	b.Fail(io.EOF)
	b.Fail(errors.New("later errors lose"))
	got, err := io.ReadAll(readerFunc(b.Read))
	if string(got) != "hello board" || err != nil {
		t.Fatalf("read %q, %v; want the bytes, then a clean EOF", got, err)
	}
	if b.Put([]byte("x")) {
		t.Error("Put after Fail accepted bytes")
	}
}

func TestShutDropsUnread(t *testing.T) {
	b := New()
	b.Put([]byte("unread"))
	closed := errors.New("closed")
	b.Shut(closed)
	if n, err := b.Read(make([]byte, 8)); n != 0 || err != closed {
		t.Fatalf("Read after Shut = %d, %v; want 0, closed", n, err)
	}
}

// A full inbox holds the socket reader back until Read makes room.
func TestFullInboxBlocksPut(t *testing.T) {
	b := New()
	b.Put(make([]byte, Max))
	done := make(chan bool)
	go func() { done <- b.Put([]byte("more")) }()
	select {
	case <-done:
		t.Fatal("Put into a full inbox did not wait")
	case <-time.After(50 * time.Millisecond): // it is waiting, as it should
	}
	if _, err := b.Read(make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("Put failed after room was made")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Put still blocked after Read made room")
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// An empty read returns at once, even with nothing queued.
func TestEmptyReadDoesNotBlock(t *testing.T) {
	if n, err := New().Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v", n, err)
	}
}
