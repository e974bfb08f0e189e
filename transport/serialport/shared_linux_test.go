package serialport

import (
	"context"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Another reader of the same device (a second link to the board) takes
// the bytes that woke a read: the read still ends by its bound, and so
// does Close, instead of waiting in read(2) for good.
func TestReadBoundedWhileAnotherReaderTakesTheBytes(t *testing.T) {
	master, path := openPTY(t)
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	rw, err := Dial(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := rw.(*conn)
	if c.fd < 0 {
		t.Fatal("the port's descriptor was not found")
	}
	fl, err := unix.FcntlInt(uintptr(c.fd), unix.F_GETFL, 0)
	if err != nil || fl&unix.O_NONBLOCK == 0 {
		t.Fatalf("the port's descriptor blocks (flags %#x, %v)", fl, err)
	}

	// The other reader, blocking, as a second link's reader would be.
	other, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	otherDone := make(chan struct{})
	go func() {
		defer close(otherDone)
		buf := make([]byte, 1)
		for {
			if _, err := other.Read(buf); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 16)
	for i := 0; i < 200; i++ {
		if _, err := master.Write([]byte{'x'}); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := c.ReadTimeout(buf, 20*time.Millisecond)
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("read %d: %v", i, err)
			}
		case <-time.After(bound):
			t.Fatalf("read %d did not end by its bound", i)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- rw.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(bound):
		t.Fatal("Close did not return")
	}
	master.Close()
	other.Close()
	<-otherDone
}
