package serialport

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/iot-kernel/iot-kernel/internal/testenv"
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

// A wait parks in Go's poller, and bytes end it; when another program sets
// the device's VMIN to 0 (pyserial's open does), read(2) answers 0 bytes
// at once instead of waiting: a wait then still waits for its bound or
// its bytes, through the library's select, and is not taken for a hang-up.
func TestReadWaitsWhenAnotherProgramSetsVMINZero(t *testing.T) {
	master, path := openPTY(t)
	rw := dialPTY(t, path)
	c := rw.(*conn)
	if c.pf == nil {
		t.Fatal("the port's descriptor is not in the poller")
	}
	p := make([]byte, 16)
	got := func(want string) {
		t.Helper()
		done := make(chan string, 1)
		go func() {
			n, err := c.ReadTimeout(p, bound)
			if err != nil {
				done <- "error: " + err.Error()
				return
			}
			done <- string(p[:n])
		}()
		testenv.WaitBlocked(t, "serialport.(*conn).read", bound)
		if _, err := master.Write([]byte(want)); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-done:
			if s != want {
				t.Fatalf("ReadTimeout = %q, want %q", s, want)
			}
		case <-time.After(2 * bound):
			t.Fatal("ReadTimeout did not return")
		}
	}
	got("a")

	other, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tio, err := unix.IoctlGetTermios(int(other.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Cc[unix.VMIN], tio.Cc[unix.VTIME] = 0, 0
	if err := unix.IoctlSetTermios(int(other.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if n, err := c.ReadTimeout(p, 60*time.Millisecond); n != 0 || err != nil {
		t.Fatalf("ReadTimeout with nothing sent = %d, %v; want 0, nil", n, err)
	}
	if waited := time.Since(start); waited < 60*time.Millisecond {
		t.Fatalf("ReadTimeout returned after %v, before its bound of 60ms", waited)
	}
	if !c.noPoll.Load() {
		t.Fatal("the poller's 0-byte read was not noticed")
	}
	got("b")
}

// A wait in the poller ends at once on Wake and on Close, not at the end
// of its slice (pollInterval), and Close leaves no descriptor of the
// device open: the duplicate goes with the port.
func TestWakeAndCloseEndAPollerWaitAtOnce(t *testing.T) {
	_, path := openPTY(t)
	before := len(devFDs(path))
	rw := dialPTY(t, path)
	c := rw.(*conn)
	if c.pf == nil {
		t.Fatal("the port's descriptor is not in the poller")
	}
	soon := pollInterval * 4 / 5 // the slice would end the wait anyway
	ended := func(what string, read func() error, end func()) {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- read() }()
		testenv.WaitBlocked(t, "serialport.(*conn).read", bound)
		start := time.Now()
		end()
		select {
		case err := <-done:
			if took := time.Since(start); took >= soon {
				t.Fatalf("%s ended the wait after %v, not at once", what, took)
			}
			if what == "Close" && !errors.Is(err, os.ErrClosed) {
				t.Fatalf("a read ended by Close = %v, want os.ErrClosed", err)
			}
			if what == "Wake" && err != nil {
				t.Fatalf("a read ended by Wake = %v", err)
			}
		case <-time.After(bound):
			t.Fatalf("%s did not end the wait", what)
		}
	}
	p := make([]byte, 16)
	ended("Wake", func() error { _, err := c.ReadTimeout(p, time.Minute); return err }, c.Wake)
	ended("Close", func() error { _, err := c.Read(p); return err }, func() { _ = c.Close() })
	if after := len(devFDs(path)); after != before {
		t.Fatalf("%d descriptors of the device open after Close, %d before Dial", after, before)
	}
	if _, err := c.ReadTimeout(p, 0); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("a poll after Close = %v, want os.ErrClosed", err)
	}
}

// A program the kernel starts (a %%host cell's, a !command's) does not
// inherit the board's port: it could take the board's bytes, and it
// would hold the device open after the kernel lets it go.
func TestChildProcessesDoNotInheritThePort(t *testing.T) {
	_, path := openPTY(t)
	dialPTY(t, "serial://"+path)
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sh", "-c", `for f in /proc/$$/fd/*; do readlink "$f"; done; true`).Output()
	if err != nil {
		t.Fatalf("listing a child's descriptors: %v", err)
	}
	for _, target := range strings.Fields(string(out)) {
		if target == path {
			t.Fatalf("a child process has %s open; its descriptors: %s", path, strings.Join(strings.Fields(string(out)), " "))
		}
	}
}

// A program started while the port is being opened does not inherit it
// either: the library opens it without O_CLOEXEC, and the open and the
// close-on-exec that follows must not let a fork in between.
func TestChildStartedDuringOpenDoesNotInheritThePort(t *testing.T) {
	_, path := openPTY(t)
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	leaked := make(chan string, 1)
	var children atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			out, err := exec.CommandContext(ctx, "sh", "-c", `for f in /proc/$$/fd/*; do readlink "$f"; done; true`).Output()
			if err != nil {
				return // ctx ended: the opens below fail the test
			}
			children.Add(1)
			for _, target := range strings.Fields(string(out)) {
				if target == path {
					select {
					case leaked <- strings.Join(strings.Fields(string(out)), " "):
					default:
					}
				}
			}
		}
	}()
	// Opens are far quicker than starting a program: go on until enough
	// programs have started among them.
	opens := 0
	for ; (opens < 200 || children.Load() < 20) && ctx.Err() == nil; opens++ {
		rw, err := Dial(ctx, "serial://"+path, Options{})
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("Dial %d: %v", opens, err)
		}
		rw.Close()
	}
	close(stop)
	wg.Wait()
	select {
	case fds := <-leaked:
		t.Fatalf("a child started during an open has %s open; its descriptors: %s", path, fds)
	default:
	}
	if ctx.Err() != nil {
		t.Fatalf("%d opens and %d programs started did not finish within %v", opens, children.Load(), bound)
	}
	t.Logf("%d programs started during %d opens", children.Load(), opens)
}
