package cells

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
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
