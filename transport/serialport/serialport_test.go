package serialport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/iot-kernel/iot-kernel/internal/testenv"
)

// bound is the most any single wait in these tests may take.
const bound = 5 * time.Second

// openPTY returns the master of a new pty and the path of its slave. The
// test keeps its own slave descriptor open, like the test boards do.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		testenv.SkipOrFail(t, "no pty: %v", err)
	}
	t.Cleanup(func() { master.Close(); slave.Close() })
	return master, slave.Name()
}

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func dialPTY(t *testing.T, target string) io.ReadWriteCloser {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	rw, err := Dial(ctx, target, Options{})
	if err != nil {
		t.Fatalf("Dial(%q): %v", target, err)
	}
	t.Cleanup(func() { rw.Close() })
	return rw
}

// Every byte value, control characters included, crosses the link
// unchanged in both directions: the raw REPL relies on \x01-\x05.
func TestPTYBytesBothWays(t *testing.T) {
	master, path := openPTY(t)
	rw := dialPTY(t, "serial://"+path+"?baud=9600")

	want := allBytes()
	if _, err := master.Write(want); err != nil {
		t.Fatal(err)
	}
	if got := testenv.ReadFull(t, rw, len(want), bound); !bytes.Equal(got, want) {
		t.Fatalf("board->host bytes changed:\n got %x\nwant %x", got, want)
	}

	if n, err := rw.Write(want); err != nil || n != len(want) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if got := testenv.ReadFull(t, master, len(want), bound); !bytes.Equal(got, want) {
		t.Fatalf("host->board bytes changed:\n got %x\nwant %x", got, want)
	}
}

// When the board side goes away (the pty master closes, as when a USB
// board is unplugged) Read fails instead of waiting forever.
func TestPTYMasterClosedFailsRead(t *testing.T) {
	master, path := openPTY(t)
	rw := dialPTY(t, path)

	if _, err := master.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if got := testenv.ReadFull(t, rw, 2, bound); string(got) != "hi" {
		t.Fatalf("got %q", got)
	}
	master.Close()
	data, err := testenv.ReadErr(t, rw, bound)()
	if len(data) > 0 {
		t.Errorf("read %q after the master closed, want nothing", data)
	}
	t.Logf("Read after the master closed: %v", err)
	if errors.Is(err, os.ErrClosed) {
		t.Fatalf("a lost device must not look like our own Close: %v", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the port", err)
	}
}

// A poll (ReadTimeout with no wait, as the engine's check of the link
// before each operation) also sees a device that went away, and does not
// take the hang-up for "nothing yet".
func TestPTYMasterClosedFailsPoll(t *testing.T) {
	master, path := openPTY(t)
	rw := dialPTY(t, path).(timedReader)
	p := make([]byte, 16)
	if n, err := rw.ReadTimeout(p, 0); n != 0 || err != nil {
		t.Fatalf("a poll with nothing sent = %d, %v", n, err)
	}
	master.Close()
	n, err := rw.ReadTimeout(p, 0)
	if n != 0 || err == nil || errors.Is(err, os.ErrClosed) || !strings.Contains(err.Error(), path) {
		t.Fatalf("a poll after the master closed = %d, %v; want an error naming the lost device", n, err)
	}
}

// Close unblocks a Read that is waiting for the board.
func TestCloseUnblocksRead(t *testing.T) {
	_, path := openPTY(t)
	rw := dialPTY(t, path)

	wait := testenv.ReadErr(t, rw, bound)
	if err := rw.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if data, err := wait(); len(data) > 0 || !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Read after Close = %q, %v; want nothing and os.ErrClosed", data, err)
	}
	if _, err := rw.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Write after Close = %v, want os.ErrClosed", err)
	}
	if err := rw.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// A hard reset needs modem lines; on a pty it fails with a clear error
// instead of pretending the board was reset.
func TestHardResetOnPTYFails(t *testing.T) {
	_, path := openPTY(t)
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	rw, err := Dial(ctx, path, Options{HardReset: true})
	if err == nil {
		rw.Close()
		t.Fatal("hard reset of a pty succeeded")
	}
	t.Logf("hard reset of a pty: %v", err)
	if !strings.Contains(err.Error(), "DTR/RTS") || !strings.Contains(err.Error(), path) {
		t.Fatalf("unclear error: %v", err)
	}
	// The port was released: it opens again.
	dialPTY(t, path).Close()
}

func TestDialMissingPort(t *testing.T) {
	_, err := Dial(context.Background(), "/dev/does-not-exist-ttyUSB9", Options{})
	if err == nil || !strings.Contains(err.Error(), "/dev/does-not-exist-ttyUSB9") {
		t.Fatalf("err = %v, want an error naming the port", err)
	}
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in       string
		path     string
		baud     int
		wantsErr bool
	}{
		{in: "/dev/ttyUSB0", path: "/dev/ttyUSB0"},
		{in: "COM3", path: "COM3"},
		{in: "auto", path: "auto"},
		{in: "serial:///dev/ttyUSB0", path: "/dev/ttyUSB0"},
		{in: "serial:///dev/ttyUSB0?baud=9600", path: "/dev/ttyUSB0", baud: 9600},
		{in: "serial://COM3", path: "COM3"},
		{in: "serial://auto", path: "auto"},
		{in: "serial://dev/ttyUSB0", wantsErr: true},
		{in: "serial:///dev/ttyUSB0?baud=fast", wantsErr: true},
		{in: "serial:///dev/ttyUSB0?baud=-1", wantsErr: true},
		{in: "serial://", wantsErr: true},
		{in: "", wantsErr: true},
	}
	for _, tt := range tests {
		path, baud, err := parseTarget(tt.in)
		if (err != nil) != tt.wantsErr {
			t.Errorf("parseTarget(%q) error = %v, want error: %v", tt.in, err, tt.wantsErr)
			continue
		}
		if path != tt.path || baud != tt.baud {
			t.Errorf("parseTarget(%q) = %q, %d; want %q, %d", tt.in, path, baud, tt.path, tt.baud)
		}
	}
}

// timedReader is what the engine uses to read the port (transport's
// TimedReader, which this package cannot import).
type timedReader interface {
	ReadTimeout(p []byte, d time.Duration) (int, error)
	Wake()
}

// ReadTimeout gives up after its bound, a zero bound only takes what is
// here, and bytes already received come before a pending Wake: the engine
// drops stray bytes with such polls at the start of each operation.
func TestReadTimeoutAndWake(t *testing.T) {
	master, slave, err := pty.Open()
	if err != nil {
		testenv.SkipOrFail(t, "no pty: %v", err)
	}
	t.Cleanup(func() { master.Close(); slave.Close() })
	rw := dialPTY(t, slave.Name()).(timedReader)
	p := make([]byte, 64)

	start := time.Now()
	if n, err := rw.ReadTimeout(p, 60*time.Millisecond); n != 0 || err != nil {
		t.Fatalf("ReadTimeout with nothing sent = %d, %v; want 0, nil", n, err)
	}
	if waited := time.Since(start); waited < 60*time.Millisecond || waited > bound {
		t.Fatalf("ReadTimeout returned after %v; want its bound of 60ms", waited)
	}
	if n, err := rw.ReadTimeout(p, 0); n != 0 || err != nil {
		t.Fatalf("a poll with nothing sent = %d, %v", n, err)
	}

	if _, err := master.Write([]byte("stray")); err != nil {
		t.Fatal(err)
	}
	waitQueued(t, slave, 5)
	rw.Wake()
	if n, err := rw.ReadTimeout(p, 0); string(p[:n]) != "stray" || err != nil {
		t.Fatalf("with a Wake pending, a poll gave %q, %v; want the bytes already here", p[:n], err)
	}
	// The Wake was answered by that return: the next wait runs until
	// bytes come.
	go func() { _, _ = master.Write([]byte("late")) }()
	if n, err := rw.ReadTimeout(p, bound); string(p[:n]) != "late" || err != nil {
		t.Fatalf("ReadTimeout = %q, %v; want the late bytes", p[:n], err)
	}

	// A Wake from another goroutine ends a long wait.
	done := make(chan error, 1)
	go func() {
		n, err := rw.ReadTimeout(p, time.Minute)
		if n != 0 {
			err = errors.New("read bytes nobody sent")
		}
		done <- err
	}()
	// Only once the read waits: an earlier Wake would end it as well.
	testenv.WaitBlocked(t, "serialport.(*conn).read", bound)
	rw.Wake()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(bound):
		t.Fatal("Wake did not end ReadTimeout")
	}
}

// waitQueued waits until the tty's input queue holds n bytes: a pty hands
// written bytes to the reading side asynchronously.
func waitQueued(t *testing.T, tty *os.File, n int) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		q, err := unix.IoctlGetInt(int(tty.Fd()), unix.TIOCINQ)
		if err != nil {
			testenv.SkipOrFail(t, "cannot see the pty's input queue (TIOCINQ): %v", err)
		}
		if q >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d bytes reached the pty within %v", q, n, bound)
		}
		runtime.Gosched()
	}
}
