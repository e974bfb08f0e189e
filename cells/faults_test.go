package cells

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/iot-kernel/iot-kernel/internal/testenv"
	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
	"github.com/iot-kernel/iot-kernel/testboard"
	"github.com/iot-kernel/iot-kernel/transport"
	"github.com/iot-kernel/iot-kernel/transport/serialport"
)

// A board printing forever while the stop button is pressed: the cell
// ends in KeyboardInterrupt, what it printed is shown, and the board's
// variables are kept for the next cell.
func TestStopABoardPrintingForever(t *testing.T) {
	// The wasm board sees Ctrl-C only in a blocking call (TESTBED).
	loops := map[testboard.Kind]string{
		testboard.Microbit: "while True:\n    print('spam')",
		testboard.Wasm:     "import time\nwhile True:\n    print('spam')\n    time.sleep(0.001)",
	}
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			it, _ := connected(t, kind)
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			ctx, stop := context.WithTimeout(ctx, 30*time.Second)
			defer stop()
			out := &kerneltest.Recorder{}
			seen := 0
			out.OnStream = func(_, text string) {
				// Stop only once it has printed for a while.
				if seen += strings.Count(text, "spam"); seen >= 50 {
					cancel(kernel.ErrInterrupted)
				}
			}
			_, err := it.Execute(ctx, kernel.ExecuteRequest{Code: "kept = 5\nprint('start')\n" + loops[kind], ExecutionCount: 2}, out)
			var ee *kernel.ExecError
			if !errors.As(err, &ee) || ee.Name != "KeyboardInterrupt" {
				t.Fatalf("error = %v, want KeyboardInterrupt", err)
			}
			got := out.Stdout()
			if !strings.HasPrefix(got, "start\nspam\n") || strings.Count(got, "spam\n") < 50 {
				t.Errorf("the output before the stop was not kept: %d bytes, starting %q", len(got), got[:min(len(got), 40)])
			}
			if strings.Contains(strings.ReplaceAll(got, "spam\n", ""), "spam\r") {
				t.Errorf("stray line endings in the output")
			}
			if _, res := mustRun(t, it, "kept"); res.Data["text/plain"] != "5" {
				t.Errorf("after the stop: kept = %v", res.Data)
			}
		})
	}
}

// A board unplugged in the middle of a cell: the cell fails with a
// ConnectionError that names the board, once; plugged in again, %connect
// and the cells after it work.
func TestBoardKilledMidCell(t *testing.T) {
	it, b := connected(t, testboard.Wasm)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	killed := make(chan error, 1)
	out := &kerneltest.Recorder{}
	out.OnStream = func(_, text string) {
		if strings.Contains(text, "go") {
			select {
			case killed <- nil:
				go func() { killed <- b.Kill() }()
			default:
			}
		}
	}
	_, err := it.Execute(ctx, kernel.ExecuteRequest{Code: "import time\nprint('go')\nwhile True:\n    time.sleep(0.01)", ExecutionCount: 4}, out)
	var ee *kernel.ExecError
	if !errors.As(err, &ee) || ee.Name != "ConnectionError" {
		t.Fatalf("error = %v, want a ConnectionError", err)
	}
	if !errors.Is(err, transport.ErrLinkLost) {
		t.Errorf("the ConnectionError does not wrap transport.ErrLinkLost (replay ends the notebook by it): %v", err)
	}
	t.Logf("unplugged: %s", ee.Value)
	if n := strings.Count(ee.Value, b.Path()); n != 1 {
		t.Errorf("the error names the board %d times: %s", n, ee.Value)
	}
	if !strings.Contains(ee.Value, "plugged in") {
		t.Errorf("the error does not say what to do: %s", ee.Value)
	}
	<-killed // the marker
	if err := <-killed; err != nil {
		t.Fatal(err)
	}
	// While it is gone, connecting to it again and listing its files say
	// so: not "Connected", not "no such file".
	for _, cell := range []string{"%connect " + b.Path(), "%ls"} {
		ee, out := execError(t, it, cell)
		if !strings.Contains(ee.Value, "plugged in") || strings.Contains(ee.Value, "no such file") || strings.Contains(out.Stdout(), "Connected") {
			t.Errorf("%s with the board gone: %s: %s (stdout %q)", cell, ee.Name, ee.Value, out.Stdout())
		}
	}
	if err := b.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	out2, _ := mustRun(t, it, "%connect "+b.Path()+"\nprint('back')")
	if !strings.HasSuffix(out2.Stdout(), "back\n") {
		t.Errorf("after %%connect: %q", out2.Stdout())
	}
}

// A wrong WebREPL password: the error names the board, says the password
// was wrong and where it came from, never shows it, and the notebook can
// connect with the right one next.
func TestWrongWebREPLPassword(t *testing.T) {
	wasm := startBoard(t, testboard.Wasm)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := testboard.StartWebREPL(ctx, wasm, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	it, _ := newInterp(t)
	for pw, want := range map[string]string{
		"wr0ng": "check the password (it came from $" + EnvWebREPLPassword + ")",
		"":      "no password was given",
	} {
		t.Setenv(EnvWebREPLPassword, pw)
		ee, _ := execError(t, it, "%connect "+srv.URL())
		t.Logf("password %q: %s: %s", pw, ee.Name, ee.Value)
		if !strings.Contains(ee.Value, srv.URL()) || !strings.Contains(ee.Value, "wrong WebREPL password") ||
			!strings.Contains(ee.Value, want) {
			t.Errorf("password %q: %+v, want the board, the cause and %q", pw, ee, want)
		}
		if n := strings.Count(ee.Value, "127.0.0.1"); n != 1 {
			t.Errorf("password %q: the board named %d times: %s", pw, n, ee.Value)
		}
		if pw != "" && strings.Contains(ee.Value, pw) {
			t.Errorf("the error shows the password: %s", ee.Value)
		}
	}
	t.Setenv(EnvWebREPLPassword, "s3cret")
	mustRun(t, it, "%connect -q "+srv.URL()+"\nprint(1)")
}

// Output that is not UTF-8, and NUL and control bytes: the cell shows the
// bytes the board sent, loses nothing after them, and the next cell works.
func TestInvalidUTF8AndNULInOutput(t *testing.T) {
	code := map[testboard.Kind]string{
		// The micro:bit's REPL is its UART.
		testboard.Microbit: "from microbit import uart\nuart.write(b'a\\xffb\\x00c\\xe2\\x82\\r\\n')\nprint('after')",
		testboard.Wasm:     "import sys\nsys.stdout.buffer.write(b'a\\xffb\\x00c\\xe2\\x82\\r\\n')\nprint('after')",
	}
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			it, _ := connected(t, kind)
			out, _ := mustRun(t, it, code[kind])
			if got, want := out.Stdout(), "a\xffb\x00c\xe2\x82\nafter\n"; got != want {
				t.Errorf("stdout = %q, want %q", got, want)
			}
			out, _ = mustRun(t, it, "print('nul\\x00 \\x01\\x02 end')")
			if got := out.Stdout(); got != "nul\x00 \x01\x02 end\n" {
				t.Errorf("stdout = %q", got)
			}
		})
	}
}

// A port that does not exist: the error says so once, names the port
// once, and says what to check; the notebook stays usable.
func TestConnectMissingPort(t *testing.T) {
	it, _ := newInterp(t)
	const port = "/dev/does-not-exist-ttyUSB9"
	ee, _ := execError(t, it, "%connect "+port)
	t.Logf("%s: %s", ee.Name, ee.Value)
	if n := strings.Count(ee.Value, port); n != 1 {
		t.Errorf("the port is named %d times: %s", n, ee.Value)
	}
	if !strings.Contains(ee.Value, "no such port") || !strings.Contains(ee.Value, "plugged in") {
		t.Errorf("unclear: %s", ee.Value)
	}
	if strings.Count(ee.Value, "open") > 1 || strings.Count(ee.Value, "connect") > 1 {
		t.Errorf("repetitive: %s", ee.Value)
	}
	mustRun(t, it, "%lsmagic")

	// The ports there are, since the board is often under another name.
	it.sess.discover = func() ([]serialport.Port, error) {
		return []serialport.Port{{Path: "/dev/ttyACM0"}, {Path: "/dev/ttyUSB1"}}, nil
	}
	ee, _ = execError(t, it, "%connect "+port)
	if !strings.Contains(ee.Value, "(the serial ports here: /dev/ttyACM0, /dev/ttyUSB1)") {
		t.Errorf("no list of the ports there are: %s", ee.Value)
	}
	it.sess.discover = func() ([]serialport.Port, error) { return nil, nil }
	ee, _ = execError(t, it, "%connect "+port)
	if !strings.Contains(ee.Value, "(no serial port is plugged in)") {
		t.Errorf("no word that there is no port: %s", ee.Value)
	}
}

// A board that does not answer at all (a main.py that never ends, a hung
// board): the connect fails with what to do, %hardreset --pin included.
func TestConnectBoardThatDoesNotAnswer(t *testing.T) {
	master, slave, err := pty.Open()
	if err != nil {
		testenv.SkipOrFail(t, "no pty: %v", err)
	}
	t.Cleanup(func() { master.Close(); slave.Close() })
	// Whatever the kernel sends is read and never answered.
	go func() { _, _ = io.Copy(io.Discard, master) }()
	it, _ := newInterp(t)
	ee, _ := execError(t, it, "%connect "+slave.Name())
	t.Logf("%s", ee.Value)
	for _, want := range []string{"close it and try again", "%hardreset --pin " + slave.Name(), "unplug it"} {
		if !strings.Contains(ee.Value, want) {
			t.Errorf("the error lacks %q: %s", want, ee.Value)
		}
	}
}

// A %connect that fails leaves the board that was current, and says so.
func TestFailedConnectSaysWhichBoardStays(t *testing.T) {
	it, b := connected(t, testboard.Wasm)
	mustRun(t, it, "kept = 5")
	ee, _ := execError(t, it, "%connect /dev/does-not-exist-ttyUSB9")
	if !strings.HasSuffix(ee.Value, "; cells still run on ttyACM0") {
		t.Errorf("the failed %%connect does not say which board stays: %s", ee.Value)
	}
	if _, res := mustRun(t, it, "kept"); res.Data["text/plain"] != "5" {
		t.Errorf("after the failed %%connect, kept = %v on %s", res.Data, b.Path())
	}
}
