package sim_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/internal/testenv"
	"github.com/iot-kernel/iot-kernel/sim"
	"github.com/iot-kernel/iot-kernel/transport"
)

// benchBoard starts the board program with IOT_SIM=1 for a benchmark and
// returns its engine and its process id; the benchmark's cleanup stops the
// process.
func benchBoard(bm *testing.B) (*transport.Board, int) {
	bm.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.SkipOrFail(bm, "node not found: %v", err)
	}
	const rel = "@micropython/micropython-webassembly-pyscript/micropython.mjs"
	mod := filepath.Join(os.Getenv("IOT_NODE_MODULES"), filepath.FromSlash(rel))
	if os.Getenv("IOT_NODE_MODULES") == "" {
		mod = filepath.Join("..", "node_modules", filepath.FromSlash(rel))
	}
	if _, err := os.Stat(mod); err != nil {
		testenv.SkipOrFail(bm, "npm package missing: %v", err)
	}
	entry, err := sim.WriteProgram(bm.TempDir())
	if err != nil {
		bm.Fatal(err)
	}
	cmd := exec.Command(node, entry)
	cmd.Env = append(os.Environ(), "IOT_SIM=1", "IOT_MPY_MODULE="+mod)
	in, err := cmd.StdinPipe()
	if err != nil {
		bm.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		bm.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		bm.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	var once sync.Once
	dial := func(context.Context) (io.ReadWriteCloser, error) {
		var rwc io.ReadWriteCloser
		once.Do(func() { rwc = pipes{out, in} })
		if rwc == nil {
			return nil, errors.New("the board process is gone")
		}
		return rwc, nil
	}
	eng := transport.New("sim", dial, transport.Options{Timeout: opTimeout})
	bm.Cleanup(func() {
		_ = eng.Close()
		_ = in.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return eng, cmd.Process.Pid
}

// BenchmarkNetInterrupt measures the time from Ctrl-C to the end of an
// exec blocked in accept() (the contract: a KeyboardInterrupt within
// 100 ms). It reports ms per interrupt.
func BenchmarkNetInterrupt(bm *testing.B) {
	eng, _ := benchBoard(bm)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		bm.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	setup := fmt.Sprintf("import socket\ns = socket.socket()\ns.bind(('127.0.0.1', %d))\ns.listen(1)", port)
	if err := eng.Exec(ctx, setup, transport.ExecOptions{}); err != nil {
		bm.Fatal(err)
	}
	var total time.Duration
	bm.ResetTimer()
	for i := 0; i < bm.N; i++ {
		ectx, ecancel := context.WithCancel(context.Background())
		out := newWatch("ready")
		seen := out.seen
		errc := make(chan error, 1)
		go func() { errc <- eng.Exec(ectx, "print('ready')\ns.accept()", transport.ExecOptions{Stdout: out}) }()
		select {
		case <-seen:
		case err := <-errc:
			ecancel()
			bm.Fatalf("accept ended: %v", err)
		case <-time.After(opTimeout):
			ecancel()
			bm.Fatal("no ready")
		}
		// Let accept block in its wait before the Ctrl-C.
		time.Sleep(30 * time.Millisecond)
		t0 := time.Now()
		ecancel()
		var err error
		select {
		case err = <-errc:
		case <-time.After(opTimeout):
			bm.Fatal("Ctrl-C did not stop accept")
		}
		total += time.Since(t0)
		var be *transport.BoardError
		if !errors.As(err, &be) || !strings.Contains(be.Name, "KeyboardInterrupt") {
			bm.Fatalf("got %v, want KeyboardInterrupt", err)
		}
	}
	bm.ReportMetric(float64(total.Microseconds())/1000/float64(bm.N), "ms/interrupt")
}
