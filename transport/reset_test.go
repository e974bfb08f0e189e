package transport

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A board that soft-resets at the end of the code (SystemExit on
// MicroPython 1.27) prints its reboot and raw banner where the prompt goes:
// the exec succeeds, the user is told once, and the kernel's helpers are
// installed again before the next code that needs them.
func TestResetAtEndOfCode(t *testing.T) {
	f := newFake(t, "no")
	f.run = func(x *fakeExec) string {
		if strings.Contains(x.code, "exit") {
			x.out("a\r\n\x04\x04MPY: soft reboot\r\nboot says > hi\r\n" + rawBanner)
			x.f.mu.Lock()
			x.f.shim = false
			x.f.mu.Unlock()
			x.dropEnd = true
			return ""
		}
		return echoRun(x)
	}
	b := f.board(2 * time.Second)
	var notes []string
	tell := func(n string) { notes = append(notes, n) }
	input := func(string) (string, error) { return "", nil }
	if err := b.Exec(testCtx(t), "print(1)", ExecOptions{Input: input, Reset: tell}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := b.Exec(testCtx(t), "sys.exit()", ExecOptions{Stdout: &out, Input: input, Reset: tell}); err != nil {
		t.Fatalf("exec ending in a soft reset: %v", err)
	}
	if out.String() != "a\r\n" {
		t.Errorf("stdout = %q", out.String())
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "soft-reset") {
		t.Fatalf("notes = %q, want one saying the board soft-reset", notes)
	}
	if err := b.Exec(testCtx(t), "print(2)", ExecOptions{Input: input, Reset: tell}); err != nil {
		t.Fatal(err)
	}
	if len(notes) != 1 {
		t.Errorf("told again: %q", notes)
	}
	if _, _, shims, _ := f.stat(); shims != 2 {
		t.Errorf("helpers installed %d times, want 2 (again after the reset)", shims)
	}
}

// A reset while no operation runs (the reset button, a watchdog) shows in
// the boot banner the board prints: the next Exec re-enters the raw REPL,
// installs the helpers again and tells the user, before the code runs.
func TestResetWhileIdle(t *testing.T) {
	for _, direct := range []bool{false, true} {
		f := newFake(t, "no")
		f.direct = direct
		f.run = echoRun
		b := f.board(2 * time.Second)
		var events []string
		opts := ExecOptions{
			Input:  func(string) (string, error) { return "", nil },
			Stdout: writerFunc(func(p []byte) { events = append(events, "out:"+string(p)) }),
			Reset:  func(n string) { events = append(events, "reset:"+n) },
		}
		if err := b.Exec(testCtx(t), "one", opts); err != nil {
			t.Fatal(err)
		}
		// The board reboots to its friendly REPL, as after the reset button.
		f.mu.Lock()
		conn := f.conn
		f.shim = false
		f.mu.Unlock()
		done := make(chan error, 1)
		go func() {
			_, err := conn.Write([]byte("\x00ets Jun  8 2016\r\nMicroPython v1.27.0 on 2025-12-09; fake with CPU\r\nType \"help()\" for more information.\r\n>>> "))
			done <- err
		}()
		// Taken by the link's reader, or by the idle poller once the link
		// has been idle for a moment.
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("nothing read the banner within 10 s")
		}
		events = nil
		if err := b.Exec(testCtx(t), "two", opts); err != nil {
			t.Fatalf("exec after a reset (direct=%v): %v", direct, err)
		}
		if len(events) < 2 || !strings.HasPrefix(events[0], "reset:") || !strings.Contains(events[0], "boot banner") || events[1] != "out:ran:two\r\n" {
			t.Errorf("direct=%v: events %q, want the reset told, then the output", direct, events)
		}
		if _, _, shims, _ := f.stat(); shims != 2 {
			t.Errorf("direct=%v: helpers installed %d times, want 2", direct, shims)
		}
	}
}

// A board that prints its boot banner while code runs was reset then: the
// exec ends with an error saying so instead of waiting for an end that
// never comes, and the next one works.
func TestResetDuringCode(t *testing.T) {
	f := newFake(t, "no")
	f.run = func(x *fakeExec) string {
		if x.code == "reset" {
			x.out("bye\r\n\x00MicroPython v1.9.2 on 2017-09-01; fake\r\nType \"help()\" for more information.\r\n>>> ")
			// Now at the friendly prompt, as far as the host can tell: it
			// prints nothing more until it is spoken to.
			<-x.intr
			x.dropEnd = true
			return ""
		}
		return echoRun(x)
	}
	b := f.board(time.Minute) // a wait for the end would show as a hang
	var out bytes.Buffer
	err := b.Exec(testCtx(t), "reset", ExecOptions{Stdout: &out})
	if !errors.Is(err, ErrReset) || !strings.Contains(err.Error(), "reset while the code ran") {
		t.Fatalf("err = %v, want ErrReset saying the board was reset while the code ran", err)
	}
	if !strings.HasPrefix(out.String(), "bye\r\n") {
		t.Errorf("stdout = %q", out.String())
	}
	out.Reset()
	if err := b.Exec(testCtx(t), "after", ExecOptions{Stdout: &out}); err != nil || out.String() != "ran:after\r\n" {
		t.Fatalf("exec after the reset: %v %q", err, out.String())
	}
}

// The display hook's frame is the value only when it ends the output and
// carries the link's marker; anything else is the program's text, at
// every split of the stream.
func TestOutFilterValue(t *testing.T) {
	marker := valueMarkerPrefix + "n0nce;"
	for _, tc := range []struct {
		stream, out, repr string
		value             bool
	}{
		{"ab€" + marker + "42\x07", "ab€", "42", true},
		{marker + "'a\x07b'\x07", "", "'a\x07b'", true},
		{"x" + valueMarkerPrefix + "other;1\x07", "x" + valueMarkerPrefix + "other;1\x07", "", false},
		{marker + "1\x07 and more", marker + "1\x07 and more", "", false},
		{marker + "fake\x07then" + marker + "[1]\x07", marker + "fake\x07then", "[1]", true},
		{"no value", "no value", "", false},
	} {
		for split := 0; split <= len(tc.stream); split++ {
			var out bytes.Buffer
			fl := &outFilter{w: &out, markers: true, value: []byte(marker)}
			for _, part := range []string{tc.stream[:split], tc.stream[split:]} {
				if _, found := fl.feed([]byte(part)); found {
					t.Fatalf("%q: an input prompt found", tc.stream)
				}
			}
			fl.flush()
			if out.String() != tc.out || fl.hasValue != tc.value || fl.repr != tc.repr {
				t.Fatalf("%q split %d: out %q value %v %q; want %q %v %q",
					tc.stream, split, out.String(), fl.hasValue, fl.repr, tc.out, tc.value, tc.repr)
			}
		}
	}
}

// bootPrints is a fake boot.py that prints text, then waits for d unless a
// Ctrl-C interrupts it first; interrupted records whether one did.
func bootPrints(text string, d time.Duration, interrupted *atomic.Bool) func(x *fakeExec) string {
	return func(x *fakeExec) string {
		x.out(text)
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-x.intr:
			interrupted.Store(true)
			return kbdTraceback
		case <-t.C:
			return ""
		}
	}
}

// A soft reset runs boot.py again, and SoftReset passes on what it prints,
// its traceback included, as a serial terminal would show it: not the
// reset's own lines, nor the raw REPL's banner.
func TestSoftResetShowsBootOutput(t *testing.T) {
	f := newFake(t, "no")
	f.boot = func(x *fakeExec) string {
		return "BOOTED\r\nTraceback (most recent call last):\r\n  File \"boot.py\", line 2, in <module>\r\nZeroDivisionError: divide by zero\r\n"
	}
	b := f.board(2 * time.Second)
	var out bytes.Buffer
	if err := b.SoftReset(testCtx(t), &out); err != nil {
		t.Fatal(err)
	}
	want := "BOOTED\r\nTraceback (most recent call last):\r\n  File \"boot.py\", line 2, in <module>\r\nZeroDivisionError: divide by zero\r\n"
	if out.String() != want {
		t.Errorf("boot output %q, want %q", out.String(), want)
	}
	if err := b.Exec(testCtx(t), "print(1)", ExecOptions{}); err != nil {
		t.Errorf("after the soft reset: %v", err)
	}
}

// A boot.py that takes longer than the link's timeout (a Wi-Fi connect,
// silent or printing as it goes) is waited for, not cut short by a Ctrl-C
// while SoftReset says all went well.
func TestSoftResetWaitsForASlowBootPy(t *testing.T) {
	const timeout = 500 * time.Millisecond
	for _, tc := range []struct {
		name string
		boot func(x *fakeExec, interrupted *atomic.Bool) string
		want string
	}{
		{"silent", func(x *fakeExec, i *atomic.Bool) string {
			return bootPrints("", 3*timeout, i)(x)
		}, ""},
		{"printing", func(x *fakeExec, i *atomic.Bool) string {
			for range 15 {
				if bootPrints(".", timeout/5, i)(x) != "" {
					return kbdTraceback
				}
			}
			return "up\r\n"
		}, strings.Repeat(".", 15) + "up\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var interrupted atomic.Bool
			f := newFake(t, "no")
			f.boot = func(x *fakeExec) string { return tc.boot(x, &interrupted) }
			b := f.board(timeout)
			var out bytes.Buffer
			if err := b.SoftReset(testCtx(t), &out); err != nil {
				t.Fatal(err)
			}
			if interrupted.Load() {
				t.Error("boot.py was interrupted")
			}
			if out.String() != tc.want {
				t.Errorf("boot output %q, want %q", out.String(), tc.want)
			}
		})
	}
}

// A boot.py that never ends (silent, or printing for ever) is interrupted
// in the end, and SoftReset says so and what to do; the board answers
// after it.
func TestSoftResetBootPyThatNeverEnds(t *testing.T) {
	const timeout = 250 * time.Millisecond
	for _, tc := range []struct {
		name, text, want string
	}{
		{"silent", "", "boot.py printed nothing for " + (bootIdle * timeout).String()},
		{"printing", ".", "boot.py had not finished " + (bootMax * timeout).String() + " after the reset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var interrupted atomic.Bool
			f := newFake(t, "no")
			f.boot = func(x *fakeExec) string {
				for {
					if tb := bootPrints(tc.text, timeout/5, &interrupted)(x); tb != "" {
						return tb
					}
				}
			}
			b := f.board(timeout)
			err := b.SoftReset(testCtx(t), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "so it was interrupted (Ctrl-C)") || !strings.Contains(err.Error(), "check boot.py") {
				t.Errorf("SoftReset with a boot.py that never ends: %v; want %q, that it was interrupted and to check boot.py", err, tc.want)
			}
			if !interrupted.Load() {
				t.Error("boot.py was not interrupted")
			}
			if err := b.Exec(testCtx(t), "print(1)", ExecOptions{}); err != nil {
				t.Errorf("after the soft reset: %v", err)
			}
		})
	}
}

// A stop while boot.py runs after a soft reset interrupts it, says so, and
// leaves nothing of the reset for the output between operations (the
// REPL's newline before "soft reboot" showed as a blank line).
func TestSoftResetStoppedWhileBootPyRuns(t *testing.T) {
	ctx, cancel := context.WithCancelCause(testCtx(t))
	defer cancel(nil)
	var interrupted atomic.Bool
	f := newFake(t, "no")
	f.boot = func(x *fakeExec) string {
		x.out("booting\r\n")
		cancel(ErrInterrupted) // the user stops the cell as boot.py runs
		return bootPrints("", 2*time.Second, &interrupted)(x)
	}
	var bg lockedBuffer
	b := New("fake:", f.dial, Options{Timeout: 2 * time.Second, Background: &bg})
	t.Cleanup(func() { _ = b.Close() })
	if err := b.Exec(testCtx(t), "print(1)", ExecOptions{}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := b.SoftReset(ctx, &out)
	if err == nil || !strings.Contains(err.Error(), "boot.py interrupted") {
		t.Errorf("SoftReset stopped: %v; want it to say boot.py was interrupted", err)
	}
	if out.String() != "booting\r\n" {
		t.Errorf("boot output %q, want what boot.py printed before the stop", out.String())
	}
	if !interrupted.Load() {
		t.Error("boot.py was not interrupted")
	}
	var next bytes.Buffer
	if err := b.Exec(testCtx(t), "print(2)", ExecOptions{Stdout: &next}); err != nil {
		t.Fatal(err)
	}
	if got := bg.String(); got != "" {
		t.Errorf("output between operations after the stopped soft reset: %q, want none", got)
	}
}

// lockedBuffer is a bytes.Buffer for Options.Background, which the idle
// reader writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
