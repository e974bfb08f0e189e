package testboard

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestPrompt(t *testing.T) {
	kinds(t, func(t *testing.T, kind Kind) {
		b := startBoard(t, kind)
		c := openBoard(t, b)
		c.write("\r\x03\x03")
		c.expect(">>> ")
		c.write("print(6*7)\r")
		c.expect("print(6*7)\r\n42\r\n>>> ")
	})
}

func TestRawREPL(t *testing.T) {
	kinds(t, func(t *testing.T, kind Kind) {
		b := startBoard(t, kind)
		c := openBoard(t, b)
		c.enterRaw()
		c.write("print(1+1)\x04")
		c.expect("OK2\r\n\x04\x04>")
		out, errOut := c.exec("print('a\\nb')")
		if out != "a\r\nb\r\n" || errOut != "" {
			t.Errorf("exec printed %q, %q; want \"a\\r\\nb\\r\\n\", \"\"", out, errOut)
		}
		_, errOut = c.exec("1/0")
		if !strings.Contains(errOut, "ZeroDivisionError") {
			t.Errorf("error output %q lacks ZeroDivisionError", errOut)
		}
	})
}

func TestSoftResetClearsState(t *testing.T) {
	kinds(t, func(t *testing.T, kind Kind) {
		b := startBoard(t, kind)
		c := openBoard(t, b)
		c.enterRaw()
		if out, _ := c.exec("x = 42\nprint(x)"); out != "42\r\n" {
			t.Fatalf("print(x) gave %q", out)
		}
		c.write("\x04")
		c.expect("OK\r\n")
		c.expect("soft reboot\r\nraw REPL; CTRL-B to exit\r\n>")
		if _, errOut := c.exec("print(x)"); !strings.Contains(errOut, "NameError") {
			t.Errorf("x survived the soft reset: error output %q", errOut)
		}
	})
}

func TestCtrlCStopsLoop(t *testing.T) {
	kinds(t, func(t *testing.T, kind Kind) {
		b := startBoard(t, kind)
		c := openBoard(t, b)
		c.enterRaw()
		// A pure busy loop cannot be stopped on wasm (see sim/board/README.md):
		// it is interrupted while it sleeps, as user code usually does.
		c.write("import time\nprint('running')\nwhile True:\n  time.sleep_ms(10)\n\x04")
		// Ctrl-C counts only once the code runs: before, it is just input.
		c.expect("OKrunning\r\n")
		c.write("\x03")
		got := c.expect("\x04>")
		if !strings.Contains(got, "KeyboardInterrupt") {
			t.Errorf("interrupted loop printed %q, want KeyboardInterrupt", got)
		}
		if out, _ := c.exec("print('alive')"); out != "alive\r\n" {
			t.Errorf("after the interrupt, print gave %q", out)
		}
	})
}

func TestReopen(t *testing.T) {
	kinds(t, func(t *testing.T, kind Kind) {
		b := startBoard(t, kind)
		c := openBoard(t, b)
		c.enterRaw()
		c.exec("y = 7")
		if err := c.rw.Close(); err != nil {
			t.Fatal(err)
		}
		// The pty must survive its only client closing it, and the board
		// keep its state, as a USB board does.
		c = openBoard(t, b)
		if out, _ := c.exec("print(y)"); out != "7\r\n" {
			t.Errorf("after reopening, print(y) gave %q", out)
		}
	})
}

func TestKillAndRestart(t *testing.T) {
	kinds(t, func(t *testing.T, kind Kind) {
		b := startBoard(t, kind)
		c := openBoard(t, b)
		c.enterRaw()
		c.exec("z = 1")
		if err := b.Kill(); err != nil {
			t.Fatalf("Kill: %v", err)
		}
		if got, err := c.until("never", 10*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read after Kill: got %q, err %v; want a read error", got, err)
		}
		if f, err := OpenRaw(b.Path()); err == nil {
			f.Close()
			t.Errorf("Path still opens after Kill")
		}
		ctx, cancel := testContext(t)
		defer cancel()
		if err := b.Restart(ctx); err != nil {
			t.Fatalf("Restart: %v", err)
		}
		c = openBoard(t, b)
		c.enterRaw()
		if out, _ := c.exec("print(2+3)"); out != "5\r\n" {
			t.Errorf("restarted board printed %q", out)
		}
		if _, errOut := c.exec("print(z)"); !strings.Contains(errOut, "NameError") {
			t.Errorf("state survived the restart: %q", errOut)
		}
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}
