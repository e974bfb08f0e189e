package transport

import (
	"bytes"
	"errors"
	"strings"
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
