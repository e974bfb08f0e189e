package testboard

import (
	"io"
	"os"
	"testing"
	"time"
)

// A starved emulator (one that stops reading its stdin for a while) never
// has more than one burst waiting for it: the writer sends the next burst
// only once the last one was read, as a UART that has room takes it.
func TestPacedWriterWaitsForTheReader(t *testing.T) {
	for _, baud := range []int{0, UARTBaud} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		pw := newPacedWriter(w, baud, func() (int, error) { return pipeUnread(w) }, stop)
		const total = 300
		done := make(chan error, 1)
		go func() {
			_, err := pw.Write(make([]byte, total))
			done <- err
		}()
		limit := unpacedBurst
		if baud > 0 {
			limit = max(1, baud/10/1000)
		}
		got := 0
		buf := make([]byte, 1)
		deadline := time.Now().Add(30 * time.Second)
		for stalls := 0; got < total; {
			if time.Now().After(deadline) {
				t.Fatalf("baud %d: only %d of %d bytes arrived", baud, got, total)
			}
			if stalls < 3 && got%100 == 1 {
				// The emulator is descheduled: whatever the writer does
				// meanwhile must stay within one burst.
				time.Sleep(20 * time.Millisecond)
				stalls++
			}
			n, err := pipeUnread(w)
			if err != nil {
				t.Fatal(err)
			}
			if n > limit {
				t.Fatalf("baud %d: %d bytes waiting for the reader, want at most one burst (%d)", baud, n, limit)
			}
			m, err := io.ReadFull(r, buf)
			if err != nil {
				t.Fatal(err)
			}
			got += m
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("write did not return")
		}
		close(stop)
		r.Close()
		w.Close()
	}
}

// The line rate still holds while the reader keeps up: 115 bytes at 115200
// baud take at least about 10 ms.
func TestPacedWriterKeepsTheLineRate(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	go func() { _, _ = io.Copy(io.Discard, r) }()
	pw := newPacedWriter(w, UARTBaud, func() (int, error) { return pipeUnread(w) }, make(chan struct{}))
	start := time.Now()
	if _, err := pw.Write(make([]byte, 115)); err != nil {
		t.Fatal(err)
	}
	// A lower bound only: a loaded machine makes it slower, never faster.
	if d := time.Since(start); d < 9*time.Millisecond {
		t.Fatalf("115 bytes took %v, faster than 115200 baud allows", d)
	}
}
