package inbox

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/internal/testenv"
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

// ReadTimeout gives up after its bound, and a zero bound takes only what
// is already here.
func TestReadTimeout(t *testing.T) {
	b := New()
	start := time.Now()
	if n, err := b.ReadTimeout(make([]byte, 8), 30*time.Millisecond); n != 0 || err != nil {
		t.Fatalf("ReadTimeout on an empty inbox = %d, %v; want 0, nil", n, err)
	}
	if waited := time.Since(start); waited < 30*time.Millisecond {
		t.Fatalf("ReadTimeout returned after %v, before its bound", waited)
	}
	if n, err := b.ReadTimeout(make([]byte, 8), 0); n != 0 || err != nil {
		t.Fatalf("polling an empty inbox = %d, %v", n, err)
	}
	b.Put([]byte("ok"))
	p := make([]byte, 8)
	if n, err := b.ReadTimeout(p, 0); string(p[:n]) != "ok" || err != nil {
		t.Fatalf("polling = %q, %v; want the queued bytes", p[:n], err)
	}
}

// Wake ends a wait in progress, and a Wake that comes first ends the next
// wait at once: the engine calls Wake when the user interrupts.
func TestWake(t *testing.T) {
	b := New()
	b.Wake()
	if n, err := b.ReadTimeout(make([]byte, 8), time.Minute); n != 0 || err != nil {
		t.Fatalf("ReadTimeout after Wake = %d, %v; want 0, nil at once", n, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := b.ReadTimeout(make([]byte, 8), time.Minute)
		done <- err
	}()
	// Wake only once the reader waits: a Wake before the wait would end
	// it too, and hide a Wake that cannot end a wait in progress.
	testenv.WaitBlocked(t, "inbox.(*Inbox).ReadTimeout", 5*time.Second)
	b.Wake()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wake did not end the wait")
	}
	// A plain Read is not ended by Wake: it waits for bytes.
	b.Wake()
	go b.Put([]byte("x"))
	if n, err := b.Read(make([]byte, 8)); n != 1 || err != nil {
		t.Fatalf("Read after Wake = %d, %v; want the byte", n, err)
	}
}

// PutNow never waits, even on a full inbox: the reader itself hands bytes
// back with it.
func TestPutNowDoesNotWait(t *testing.T) {
	b := New()
	b.Put(make([]byte, Max))
	accepted := make(chan bool, 1)
	go func() { accepted <- b.PutNow([]byte("back")) }()
	select {
	case ok := <-accepted:
		if !ok {
			t.Fatal("PutNow refused bytes")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("PutNow waited for room")
	}
	got, err := io.ReadAll(io.LimitReader(readerFunc(b.Read), Max+4))
	if err != nil || len(got) != Max+4 || string(got[Max:]) != "back" {
		t.Fatalf("read %d bytes ending %q, %v", len(got), got[max(0, len(got)-4):], err)
	}
	b.Fail(io.EOF)
	if b.PutNow([]byte("x")) {
		t.Error("PutNow after Fail accepted bytes")
	}
}
