package cells

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/internal/testenv"
	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
	"github.com/iot-kernel/iot-kernel/testboard"
)

// %connect to the same board over another link, with no %disconnect in
// between (its WebREPL, then its USB port, then an RFC 2217 server in front
// of that port, then its WebREPL again): after each switch the cells work,
// input() included, and the board's variables are still there.
func TestConnectSameBoardOverAnotherLink(t *testing.T) {
	wasm := startBoard(t, testboard.Wasm)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, err := testboard.StartWebREPL(ctx, wasm, "pw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	rfc, err := testboard.StartRFC2217(ctx, wasm)
	if testenv.Missing(err) {
		testenv.SkipOrFail(t, "RFC 2217 server: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rfc.Close() })
	t.Setenv(EnvWebREPLPassword, "pw")
	it, _ := newInterp(t)

	mustRun(t, it, "%connect -q "+ws.URL()+"\nn = 41")
	for i, url := range []string{wasm.Path(), rfc.URL(), ws.URL(), wasm.Path()} {
		out := &kerneltest.Recorder{Answer: func(string) (string, error) { return "Ada", nil }}
		res, err := run(t, it, "%connect -q "+url+"\nname = input('Name? ')\nprint('hi', name)\nn = n + 1\nn", out)
		if err != nil {
			t.Fatalf("switch %d to %s: %v (stdout %q, stderr %q)", i, url, err, out.Stdout(), out.Stderr())
		}
		if p := out.Prompts(); len(p) != 1 || p[0] != "Name? " {
			t.Errorf("switch %d to %s: prompts %q", i, url, p)
		}
		if got := out.Stdout(); got != "hi Ada\n" {
			t.Errorf("switch %d to %s: stdout %q", i, url, got)
		}
		if got, want := res.Data["text/plain"], strconv.Itoa(42+i); got != want {
			t.Errorf("switch %d to %s: n = %v, want %s (the board's variables lost?)", i, url, got, want)
		}
	}
}

// A %connect that fails leaves the notebook on the board it was on, even
// when that board was let go of for the attempt, and its variables kept.
func TestFailedConnectKeepsTheBoard(t *testing.T) {
	wasm := startBoard(t, testboard.Wasm)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, err := testboard.StartWebREPL(ctx, wasm, "pw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	t.Setenv(EnvWebREPLPassword, "pw")
	it, _ := newInterp(t)
	mustRun(t, it, "%connect -q "+ws.URL()+"\nn = 7")
	for _, bad := range []string{"/dev/does-not-exist-ttyUSB9", "rfc2217://127.0.0.1:9"} {
		ee, _ := execError(t, it, "%connect "+bad)
		if ee.Value == "" || strings.Contains(ee.Value, "could not be connected again") {
			t.Errorf("%%connect %s: %+v", bad, ee)
		}
		_, res := mustRun(t, it, "n")
		if res.Data["text/plain"] != "7" {
			t.Errorf("after %%connect %s failed: n = %v", bad, res.Data)
		}
	}
}
