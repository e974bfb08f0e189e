package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/iot-kernel/iot-kernel/internal/testenv"
	"github.com/iot-kernel/iot-kernel/testboard"
	"github.com/iot-kernel/iot-kernel/transport/webrepl"
)

// The suite runs every case over every link (serial pty, WebREPL, RFC 2217)
// to every test board (micro:bit under QEMU, the wasm port under node), like
// yamux's tests over pipe/TCP/TLS. With IOT_TEST_BOARD set (/dev/ttyUSB0,
// ws://host:8266/ with IOT_TEST_PASSWORD, rfc2217://...), it runs against
// that real board instead.

// target is one board reached over one link.
type target struct {
	kind  testboard.Kind // "" for a real board
	link  string
	board *Board
	tb    *testboard.Board // nil for a real board
}

func (tg *target) microbit() bool { return tg.kind == testboard.Microbit }

var suiteCases = []struct {
	name string
	fn   func(t *testing.T, tg *target)
}{
	{"exec", caseExec},
	{"streaming", caseStreaming},
	{"output100KB", caseBigOutput},
	{"longCode", caseLongCode},
	{"utf8", caseUTF8},
	{"syntaxError", caseSyntaxError},
	{"exception", caseException},
	{"input", caseInput},
	{"interruptInput", caseInterruptInput},
	{"interruptSleep", caseInterruptSleep},
	{"interruptBusyLoop", caseInterruptBusy},
	{"softReset", caseSoftReset},
	{"files", caseFiles},
	{"killAndRestart", caseKill}, // last: it restarts the board
}

func TestSuite(t *testing.T) {
	if testing.Short() {
		testenv.SkipOrFail(t, "the board suite is not run with -short")
	}
	if url := os.Getenv("IOT_TEST_BOARD"); url != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		b, err := Open(ctx, url, Options{Password: os.Getenv("IOT_TEST_PASSWORD")})
		if err != nil {
			t.Fatalf("IOT_TEST_BOARD=%s: %v", url, err)
		}
		t.Cleanup(func() { _ = b.Close() })
		runCases(t, &target{link: "real", board: b})
		return
	}
	for _, kind := range []testboard.Kind{testboard.Microbit, testboard.Wasm} {
		for _, link := range []string{"serial", "webrepl", "rfc2217"} {
			t.Run(string(kind)+"/"+link, func(t *testing.T) {
				runCases(t, startTarget(t, kind, link))
			})
		}
	}
}

func runCases(t *testing.T, tg *target) {
	for _, c := range suiteCases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, tg) })
	}
}

// startTarget starts a test board behind the link, or skips saying what
// is missing.
func startTarget(t *testing.T, kind testboard.Kind, link string) *target {
	return startTargetWith(t, kind, link, testboard.Options{})
}

// startTargetWith is startTarget with the test board's options.
func startTargetWith(t *testing.T, kind testboard.Kind, link string, topt testboard.Options) *target {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The micro:bit is paced like its UART, as a real one would be behind
	// any of the links.
	tb := startTestBoard(t, kind, topt)
	url, opt := tb.Path(), Options{}
	switch link {
	case "webrepl":
		const password = "secret"
		s, err := testboard.StartWebREPL(ctx, tb, password)
		if err != nil {
			skipIfMissing(t, err)
			t.Fatalf("start WebREPL: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		url, opt.Password = s.URL(), password
	case "rfc2217":
		s, err := testboard.StartRFC2217(ctx, tb)
		if err != nil {
			skipIfMissing(t, err)
			t.Fatalf("start RFC 2217 server: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		url = s.URL()
	}
	b, err := Open(ctx, url, opt)
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return &target{kind: kind, link: link, board: b, tb: tb}
}

// skipIfMissing skips when a tool the test board needs is not installed,
// or fails under IOT_TEST_REQUIRE_ALL=1.
// startTestBoard starts a test board of kind for the test, stopped at its
// end; a board this machine cannot run skips the test (or fails it under
// IOT_TEST_REQUIRE_ALL).
func startTestBoard(t testing.TB, kind testboard.Kind, opt testboard.Options) *testboard.Board {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tb, err := testboard.Start(ctx, kind, opt)
	if err != nil {
		if testenv.Missing(err) {
			testenv.SkipOrFail(t, "test board %s not available: %v", kind, err)
		}
		t.Fatalf("start %s board: %v", kind, err)
	}
	t.Cleanup(func() { _ = tb.Close() })
	return tb
}

func skipIfMissing(t *testing.T, err error) {
	t.Helper()
	if testenv.Missing(err) {
		testenv.SkipOrFail(t, "test board not available: %v", err)
	}
}

func suiteCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func run(t *testing.T, tg *target, code string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := tg.board.Exec(suiteCtx(t), code, ExecOptions{Stdout: &out})
	return out.String(), err
}

func mustRun(t *testing.T, tg *target, code, want string) {
	t.Helper()
	out, err := run(t, tg, code)
	if err != nil {
		t.Fatalf("exec %.60q: %v", code, err)
	}
	if out != want {
		t.Fatalf("exec %.60q: output %q, want %q", code, out, want)
	}
}

func wantBoardError(t *testing.T, err error, name string) *BoardError {
	t.Helper()
	var be *BoardError
	if !errors.As(err, &be) || be.Name != name {
		t.Fatalf("err = %v, want the board's %s", err, name)
	}
	return be
}

func caseExec(t *testing.T, tg *target) {
	mustRun(t, tg, "print(1+1)", "2\r\n")
	mustRun(t, tg, "x_suite = 21", "")
	if v, err := tg.board.Eval(suiteCtx(t), "x_suite * 2"); err != nil || v != "42" {
		t.Fatalf("Eval = %q, %v; want 42", v, err)
	}
	// Every link the project ships is read in the operation's goroutine,
	// not through a reader goroutine of the engine's.
	tg.board.mu.Lock()
	pumped := tg.board.ln != nil && tg.board.ln.pump != nil
	tg.board.mu.Unlock()
	if pumped {
		t.Errorf("the %s link is read through a pump goroutine, not directly", tg.link)
	}
}

// caseStreaming: the cell prints, then waits for an input() that is only
// answered once the print has reached us, so the cell cannot end first.
func caseStreaming(t *testing.T, tg *target) {
	first := make(chan struct{})
	w := watch("first", func() { close(first) })
	in := func(string) (string, error) {
		select {
		case <-first:
			return "go", nil
		case <-time.After(30 * time.Second):
			return "", errors.New("the first output did not arrive while the cell ran")
		}
	}
	err := tg.board.Exec(suiteCtx(t), "print('first')\nprint('then', input())", ExecOptions{Stdout: w, Input: in})
	if err != nil {
		t.Fatal(err)
	}
}

type writerFunc func(p []byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

// watch returns a writer that calls fn once, when the output so far
// contains s (which may arrive split over several writes).
func watch(s string, fn func()) writerFunc {
	var mu sync.Mutex
	var seen []byte
	var once sync.Once
	return func(p []byte) {
		mu.Lock()
		seen = append(seen, p...)
		hit := bytes.Contains(seen, []byte(s))
		mu.Unlock()
		if hit {
			once.Do(fn)
		}
	}
}

func caseBigOutput(t *testing.T, tg *target) {
	var want strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&want, "%04d%s\r\n", i, strings.Repeat("-", 45))
	}
	mustRun(t, tg, "for i in range(2000):print('%04d'%i+'-'*45)", want.String())
}

func caseLongCode(t *testing.T, tg *target) {
	size, vars := 10000, 1000
	if tg.microbit() {
		size, vars = 1000, 20 // the micro:bit has about 9 KB of RAM
	}
	var code strings.Builder
	for i := 0; code.Len() < size; i++ {
		fmt.Fprintf(&code, "v%d=%d\n", i%vars, i)
	}
	code.WriteString("print('done')\n")
	mustRun(t, tg, code.String(), "done\r\n")
	if !tg.microbit() {
		return
	}
	// Near and past the RAM limit: MemoryError, never a hang.
	for _, n := range []int{3000, 20000} {
		code.Reset()
		for i := 0; code.Len() < n; i++ {
			fmt.Fprintf(&code, "w%d=%d\n", i, i)
		}
		_, err := run(t, tg, code.String())
		wantBoardError(t, err, "MemoryError")
		mustRun(t, tg, "print('alive')", "alive\r\n")
	}
	// Give the RAM back to the next cases.
	if err := tg.board.SoftReset(suiteCtx(t), nil); err != nil {
		t.Fatal(err)
	}
}

func caseUTF8(t *testing.T, tg *target) {
	var writes []string
	w := writerFunc(func(p []byte) { writes = append(writes, string(p)) })
	err := tg.board.Exec(suiteCtx(t), "for i in range(200):print('aé€😀'*10)", ExecOptions{Stdout: w})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Repeat(strings.Repeat("aé€😀", 10)+"\r\n", 200)
	if got := strings.Join(writes, ""); got != want {
		t.Fatalf("output damaged: %d bytes, want %d", len(got), len(want))
	}
	for _, s := range writes {
		if !utf8.ValidString(s) {
			t.Fatalf("a write split a character: %q", s)
		}
	}
}

func caseSyntaxError(t *testing.T, tg *target) {
	_, err := run(t, tg, "x = (\n")
	wantBoardError(t, err, "SyntaxError")
	mustRun(t, tg, "print('ok')", "ok\r\n")
}

func caseException(t *testing.T, tg *target) {
	out, err := run(t, tg, "def f():\n  return 1/0\nprint('before')\nf()")
	be := wantBoardError(t, err, "ZeroDivisionError")
	if out != "before\r\n" {
		t.Fatalf("output %q", out)
	}
	if len(be.Traceback) < 3 || !strings.HasPrefix(be.Traceback[0], "Traceback") {
		t.Fatalf("traceback %q", be.Traceback)
	}
	_, err = run(t, tg, "raise ValueError('bad value')")
	if be := wantBoardError(t, err, "ValueError"); be.Value != "bad value" {
		t.Fatalf("value %q", be.Value)
	}
}

func caseInput(t *testing.T, tg *target) {
	var prompts []string
	in := func(p string) (string, error) { prompts = append(prompts, p); return "Ada Lovelace", nil }
	var out bytes.Buffer
	err := tg.board.Exec(suiteCtx(t), "n=input('name? ')\nprint('hello', n, len(n))", ExecOptions{Stdout: &out, Input: in})
	if err != nil {
		t.Fatal(err)
	}
	// The typed line is shown by the notebook, never echoed by the board.
	want := "hello Ada Lovelace 12\r\n"
	if out.String() != want || len(prompts) != 1 || prompts[0] != "name? " {
		t.Fatalf("output %q, prompts %q", out.String(), prompts)
	}
}

// caseInterruptInput: Ctrl-C while the board waits for an input() answer.
func caseInterruptInput(t *testing.T, tg *target) {
	ctx, cancel := context.WithCancel(suiteCtx(t))
	defer cancel()
	never := make(chan struct{})
	defer close(never)
	in := func(string) (string, error) {
		cancel()
		<-never
		return "", errors.New("abandoned")
	}
	err := tg.board.Exec(ctx, "input('?')", ExecOptions{Input: in})
	wantBoardError(t, err, "KeyboardInterrupt")
	mustRun(t, tg, "print('after')", "after\r\n")
}

// interruptWhenPrinted runs code and cancels it once it printed "go".
func interruptWhenPrinted(t *testing.T, tg *target, code string) error {
	ctx, cancel := context.WithCancel(suiteCtx(t))
	defer cancel()
	w := watch("go", cancel)
	return tg.board.Exec(ctx, code, ExecOptions{Stdout: w})
}

func caseInterruptSleep(t *testing.T, tg *target) {
	err := interruptWhenPrinted(t, tg, "import time\nprint('go')\nwhile True:\n  time.sleep(0.01)")
	wantBoardError(t, err, "KeyboardInterrupt")
	mustRun(t, tg, "print('after')", "after\r\n")
}

func caseInterruptBusy(t *testing.T, tg *target) {
	if tg.kind == testboard.Wasm {
		t.Skip("the wasm port runs Python on node's only thread: a busy loop cannot see Ctrl-C")
	}
	err := interruptWhenPrinted(t, tg, "print('go')\nwhile True:\n  pass")
	wantBoardError(t, err, "KeyboardInterrupt")
	mustRun(t, tg, "print('after')", "after\r\n")
}

func caseSoftReset(t *testing.T, tg *target) {
	mustRun(t, tg, "soft_x = 1", "")
	if err := tg.board.SoftReset(suiteCtx(t), nil); err != nil {
		t.Fatal(err)
	}
	_, err := run(t, tg, "soft_x")
	wantBoardError(t, err, "NameError")
	mustRun(t, tg, "print('fresh')", "fresh\r\n")
}

func caseFiles(t *testing.T, tg *target) {
	ctx := suiteCtx(t)
	b := tg.board
	binary := make([]byte, 3000)
	for i := range binary {
		binary[i] = byte(i*7 + i/256)
	}
	for name, data := range map[string][]byte{
		"suite_text.txt": []byte("hello\nwörld\r\n\ttab 'quote' \"dq\" \\ back\n"),
		"suite_bin.dat":  binary,
	} {
		var calls int
		var last [2]int64
		progress := func(done, total int64) { calls++; last = [2]int64{done, total} }
		if err := b.WriteFile(ctx, name, data, progress); err != nil {
			t.Fatalf("WriteFile %s: %v", name, err)
		}
		if calls == 0 || last != [2]int64{int64(len(data)), int64(len(data))} {
			t.Errorf("WriteFile %s: progress %d calls, last %v", name, calls, last)
		}
		got, err := b.ReadFile(ctx, name, nil)
		if err != nil {
			t.Fatalf("ReadFile %s: %v", name, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("ReadFile %s: %d bytes differ from the %d written", name, len(got), len(data))
		}
		sum, err := b.Sha256(ctx, name)
		want := sha256.Sum256(data)
		if err != nil || sum != hex.EncodeToString(want[:]) {
			t.Fatalf("Sha256 %s = %q, %v; want %x", name, sum, err, want)
		}
		fi, err := b.Stat(ctx, name)
		if err != nil || fi.Size != int64(len(data)) || fi.IsDir {
			t.Fatalf("Stat %s = %+v, %v", name, fi, err)
		}
	}
	list, err := b.ListDir(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]int64{}
	for _, fi := range list {
		found[fi.Name] = fi.Size
		if strings.HasSuffix(fi.Name, partSuffix) {
			t.Errorf("temporary file left behind: %s", fi.Name)
		}
	}
	if found["suite_bin.dat"] != 3000 {
		t.Fatalf("ListDir: %v", list)
	}
	if err := b.Rename(ctx, "suite_text.txt", "suite_renamed.txt"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"suite_renamed.txt", "suite_bin.dat"} {
		if err := b.Remove(ctx, name); err != nil {
			t.Fatalf("Remove %s: %v", name, err)
		}
	}
	if _, err := b.Stat(ctx, "suite_bin.dat"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat of a removed file: %v, want fs.ErrNotExist", err)
	}
	if _, err := b.ReadFile(ctx, "suite_missing", nil); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadFile of a missing file: %v, want fs.ErrNotExist", err)
	}
	err = b.Mkdir(ctx, "suite_dir")
	if tg.microbit() {
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("Mkdir on the micro:bit: %v, want errors.ErrUnsupported", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteFile(ctx, "suite_dir/a.txt", []byte("a"), nil); err != nil {
		t.Fatal(err)
	}
	if list, err := b.ListDir(ctx, "suite_dir"); err != nil || len(list) != 1 || list[0].Path != "suite_dir/a.txt" {
		t.Fatalf("ListDir(suite_dir) = %+v, %v", list, err)
	}
	if err := b.Remove(ctx, "suite_dir"); err == nil {
		t.Fatal("removed a directory that is not empty")
	}
	for _, p := range []string{"suite_dir/a.txt", "suite_dir"} {
		if err := b.Remove(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
}

func caseKill(t *testing.T, tg *target) {
	if tg.tb == nil {
		t.Skip("on hardware (IOT_TEST_BOARD) nothing can unplug the board; the test boards, as in CI, run this case")
	}
	ctx := suiteCtx(t)
	started := make(chan struct{})
	w := watch("go", func() { close(started) })
	errc := make(chan error, 1)
	go func() {
		errc <- tg.board.Exec(ctx, "import time\nprint('go')\nwhile True:\n  time.sleep(0.01)", ExecOptions{Stdout: w})
	}()
	select {
	case <-started:
	case err := <-errc:
		t.Fatalf("exec ended early: %v", err)
	case <-ctx.Done():
		t.Fatal("the loop never printed")
	}
	if err := tg.tb.Kill(); err != nil {
		t.Fatal(err)
	}
	err := execResult(t, errc)
	if !errors.Is(err, ErrLinkLost) {
		t.Fatalf("exec on an unplugged board: %v, want ErrLinkLost", err)
	}
	t.Logf("unplugged: %v", err)
	if err := tg.tb.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	mustRun(t, tg, "print('back')", "back\r\n")
}

// lossyPut is a WebREPL link whose file transfers lose their last byte
// while lossy is set, as a dropped connection might.
type lossyPut struct {
	*webrepl.Conn
	lossy *atomic.Bool
}

func (c lossyPut) PutFile(ctx context.Context, name string, data []byte, progress func(done, total int64)) error {
	if c.lossy.Load() && len(data) > 0 {
		data = data[:len(data)-1]
	}
	return c.Conn.PutFile(ctx, name, data, progress)
}

// A transfer that arrives damaged is caught before it replaces the file:
// the old contents stay under the real name.
func TestDamagedUploadKeepsOldFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tb := startTestBoard(t, testboard.Wasm, testboard.Options{})
	s, err := testboard.StartWebREPL(ctx, tb, "pw")
	if err != nil {
		t.Fatalf("start WebREPL: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	var lossy atomic.Bool
	b := New(s.URL(), func(ctx context.Context) (io.ReadWriteCloser, error) {
		c, err := webrepl.Dial(ctx, s.URL(), "pw")
		if err != nil {
			return nil, err
		}
		return lossyPut{c, &lossy}, nil
	}, Options{})
	t.Cleanup(func() { _ = b.Close() })

	if err := b.WriteFile(ctx, "cfg.txt", []byte("old settings"), nil); err != nil {
		t.Fatal(err)
	}
	lossy.Store(true)
	err = b.WriteFile(ctx, "cfg.txt", []byte("new settings"), nil)
	if err == nil || !strings.Contains(err.Error(), "upload damaged") {
		t.Fatalf("a damaged upload gave %v, want an error saying so", err)
	}
	lossy.Store(false)
	got, err := b.ReadFile(ctx, "cfg.txt", nil)
	if err != nil || string(got) != "old settings" {
		t.Fatalf("after the damaged upload cfg.txt = %q, %v; want the old contents", got, err)
	}
}

// %hardreset --pin on a link without modem lines says so, and the board
// stays usable (the link reopens without a reset). On a link that has no
// pins at all (WebREPL) it is refused before anything happens.
func TestHardResetWithoutModemLines(t *testing.T) {
	tg := startTarget(t, testboard.Wasm, "serial")
	mustRun(t, tg, "kept = 7", "")
	err := tg.board.HardReset(suiteCtx(t))
	if err == nil || !strings.Contains(err.Error(), "DTR/RTS") {
		t.Fatalf("HardReset over a pty = %v; want an error saying it has no DTR/RTS", err)
	}
	mustRun(t, tg, "print(1+1)", "2\r\n")

	ws := startTarget(t, testboard.Wasm, "webrepl")
	if err := ws.board.HardReset(suiteCtx(t)); !errors.Is(err, ErrNoHardReset) {
		t.Fatalf("HardReset over WebREPL = %v; want ErrNoHardReset", err)
	}
	mustRun(t, ws, "print(3)", "3\r\n")
}

// On a real board on a serial port (IOT_TEST_BOARD=/dev/ttyUSB0), the RTS
// pulse resets it: its variables are gone and it answers again.
func TestHardResetHardware(t *testing.T) {
	url := os.Getenv("IOT_TEST_BOARD")
	if url == "" || AddressKind(url) != KindSerial {
		t.Skip("hardware only: needs IOT_TEST_BOARD naming a board on a serial port (a pty has no RTS to pulse)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := b.Exec(ctx, "before_reset = 1", ExecOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := b.HardReset(ctx); err != nil {
		t.Fatalf("HardReset: %v", err)
	}
	var be *BoardError
	if err := b.Exec(ctx, "before_reset", ExecOptions{}); !errors.As(err, &be) || be.Name != "NameError" {
		t.Fatalf("after the reset the variable gave %v; want NameError", err)
	}
}

// A timer that prints between cells (js.setInterval on the wasm board)
// neither stalls the board nor breaks the next cell. Nobody reads the
// board in a cell while the user idles; its lines (1 KB each) would fill
// the pipes and the pty behind the serial port (about 88 KB) within about
// 90 ticks and stall it, but the idle poller drains them. The timer says
// on the board's stderr (which the test board logs) when it has ticked
// 300 times, far past that point: the test waits for that, bounded,
// rather than sleeping for a while and counting.
func TestTimerPrintingBetweenCells(t *testing.T) {
	const mark = "iot-test: 300 ticks"
	seen := make(chan struct{})
	logger := slog.New(lineWatch{want: mark, once: new(sync.Once), seen: seen})
	tg := startTargetWith(t, testboard.Wasm, "serial", testboard.Options{Logger: logger})
	mustRun(t, tg, "import js\nn=[0]\ndef tick(*a):\n n[0]+=1\n print('x'*1000)\n if n[0]==300: js.console.error('"+mark+"')\ntid=js.setInterval(tick, 2)", "")
	select {
	case <-seen: // the user idled; the timer ran on
	case <-time.After(time.Minute):
		t.Fatal("the timer did not tick 300 times between cells within a minute: the board stalled")
	}
	var out bytes.Buffer
	if err := tg.board.Exec(suiteCtx(t), "print('count', n[0])", ExecOptions{Stdout: &out}); err != nil {
		t.Fatalf("a cell while the timer prints: %v (output %q)", err, out.String())
	}
	count := -1
	for _, line := range strings.Split(out.String(), "\r\n") {
		if _, err := fmt.Sscanf(line, "count %d", &count); err == nil {
			break
		}
	}
	if count < 300 {
		t.Fatalf("the cell read the tick count as %d in %q, want at least 300", count, out.String())
	}
	mustRun(t, tg, "js.clearInterval(tid)", "")
}

// lineWatch is a slog.Handler for a test board's logs: it closes seen once
// a logged line (the "line" attribute the board's stderr is logged with)
// contains want.
type lineWatch struct {
	want string
	once *sync.Once
	seen chan struct{}
}

func (w lineWatch) Enabled(context.Context, slog.Level) bool { return true }
func (w lineWatch) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w lineWatch) WithGroup(string) slog.Handler            { return w }

func (w lineWatch) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "line" && strings.Contains(a.Value.String(), w.want) {
			w.once.Do(func() { close(w.seen) })
			return false
		}
		return true
	})
	return nil
}
