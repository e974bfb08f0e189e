package cells

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
	"github.com/iot-kernel/iot-kernel/testboard"
	"github.com/iot-kernel/iot-kernel/transport"
)

// rendezvous is a loopback server that holds every connection it accepts
// until want of them have sent a byte (so each board's connect has
// returned), then calls ready with them. Boards that run
// one after another would never all be connected at once: the first would
// wait for ever (here, until the test's bound).
func rendezvous(t *testing.T, want int, ready func([]net.Conn)) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.SetReadDeadline(time.Now().Add(time.Minute))
				if _, err := c.Read(make([]byte, 1)); err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				all := len(conns) == want
				mu.Unlock()
				if all {
					ready(conns)
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// %%connect runs the cell on all its boards at once: four virtual boards
// each wait for a server that answers only once all four are connected.
func TestSimCellConnectConcurrent(t *testing.T) {
	it, _, _ := simInterp(t)
	port := rendezvous(t, 4, func(cs []net.Conn) {
		for _, c := range cs {
			_, _ = c.Write([]byte("go\n"))
		}
	})
	code := fmt.Sprintf("%%%%connect sim:a sim:b sim:c sim:d\nimport socket\ns = socket.socket()\n"+
		"s.connect(('127.0.0.1', %d))\ns.send(b'!')\nfor i in range(3):\n    print('line', i)\nprint(s.recv(8))\ns.close()", port)
	out, _ := mustRunFor(t, it, code, time.Minute)
	got := sections(t, out)
	if len(got) != 4 {
		t.Fatalf("sections = %q", got)
	}
	for i, name := range []string{"a", "b", "c", "d"} {
		if want := "── sim:" + name + " ──  done\nline 0\nline 1\nline 2\nb'go\\n'\n"; got[i] != want {
			t.Errorf("section %d = %q, want %q", i, got[i], want)
		}
	}
}

// The stop button stops every board of a concurrent %%connect, and each
// board then runs the next cell.
func TestSimCellConnectInterrupt(t *testing.T) {
	it, _, _ := simInterp(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	port := rendezvous(t, 3, func([]net.Conn) { cancel(kernel.ErrInterrupted) })
	ctx, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	code := fmt.Sprintf("%%%%connect sim:a sim:b sim:c\nimport socket, time\ns = socket.socket()\n"+
		"s.connect(('127.0.0.1', %d))\nprint('waiting')\ns.send(b'!')\nwhile True:\n    time.sleep(0.05)", port)
	out := &kerneltest.Recorder{}
	_, err := it.Execute(ctx, kernel.ExecuteRequest{Code: code, ExecutionCount: 3}, out)
	var ee *kernel.ExecError
	if !errors.As(err, &ee) || ee.Name != "KeyboardInterrupt" {
		t.Fatalf("error = %v; want KeyboardInterrupt", err)
	}
	for i, s := range sections(t, out) {
		if !strings.Contains(s, "  failed\nwaiting\n") || !strings.Contains(s, "KeyboardInterrupt") {
			t.Errorf("section %d after the stop = %q", i, s)
		}
	}
	out, _ = mustRunFor(t, it, "%%connect sim:a sim:b sim:c\nprint('after')", time.Minute)
	if got := sections(t, out); len(got) != 3 || got[2] != "── sim:c ──  done\nafter\n" {
		t.Errorf("after the stop: %q", got)
	}
}

// A virtual board runs on after a %%connect cell, as a real board does when
// its link closes: the next %%connect cell, and a %connect, find its
// variables; %hardreset --pin restarts its process.
func TestSimCellConnectKeepsBoard(t *testing.T) {
	it, _, _ := simInterp(t)
	mustRunFor(t, it, "%%connect sim:a sim:b\nimport machine\nx = machine.unique_id()", time.Minute)
	out, _ := mustRunFor(t, it, "%%connect sim:a sim:b\nprint(x == machine.unique_id())", time.Minute)
	if got := sections(t, out); len(got) != 2 || got[0] != "── sim:a ──  done\nTrue\n" || got[1] != "── sim:b ──  done\nTrue\n" {
		t.Errorf("the second %%%%connect cell: %q", got)
	}
	mustRun(t, it, "%connect -q sim:a")
	if _, res := mustRun(t, it, "x == machine.unique_id()"); res.Data["text/plain"] != "True" {
		t.Errorf("x after %%connect sim:a: %v", res.Data)
	}
	mustRun(t, it, "%hardreset --pin sim:b")
	if ee, _ := execError(t, it, "x"); ee.Name != "NameError" {
		t.Errorf("x on sim:b after %%hardreset --pin: %+v; want NameError", ee)
	}
}

// mustRunFor is mustRun with a bound of its own.
func mustRunFor(t testing.TB, it *Interpreter, code string, bound time.Duration) (*kerneltest.Recorder, kernel.Result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	out := &kerneltest.Recorder{}
	res, err := it.Execute(ctx, kernel.ExecuteRequest{Code: code, ExecutionCount: 2}, out)
	if err != nil {
		t.Fatalf("cell %q: %v\nsections: %q", code, err, sections(t, out))
	}
	return out, res
}

// One board named two ways (a name and its address, or the current board
// by its address) is refused before anything runs: the body would run on it
// twice.
func TestSimCellConnectSameBoardTwice(t *testing.T) {
	it, cfg, _ := simInterp(t)
	if err := os.WriteFile(cfg.DevicesPath, []byte("esp: sim:twice\nmine: sim:cur\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, it, "%connect -q sim:cur\nn = 0")
	for _, code := range []string{"%%connect esp sim:twice\nn = 1", "%%connect sim:cur sim:a mine\nn += 1"} {
		out := &kerneltest.Recorder{}
		_, err := run(t, it, code, out)
		if err == nil || !strings.Contains(err.Error(), "are the same board") {
			t.Errorf("%q: err = %v; want the same board named twice", code, err)
		}
		if len(out.Displays()) != 0 {
			t.Errorf("%q ran: %v", code, out.Displays())
		}
	}
	if _, res := mustRun(t, it, "n"); res.Data["text/plain"] != "0" {
		t.Errorf("n on the current board = %v; want 0", res.Data)
	}
}

// %hardreset --pin TARGET inside %%connect cannot make TARGET the
// notebook's board: each board's section says why, and the current board
// stays current.
func TestSimCellConnectHardresetPinTarget(t *testing.T) {
	it, _, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim:cur\ncur = 1")
	out := &kerneltest.Recorder{}
	if _, err := run(t, it, "%%connect sim:a sim:b\n%hardreset --pin sim:c\nprint('ok')", out); err == nil {
		t.Errorf("%s inside %s succeeded", "%hardreset --pin TARGET", "%%connect")
	}
	for i, s := range sections(t, out) {
		if !strings.Contains(s, "failed") || !strings.Contains(s, "cannot connect another board inside %%connect") || strings.Contains(s, "ok") {
			t.Errorf("section %d = %q", i, s)
		}
	}
	if _, res := mustRun(t, it, "cur"); res.Data["text/plain"] != "1" {
		t.Errorf("cur after the cell = %v; want 1 (the current board changed)", res.Data)
	}
}

// After a restart, %disconnect makes the notebook forget its last board
// without opening it, even when that board is gone: the next start does not
// try it again.
func TestDisconnectAfterRestartForgetsAGoneBoard(t *testing.T) {
	b := startBoard(t, testboard.Wasm)
	it, cfg := newInterp(t)
	mustRun(t, it, "%connect -q "+b.Path())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := it.Shutdown(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil { // unplugged
		t.Fatal(err)
	}
	it = New(cfg) // the kernel restarts
	shutdownAtEnd(t, it)
	out, _ := mustRun(t, it, "%disconnect")
	if got := out.Stdout(); !strings.Contains(got, "will not reconnect "+b.Path()) {
		t.Errorf("%%disconnect after the restart said %q", got)
	}
	it = New(cfg) // and again
	shutdownAtEnd(t, it)
	_, err := run(t, it, "1+1", &kerneltest.Recorder{})
	if err == nil || strings.Contains(err.Error(), "last board") {
		t.Errorf("the next start's first cell: %v; want no board, and no try of the forgotten one", err)
	}
}

// A stop while the first cell after a restart reconnects the notebook's
// board ends that cell with KeyboardInterrupt, and the next cell tries the
// board again (the stop was not taken for the board's failure).
func TestStopDuringReattachTriesAgain(t *testing.T) {
	b := startBoard(t, testboard.Wasm)
	it, cfg := newInterp(t)
	mustRun(t, it, "%connect -q "+b.Path())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := it.Shutdown(ctx, true); err != nil {
		t.Fatal(err)
	}
	it = New(cfg) // the kernel restarts
	shutdownAtEnd(t, it)
	realOpen := it.sess.open
	var slow atomic.Bool
	slow.Store(true)
	opening := make(chan struct{}, 1)
	it.sess.open = func(ctx context.Context, url string, opts transport.Options) (*transport.Board, error) {
		if slow.Load() { // a board slow to answer as its link opens
			opening <- struct{}{}
			<-ctx.Done()
			return nil, context.Cause(ctx)
		}
		return realOpen(ctx, url, opts)
	}
	cctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	go func() {
		select {
		case <-opening:
			stop(kernel.ErrInterrupted)
		case <-cctx.Done():
		}
	}()
	_, err := it.Execute(cctx, kernel.ExecuteRequest{Code: "1", ExecutionCount: 1}, &kerneltest.Recorder{})
	var ee *kernel.ExecError
	if !errors.As(err, &ee) || ee.Name != "KeyboardInterrupt" {
		t.Errorf("the stopped cell: %v; want KeyboardInterrupt", err)
	}
	slow.Store(false)
	if _, res := mustRun(t, it, "6*7"); res.Data["text/plain"] != "42" {
		t.Errorf("the next cell: %v", res.Data)
	}
}
