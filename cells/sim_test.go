package cells

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/internal/testenv"
	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
	"github.com/iot-kernel/iot-kernel/sim"
)

// needSim skips (or fails, under IOT_TEST_REQUIRE_ALL=1) a test of the
// virtual board when node or its runtime is missing.
func needSim(t *testing.T) {
	t.Helper()
	if _, err := sim.FindRuntime(context.Background()); err != nil {
		testenv.SkipOrFail(t, "virtual board: %v", err)
	}
}

// simInterp is an interpreter whose virtual boards live in the test's
// directory, which it returns.
func simInterp(t *testing.T) (*Interpreter, Config, string) {
	t.Helper()
	needSim(t)
	it, cfg := newInterp(t)
	return it, cfg, os.Getenv(sim.EnvHome)
}

func TestSimConnect(t *testing.T) {
	it, _, home := simInterp(t)
	out, _ := mustRun(t, it, "%connect sim")
	if got := out.Stdout(); got != "Connected to sim @ sim\n" {
		t.Errorf("%%connect sim said %q", got)
	}
	_, res := mustRun(t, it, "x = 6 * 7\nwith open('kept.txt', 'w') as f:\n    f.write('kept')\nx")
	if res.Data["text/plain"] != "42" {
		t.Errorf("x = %v", res.Data)
	}
	// the board's files are in its folder on the host
	if data, err := os.ReadFile(filepath.Join(home, "sim", "kept.txt")); err != nil || string(data) != "kept" {
		t.Errorf("host copy of kept.txt: %q, %v", data, err)
	}

	// another virtual board has its own variables and files
	out, _ = mustRun(t, it, "%connect sim:b")
	if got := out.Stdout(); got != "Connected to b @ sim:b\n" {
		t.Errorf("%%connect sim:b said %q", got)
	}
	if ee, _ := execError(t, it, "x"); ee.Name != "NameError" {
		t.Errorf("x on sim:b: %+v; want NameError", ee)
	}
	if _, res := mustRun(t, it, "import os\n'kept.txt' in os.listdir()"); res.Data["text/plain"] != "False" {
		t.Errorf("sim:b sees sim's file: %v", res.Data)
	}

	// Back on sim, which ran on while sim:b was current, as a real board
	// does when its link closes: its variables and its server are there.
	mustRun(t, it, "y = 2")
	mustRun(t, it, "%connect -q sim")
	if _, res := mustRun(t, it, "(open('kept.txt').read(), x)"); res.Data["text/plain"] != "('kept', 42)" {
		t.Errorf("sim after sim:b was current: %v, want its file and x", res.Data)
	}
	mustRun(t, it, "%connect -q sim:b")
	if _, res := mustRun(t, it, "y"); res.Data["text/plain"] != "2" {
		t.Errorf("y on sim:b after switching back: %v", res.Data)
	}
	// %disconnect stops a virtual board (another kernel may then have
	// it), and says so.
	out, _ = mustRun(t, it, "%disconnect")
	if out.Stdout() != "Disconnected from b: the virtual board stopped (its variables are gone, its files kept)\n" {
		t.Errorf("%%disconnect said %q", out.Stdout())
	}
	mustRun(t, it, "%connect -q sim:b")
	if ee, _ := execError(t, it, "y"); ee.Name != "NameError" {
		t.Errorf("y after %%disconnect: %+v, want NameError", ee)
	}
}

// restarted shuts it down as a kernel restart does and returns the
// interpreter of the kernel started in its place.
func restarted(t *testing.T, it *Interpreter, cfg Config) *Interpreter {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := it.Shutdown(ctx, true); err != nil {
		t.Fatal(err)
	}
	it2 := New(cfg)
	shutdownAtEnd(t, it2)
	return it2
}

// A virtual board's files survive the kernel; the restarted kernel's
// first cell reconnects it and says so as %connect does.
func TestSimKernelRestart(t *testing.T) {
	it, cfg, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim:r\nwith open('/boot_count', 'w') as f:\n    f.write('1')\nsurvivor = 1")
	it2 := restarted(t, it, cfg)
	out, res := mustRun(t, it2, "open('/boot_count').read()")
	if out.Stdout() != "Connected to r @ sim:r\n" || res.Data["text/plain"] != "'1'" {
		t.Errorf("after restart: stdout %q, result %v", out.Stdout(), res.Data)
	}
	if !strings.Contains(out.Stderr(), "its variables are gone, its files are kept") {
		t.Errorf("after restart the user is not told the virtual board's variables are gone: stderr %q", out.Stderr())
	}
	if ee, _ := execError(t, it2, "survivor"); ee.Name != "NameError" {
		t.Errorf("a variable survived the kernel: %+v", ee)
	}
}

// A virtual board whose process dies between cells is started again by
// the next cell, which says the variables are gone; one that dies during
// a cell says so, with nothing to plug in; one that hangs is restarted by
// the next cell, which then runs.
func TestSimProcessDies(t *testing.T) {
	it, _, _ := simInterp(t)
	boardPid := func() int {
		t.Helper()
		_, res := mustRun(t, it, "import js\njs.process.pid")
		pid, err := strconv.Atoi(fmt.Sprint(res.Data["text/plain"]))
		if err != nil {
			t.Fatalf("pid %v: %v", res.Data, err)
		}
		return pid
	}
	kill := func() {
		t.Helper()
		pid := boardPid()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still there 10 s after SIGKILL", pid)
			}
		}
	}
	mustRun(t, it, "%connect -q sim:dies\nx = 1")
	kill()
	ee, out := execError(t, it, "x")
	if ee.Name != "NameError" || out.Stderr() != "Since the last cell, the virtual board's program exited (signal: killed); it was started again: its variables are gone, its files kept.\n" {
		t.Errorf("the cell after the board died: %s, stderr %q", ee.Name, out.Stderr())
	}
	if out, _ := mustRun(t, it, "print(3)"); out.Stdout() != "3\n" || out.Stderr() != "" {
		t.Errorf("the next cell: %q %q, want the note only once", out.Stdout(), out.Stderr())
	}
	// During a cell: the cell's error.
	ee, _ = execError(t, it, "import js, time\njs.process.kill(js.process.pid, 'SIGKILL')\ntime.sleep(5)")
	if !strings.Contains(ee.Value, "the virtual board's program exited (signal: killed)") || strings.Contains(ee.Value, "plugged in") ||
		!strings.Contains(ee.Value, "the next cell starts it again") {
		t.Errorf("a board that died during the cell: %s: %s", ee.Name, ee.Value)
	}
	if out, _ := mustRun(t, it, "print(4)"); out.Stdout() != "4\n" {
		t.Errorf("the cell after: %q", out.Stdout())
	}
	// Hung (stopped by a signal): the next cell restarts it and runs.
	mustRun(t, it, "x = 5")
	if err := syscall.Kill(boardPid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	out, _ = mustRun(t, it, "print('first')")
	if out.Stdout() != "first\n" || !strings.Contains(out.Stderr(), "did not answer") || !strings.Contains(out.Stderr(), "its variables are gone") {
		t.Errorf("the cell after the board hung: stdout %q, stderr %q; want it run, with a note", out.Stdout(), out.Stderr())
	}
}

// Two kernels cannot have the same virtual board.
func TestSimInUse(t *testing.T) {
	it, cfg, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim:shared")
	other := cfg
	other.SessionKey = "other.ipynb"
	it2 := New(other)
	shutdownAtEnd(t, it2)
	ee, _ := execError(t, it2, "%connect sim:shared")
	if !strings.Contains(ee.Value, "in use by another kernel") || !strings.Contains(ee.Value, "sim:OTHER") ||
		strings.Contains(ee.Value, "\n") {
		t.Errorf("second kernel's %%connect: %+v", ee)
	}
	mustRun(t, it, "%disconnect -q")
	out, _ := mustRun(t, it2, "%connect sim:shared")
	if out.Stdout() != "Connected to shared @ sim:shared\n" {
		t.Errorf("once free: %q", out.Stdout())
	}
}

// A busy loop cannot be interrupted inside the virtual board: the stop
// button restarts the board; its variables are gone, its files kept.
func TestSimBusyLoopInterrupt(t *testing.T) {
	it, _, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim\nwith open('f.txt', 'w') as f:\n    f.write('still here')\nv = 1")
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	out := &kerneltest.Recorder{}
	var stopped time.Time
	var mu sync.Mutex
	out.OnStream = func(_, text string) {
		if strings.Contains(text, "looping") {
			// A moment after the sleep that shows the output, the board
			// is in the busy loop, which never shows anything.
			time.AfterFunc(time.Second, func() {
				mu.Lock()
				stopped = time.Now()
				mu.Unlock()
				cancel(kernel.ErrInterrupted)
			})
		}
	}
	ctx, stop := context.WithTimeout(ctx, 60*time.Second)
	defer stop()
	code := "import time\nprint('looping')\ntime.sleep(0.05)\nwhile True:\n    pass"
	_, err := it.Execute(ctx, kernel.ExecuteRequest{Code: code, ExecutionCount: 4}, out)
	mu.Lock()
	defer mu.Unlock()
	var ee *kernel.ExecError
	if !errors.As(err, &ee) || ee.Name != "KeyboardInterrupt" || !strings.Contains(ee.Value, "hard-reset") ||
		!strings.Contains(ee.Value, "variables are gone") {
		t.Fatalf("error = %v; want a KeyboardInterrupt saying the board was reset", err)
	}
	t.Logf("stopped %v after the interrupt: %s", time.Since(stopped), ee.Value)
	if ee, _ := execError(t, it, "v"); ee.Name != "NameError" {
		t.Errorf("v after the reset: %+v", ee)
	}
	if _, res := mustRun(t, it, "open('f.txt').read()"); res.Data["text/plain"] != "'still here'" {
		t.Errorf("f.txt after the reset: %v", res.Data)
	}
}

// A loop that prints, or sleeps for no time, gives the board's JavaScript
// control: the stop button stops it with a KeyboardInterrupt, keeping the
// board's variables.
func TestSimPrintLoopInterrupt(t *testing.T) {
	it, _, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim:loops\nv = 1")
	for _, code := range []string{
		"import time\nprint('looping')\nwhile True:\n    time.sleep(0)",
		"import time\nprint('looping')\nwhile True:\n    time.sleep_ms(0)",
		"i = 0\nwhile True:\n    print('looping', i)\n    i += 1",
	} {
		ctx, cancel := context.WithCancelCause(t.Context())
		out := &kerneltest.Recorder{}
		var once sync.Once
		out.OnStream = func(_, text string) {
			if strings.Contains(text, "looping") {
				once.Do(func() { cancel(kernel.ErrInterrupted) })
			}
		}
		ctx, stop := context.WithTimeout(ctx, 60*time.Second)
		_, err := it.Execute(ctx, kernel.ExecuteRequest{Code: code, ExecutionCount: 4}, out)
		stop()
		cancel(nil)
		var ee *kernel.ExecError
		if !errors.As(err, &ee) || ee.Name != "KeyboardInterrupt" || strings.Contains(ee.Value, "reset") {
			t.Errorf("%q stopped with %v; want a plain KeyboardInterrupt", code, err)
		}
		if _, res := mustRun(t, it, "v"); res.Data["text/plain"] != "1" {
			t.Errorf("after stopping %q: v = %v, want the board's state kept", code, res.Data)
		}
	}
}

// machine.reset() restarts the virtual board: the cell says so, and the
// next cell runs on the board booted afresh, with its files.
func TestSimMachineReset(t *testing.T) {
	it, _, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim\nwith open('f.txt', 'w') as f:\n    f.write('kept')\nv = 1")
	ee, out := execError(t, it, "import machine\nprint('bye')\nmachine.reset()\nprint('not reached')")
	if !strings.Contains(ee.Value, "reset by machine.reset()") || !strings.Contains(ee.Value, "variables are gone") ||
		strings.Contains(ee.Value, "\n") {
		t.Errorf("cell that reset: %+v", ee)
	}
	if got := out.Stdout(); !strings.Contains(got, "bye") || strings.Contains(got, "not reached") {
		t.Errorf("its output: %q", got)
	}
	if ee, _ := execError(t, it, "v"); ee.Name != "NameError" {
		t.Errorf("v after machine.reset(): %+v", ee)
	}
	if _, res := mustRun(t, it, "open('f.txt').read()"); res.Data["text/plain"] != "'kept'" {
		t.Errorf("f.txt after machine.reset(): %v", res.Data)
	}
	// Deep sleep ends in a reset too, and the cell names it.
	ee, _ = execError(t, it, "import machine\nmachine.deepsleep(10)")
	if !strings.Contains(ee.Value, "woke from machine.deepsleep() through a reset") || strings.Contains(ee.Value, "machine.reset()") {
		t.Errorf("cell that deep-slept: %+v", ee)
	}
	if _, res := mustRun(t, it, "import machine\nmachine.reset_cause() == machine.DEEPSLEEP_RESET"); res.Data["text/plain"] != "True" {
		t.Errorf("reset_cause() after deepsleep: %v", res.Data)
	}

	// %hardreset, by machine.reset() or by restarting the process
	for magic, said := range map[string]string{
		"%hardreset":       "Hard reset sim; reconnected\n",
		"%hardreset --pin": "Hard reset sim (its process restarted); reconnected\n",
	} {
		mustRun(t, it, "w = 2")
		if out, _ := mustRun(t, it, magic); out.Stdout() != said {
			t.Errorf("%s said %q", magic, out.Stdout())
		}
		if ee, _ := execError(t, it, "w"); ee.Name != "NameError" {
			t.Errorf("w after %s: %+v", magic, ee)
		}
	}

	// --pin resets a board that is not connected, then connects it: the
	// one named, or else the one %connect last tried.
	mustRun(t, it, "%disconnect -q")
	for _, magic := range []string{"%hardreset --pin sim", "%hardreset --pin"} {
		out, _ := mustRun(t, it, magic)
		if got := out.Stdout(); !strings.HasPrefix(got, "Hard reset sim (its process restarted); Connected to sim @ sim") {
			t.Errorf("%s with no board connected said %q", magic, got)
		}
		if out, _ := mustRun(t, it, "print(6*7)"); out.Stdout() != "42\n" {
			t.Errorf("after %s: %q", magic, out.Stdout())
		}
		mustRun(t, it, "%disconnect -q")
	}
}

// %hardreset (machine.reset()) waits for a virtual board whose boot.py
// takes a few seconds (a Wi-Fi connect): each try to reach it again must
// not be cut short and the board started once more, until the bound.
func TestSimHardresetSlowBootPy(t *testing.T) {
	it, _, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim")
	writeBoot(t, it, "import time\ntime.sleep(2.5)\nbooted = True\n")
	mustRun(t, it, "w = 1")
	out, _ := mustRun(t, it, "%hardreset")
	if out.Stdout() != "Hard reset sim; reconnected\n" {
		t.Errorf("%%hardreset said %q", out.Stdout())
	}
	if ee, _ := execError(t, it, "w"); ee.Name != "NameError" {
		t.Errorf("w after %%hardreset: %+v; want NameError", ee)
	}
	if _, res := mustRun(t, it, "booted"); res.Data["text/plain"] != "True" {
		t.Errorf("boot.py after %%hardreset: booted = %v; want it run to its end", res.Data)
	}
}

// A stop while %hardreset waits for the board to come back says that the
// board was reset, not a bare KeyboardInterrupt; the next cell reaches it.
func TestSimHardresetStoppedAfterReset(t *testing.T) {
	needSim(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	// The stop comes once the board's process has been started again
	// after machine.reset(): the reset went, and boot.py keeps the board
	// from answering yet.
	it, _ := newInterpWith(t, func(cfg *Config) {
		cfg.Logger = slog.New(onLog{cfg.Logger.Handler(), "virtual board restarted after machine.reset()", func() { cancel(kernel.ErrInterrupted) }})
	})
	mustRun(t, it, "%connect -q sim")
	writeBoot(t, it, "import time\ntime.sleep(5)\n")
	mustRun(t, it, "w = 1")
	runCtx, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	out := &kerneltest.Recorder{}
	_, err := it.Execute(runCtx, kernel.ExecuteRequest{Code: "%hardreset", ExecutionCount: 3}, out)
	var ee *kernel.ExecError
	if !errors.As(err, &ee) || ee.Name != "KeyboardInterrupt" || !strings.Contains(ee.Value, "after the board was reset (its variables are gone") {
		t.Fatalf("%%hardreset stopped after the reset: %v; want a KeyboardInterrupt that says the board was reset", err)
	}
	if ee, _ := execError(t, it, "w"); ee.Name != "NameError" {
		t.Errorf("w after the stopped %%hardreset: %+v; want NameError", ee)
	}
	if out, _ := mustRun(t, it, "print(42)"); out.Stdout() != "42\n" {
		t.Errorf("after the stopped %%hardreset: %q", out.Stdout())
	}
}

// %softreset runs boot.py again: what it prints, its traceback included,
// is the cell's output, as on a serial terminal, before the magic's own
// line.
func TestSimSoftresetShowsBootOutput(t *testing.T) {
	it, _, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim")
	writeBoot(t, it, "print('BOOTED')\n1/0\n")
	out, _ := mustRun(t, it, "%softreset")
	got := out.Stdout()
	if !strings.HasPrefix(got, "BOOTED\n") || !strings.Contains(got, "ZeroDivisionError") || !strings.HasSuffix(got, "\nSoft reset sim\n") {
		t.Errorf("%%softreset printed %q; want boot.py's BOOTED and its ZeroDivisionError, then \"Soft reset sim\"", got)
	}
	if strings.Contains(got, "soft reboot") || strings.Contains(got, "raw REPL") {
		t.Errorf("%%softreset printed the reset's own lines: %q", got)
	}
}

// %softreset waits for a boot.py that takes longer than the link's
// timeout (a Wi-Fi connect): it is not interrupted while the magic says
// all went well.
func TestSimSoftresetSlowBootPy(t *testing.T) {
	it, _, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim")
	writeBoot(t, it, "import time\ntime.sleep(6)\nwifi = 'up'\n")
	mustRun(t, it, "%softreset")
	if _, res := mustRun(t, it, "globals().get('wifi')"); res.Data["text/plain"] != "'up'" {
		t.Errorf("after %%softreset, wifi = %v; want boot.py run to its end", res.Data)
	}
}

// A stop while %softreset waits for boot.py is a KeyboardInterrupt that
// says boot.py was interrupted, and leaves nothing of the reset for the
// next cell's output.
func TestSimSoftresetStoppedWhileBootPyRuns(t *testing.T) {
	it, _, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim")
	writeBoot(t, it, "print('booting')\nimport time\ntime.sleep(10)\n")
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	runCtx, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	out := &kerneltest.Recorder{}
	out.SetOnStream(func(_, text string) {
		if strings.Contains(text, "booting") {
			cancel(kernel.ErrInterrupted) // boot.py has started
		}
	})
	_, err := it.Execute(runCtx, kernel.ExecuteRequest{Code: "%softreset", ExecutionCount: 3}, out)
	var ee *kernel.ExecError
	if !errors.As(err, &ee) || ee.Name != "KeyboardInterrupt" || !strings.Contains(ee.Value, "boot.py interrupted") {
		t.Fatalf("stopped %%softreset: %v; want a KeyboardInterrupt saying boot.py was interrupted", err)
	}
	next, _ := mustRun(t, it, "print(42)")
	if next.Stdout() != "42\n" {
		t.Errorf("the next cell's stdout = %q; want \"42\\n\"", next.Stdout())
	}
}

// With no board, a notebook's first cell connects the notebook's last
// board, else the devices file's default board, else says how to choose.
func TestAutoConnect(t *testing.T) {
	it, cfg, _ := simInterp(t)
	ee, _ := execError(t, it, "1")
	if ee.Name != NoBoardError || !strings.Contains(ee.Value, "%connect") || !strings.Contains(ee.Value, "sim") ||
		!strings.Contains(ee.Value, cfg.DevicesPath) || !strings.Contains(ee.Value, "default: NAME") {
		t.Errorf("no board, no default: %+v", ee)
	}

	if err := os.WriteFile(cfg.DevicesPath, []byte("# where notebooks start\ndefault: esp32\nesp32:\n  url: sim:esp32\n  heap: 150k\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	it2 := New(cfg)
	shutdownAtEnd(t, it2)
	out, res := mustRun(t, it2, "import gc\ngc.collect()\ngc.mem_free() + gc.mem_alloc() <= 150 * 1024")
	if out.Stdout() != "Connected to esp32 @ sim:esp32\n" || res.Data["text/plain"] != "True" {
		t.Errorf("default board: stdout %q, result %v (heap from the devices file)", out.Stdout(), res.Data)
	}
	if out, _ := mustRun(t, it2, "1"); out.Stdout() != "" {
		t.Errorf("second cell said %q", out.Stdout())
	}
	// the notebook's last board comes before the default
	mustRun(t, it2, "%connect -q sim:mine")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := it2.Shutdown(ctx, true); err != nil {
		t.Fatal(err)
	}
	it3 := New(cfg)
	shutdownAtEnd(t, it3)
	if out, _ := mustRun(t, it3, "1"); out.Stdout() != "Connected to mine @ sim:mine\n" {
		t.Errorf("last board: %q", out.Stdout())
	}
	// a default that cannot be reached says why, once
	if err := os.WriteFile(cfg.DevicesPath, []byte("default: /dev/ttyGONE9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fresh := cfg
	fresh.SessionKey = "fresh.ipynb"
	it4 := New(fresh)
	shutdownAtEnd(t, it4)
	if ee, _ := execError(t, it4, "1"); ee.Name != NoBoardError || !strings.Contains(ee.Value, "the default board /dev/ttyGONE9") {
		t.Errorf("unreachable default: %+v", ee)
	}
}

// Without node, %connect sim says what to install, on one line.
func TestSimMissingNode(t *testing.T) {
	it, _ := newInterp(t)
	t.Setenv("PATH", t.TempDir())
	t.Setenv(sim.EnvNode, "")
	ee, _ := execError(t, it, "%connect sim:x")
	if !strings.Contains(ee.Value, "connect x: the virtual board needs node") || !strings.Contains(ee.Value, "install") ||
		strings.Contains(ee.Value, "\n") || len(ee.Traceback) != 1 {
		t.Errorf("%%connect sim without node: %+v", ee)
	}
}

// A devices-file entry's settings reach its virtual board.
func TestSimDeviceSettings(t *testing.T) {
	it, cfg, _ := simInterp(t)
	devs := "esp32:\n  url: sim:esp32\n  ip: 10.9.8.7\n  hosts:\n    google.com: 127.0.0.1:18080\n"
	if err := os.WriteFile(cfg.DevicesPath, []byte(devs), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := mustRun(t, it, "%connect esp32")
	if out.Stdout() != "Connected to esp32 @ sim:esp32\n" {
		t.Errorf("%%connect esp32 said %q", out.Stdout())
	}
	out, _ = mustRun(t, it, "import network, socket\nprint(network.WLAN(network.STA_IF).ifconfig()[0])\nprint(socket.getaddrinfo('google.com', 80)[0][-1])")
	if got := out.Stdout(); got != "10.9.8.7\n('127.0.0.1', 18080)\n" {
		t.Errorf("the board's ip and hosts: %q", got)
	}
	// %connect by its address finds the same entry
	mustRun(t, it, "%disconnect -q")
	out, _ = mustRun(t, it, "%connect sim:esp32\nimport network\nprint(network.WLAN(network.STA_IF).ifconfig()[0])")
	if got := out.Stdout(); got != "Connected to esp32 @ sim:esp32\n10.9.8.7\n" {
		t.Errorf("%%connect sim:esp32 said %q", got)
	}
}

// What a program writes to sys.stderr shows, in order with its prints: a
// board's stderr is its UART, as stdout is.
func TestSimStderrIsShown(t *testing.T) {
	it, _, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim")
	out, _ := mustRun(t, it, "import sys\nprint('out')\nsys.stderr.write('err\\n')\nprint('to stderr', file=sys.stderr)\nprint('more')")
	if got, want := out.Stdout()+out.Stderr(), "out\nerr\nto stderr\nmore\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

// A cell holding a byte the raw REPL takes as a command (Ctrl-D would end
// the code there and drop the rest) is refused with a clear error, and
// nothing of it runs.
func TestSimCellWithRawREPLCommandByte(t *testing.T) {
	it, _, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim\nran = 0")
	ee, out := execError(t, it, "ran = 1\nprint(1)\x04print(2)\n3")
	if !strings.Contains(ee.Error(), "line 2 holds a Ctrl-D character") || !strings.Contains(ee.Error(), `'\x04'`) {
		t.Errorf("error %v, want it to name line 2's Ctrl-D and the escape to write", ee)
	}
	if s := out.Stdout(); s != "" {
		t.Errorf("the refused cell printed %q", s)
	}
	if _, res := mustRun(t, it, "ran"); res.Data["text/plain"] != "0" {
		t.Errorf("ran = %v after the refused cell, want 0", res.Data)
	}
	b, err := it.sess.Current(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range it.sources.newestFirst(b) {
		if strings.Contains(code, "ran = 1") {
			t.Errorf("the refused cell is kept as code the board ran: %q", code)
		}
	}
}

// IPython's help syntax in a cell (name?, ?name, %magic?), as jupyter
// console users type it: what Shift-Tab shows, or the magic's help.
func TestSimHelpSyntax(t *testing.T) {
	it, _, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim\ndef add(a, b=2):\n    return a + b")
	for _, code := range []string{"add?", "?add", "add??"} {
		out, _ := mustRun(t, it, code)
		if s := out.Stdout(); !strings.Contains(s, "add(a, b=2)") || !strings.Contains(s, "function") {
			t.Errorf("%s shows %q, want the signature and the type", code, s)
		}
	}
	if out, _ := mustRun(t, it, "nosuch?"); out.Stdout() != "Object `nosuch` not found on the board.\n" {
		t.Errorf("nosuch? shows %q", out.Stdout())
	}
	if out, _ := mustRun(t, it, "%cp?"); !strings.Contains(out.Stdout(), "%cp") {
		t.Errorf("%%cp? shows %q, want its help", out.Stdout())
	}
	// connect is a line magic and a cell magic: each has its own help.
	for code, want := range map[string]string{"%connect?": "Usage: %connect ", "%%connect?": "Usage: %%connect ", "??%%connect": "Usage: %%connect "} {
		if out, _ := mustRun(t, it, code); !strings.HasPrefix(strings.TrimSpace(out.Stdout()), want) {
			t.Errorf("%s shows %q, want the help of %s", code, out.Stdout(), want)
		}
	}
	if ee, _ := execError(t, it, "%nosuchmagic?"); ee.Name != "UsageError" {
		t.Errorf("%%nosuchmagic? gives %s: %s, want a UsageError", ee.Name, ee.Value)
	}
	// A ? inside code is the board's to judge.
	if ee, _ := execError(t, it, "x = 1 ?"); ee.Name != "SyntaxError" {
		t.Errorf("x = 1 ? gives %s, want the board's SyntaxError", ee.Name)
	}
}

// A new kernel whose default board is a virtual one says nothing of a
// restart; one restarted on a registered virtual board does.
func TestSimRestartNoteOnlyAfterARestart(t *testing.T) {
	it, cfg, _ := simInterp(t)
	if err := os.WriteFile(cfg.DevicesPath, []byte("default: fresh\nfresh:\n  url: sim:fresh\nesp32:\n  url: sim:esp32\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := mustRun(t, it, "x = 1")
	if !strings.Contains(out.Stdout(), "Connected to fresh") || strings.Contains(out.Stderr(), "restarted") {
		t.Errorf("first cell of a new kernel: stdout %q, stderr %q; want the default board, no restart note", out.Stdout(), out.Stderr())
	}
	mustRun(t, it, "%connect -q esp32")
	it2 := restarted(t, it, cfg)
	out, _ = mustRun(t, it2, "y = 2")
	if !strings.Contains(out.Stdout(), "Connected to esp32") || !strings.Contains(out.Stderr(), "its variables are gone") {
		t.Errorf("first cell after a restart: stdout %q, stderr %q; want esp32 and the note", out.Stdout(), out.Stderr())
	}
}

// exit closes the frontend unless the board has a name exit of its own.
func TestSimExitUnlessTheBoardDefinesIt(t *testing.T) {
	it, _, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim")
	if res, err := run(t, it, "exit", &kerneltest.Recorder{}); err != nil || !res.AskExit {
		t.Errorf("exit: %+v, %v; want the frontend asked to close", res, err)
	}
	mustRun(t, it, "exit = 3")
	if _, res := mustRun(t, it, "exit"); res.AskExit || res.Data["text/plain"] != "3" {
		t.Errorf("exit with exit = 3 on the board: %+v; want its value", res)
	}
}

// streaming returns a recorder for a cell's output and a wait for its
// stdout to satisfy done, bounded (the board is idle for half a second
// before what it prints between cells is read).
func streaming(t *testing.T) (*kerneltest.Recorder, func(what string, done func(stdout string) bool)) {
	t.Helper()
	more := make(chan struct{}, 1)
	rec := &kerneltest.Recorder{}
	rec.SetOnStream(func(string, string) {
		select {
		case more <- struct{}{}:
		default:
		}
	})
	return rec, func(what string, done func(string) bool) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for !done(rec.Stdout()) {
			select {
			case <-more:
			case <-deadline:
				t.Fatalf("%s, the output shows only %q", what, rec.Stdout())
			}
		}
	}
}

// What a board prints between cells (a machine.Timer's callback) shows
// under the last cell that ran, as it comes, as IPython shows a thread's
// prints; nothing of it is lost, and it stops once the next cell began.
func TestSimTimerPrintsBetweenCells(t *testing.T) {
	it, _, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim")
	first, wait := streaming(t)
	if _, err := run(t, it, "from machine import Timer\nn = 0\ndef tick(t):\n    global n\n    n += 1\n    print('tick', n)\ntm = Timer(0)\ntm.init(period=50, callback=tick)", first); err != nil {
		t.Fatal(err)
	}
	wait("after the cell", func(out string) bool { return strings.Contains(out, "tick 3\n") })
	_, res := mustRun(t, it, "tm.deinit()\nn")
	n, _ := strconv.Atoi(res.Data["text/plain"].(string))
	got := first.Stdout()
	var want strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&want, "tick %d\n", i)
	}
	// Every tick before the second cell is under the first, in order;
	// the last ones may have come as the second began, under it.
	if !strings.HasPrefix(want.String(), got) || !strings.Contains(got, "tick 3\n") {
		t.Errorf("under the first cell: %q; the board ticked %d times", got, n)
	}
	later := first.Stdout()
	mustRun(t, it, "print('done')")
	if first.Stdout() != later {
		t.Errorf("the first cell got output after the next ones: %q", strings.TrimPrefix(first.Stdout(), later))
	}
}

// A callback that raises between cells: its traceback, under the last
// cell, names the cell that defined it, as a cell's own error does.
func TestSimCallbackErrorBetweenCells(t *testing.T) {
	it, _, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim")
	first, wait := streaming(t)
	if _, err := run(t, it, "from machine import Timer\ndef f(t):\n    print('tick')\n    1/0\ntm = Timer(0)\ntm.init(period=50, mode=Timer.ONE_SHOT, callback=f)", first); err != nil {
		t.Fatal(err)
	}
	want := "tick\nTraceback (most recent call last):\n  Cell In[7], line 4, in f\n    1/0\nZeroDivisionError: divide by zero\n"
	wait("after the cell", func(out string) bool { return strings.Contains(out, "ZeroDivisionError") })
	if first.Stdout() != want {
		t.Errorf("under the cell:\n%s\nwant:\n%s", first.Stdout(), want)
	}
}

// A board let go of keeps running (a virtual board's process): what its
// timer prints between cells is headed by its name, since the cells now
// run on another board.
func TestSimTicksOfABoardLetGoOfAreNamed(t *testing.T) {
	it, _, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim:a")
	mustRun(t, it, "from machine import Timer\nn = 0\ndef tick(t):\n    global n\n    n += 1\n    print('tick', n)\ntm = Timer(0)\ntm.init(period=50, callback=tick)")
	out, wait := streaming(t)
	if _, err := run(t, it, "%connect -q sim:b", out); err != nil {
		t.Fatal(err)
	}
	wait("after %connect sim:b", func(out string) bool { return strings.Count(out, "\n") >= 3 })
	named := regexp.MustCompile(`^\[a\] tick \d+$`)
	for _, l := range strings.Split(strings.TrimSuffix(out.Stdout(), "\n"), "\n") {
		if !named.MatchString(l) {
			t.Errorf("line %q of the board let go of; want [a] tick N", l)
		}
	}
	mustRun(t, it, "%connect -q sim:a\ntm.deinit()")
}
