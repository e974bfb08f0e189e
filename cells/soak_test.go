package cells

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
	"github.com/iot-kernel/iot-kernel/testboard"
)

// The soak: many cells on a board, with faults thrown in at random
// between them (soft resets from the kernel and from the board's code,
// machine.reset() on the virtual board, the wasm test board's pty closed
// and reopened, between cells and in the middle of one). Every cell must
// either complete with its full output or end with a clear error; the cell
// after a fault must work; and the kernel's goroutines and heap must be as
// they were once the run is over.
//
// IOT_TEST_SOAK=N runs N cells on each board (make test-soak: 10,000, in
// about a minute); without it the run is short. IOT_TEST_SOAK_SEED replays a run's faults.

// soakShort is the number of cells a plain go test runs on each board.
const soakShort = 200

func soakCount(t *testing.T) int {
	s := os.Getenv("IOT_TEST_SOAK")
	if s == "" {
		return soakShort
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 2 {
		t.Fatalf("IOT_TEST_SOAK=%q: want a number of cells", s)
	}
	return n
}

func soakRand(t *testing.T, name string) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("IOT_TEST_SOAK_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("IOT_TEST_SOAK_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("soak %s: seed %d (IOT_TEST_SOAK_SEED replays it)", name, seed)
	return rand.New(rand.NewPCG(seed, 0))
}

// soakCell is one cell and what it must give when it completes.
type soakCell struct {
	code   string
	stdout string // the full output
	result string // text/plain of its value; "" for none
	errIs  string // the exception it must raise, if any
}

// ordinary cells, parameterised by the cell's number.
func ordinaryCell(r *rand.Rand, i int) soakCell {
	switch r.IntN(7) {
	case 0:
		return soakCell{code: fmt.Sprintf("%d * 3", i), result: strconv.Itoa(i * 3)}
	case 1:
		return soakCell{code: fmt.Sprintf("for k in range(3):\n    print(%d, k, 'é€')", i),
			stdout: fmt.Sprintf("%d 0 é€\n%d 1 é€\n%d 2 é€\n", i, i, i)}
	case 2:
		return soakCell{code: fmt.Sprintf("print(%d)\n1/0", i), stdout: fmt.Sprintf("%d\n", i), errIs: "ZeroDivisionError"}
	case 3:
		n := 200 + r.IntN(1800)
		return soakCell{code: fmt.Sprintf("print('x' * %d)", n), stdout: strings.Repeat("x", n) + "\n"}
	case 4:
		return soakCell{code: fmt.Sprintf("soak_v = %d\nsoak_v + 1", i), result: strconv.Itoa(i + 1)}
	default:
		return soakCell{code: fmt.Sprintf("print(%d)", i), stdout: fmt.Sprintf("%d\n", i)}
	}
}

// soakRun runs one cell with a bound and checks it. strict: it must
// complete as c says; otherwise a clear error is also fine. It returns the
// error the cell ended with.
func soakRun(t *testing.T, it *Interpreter, i int, c soakCell, strict bool, out *kerneltest.Recorder) error {
	t.Helper()
	if out == nil {
		out = &kerneltest.Recorder{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := it.Execute(ctx, kernel.ExecuteRequest{Code: c.code, ExecutionCount: i}, out)
	if ctx.Err() != nil {
		t.Fatalf("cell %d %q: no end within 60 s (%v); stdout %q", i, c.code, err, out.Stdout())
	}
	var ee *kernel.ExecError
	got := ""
	if res.Data != nil {
		got = fmt.Sprint(res.Data["text/plain"])
	}
	completed := out.Stdout() == c.stdout && got == c.result &&
		(c.errIs == "" && err == nil || c.errIs != "" && errors.As(err, &ee) && ee.Name == c.errIs)
	if completed {
		return err
	}
	if strict {
		t.Fatalf("cell %d %q: stdout %q result %q error %v; want stdout %q result %q error %q",
			i, c.code, out.Stdout(), got, err, c.stdout, c.result, c.errIs)
	}
	// Not completed: it must say why, plainly, without the kernel's own
	// names on the board.
	if !errors.As(err, &ee) || ee.Name == "" || ee.Value == "" || strings.Contains(ee.Value, "__iot") ||
		strings.Contains(strings.Join(ee.Traceback, "\n"), "__iot") {
		t.Fatalf("cell %d %q: neither complete nor a clear error: stdout %q result %q error %#v", i, c.code, out.Stdout(), got, err)
	}
	return err
}

// soakMeter records the goroutines and heap once the run is warm, and
// checks at the end that they are back where they were.
type soakMeter struct {
	goroutines int
	heap       uint64
}

func heapNow() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func (m *soakMeter) start() {
	m.goroutines, m.heap = runtime.NumGoroutine(), heapNow()
}

// Leaks this size or more fail the soak: a goroutine a cell, or a few
// hundred bytes a cell, over thousands of cells.
const (
	soakGoroutineSlack = 8
	soakHeapSlack      = 4 << 20
)

func (m *soakMeter) check(t *testing.T, name string, cells int) {
	t.Helper()
	// Goroutines of a closed link or of a board process that restarted
	// end on their own, shortly: wait for them, bounded.
	g := runtime.NumGoroutine()
	for end := time.Now().Add(10 * time.Second); g > m.goroutines+soakGoroutineSlack && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
		g = runtime.NumGoroutine()
	}
	h := heapNow()
	t.Logf("soak %s: %d cells; goroutines %d -> %d; heap %.2f -> %.2f MB", name, cells, m.goroutines, g, float64(m.heap)/1e6, float64(h)/1e6)
	if g > m.goroutines+soakGoroutineSlack {
		buf := make([]byte, 1<<20)
		t.Errorf("soak %s: goroutines grew from %d to %d:\n%s", name, m.goroutines, g, buf[:runtime.Stack(buf, true)])
	}
	if h > m.heap+soakHeapSlack {
		t.Errorf("soak %s: heap grew from %.2f MB to %.2f MB over %d cells", name, float64(m.heap)/1e6, float64(h)/1e6, cells)
	}
}

// soakFaultEvery is the mean number of cells between two faults.
const soakFaultEvery = 100

func TestSoak(t *testing.T) {
	n := soakCount(t)
	t.Run("sim", func(t *testing.T) { soakSim(t, n) })
	t.Run("wasm", func(t *testing.T) { soakWasm(t, n) })
}

// warmup is how many cells run before the meter starts: the first ones
// load what every later one reuses.
const warmup = 50

// soakSim runs n cells on the virtual board, with soft resets (the
// kernel's %softreset, machine.soft_reset() and SystemExit in the cell)
// and machine.reset(), which restarts the board's process.
func soakSim(t *testing.T, n int) {
	it, _, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim:soak")
	r := soakRand(t, "sim")
	faults := []struct {
		name string
		cell soakCell
	}{
		{"%softreset", soakCell{code: "%softreset -q"}},
		{"machine.soft_reset()", soakCell{code: "import machine\nprint('before')\nif True:\n    machine.soft_reset()", stdout: "before\n"}},
		{"SystemExit", soakCell{code: "print('bye')\nraise SystemExit", stdout: "bye\n"}},
		{"machine.reset()", soakCell{code: "import machine\nprint('reset')\nif True:\n    machine.reset()", stdout: "reset\n"}},
	}
	var m soakMeter
	counts := map[string]int{}
	for i := 1; i <= n; i++ {
		if m.heap == 0 && i >= warmup {
			m.start()
		}
		if i > 1 && r.IntN(soakFaultEvery) == 0 {
			f := faults[r.IntN(len(faults))]
			counts[f.name]++
			soakRun(t, it, i, f.cell, false, nil)
			i++
			// the cell after a fault works
			soakRun(t, it, i, soakCell{code: fmt.Sprintf("print(%d)", i), stdout: fmt.Sprintf("%d\n", i)}, true, nil)
			continue
		}
		soakRun(t, it, i, ordinaryCell(r, i), true, nil)
	}
	t.Logf("soak sim: faults %v", counts)
	m.check(t, "sim", n)
}

// soakWasm runs n cells on the wasm test board, whose pty is closed and
// reopened (Kill, Restart) between cells and in the middle of one, with
// soft resets.
func soakWasm(t *testing.T, n int) {
	it, b := connected(t, testboard.Wasm)
	r := soakRand(t, "wasm")
	restart := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := b.Restart(ctx); err != nil {
			t.Fatalf("restart the test board: %v", err)
		}
	}
	var m soakMeter
	counts := map[string]int{}
	for i := 1; i <= n; i++ {
		if m.heap == 0 && i >= warmup {
			m.start()
		}
		if i > 1 && r.IntN(soakFaultEvery) == 0 {
			switch r.IntN(3) {
			case 0: // the link drops between two cells
				counts["drop between cells"]++
				if err := b.Kill(); err != nil {
					t.Fatalf("kill the test board: %v", err)
				}
				restart()
			case 1: // the link drops while a cell runs
				counts["drop mid-cell"]++
				var once sync.Once
				killed := make(chan error, 1)
				out := &kerneltest.Recorder{}
				out.SetOnStream(func(string, string) {
					// All the output so far: the board's may come in pieces.
					if strings.Contains(out.Stdout(), "started") {
						once.Do(func() { go func() { killed <- b.Kill() }() })
					}
				})
				c := soakCell{code: "import time\nprint('started')\ntime.sleep(3)\nprint('done')", stdout: "started\ndone\n"}
				soakRun(t, it, i, c, false, out)
				select {
				case err := <-killed:
					if err != nil {
						t.Fatalf("kill the test board: %v", err)
					}
				case <-time.After(30 * time.Second):
					t.Fatal("the test board's Kill did not return within 30 s")
				}
				restart()
				i++
			default:
				counts["%softreset"]++
				soakRun(t, it, i, soakCell{code: "%softreset -q"}, false, nil)
				i++
			}
			soakRun(t, it, i, soakCell{code: fmt.Sprintf("print(%d)", i), stdout: fmt.Sprintf("%d\n", i)}, true, nil)
			continue
		}
		soakRun(t, it, i, ordinaryCell(r, i), true, nil)
	}
	t.Logf("soak wasm: faults %v", counts)
	m.check(t, "wasm", n)
}
