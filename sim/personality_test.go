package sim_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/sim"
	"github.com/iot-kernel/iot-kernel/transport"
)

// TestMachine runs tutorial-style calls of the machine, time and ntptime
// modules and checks what a user would see.
func TestMachine(t *testing.T) {
	b := start(t, env{})
	b.exec("import machine, time, ntptime")
	year := strconv.Itoa(time.Now().UTC().Year())
	for _, tc := range []struct {
		name, code, want string
	}{
		{"freq", "print(machine.freq())", "240000000"},
		{"freq settable", "machine.freq(160000000); print(machine.freq())", "160000000"},
		{"freq invalid", "try:\n machine.freq(123)\nexcept ValueError: print('ValueError')", "ValueError"},
		{"unique_id", "print(len(machine.unique_id()), type(machine.unique_id()).__name__)", "6 bytes"},
		{"output keeps value", "p=machine.Pin(2, machine.Pin.OUT); p.value(1); print(p.value(), machine.Pin(2).value())", "1 1"},
		{"on off", "p.off(); print(p.value()); p.on(); print(p())", "0\r\n1"},
		{"irq on an output's edges", "e=[]\nq=machine.Pin(15, machine.Pin.OUT, value=0); q.irq(lambda p: e.append(p is q), machine.Pin.IRQ_RISING); q.on(); q.off(); q.on(); time.sleep_ms(1); print(e)", "[True, True]"},
		{"input reads 0", "print(machine.Pin(4, machine.Pin.IN).value())", "0"},
		{"pull-up reads 1", "print(machine.Pin(0, machine.Pin.IN, machine.Pin.PULL_UP).value())", "1"},
		{"input-only pin", "try:\n machine.Pin(34, machine.Pin.OUT)\nexcept ValueError: print('ValueError')", "ValueError"},
		{"adc", "a=machine.ADC(machine.Pin(34)); a.atten(machine.ADC.ATTN_11DB); print(a.read(), a.read_u16(), a.read_uv())", "0 0 0"},
		{"pwm", "w=machine.PWM(machine.Pin(5), freq=1000, duty=512); w.freq(2000); print(w.freq(), w.duty()); w.duty_u16(1000); print(w.duty_u16())", "2000 512\r\n1000"},
		{"i2c scan", "i=machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21)); print(i.scan())", "[]"},
		{"i2c no device", "try:\n i.readfrom(0x3c, 2)\nexcept OSError as e: print(e.errno == __import__('errno').ENODEV)", "True"},
		{"soft i2c", "print(machine.SoftI2C(scl=machine.Pin(22), sda=machine.Pin(21)).scan())", "[]"},
		{"spi", "s=machine.SPI(1, baudrate=1000000); s.write(b'ab'); print(s.read(3)); r=bytearray(b'xy'); s.write_readinto(b'ab', r); print(r)", "b'\\x00\\x00\\x00'\r\nbytearray(b'\\x00\\x00')"},
		{"signal", "g=machine.Signal(machine.Pin(13, machine.Pin.OUT), invert=True); g.on(); print(machine.Pin(13).value(), g.value())", "0 1"},
		{"idle", "machine.idle(); print('ok')", "ok"},
		{"lightsleep", "machine.lightsleep(10); print('ok')", "ok"},
		{"deepsleep needs a time", "try:\n machine.deepsleep()\nexcept ValueError as e: print('ValueError', 'wake' in str(e))", "ValueError True"},
		{"timer fires in sleep", "n=[0]\ndef cb(t):\n n[0]+=1\nmachine.Timer(0).init(period=10, callback=cb); time.sleep_ms(100); print(n[0] > 0)", "True"},
		{"timer deinit by number", "machine.Timer(0).deinit(); m=n[0]; time.sleep_ms(50); print(n[0] == m)", "True"},
		{"one-shot timer", "machine.Timer(1).init(period=1, mode=machine.Timer.ONE_SHOT, callback=lambda t: print('fired')); time.sleep_ms(30)", "fired"},
		{"esp", "import esp; esp.osdebug(None); print(esp.flash_size())", "4194304"},
		{"esp32 nvs", "import esp32; n=esp32.NVS('app'); n.set_i32('k', 7); n.commit(); print(n.get_i32('k'))", "7"},
		{"neopixel", "import neopixel; np=neopixel.NeoPixel(machine.Pin(4), 3); np.fill((1, 2, 3)); np[1]=(9, 8, 7); np.write(); print(np[0], np[1], len(np))", "(1, 2, 3) (9, 8, 7) 3"},
		{"dht without a sensor", "import dht, errno\ntry:\n dht.DHT22(machine.Pin(4)).measure()\nexcept OSError as e: print(e.errno == errno.ETIMEDOUT)", "True"},
		{"reset_cause", "print(machine.reset_cause() == machine.PWRON_RESET)", "True"},
		{"rtc set", "machine.RTC().datetime((2020, 1, 2, 3, 4, 5, 6, 0)); print(machine.RTC().datetime()[:3], time.localtime()[:4])", "(2020, 1, 2) (2020, 1, 2, 4)"},
		{"ntptime.settime restores the host clock", "ntptime.settime(); print(time.localtime()[0], machine.RTC().datetime()[0])", year + " " + year},
		{"time is an int", "print(type(time.time()).__name__, type(time.time_ns()).__name__)", "int int"},
		{"utime is the board's time", "import utime; print(utime is time, type(utime.time()).__name__)", "True int"},
		{"gmtime", "print(time.gmtime(0))", "(1970, 1, 1, 0, 0, 0, 3, 1)"},
		{"ticks", "t=time.ticks_ms(); time.sleep_ms(20); print(time.ticks_diff(time.ticks_ms(), t) >= 20)", "True"},
		{"ticks_us counts microseconds", "print(any(time.ticks_us() % 1000 for _ in range(50)), time.ticks_cpu() != 0)", "True True"},
		{"sleep_us waits microseconds", "def us(n):\n t=time.ticks_us(); time.sleep_us(n); return time.ticks_diff(time.ticks_us(), t)\nds=[us(300) for _ in range(5)]\ntime.sleep_us(0)\nprint(min(ds) >= 300, any(d % 1000 for d in ds), us(2500) >= 2500)", "True True True"},
		{"sleep waits", "t=time.ticks_ms(); time.sleep(0.03); time.sleep(0); time.sleep_ms(-1); print(time.ticks_diff(time.ticks_ms(), t) >= 30)", "True"},
		{"sleep errors", "for f, a in ((time.sleep, 'x'), (time.sleep_ms, 1.5), (time.sleep_ms, 2**31)):\n try:\n  f(a)\n except (TypeError, OverflowError) as e: print(type(e).__name__)", "TypeError\r\nTypeError\r\nOverflowError"},
		{"errno of a missing file", "try:\n open('/nope')\nexcept OSError as e: print(e.errno, e.errno == __import__('errno').ENOENT)", "2 True"},
		{"os.uname", "import os, sys; u=os.uname(); print(u.sysname == sys.platform, u.nodename, u.release == '%d.%d.%d' % sys.implementation.version[:3], len(u), 'ESP32' in u.machine, repr(u).startswith(\"(sysname='\"))", "True sim True 5 True True"},
		{"board modules hidden from the root", "import os; print([n for n in os.listdir('/') if n.startswith('.')])", "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.TrimRight(b.exec(tc.code), "\r\n")
			if got != tc.want {
				t.Errorf("%s\nprinted %q, want %q", tc.code, got, tc.want)
			}
		})
	}
	// The board's clock is the host's.
	got, err := strconv.ParseInt(b.eval("time.time()"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if d := got - time.Now().Unix(); d < -120 || d > 120 {
		t.Errorf("time.time() = %d, host %d", got, time.Now().Unix())
	}
}

// TestUniqueID: machine.unique_id() is stable for a name and differs
// between names.
func TestUniqueID(t *testing.T) {
	id := func(name string) string {
		b := start(t, env{name: name})
		got := b.eval("__import__('machine').unique_id()")
		b.stop()
		return got
	}
	a1, a2, other := id("alpha"), id("alpha"), id("beta")
	if a1 != a2 {
		t.Errorf("unique_id for the same name: %s, then %s", a1, a2)
	}
	if a1 == other {
		t.Errorf("unique_id is %s for two names", a1)
	}
}

// TestHeap: right after boot gc.mem_free() is about 110 KB, an ESP32's;
// IOT_MPY_HEAPSIZE overrides it.
func TestHeap(t *testing.T) {
	free := func(e env) int {
		b := start(t, e)
		n, err := strconv.Atoi(b.eval("__import__('gc').mem_free()"))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := free(env{}); n < 100_000 || n > 120_000 {
		t.Errorf("gc.mem_free() after boot = %d, want about 110 KB", n)
	}
	if n := free(env{more: []string{"IOT_MPY_HEAPSIZE=300000"}}); n < 250_000 || n > 300_000 {
		t.Errorf("with IOT_MPY_HEAPSIZE=300000, gc.mem_free() = %d", n)
	}
}

// TestInterruptSleep: Ctrl-C stops time.sleep, a read of sys.stdin and a
// poll of it (which finds nothing to read before);
// the interpreter keeps its state (nothing after the interrupted call
// runs) and the traceback shows no frame of the board's own modules.
func TestInterruptSleep(t *testing.T) {
	b := start(t, env{})
	b.exec("import time, sys\nx = 39")
	for _, code := range []string{
		"x += 1\nprint('waiting')\ntime.sleep(600)\nx = 0",
		"x += 1\nprint('waiting')\nsys.stdin.read(1)\nx = 0",
		"x += 1\nimport select\np = select.poll()\np.register(sys.stdin, select.POLLIN)\nprint('waiting', p.poll(0))\np.poll(600000)\nx = 0",
	} {
		err := interruptAfter(t, b, code, "waiting")
		var be *transport.BoardError
		if !errors.As(err, &be) || be.Name != "KeyboardInterrupt" {
			t.Fatalf("interrupted %q returned %v, want KeyboardInterrupt", code, err)
		}
		for _, l := range be.Traceback {
			if strings.Contains(l, "/.sim/") {
				t.Errorf("traceback shows the board's module: %q", be.Traceback)
			}
		}
	}
	if got := b.eval("x"); got != "42" {
		t.Errorf("after the interrupts x = %s, want 42 (state kept)", got)
	}
}

// interruptAfter runs code and interrupts it (the engine sends Ctrl-C) once
// marker was printed.
func interruptAfter(t *testing.T, b *board, code, marker string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	w := &watch{want: marker, seen: make(chan struct{})}
	seen := w.seen
	go func() {
		select {
		case <-seen:
			cancel()
		case <-ctx.Done():
		}
	}()
	return b.eng.Exec(ctx, code, transport.ExecOptions{Stdout: w})
}

// watch is an io.Writer that closes seen once want was written.
type watch struct {
	buf  bytes.Buffer
	want string
	seen chan struct{}
}

func (w *watch) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if w.seen != nil && strings.Contains(w.buf.String(), w.want) {
		close(w.seen)
		w.seen = nil
	}
	return len(p), nil
}

// TestInput: the kernel answers input(); the typed line appears once in
// the output (the program's own print), not echoed by the board.
func TestInput(t *testing.T) {
	b := start(t, env{})
	var out bytes.Buffer
	var prompts []string
	err := b.eng.Exec(b.ctx(), "s = input('name? ')\nprint('got', s)", transport.ExecOptions{
		Stdout: &out,
		Input: func(prompt string) (string, error) {
			prompts = append(prompts, prompt)
			return "zebra", nil
		},
	})
	if err != nil {
		t.Fatalf("exec: %v (output %q)", err, out.String())
	}
	if len(prompts) != 1 || prompts[0] != "name? " {
		t.Errorf("prompts %q, want [\"name? \"]", prompts)
	}
	if got := out.String(); strings.Count(got, "zebra") != 1 || !strings.Contains(got, "got zebra") {
		t.Errorf("output %q, want the answer once, in 'got zebra'", got)
	}
}

// TestFilesPersist: files written on the board reach the host folder at
// once, and survive a soft reset, machine.reset() (exit 75, a new process)
// and a kill -9.
func TestFilesPersist(t *testing.T) {
	dir := t.TempDir()
	b := start(t, env{dir: dir})
	b.exec(`import os
with open('a.txt', 'w') as f:
    f.write('one')
os.mkdir('d')
with open('d/b.bin', 'wb') as f:
    f.write(bytes(range(256)))
with open('gone', 'w') as f:
    f.write('x')
os.remove('gone')
with open('old', 'w') as f:
    f.write('renamed')
os.rename('old', 'd/new')
os.mkdir('empty')
os.mkdir('e2')
os.rmdir('e2')`)
	host := func(name string) string {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return "<" + err.Error() + ">"
		}
		return string(data)
	}
	checkHost := func(when string) {
		t.Helper()
		if got := host("a.txt"); got != "one" {
			t.Errorf("%s: host a.txt = %q", when, got)
		}
		if got := host("d/new"); got != "renamed" {
			t.Errorf("%s: host d/new = %q", when, got)
		}
		if got := host("d/b.bin"); len(got) != 256 || got[255] != 255 {
			t.Errorf("%s: host d/b.bin has %d bytes", when, len(got))
		}
		for _, name := range []string{"gone", "old", "e2", ".sim/machine.py"} {
			if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: host has %s (err %v)", when, name, err)
			}
		}
		if st, err := os.Stat(filepath.Join(dir, "empty")); err != nil || !st.IsDir() {
			t.Errorf("%s: host folder empty: %v", when, err)
		}
	}
	checkBoard := func(b *board, when string) {
		t.Helper()
		got := b.exec(`import os
print(sorted(os.listdir('/')), sorted(os.listdir('/d')))
print(open('a.txt').read(), open('d/new').read(), len(open('d/b.bin', 'rb').read()))`)
		want := "['a.txt', 'd', 'empty'] ['b.bin', 'new']\r\none renamed 256\r\n"
		if got != want {
			t.Errorf("%s: board shows %q, want %q", when, got, want)
		}
	}
	checkHost("written")

	if err := b.eng.SoftReset(b.ctx(), nil); err != nil {
		t.Fatal(err)
	}
	checkBoard(b, "after a soft reset")

	b.exec("with open('a.txt', 'a') as f:\n    f.write('+two')")
	err := b.eng.Exec(b.ctx(), "import machine\nmachine.reset()", transport.ExecOptions{})
	if err == nil {
		t.Errorf("machine.reset() returned")
	}
	if code := b.waitExit(); code != 75 {
		t.Errorf("machine.reset(): exit status %d, want 75", code)
	}
	if got := host("a.txt"); got != "one+two" {
		t.Errorf("after machine.reset: host a.txt = %q", got)
	}

	b = start(t, env{dir: dir})
	if got := b.eval("__import__('machine').reset_cause() == __import__('machine').HARD_RESET"); got != "True" {
		t.Errorf("reset_cause after machine.reset() is not HARD_RESET")
	}
	b.exec("with open('a.txt', 'w') as f:\n    f.write('one')")
	checkBoard(b, "after machine.reset()")
	// A flush is enough: the open file's data so far reaches the host.
	b.exec("f = open('open.txt', 'w')\nf.write('flushed')\nf.flush()")
	b.kill()
	if got := host("open.txt"); got != "flushed" {
		t.Errorf("after kill: host open.txt = %q", got)
	}
	b = start(t, env{dir: dir})
	b.exec("import os\nos.remove('open.txt')")
	checkBoard(b, "after kill -9")
	checkHost("after kill -9")
}

// TestBootMain: boot.py then main.py run at power-on, their output on the
// serial line like a board's, their globals left for the REPL; a soft
// reset from the raw REPL runs boot.py only, as on a board.
func TestBootMain(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("boot.py", "print('in boot')\nwith open('log', 'a') as f:\n    f.write('boot;')\n")
	write("main.py", "print('in main')\nwith open('log', 'a') as f:\n    f.write('main;')\nfrom_main = 7\n")

	b := start(t, env{dir: dir})
	// Read the serial line until the first prompt, before the engine does.
	got := readUntil(t, b, ">>> ")
	if i, j := strings.Index(got, "in boot\r\n"), strings.Index(got, "in main\r\n"); i < 0 || j < i || !strings.Contains(got[j:], "MicroPython v1.27") {
		t.Errorf("boot output %q, want boot.py's, main.py's, then the banner", got)
	}
	if got := b.eval("from_main"); got != "7" {
		t.Errorf("main.py's global from_main = %s", got)
	}
	if err := b.eng.SoftReset(b.ctx(), nil); err != nil {
		t.Fatal(err)
	}
	if got := b.eval("open('log').read()"); got != "'boot;main;boot;'" {
		t.Errorf("log after power-on and a raw soft reset = %s, want boot;main;boot;", got)
	}
}

// readUntil reads the process's stdout directly until s appeared.
func readUntil(t *testing.T, b *board, s string) string {
	t.Helper()
	type res struct {
		text string
		err  error
	}
	ch := make(chan res, 1)
	go func() {
		var acc []byte
		buf := make([]byte, 256)
		for {
			n, err := b.out.Read(buf)
			acc = append(acc, buf[:n]...)
			if bytes.Contains(acc, []byte(s)) || err != nil {
				ch <- res{string(acc), err}
				return
			}
		}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("reading the board: %v (got %q)", r.err, r.text)
		}
		return r.text
	case <-time.After(opTimeout):
		b.kill() // ends the reader
		t.Fatalf("no %q from the board", s)
		return ""
	}
}

// TestInterruptMain: a main.py that loops forever with sleeps is stopped by
// the Ctrl-C the engine sends when it connects, its globals kept.
func TestInterruptMain(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.py"), []byte("import time\nstarted = 1\nprint('looping')\nwhile True:\n    time.sleep_ms(50)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := start(t, env{dir: dir})
	readUntil(t, b, "looping") // main.py runs
	if got := b.eval("started"); got != "1" {
		t.Errorf("main.py's global started = %s", got)
	}
}

// TestDeepSleep: machine.deepsleep(ms) sleeps, then resets (exit 76); the
// next run reports the deep-sleep reset and a timer wake.
func TestDeepSleep(t *testing.T) {
	dir := t.TempDir()
	b := start(t, env{dir: dir})
	if err := b.eng.Exec(b.ctx(), "import machine\nmachine.deepsleep(10)", transport.ExecOptions{}); err == nil {
		t.Errorf("machine.deepsleep() returned")
	}
	if code := b.waitExit(); code != sim.DeepSleepExit {
		t.Errorf("deepsleep: exit status %d, want %d", code, sim.DeepSleepExit)
	}
	b = start(t, env{dir: dir})
	if got := b.exec("import machine\nprint(machine.reset_cause() == machine.DEEPSLEEP_RESET, machine.wake_reason() == machine.TIMER_WAKE)"); got != "True True\r\n" {
		t.Errorf("after deepsleep: %q, want True True", got)
	}
	if err := b.eng.SoftReset(b.ctx(), nil); err != nil {
		t.Fatal(err)
	}
	if got := b.eval("__import__('machine').reset_cause() == __import__('machine').SOFT_RESET"); got != "True" {
		t.Errorf("after a soft reset reset_cause() is not SOFT_RESET")
	}
}

// TestTransportFiles: the kernel's file operations work on the virtual
// board and their results are in the host folder.
func TestTransportFiles(t *testing.T) {
	dir := t.TempDir()
	b := start(t, env{dir: dir})
	ctx := b.ctx()
	data := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	if err := b.eng.Mkdir(ctx, "/lib"); err != nil {
		t.Fatal(err)
	}
	if err := b.eng.WriteFile(ctx, "/lib/data.bin", data, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "lib", "data.bin")); err != nil || !bytes.Equal(got, data) {
		t.Errorf("host lib/data.bin: %d bytes, err %v; want %d bytes", len(got), err, len(data))
	}
	if err := b.eng.Rename(ctx, "/lib/data.bin", "/lib/moved.bin"); err != nil {
		t.Fatal(err)
	}
	infos, err := b.eng.ListDir(ctx, "/lib")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Name != "moved.bin" || infos[0].Size != int64(len(data)) {
		t.Errorf("ListDir(/lib) = %+v, want moved.bin of %d bytes", infos, len(data))
	}
	got, err := b.eng.ReadFile(ctx, "/lib/moved.bin", nil)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("ReadFile: %d bytes, err %v", len(got), err)
	}
	if err := b.eng.Remove(ctx, "/lib/moved.bin"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.eng.Stat(ctx, "/lib/moved.bin"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stat of a removed file: %v, want not exist", err)
	}
	if ents, err := os.ReadDir(filepath.Join(dir, "lib")); err != nil || len(ents) != 0 {
		t.Errorf("host lib/ holds %v (err %v), want nothing", ents, err)
	}
}

// TestSoftResetInMemory: without IOT_SIM_DIR the files survive a soft
// reset too, the board's modules are there again, still hidden, and the
// CPU clock stays as set (hardware state).
func TestSoftResetInMemory(t *testing.T) {
	b := start(t, env{})
	b.exec("with open('keep.txt', 'w') as f:\n    f.write('kept')\nimport machine\nmachine.freq(80000000)")
	if err := b.eng.SoftReset(b.ctx(), nil); err != nil {
		t.Fatal(err)
	}
	got := b.exec("import os, machine\nprint(os.listdir('/'), open('keep.txt').read(), machine.freq())")
	if want := "['keep.txt'] kept 80000000\r\n"; got != want {
		t.Errorf("after a soft reset: %q, want %q", got, want)
	}
}

// TestKilledMidWrite: a temporary file left by a process killed while it
// replaced a host file is not a board file, and goes; the old file stays.
func TestKilledMidWrite(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{"a.txt": "old", ".a.txt.sim-tmp": "half"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := start(t, env{dir: dir})
	if got := b.exec("import os\nprint(os.listdir('/'), open('a.txt').read())"); got != "['a.txt'] old\r\n" {
		t.Errorf("board shows %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, ".a.txt.sim-tmp")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary file is still there: %v", err)
	}
}

// TestOutputDuringBusyLoop: output leaves the board as it is printed, as
// on a UART, even when a loop that gives JavaScript no turn follows; a
// loop of three seconds on the clock ends with the exec succeeding.
func TestOutputDuringBusyLoop(t *testing.T) {
	b := start(t, env{})
	w := &watch{want: "x\r\n", seen: make(chan struct{})}
	seen := w.seen
	done := make(chan error, 1)
	go func() { done <- b.eng.Exec(b.ctx(), "print('x')\nwhile True: pass", transport.ExecOptions{Stdout: w}) }()
	select {
	case <-seen:
	case err := <-done:
		t.Fatalf("the busy loop ended: %v", err)
	case <-time.After(opTimeout):
		t.Errorf("print('x') before a busy loop never reached the host")
	}
	b.kill() // a pure busy loop cannot be interrupted
	select {
	case <-done:
	case <-time.After(opTimeout):
		t.Fatal("exec did not end with the board's process")
	}

	b = start(t, env{})
	got := b.exec("import time\nprint('x')\nt = time.ticks_ms()\nwhile time.ticks_diff(time.ticks_ms(), t) < 3000:\n    pass\nprint('done')")
	if got != "x\r\ndone\r\n" {
		t.Errorf("3 s loop printed %q", got)
	}
}
