package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// echoRun prints the code back, so tests see exactly what arrived.
func echoRun(x *fakeExec) string {
	x.out("ran:" + x.code + "\r\n")
	return ""
}

func TestExecEachPasteMode(t *testing.T) {
	for _, mode := range []string{"yes", "no", "old"} {
		t.Run(mode, func(t *testing.T) {
			f := newFake(t, mode)
			f.run = echoRun
			b := f.board(2 * time.Second)
			ctx := testCtx(t)
			for i := range 3 {
				var out bytes.Buffer
				if err := b.Exec(ctx, fmt.Sprintf("print(%d)", i), ExecOptions{Stdout: &out}); err != nil {
					t.Fatalf("exec %d: %v", i, err)
				}
				if want := fmt.Sprintf("ran:print(%d)\r\n", i); out.String() != want {
					t.Fatalf("output %q, want %q", out.String(), want)
				}
			}
			_, reqs, _, _ := f.stat()
			want := 1 // the fallback is remembered per link
			if mode == "yes" {
				want = 3
			}
			if reqs != want {
				t.Errorf("raw-paste requests: %d, want %d", reqs, want)
			}
		})
	}
}

func TestEnterRawThroughBootNoise(t *testing.T) {
	f := newFake(t, "old")
	f.bootNoise = "\x00garbage from main.py\r\nMicroPython v1.9.2\r\n>>> "
	f.run = echoRun
	b := f.board(2 * time.Second)
	var out bytes.Buffer
	if err := b.Exec(testCtx(t), "x", ExecOptions{Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "ran:x\r\n" {
		t.Fatalf("output %q", out.String())
	}
}

func TestEnterRawFailsWithWhatBoardPrinted(t *testing.T) {
	f := newFake(t, "yes")
	f.deaf = true
	b := f.board(300 * time.Millisecond)
	err := b.Exec(testCtx(t), "x", ExecOptions{})
	if !errors.Is(err, ErrNoResponse) {
		t.Fatalf("err = %v, want ErrNoResponse", err)
	}
	if !strings.Contains(err.Error(), "garbage") || !strings.Contains(err.Error(), "raw REPL") {
		t.Fatalf("error does not say what the board printed: %v", err)
	}
}

func TestRawPasteFlowControl(t *testing.T) {
	f := newFake(t, "yes")
	f.window = 16
	f.slowPaste = true
	f.run = func(x *fakeExec) string {
		x.out(fmt.Sprintf("%d", len(x.code)))
		return ""
	}
	b := f.board(2 * time.Second)
	code := strings.Repeat("abcdefghij", 500)
	var out bytes.Buffer
	if err := b.Exec(testCtx(t), code, ExecOptions{Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	_, _, _, codes := f.stat()
	if codes[len(codes)-1] != code {
		t.Fatalf("code arrived damaged (%d bytes, want %d)", len(codes[len(codes)-1]), len(code))
	}
	if f.overflow != 0 {
		t.Fatalf("sent %d bytes beyond the flow-control window", f.overflow)
	}
}

func TestRawPasteBoardAbortsOnSyntaxError(t *testing.T) {
	f := newFake(t, "yes")
	f.window = 8
	b := f.board(2 * time.Second)
	err := b.Exec(testCtx(t), "x = 1\nSYNTAXERR"+strings.Repeat(" more", 200), ExecOptions{})
	var be *BoardError
	if !errors.As(err, &be) || be.Name != "SyntaxError" || be.Value != "invalid syntax" {
		t.Fatalf("err = %#v, want SyntaxError", err)
	}
	// The link is still in step.
	f.run = echoRun
	var out bytes.Buffer
	if err := b.Exec(testCtx(t), "y", ExecOptions{Stdout: &out}); err != nil || out.String() != "ran:y\r\n" {
		t.Fatalf("next exec: %v, %q", err, out.String())
	}
}

// chanWriter reports each Write on a channel.
type chanWriter struct {
	mu     sync.Mutex
	writes []string
	ch     chan string
}

func (w *chanWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, string(p))
	w.mu.Unlock()
	if w.ch != nil {
		w.ch <- string(p)
	}
	return len(p), nil
}

func TestStreamingBeforeTheEnd(t *testing.T) {
	f := newFake(t, "yes")
	release := make(chan struct{})
	f.run = func(x *fakeExec) string {
		x.out("first\r\n")
		<-release
		x.out("second\r\n")
		return ""
	}
	b := f.board(2 * time.Second)
	w := &chanWriter{ch: make(chan string, 10)}
	errc := make(chan error, 1)
	go func() { errc <- b.Exec(testCtx(t), "x", ExecOptions{Stdout: w}) }()
	select {
	case got := <-w.ch:
		if got != "first\r\n" {
			t.Fatalf("first chunk %q", got)
		}
	case err := <-errc:
		t.Fatalf("exec ended before the first output was streamed: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no output while the cell runs")
	}
	close(release)
	if err := execResult(t, errc); err != nil {
		t.Fatal(err)
	}
}

func TestUTF8NeverSplit(t *testing.T) {
	f := newFake(t, "yes")
	text := "héllo €uro 😀 end"
	f.run = func(x *fakeExec) string {
		// One byte per write: every character is split across reads.
		for i := range len(text) {
			x.out(text[i : i+1])
		}
		return ""
	}
	b := f.board(2 * time.Second)
	w := &chanWriter{}
	if err := b.Exec(testCtx(t), "x", ExecOptions{Stdout: w}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(w.writes, ""); got != text {
		t.Fatalf("output %q, want %q", got, text)
	}
	for _, s := range w.writes {
		if !utf8.ValidString(s) {
			t.Fatalf("a write split a character: %q", s)
		}
	}
}

func TestExceptionBecomesBoardError(t *testing.T) {
	f := newFake(t, "no")
	f.run = func(x *fakeExec) string {
		x.out("before\r\n")
		return "Traceback (most recent call last):\r\n  File \"<stdin>\", line 2, in <module>\r\n  File \"<stdin>\", line 1, in f\r\nZeroDivisionError: divide by zero\r\n"
	}
	b := f.board(2 * time.Second)
	var out bytes.Buffer
	err := b.Exec(testCtx(t), "1/0", ExecOptions{Stdout: &out})
	var be *BoardError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want *BoardError", err)
	}
	if be.Name != "ZeroDivisionError" || be.Value != "divide by zero" || len(be.Traceback) != 4 {
		t.Fatalf("got %#v", be)
	}
	if out.String() != "before\r\n" {
		t.Fatalf("stdout %q", out.String())
	}
}

func TestParseTraceback(t *testing.T) {
	for _, tc := range []struct{ in, name, value string }{
		{"Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\nValueError: bad\r\n", "ValueError", "bad"},
		{"Traceback (most recent call last):\n  File \"<stdin>\", line 1, in <module>\nKeyboardInterrupt: \n", "KeyboardInterrupt", ""},
		{"Traceback (most recent call last):\r\n  File \"<stdin>\", line 1\r\nSyntaxError: invalid syntax\r\n", "SyntaxError", "invalid syntax"},
		{"Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\nMemoryError\r\n", "MemoryError", ""},
		{"Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\nValueError: line one\r\nline two\r\n", "ValueError", "line one\nline two"},
		{"MemoryError: memory allocation failed\r\n", "MemoryError", "memory allocation failed"},
		{"something odd happened\r\n", "Error", "something odd happened"},
	} {
		e := parseTraceback(tc.in)
		if e.Name != tc.name || e.Value != tc.value {
			t.Errorf("parseTraceback(%q) = %q, %q; want %q, %q", tc.in, e.Name, e.Value, tc.name, tc.value)
		}
	}
}

func TestInterruptBusyLoop(t *testing.T) {
	for _, how := range []string{"ctx", "Interrupt"} {
		t.Run(how, func(t *testing.T) {
			f := newFake(t, "yes")
			started := make(chan struct{})
			f.run = func(x *fakeExec) string {
				x.out("looping\r\n")
				close(started)
				<-x.intr
				return kbdTraceback
			}
			b := f.board(2 * time.Second)
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- b.Exec(ctx, "while True: pass", ExecOptions{}) }()
			awaitStart(t, started, errc)
			if how == "ctx" {
				cancel()
			} else if err := b.Interrupt(context.Background()); err != nil {
				t.Fatal(err)
			}
			err := execResult(t, errc)
			var be *BoardError
			if !errors.As(err, &be) || be.Name != "KeyboardInterrupt" {
				t.Fatalf("err = %v, want KeyboardInterrupt", err)
			}
			f.run = echoRun
			if err := b.Exec(testCtx(t), "y", ExecOptions{}); err != nil {
				t.Fatalf("exec after interrupt: %v", err)
			}
		})
	}
}

// cancelMidExec runs "x" on b, cancels its context once the fake board has
// closed started, and returns what Exec returned.
func cancelMidExec(t *testing.T, b *Board, started <-chan struct{}) error {
	t.Helper()
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- b.Exec(ctx, "x", ExecOptions{}) }()
	awaitStart(t, started, errc)
	cancel()
	return execResult(t, errc)
}

func TestInterruptSecondCtrlC(t *testing.T) {
	f := newFake(t, "yes")
	started := make(chan struct{})
	f.run = func(x *fakeExec) string {
		close(started)
		<-x.intr // ignored, like code that catches KeyboardInterrupt once
		<-x.intr
		return kbdTraceback
	}
	b := f.board(2 * time.Second)
	var be *BoardError
	if err := cancelMidExec(t, b, started); !errors.As(err, &be) || be.Name != "KeyboardInterrupt" {
		t.Fatalf("err = %v, want KeyboardInterrupt", err)
	}
}

func TestInterruptIgnoredThenSoftReset(t *testing.T) {
	f := newFake(t, "yes")
	started := make(chan struct{})
	f.run = func(x *fakeExec) string {
		close(started)
		<-x.intr
		<-x.intr
		x.dropEnd = true // the end markers are lost
		return ""
	}
	b := f.board(2 * time.Second)
	err := cancelMidExec(t, b, started)
	if err == nil || !strings.Contains(err.Error(), "soft-reset") {
		t.Fatalf("err = %v, want one saying the board was soft-reset", err)
	}
	if f.softResets != 1 {
		t.Fatalf("soft resets: %d", f.softResets)
	}
	f.run = echoRun
	if err := b.Exec(testCtx(t), "y", ExecOptions{}); err != nil {
		t.Fatalf("exec after reset: %v", err)
	}
}

func TestInterruptBoardStuckForever(t *testing.T) {
	f := newFake(t, "yes")
	started := make(chan struct{})
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	f.run = func(x *fakeExec) string {
		close(started)
		<-stop // a busy loop nothing can stop (the wasm board)
		return ""
	}
	b := f.board(300 * time.Millisecond)
	if err := cancelMidExec(t, b, started); !errors.Is(err, ErrNoResponse) {
		t.Fatalf("err = %v, want ErrNoResponse", err)
	}
}

func TestInput(t *testing.T) {
	f := newFake(t, "yes")
	f.run = func(x *fakeExec) string {
		// The marker arrives split over several reads.
		m := inputMarker + "Name? \x07"
		for i := 0; i < len(m); i += 3 {
			x.out(m[i:min(i+3, len(m))])
		}
		line, ok := x.readLine()
		if !ok {
			return "Traceback (most recent call last):\r\nEOFError\r\n"
		}
		x.out("hello " + line + "\r\n")
		return ""
	}
	b := f.board(2 * time.Second)
	var prompts []string
	in := func(p string) (string, error) { prompts = append(prompts, p); return "Ada\nignored", nil }
	var out bytes.Buffer
	if err := b.Exec(testCtx(t), "print('hello', input('Name? '))", ExecOptions{Stdout: &out, Input: in}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "hello Ada\r\n" || len(prompts) != 1 || prompts[0] != "Name? " {
		t.Fatalf("output %q, prompts %q", out.String(), prompts)
	}
	// Installed once per raw-REPL session.
	if err := b.Exec(testCtx(t), "again", ExecOptions{Stdout: &out, Input: in}); err != nil {
		t.Fatal(err)
	}
	if _, _, shims, _ := f.stat(); shims != 1 {
		t.Fatalf("shim installed %d times", shims)
	}
	// Without Input, the shim's input() raises EOFError instead of hanging.
	err := b.Exec(testCtx(t), "x", ExecOptions{})
	var be *BoardError
	if !errors.As(err, &be) || be.Name != "EOFError" {
		t.Fatalf("err = %v, want EOFError", err)
	}
	// Soft reset drops the shim; the next exec with Input reinstalls it.
	if err := b.SoftReset(testCtx(t), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Exec(testCtx(t), "x", ExecOptions{Input: in}); err != nil {
		t.Fatal(err)
	}
	if _, _, shims, _ := f.stat(); shims != 2 {
		t.Fatalf("shim installed %d times, want 2", shims)
	}
}

func TestInterruptWhileWaitingForInput(t *testing.T) {
	f := newFake(t, "yes")
	f.run = func(x *fakeExec) string {
		x.out(inputMarker + "? \x07")
		if _, ok := x.readLine(); !ok {
			return kbdTraceback
		}
		return ""
	}
	b := f.board(2 * time.Second)
	ctx, cancel := context.WithCancel(testCtx(t))
	asked := make(chan struct{})
	never := make(chan struct{})
	t.Cleanup(func() { close(never) })
	in := func(string) (string, error) { close(asked); <-never; return "", nil }
	errc := make(chan error, 1)
	go func() { errc <- b.Exec(ctx, "input()", ExecOptions{Input: in}) }()
	awaitStart(t, asked, errc)
	cancel()
	var be *BoardError
	if err := execResult(t, errc); !errors.As(err, &be) || be.Name != "KeyboardInterrupt" {
		t.Fatalf("err = %v, want KeyboardInterrupt", err)
	}
}

func TestLinkLostAndRedial(t *testing.T) {
	f := newFake(t, "yes")
	started := make(chan struct{}, 1)
	f.run = func(x *fakeExec) string {
		started <- struct{}{}
		<-x.intr // never comes: the link dies
		return ""
	}
	b := f.board(2 * time.Second)
	errc := make(chan error, 1)
	go func() { errc <- b.Exec(testCtx(t), "x", ExecOptions{}) }()
	awaitStart(t, started, errc)
	f.kill()
	err := execResult(t, errc)
	if !errors.Is(err, ErrLinkLost) {
		t.Fatalf("err = %v, want ErrLinkLost", err)
	}
	var le *LinkError
	if !errors.As(err, &le) || le.URL != "fake:" {
		t.Fatalf("err = %v, want a *LinkError with the URL", err)
	}
	f.run = echoRun
	var out bytes.Buffer
	if err := b.Exec(testCtx(t), "y", ExecOptions{Stdout: &out}); err != nil || out.String() != "ran:y\r\n" {
		t.Fatalf("exec after redial: %v, %q", err, out.String())
	}
	if dials, _, _, _ := f.stat(); dials != 2 {
		t.Fatalf("dials = %d, want 2", dials)
	}
}

func TestNoResponseAfterCode(t *testing.T) {
	f := newFake(t, "old")
	b := f.board(300 * time.Millisecond)
	if err := b.Exec(testCtx(t), "pass", ExecOptions{}); err != nil {
		t.Fatal(err)
	}
	// The board stops answering: it reads the code, never says OK.
	f.noOK = true
	err := b.Exec(testCtx(t), "pass", ExecOptions{})
	if !errors.Is(err, ErrNoResponse) {
		t.Fatalf("err = %v, want ErrNoResponse", err)
	}
	// What failed, on which board, and what to do, each once.
	msg := err.Error()
	for _, want := range []string{"fake:", "waiting for the board to accept the code", "no answer within", "close it and try again"} {
		if n := strings.Count(msg, want); n != 1 {
			t.Errorf("%q appears %d times in %q", want, n, msg)
		}
	}
}

func TestSoftResetClearsState(t *testing.T) {
	f := newFake(t, "yes")
	f.run = func(x *fakeExec) string {
		if e, ok := strings.CutPrefix(x.code, "print(repr(("); ok {
			x.code = strings.TrimSuffix(e, ")))")
		}
		if k, v, ok := strings.Cut(x.code, "="); ok {
			x.f.mu.Lock()
			x.f.state[k] = v
			x.f.mu.Unlock()
			return ""
		}
		x.f.mu.Lock()
		v, ok := x.f.state[x.code]
		x.f.mu.Unlock()
		if !ok {
			return "Traceback (most recent call last):\r\nNameError: name '" + x.code + "' isn't defined\r\n"
		}
		x.out(v + "\r\n")
		return ""
	}
	b := f.board(2 * time.Second)
	ctx := testCtx(t)
	if err := b.Exec(ctx, "a=1", ExecOptions{}); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Eval(ctx, "a"); err != nil || v != "1" {
		t.Fatalf("Eval = %q, %v", v, err)
	}
	if err := b.SoftReset(ctx, nil); err != nil {
		t.Fatal(err)
	}
	err := b.Exec(ctx, "a", ExecOptions{})
	var be *BoardError
	if !errors.As(err, &be) || be.Name != "NameError" {
		t.Fatalf("err = %v, want NameError after soft reset", err)
	}
}

func TestCloseLeavesFriendlyREPL(t *testing.T) {
	f := newFake(t, "yes")
	f.run = echoRun
	b := f.board(2 * time.Second)
	if err := b.Exec(testCtx(t), "x", ExecOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	friendly := f.friendly
	f.mu.Unlock()
	if !friendly {
		t.Fatal("board left in the raw REPL")
	}
	if err := b.Exec(testCtx(t), "x", ExecOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("exec after close: %v, want ErrClosed", err)
	}
}

func TestConcurrentExecsAreSerialised(t *testing.T) {
	f := newFake(t, "yes")
	f.run = func(x *fakeExec) string {
		for i := range 5 {
			x.out(fmt.Sprintf("%s-%d;", x.code, i))
		}
		return ""
	}
	b := f.board(2 * time.Second)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				code := fmt.Sprintf("g%di%d", g, i)
				var out bytes.Buffer
				if err := b.Exec(ctx, code, ExecOptions{Stdout: &out}); err != nil {
					errs <- err
					return
				}
				want := ""
				for j := range 5 {
					want += fmt.Sprintf("%s-%d;", code, j)
				}
				if out.String() != want {
					errs <- fmt.Errorf("output %q, want %q", out.String(), want)
					return
				}
			}
		}()
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	select {
	case <-all:
	case <-time.After(time.Minute):
		t.Fatal("the concurrent execs did not all return within a minute")
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestOutFilterMarkersAtEverySplit(t *testing.T) {
	stream := "ab€" + inputMarker + "P: \x07cd" + inputMarker + "Q\x07é"
	for split := 0; split <= len(stream); split++ {
		var out bytes.Buffer
		fl := &outFilter{w: &out, markers: true}
		var prompts []string
		for _, part := range []string{stream[:split], stream[split:]} {
			p, found := fl.feed([]byte(part))
			for found {
				prompts = append(prompts, p)
				p, found = fl.feed(nil)
			}
		}
		fl.flush()
		if out.String() != "ab€cdé" || strings.Join(prompts, "|") != "P: |Q" {
			t.Fatalf("split %d: output %q prompts %q", split, out.String(), prompts)
		}
	}
}

func TestPyBytesRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for n := range 200 {
		data := make([]byte, n*7)
		r.Read(data)
		if n%3 == 0 {
			data = append(data, []byte("\x00123\x047\\'\"\r\n")...)
		}
		lit := pyBytes(data)
		if strings.ContainsAny(lit[2:len(lit)-1], "\x00\x01\x02\x03\x04\r\n") {
			t.Fatalf("literal carries a raw control byte")
		}
		back, err := parsePyLit(lit)
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("round trip of %d bytes: %v", len(data), err)
		}
	}
	// What MicroPython's repr() prints.
	for lit, want := range map[string]string{
		`b'a\x00\n\\\''`: "a\x00\n\\'",
		`b"it's"`:        "it's",
		`'h\xe9'`:        "hé",
		`'€'`:            "€",
	} {
		got, err := parsePyLit(lit)
		if err != nil || string(got) != want {
			t.Errorf("parsePyLit(%s) = %q, %v; want %q", lit, got, err, want)
		}
	}
}

func TestOSErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		value  string
		target error
	}{
		{"[Errno 2] ENOENT", fs.ErrNotExist},
		{"2", fs.ErrNotExist},
		{"ENOENT", fs.ErrNotExist},
		{"[Errno 17] EEXIST", fs.ErrExist},
		{"[Errno 28] ENOSPC", ErrNoSpace},
		{"[Errno 13] EACCES", fs.ErrPermission},
	} {
		err := osError(nil, "open", "x", &BoardError{Name: "OSError", Value: tc.value})
		if !errors.Is(err, tc.target) {
			t.Errorf("%q: %v is not %v", tc.value, err, tc.target)
		}
		var be *BoardError
		if !errors.As(err, &be) {
			t.Errorf("%q: board error not reachable", tc.value)
		}
	}
	if err := osError(nil, "open", "x", &BoardError{Name: "OSError", Value: "[Errno 28] ENOSPC"}); !strings.Contains(err.Error(), "no space left on the board") {
		t.Errorf("ENOSPC message: %v", err)
	}
}

func TestZeroLengthReads(t *testing.T) {
	f := newFake(t, "yes")
	f.zeroReads = true
	f.run = echoRun
	b := f.board(2 * time.Second)
	for i := range 3 {
		var out bytes.Buffer
		if err := b.Exec(testCtx(t), fmt.Sprint(i), ExecOptions{Stdout: &out}); err != nil || out.String() != fmt.Sprintf("ran:%d\r\n", i) {
			t.Fatalf("exec: %v, %q", err, out.String())
		}
	}
}

func TestCancelledBeforeStart(t *testing.T) {
	f := newFake(t, "yes")
	f.run = echoRun
	b := f.board(2 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Exec(ctx, "x", ExecOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, _, _, codes := f.stat(); len(codes) != 0 {
		t.Fatalf("code reached the board: %q", codes)
	}
}

func TestCloseDuringExec(t *testing.T) {
	f := newFake(t, "yes")
	started := make(chan struct{})
	f.run = func(x *fakeExec) string {
		close(started)
		<-x.intr
		return kbdTraceback
	}
	b := f.board(2 * time.Second)
	errc := make(chan error, 1)
	go func() { errc <- b.Exec(testCtx(t), "x", ExecOptions{}) }()
	awaitStart(t, started, errc)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	var be *BoardError
	if err := execResult(t, errc); !errors.As(err, &be) || be.Name != "KeyboardInterrupt" {
		t.Fatalf("exec during Close: %v, want KeyboardInterrupt", err)
	}
	f.mu.Lock()
	friendly := f.friendly
	f.mu.Unlock()
	if !friendly {
		t.Fatal("board left in the raw REPL")
	}
}

func TestCodeTooLargeForClassicRawREPL(t *testing.T) {
	f := newFake(t, "old")
	f.memFree = 9000
	f.run = echoRun
	b := f.board(2 * time.Second)
	err := b.Exec(testCtx(t), strings.Repeat("x", 6000), ExecOptions{})
	be := &BoardError{}
	if !errors.As(err, &be) || be.Name != "MemoryError" {
		t.Fatalf("err = %v, want MemoryError", err)
	}
	if _, _, _, codes := f.stat(); len(codes) != 1 { // only the probe
		t.Fatalf("the code was sent: %d execs", len(codes))
	}
	if err := b.Exec(testCtx(t), strings.Repeat("y", 3000), ExecOptions{}); err != nil {
		t.Fatalf("code within the limit: %v", err)
	}
}

// A reconnect to a board that does not answer ends when the caller gives
// up (the stop button), not after the dial's own bound.
func TestDialFollowsContext(t *testing.T) {
	notCancelled := errors.New("the dial was not cancelled with the exec")
	b := New("slow://board", func(ctx context.Context) (io.ReadWriteCloser, error) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Second):
			return nil, notCancelled
		}
	}, Options{Timeout: time.Minute})
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := b.Exec(ctx, "print(1)", ExecOptions{})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, notCancelled) {
		t.Fatalf("Exec = %v, want the caller's deadline", err)
	}
}

// A board that prints while no operation runs (a timer callback) is read
// all the same once the link has been idle a moment, so its writes never
// wait for the next cell, as a board's do once the host's buffers are
// full. The next exec still gets its answer.
func TestIdleOutputIsRead(t *testing.T) {
	f := newFake(t, "yes")
	f.direct = true // the engine reads the link itself: no pump drains it
	var ticks atomic.Int64
	begin := make(chan struct{})
	var once sync.Once
	start := func() { once.Do(func() { close(begin) }) }
	t.Cleanup(start) // the ticker ends with the pipe, even if the test fails early
	f.run = func(x *fakeExec) string {
		if x.code != "start timer" {
			return echoRun(x)
		}
		f.mu.Lock()
		c := f.conn
		f.mu.Unlock()
		go func() {
			<-begin
			for {
				if _, err := c.Write([]byte("tick\r\n")); err != nil {
					return // the test is over
				}
				ticks.Add(1)
				time.Sleep(time.Millisecond) // the timer's period
			}
		}()
		return ""
	}
	b := f.board(2 * time.Second)
	if err := b.Exec(testCtx(t), "start timer", ExecOptions{}); err != nil {
		t.Fatal(err)
	}
	start()
	deadline := time.Now().Add(10 * time.Second)
	for ticks.Load() < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("the board's output between cells was not read: it printed %d lines in 10 s", ticks.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	var out bytes.Buffer
	if err := b.Exec(testCtx(t), "y", ExecOptions{Stdout: &out}); err != nil || !strings.Contains(out.String(), "ran:y\r\n") {
		t.Fatalf("exec after idle output: %v, %q", err, out.String())
	}
}

// execResult waits for what an Exec run in the background returned. Its
// context bounds it already; this bound catches an Exec that ignores it.
func execResult(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(time.Minute):
		t.Fatal("Exec did not return within a minute")
		return nil
	}
}

// awaitStart waits until the fake board signals that the code runs,
// failing the test if the exec ends first or nothing happens in time.
func awaitStart[T any](t *testing.T, started <-chan T, errc <-chan error) {
	t.Helper()
	select {
	case <-started:
	case err := <-errc:
		t.Fatalf("exec ended before the code ran: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the code never started on the board")
	}
}

// The raw REPL ends the output with \x04, the error report with another,
// then ">". A program's own \x04 just before the end is output: a third
// \x04 where ">" must be shows it, on both raw REPL modes.
func TestOutputEndingInCtrlDIsOutput(t *testing.T) {
	for _, paste := range []string{"yes", "no"} {
		for _, printed := range []string{"x\x04", "\x04Error: none really\r\n", "a\x04b\x04"} {
			f := newFake(t, paste)
			f.run = func(x *fakeExec) string { x.out(printed); return "" }
			b := f.board(2 * time.Second)
			var out bytes.Buffer
			err := b.Exec(testCtx(t), "w()", ExecOptions{Stdout: &out})
			if err != nil || out.String() != printed {
				t.Errorf("paste=%s, program printed %q: err=%v, output %q", paste, printed, err, out.String())
			}
		}
	}
}

// Output that looks like a soft reboot's line right after "OK" (classic
// raw REPL, as on the micro:bit) is shown, not waited on as a reboot:
// whether the program ends at once or runs on past the link's timeout.
func TestPrintedSoftRebootLineIsOutput(t *testing.T) {
	for _, rest := range []string{"done\r\n", ""} {
		f := newFake(t, "no")
		printed := "\r\nsoft reboot\r\n" + rest
		f.run = func(x *fakeExec) string {
			x.out(printed)
			if rest == "" {
				time.Sleep(700 * time.Millisecond) // the program works on, past the timeout
				x.out("later\r\n")
			}
			return ""
		}
		b := f.board(300 * time.Millisecond)
		var out bytes.Buffer
		err := b.Exec(testCtx(t), "run()", ExecOptions{Stdout: &out})
		want := printed
		if rest == "" {
			want += "later\r\n"
		}
		if err != nil || out.String() != want {
			t.Errorf("program printed %q: err=%v, output %q; want %q", printed, err, out.String(), want)
		}
	}
}

// A real reboot right after "OK" whose boot.py takes longer than the
// link's timeout: its line is first taken for output, and its raw banner,
// when it comes, still shows the reset; the code is sent again, and runs.
func TestSlowRebootAfterOKIsStillNoticed(t *testing.T) {
	f := newFake(t, "no")
	var runs atomic.Int32
	f.run = func(x *fakeExec) string {
		if runs.Add(1) == 1 {
			// As if the board reset as the code went: its reboot line,
			// a slow boot.py, the raw banner; the code itself lost.
			x.out("\r\nsoft reboot\r\n")
			time.Sleep(500 * time.Millisecond)
			x.out("booted\r\n" + rawBanner)
			return "" // (the fake then ends an answer the kernel no longer waits for)
		}
		x.out("ran\r\n")
		return ""
	}
	b := f.board(300 * time.Millisecond)
	var out bytes.Buffer
	var notes []string
	err := b.Exec(testCtx(t), "run()", ExecOptions{Stdout: &out, Reset: func(n string) { notes = append(notes, n) }})
	if err != nil || !strings.HasSuffix(out.String(), "ran\r\n") || len(notes) != 1 {
		t.Errorf("err=%v, output %q, %d reset notes; want the code run again after the reset, and one note", err, out.String(), len(notes))
	}
}

// A watchdog resets the board just as a cell's raw-paste request goes: its
// boot banner comes instead of the answer. None of the code ran, so the
// cell runs again on the board as it is now: the helpers installed again
// first, the reset told once.
func TestResetDuringPasteRequestRunsTheCellAgain(t *testing.T) {
	for _, paste := range []string{"yes", "no"} {
		t.Run("paste="+paste, func(t *testing.T) { resetAsCodeGoes(t, paste) })
	}
}

// resetAsCodeGoes: the reset comes at the raw-paste request, or (classic
// raw REPL) at the Ctrl-D that ends the code, before its OK.
func resetAsCodeGoes(t *testing.T, paste string) {
	f := newFake(t, paste)
	f.run = func(x *fakeExec) string {
		x.f.mu.Lock()
		shim := x.f.shim
		x.f.mu.Unlock()
		x.out(fmt.Sprintf("ran, helpers on board: %v\r\n", shim))
		return ""
	}
	b := f.board(time.Second)
	var notes []string
	opt := ExecOptions{Input: func(string) (string, error) { return "", nil }, Reset: func(n string) { notes = append(notes, n) }}
	if err := b.Exec(testCtx(t), "a=1", opt); err != nil {
		t.Fatal(err)
	}
	if paste == "yes" {
		f.resetOnPaste.Store(true)
	} else {
		f.resetOnCode.Store(true)
	}
	var out bytes.Buffer
	opt.Stdout = &out
	err := b.Exec(testCtx(t), "cell()", opt)
	_, _, shims, _ := f.stat()
	if err != nil || out.String() != "ran, helpers on board: true\r\n" || len(notes) != 1 || shims != 2 {
		t.Errorf("err=%v, output %q, %d reset notes %q, helpers installed %d times; want the cell run with the helpers back, one note, two installs",
			err, out.String(), len(notes), notes, shims)
	}
}

// A stop pressed while the kernel probes a board it just reached fails
// that cell as stopped before it started, and the next cell probes the
// board again (the helpers are built for what it says it is).
func TestStopDuringProbeProbesAgain(t *testing.T) {
	f := newFake(t, "yes")
	stall := make(chan struct{})
	f.probeStall = stall
	b := f.board(time.Second)
	ctx, cancel := context.WithCancel(testCtx(t))
	go func() {
		<-stall
		cancel()
	}()
	err := b.Exec(ctx, "first()", ExecOptions{})
	if !errors.Is(err, ErrNotSent) || !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped during the probe: err=%v; want not sent, cancelled", err)
	}
	var out bytes.Buffer
	if err := b.Exec(testCtx(t), "second()", ExecOptions{Stdout: &out}); err != nil {
		t.Fatalf("the next cell: %v", err)
	}
	_, _, _, codes := f.stat()
	probes := 0
	for _, c := range codes {
		if strings.HasPrefix(c, "print(__import__('sys').platform") {
			probes++
		}
	}
	if probes < 2 || codes[len(codes)-1] != "second()" {
		t.Errorf("codes the board got: %q; want the probe again before second()", codes)
	}
}

// A watchdog resets the board while input() waits for the user: the cell
// ends at once with the reset, and the answer, when it comes, is not
// typed into the friendly REPL that would run it as Python.
func TestResetDuringInputEndsTheCell(t *testing.T) {
	f := newFake(t, "yes")
	banner := "ets Jun  8 2016\r\nrst:0x8 (TG1WDT_SYS_RESET)\r\nMicroPython v1.27.0 on 2025-01-01; fake with fake\r\nType \"help()\" for more information.\r\n>>> "
	typed := make(chan string, 1)
	f.run = func(x *fakeExec) string {
		x.out(inputMarker + "? \x07")
		x.out(banner)
		line, _ := x.readLine() // as the friendly REPL would
		typed <- line
		<-x.intr
		return kbdTraceback
	}
	b := f.board(time.Second)
	answer := make(chan struct{})
	defer close(answer)
	err := b.Exec(testCtx(t), "input()", ExecOptions{Input: func(string) (string, error) {
		<-answer // the user has not answered yet
		return "yes", nil
	}})
	if !errors.Is(err, ErrReset) {
		t.Fatalf("err=%v; want the reset, before the user answered", err)
	}
	select {
	case line := <-typed:
		t.Errorf("%q was typed into the reset board", line)
	default:
	}
}
