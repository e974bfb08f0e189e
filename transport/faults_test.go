package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/testboard"
	"github.com/iot-kernel/iot-kernel/transport/serialport"
)

// TestFaults injects one fault at one point of each protocol step, on the
// test boards (and, for raw-paste, which neither test board has, on the
// fake board): a byte dropped or duplicated, a delay, or the connection
// cut there. Each operation either succeeds with the right result or
// fails with an error that tells the truth: about what failed, and about
// what is on the board, which is then read back through a fresh link.
// After every case the next exec works. Points are found in the bytes
// that went by, never by timing. The serial link gets its faults in the
// engine's byte stream (faultConn); the network links in a TCP proxy in
// front of the board's server (faults_net_test.go).

// side is the direction a fault strikes: to the board or from it.
type side int

const (
	toBoard side = iota
	fromBoard
)

func (s side) String() string { return [...]string{"write", "read"}[s] }

// fault is what happens at the point.
type fault string

const (
	fDrop      fault = "drop"      // the byte is lost
	fDup       fault = "dup"       // the byte arrives twice
	fDropWrite fault = "dropWrite" // the whole write holding it is lost (a chunk)
	fDelay     fault = "delay"     // the stream stops there for a while
	fCut       fault = "cut"       // the link goes just before the byte
	fCutAfter  fault = "cutAfter"  // the link goes just after the byte
)

// faultDelay is how long a delay fault holds the stream: well inside
// every bound, so that it is never a failure by itself.
const faultDelay = 50 * time.Millisecond

// point is a place in one direction of the stream: the last byte of the
// nth occurrence of pat, counted from where the bytes sent to the board
// first contained after (from the arming, when after is empty).
type point struct {
	side  side
	after string
	pat   string
	nth   int
}

func (p point) String() string {
	s := fmt.Sprintf("%s %q", p.side, p.pat)
	if p.nth > 1 {
		s += fmt.Sprintf("#%d", p.nth)
	}
	if p.after != "" {
		s += fmt.Sprintf(" after %q", p.after)
	}
	return s
}

// injector strikes once, at its point, once armed.
type injector struct {
	pt    point
	fault fault
	trace func(format string, args ...any) // when set, told every byte

	mu     sync.Mutex
	armed  bool
	fired  bool
	stream [2][]byte // what went each way since arming
	from   [2]int    // where the point's search starts; -1 until after was sent
}

func (in *injector) arm() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.armed, in.fired = true, false
	in.stream = [2][]byte{}
	in.from = [2]int{}
	if in.pt.after != "" {
		in.from = [2]int{-1, -1}
	}
}

func (in *injector) hasFired() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.fired
}

// strike records p, gone the s way, and returns where in p the fault
// strikes, or -1.
func (in *injector) strike(s side, p []byte) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.armed || in.fired {
		return -1
	}
	prev := len(in.stream[s])
	in.stream[s] = append(in.stream[s], p...)
	if s == toBoard && in.from[toBoard] < 0 {
		if i := bytes.Index(in.stream[toBoard], []byte(in.pt.after)); i >= 0 {
			in.from[toBoard] = i + len(in.pt.after)
			in.from[fromBoard] = len(in.stream[fromBoard])
		}
	}
	if s != in.pt.side || in.from[s] < 0 {
		return -1
	}
	at, rest := in.from[s], in.stream[s][in.from[s]:]
	for n := 1; ; n++ {
		i := bytes.Index(rest, []byte(in.pt.pat))
		if i < 0 {
			return -1
		}
		end := at + i + len(in.pt.pat) - 1
		if n == in.pt.nth || in.pt.nth == 0 {
			if end < prev {
				return -1 // struck already (cannot happen: it fires once)
			}
			in.fired = true
			return end - prev
		}
		at += i + len(in.pt.pat)
		rest = rest[i+len(in.pt.pat):]
	}
}

// install puts the injector's hooks on c.
func (in *injector) install(c *faultConn) {
	c.onWrite = func(c *faultConn, p []byte) ([]byte, bool) {
		if in.trace != nil {
			in.trace("> %q", p)
		}
		i := in.strike(toBoard, p)
		if i < 0 {
			return p, false
		}
		switch in.fault {
		case fDrop:
			return cat(p[:i], p[i+1:]), false
		case fDup:
			return cat(p[:i+1], p[i:]), false
		case fDropWrite:
			return nil, false
		case fDelay:
			if _, err := c.ReadWriteCloser.Write(p[:i]); err != nil {
				return nil, true
			}
			time.Sleep(faultDelay)
			return p[i:], false
		case fCut:
			return p[:i], true
		case fCutAfter:
			return p[:i+1], true
		}
		return p, false
	}
	c.rewrite = func(c *faultConn, p []byte) []byte {
		if in.trace != nil {
			in.trace("< %q", p)
		}
		i := in.strike(fromBoard, p)
		if i < 0 {
			return p
		}
		switch in.fault {
		case fDrop:
			return cat(p[:i], p[i+1:])
		case fDup:
			return cat(p[:i+1], p[i:])
		case fDelay:
			time.Sleep(faultDelay)
		case fCut:
			c.cutNow()
			return p[:i]
		case fCutAfter:
			c.cutNow()
			return p[:i+1]
		}
		return p
	}
}

func cat(a, b []byte) []byte { return append(append([]byte(nil), a...), b...) }

// faultEnv is one board for a run of cases: each case gets a fresh
// Board (a new link) with its injector, and a fault-free one to look.
type faultEnv struct {
	url  string
	kind testboard.Kind // "" for the fake board
	dial Dialer
	opt  Options
	// proxy, for a network link, is where the faults strike (see
	// faults_net_test.go); nil for the serial link.
	proxy *faultProxy
}

// board returns a Board whose links go through a faultConn with in's
// hooks (none when in is nil).
func (e *faultEnv) board(t *testing.T, in *injector) *Board {
	dial := func(ctx context.Context) (io.ReadWriteCloser, error) {
		rwc, err := e.dial(ctx)
		if err != nil {
			return nil, err
		}
		c := newFaultConn(rwc)
		if in != nil {
			in.install(c)
		}
		return c.stream(), nil
	}
	if e.proxy != nil {
		dial = func(ctx context.Context) (io.ReadWriteCloser, error) { return e.proxy.dial(ctx, in, e.dial) }
	}
	b := New(e.url, dial, e.opt)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// faultTimeout bounds each wait for the board in these cases: the
// default, as a user has it; a loaded machine can starve QEMU for
// seconds.
const faultTimeout = DefaultTimeout

func startFaultEnv(t *testing.T, kind testboard.Kind) *faultEnv {
	tb := startTestBoard(t, kind, testboard.Options{})
	return &faultEnv{url: tb.Path(), kind: kind, opt: Options{Timeout: faultTimeout},
		dial: func(ctx context.Context) (io.ReadWriteCloser, error) {
			return serialport.Dial(ctx, tb.Path(), serialport.Options{})
		}}
}

// faultStep is one protocol step: how to prepare the board, the operation
// the fault strikes, the points, and the check of the outcome.
type faultStep struct {
	name   string
	kinds  []testboard.Kind // boards that have the step ("" the fake)
	points func(kind testboard.Kind) []point
	faults func(p point) []fault
	// run prepares the board, does the step through a Board with the
	// case's injector (armed once the link is up) and checks the outcome,
	// reading the board back through a fault-free Board (fc.fresh).
	run func(t *testing.T, ctx context.Context, fc *faultCase) error
}

// faultCase is one step × point × fault on one board.
type faultCase struct {
	env  *faultEnv
	in   *injector
	kind testboard.Kind
}

// fresh returns a fault-free Board on the case's board; close it before
// the next one is used (a serial port has one user).
func (fc *faultCase) fresh(t *testing.T) *Board { return fc.env.board(t, nil) }

var writeFaults = []fault{fDrop, fDup, fDelay, fCut, fCutAfter}
var readFaults = []fault{fDrop, fDup, fDelay, fCut}

func faultsFor(p point) []fault {
	if p.side == toBoard {
		return writeFaults
	}
	return readFaults
}

func TestFaults(t *testing.T) {
	steps := []faultStep{stepEnterRaw, stepUpload, stepDownload, stepPlace, stepInterrupt}
	kinds := []testboard.Kind{testboard.Wasm, testboard.Microbit}
	t.Run("fake", func(t *testing.T) {
		t.Parallel()
		runRawPasteFaults(t)
	})
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			if testing.Short() {
				t.Skip("needs the test boards")
			}
			t.Parallel()
			env := startFaultEnv(t, kind)
			for _, st := range steps {
				if !hasKind(st.kinds, kind) {
					continue
				}
				for _, pt := range st.points(kind) {
					for _, f := range st.faults(pt) {
						if kind == testboard.Microbit && !microbitCase(st, f) {
							continue
						}
						t.Run(fmt.Sprintf("%s/%s/%s", st.name, pt, f), func(t *testing.T) {
							runFaultCase(t, env, st, pt, f)
						})
					}
				}
			}
		})
	}
	runNetFaults(t, steps)
}

// runFaultCase runs step st with fault f at pt on env's board.
func runFaultCase(t *testing.T, env *faultEnv, st faultStep, pt point, f fault) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	fc := &faultCase{env: env, in: &injector{pt: pt, fault: f}, kind: env.kind}
	if os.Getenv("IOT_FAULT_TRACE") != "" {
		fc.in.trace = t.Logf
	}
	err := st.run(t, ctx, fc)
	if !fc.in.hasFired() {
		t.Errorf("the fault's point %s never went by (err %v)", pt, err)
	}
}

// microbitCase keeps the micro:bit's cases few: it is slow (115200 baud),
// and where its code paths are the wasm board's, the wasm cases cover
// them. Its file steps differ (no hashlib, no os.rename), so they keep
// every fault but the delay.
func microbitCase(st faultStep, f fault) bool {
	switch st.name {
	case "enterRaw", "interrupt":
		return f == fDrop || f == fCut
	}
	return f != fDelay
}

func hasKind(ks []testboard.Kind, k testboard.Kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

// nextExecWorks checks that b, after whatever the fault did, runs the next
// cell (a new link after a cut).
func nextExecWorks(t *testing.T, ctx context.Context, b *Board) {
	t.Helper()
	var out bytes.Buffer
	if err := b.Exec(ctx, "print(6*7)", ExecOptions{Stdout: &out}); err != nil || out.String() != "42\r\n" {
		t.Errorf("the next exec after the fault: output %q, err %v; want 42", out.String(), err)
	}
}

// checkLinkMessage checks what every failed operation's error must say:
// a lost link or a silent board is said to be that, naming the board, once.
func checkLinkMessage(t *testing.T, err error, url string, f fault) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	if (f == fCut || f == fCutAfter) && !errors.Is(err, ErrLinkLost) && !errors.Is(err, ErrNoResponse) {
		t.Errorf("after a cut link, the error does not say the link was lost: %v", err)
	}
	if f == fDelay {
		t.Errorf("a delay of %v made the operation fail: %v", faultDelay, err)
	}
	var le *LinkError
	if errors.As(err, &le) && le.URL != url {
		t.Errorf("the error names board %q, not %q", le.URL, url)
	}
	if errors.Is(err, ErrLinkLost) || errors.Is(err, ErrNoResponse) {
		if strings.Count(msg, url) != 1 {
			t.Errorf("the error should name the board %s once: %v", url, err)
		}
	}
	for _, s := range []string{ErrLinkLost.Error(), ErrNoResponse.Error()} {
		if strings.Count(msg, s) > 1 {
			t.Errorf("the error repeats %q: %v", s, err)
		}
	}
	if errors.Is(err, ErrNoResponse) && !strings.Contains(msg, "no answer within") && !strings.Contains(msg, "could not enter the raw REPL within") {
		t.Errorf("a silent board's error does not say how long it waited: %v", err)
	}
}

// stepEnterRaw: the fault strikes while a new link enters the raw REPL.
var stepEnterRaw = faultStep{
	name:  "enterRaw",
	kinds: []testboard.Kind{testboard.Wasm, testboard.Microbit},
	points: func(testboard.Kind) []point {
		return []point{
			{side: toBoard, pat: "\r\x01", nth: 1},    // the Ctrl-A
			{side: fromBoard, pat: rawBanner, nth: 1}, // the banner's ">"
		}
	},
	faults: faultsFor,
	run: func(t *testing.T, ctx context.Context, fc *faultCase) error {
		b := fc.env.board(t, fc.in)
		fc.in.arm()
		var out bytes.Buffer
		err := b.Exec(ctx, "print(6*7)", ExecOptions{Stdout: &out})
		t.Logf("exec: %q, %v", out.String(), err)
		if err == nil && out.String() != "42\r\n" {
			t.Errorf("exec succeeded with output %q, want 42", out.String())
		}
		checkLinkMessage(t, err, fc.env.url, fc.in.fault)
		nextExecWorks(t, ctx, b)
		_ = b.Close()
		return err
	},
}

// writeOld puts old in name on the board, with no temporary file left.
func writeOld(t *testing.T, ctx context.Context, b *Board, name string, old []byte) {
	t.Helper()
	if err := b.WriteFile(ctx, name, old, nil); err != nil {
		t.Fatalf("writing the old %s: %v", name, err)
	}
	_ = b.Remove(ctx, name+partSuffix)
}

// uploadData is the old and the new content of the file the upload steps
// write: several chunks on each board (a wasm chunk is 4 KB, a micro:bit
// one a few hundred bytes), with a marker in the last chunk.
func uploadData(kind testboard.Kind) (old, new []byte) {
	n := 3000
	if kind == testboard.Microbit {
		n = 300
	}
	old = bytes.Repeat([]byte("old contents "), n/13)
	var b bytes.Buffer
	for i := 0; b.Len() < 3*n; i++ {
		fmt.Fprintf(&b, "new line %d\n", i)
	}
	b.WriteString("MARKER\n")
	b.WriteString(strings.Repeat("end\n", 10))
	return old, b.Bytes()
}

const faultFile = "f.txt"

// uploadCase runs a WriteFile under the fault and checks what the board
// holds against what the error says.
func uploadCase(t *testing.T, ctx context.Context, fc *faultCase) error {
	old, new := uploadData(fc.kind)
	look := fc.fresh(t)
	writeOld(t, ctx, look, faultFile, old)
	_ = look.Close()

	b := fc.env.board(t, fc.in)
	if _, err := b.Stat(ctx, faultFile); err != nil { // link up, caps probed
		t.Fatalf("stat: %v", err)
	}
	fc.in.arm()
	err := b.WriteFile(ctx, faultFile, new, nil)
	t.Logf("write: %v", err)
	checkLinkMessage(t, err, fc.env.url, fc.in.fault)
	if err != nil && !strings.Contains(err.Error(), "write "+faultFile) {
		t.Errorf("the error does not say that writing %s failed: %v", faultFile, err)
	}
	nextExecWorks(t, ctx, b)
	_ = b.Close()

	look = fc.fresh(t)
	files := boardFiles(t, ctx, look)
	checkFileTruth(t, files, faultFile, old, new, err)
	_ = look.Remove(ctx, faultFile+partSuffix)
	_ = look.Close()
	return err
}

// checkFileTruth checks what an upload of name that ended in err left on
// the board against what err says about it.
func checkFileTruth(t *testing.T, files map[string][]byte, name string, old, new []byte, err error) {
	t.Helper()
	tmp := name + partSuffix
	got, ok := files[name]
	tdata, tok := files[tmp]
	is := func(b, want []byte) bool { return bytes.Equal(b, want) }
	desc := func(b []byte, present bool) string {
		switch {
		case !present:
			return "absent"
		case is(b, old):
			return "the old data"
		case is(b, new):
			return "the new data"
		}
		return fmt.Sprintf("%d other bytes", len(b))
	}
	t.Logf("after: %s holds %s, %s holds %s", name, desc(got, ok), tmp, desc(tdata, tok))
	if err == nil {
		if !is(got, new) {
			t.Errorf("the write succeeded but %s holds %s", name, desc(got, ok))
		}
		if tok {
			t.Errorf("the write succeeded but left %s (%s)", tmp, desc(tdata, tok))
		}
		return
	}
	msg := err.Error()
	if !ok {
		t.Errorf("%s is gone after: %v", name, err)
	}
	switch {
	case strings.Contains(msg, name+" is unchanged"):
		if !is(got, old) {
			t.Errorf("the message says %s is unchanged, but it holds %s: %v", name, desc(got, ok), err)
		}
		if tok && !strings.Contains(msg, tmp+" may be left") {
			t.Errorf("%s was left on the board without a word: %v", tmp, err)
		}
	case strings.Contains(msg, "verified, as "+tmp):
		if !is(tdata, new) {
			t.Errorf("the message says the new data is on the board as %s, which holds %s: %v", tmp, desc(tdata, tok), err)
		}
		if strings.Contains(msg, "still holds its old contents") && !is(got, old) {
			t.Errorf("the message says %s holds its old contents, but it holds %s: %v", name, desc(got, ok), err)
		}
		if !is(got, old) && !is(got, new) {
			t.Errorf("%s is half-written (%s): %v", name, desc(got, ok), err)
		}
	case strings.Contains(msg, "if "+tmp+" is still there"):
		// The link went: the board finished, or never started.
		switch {
		case !tok && !is(got, new):
			t.Errorf("%s is gone, so %s should hold the new data, but it holds %s: %v", tmp, name, desc(got, ok), err)
		case tok && strings.Contains(msg, "it holds the new data") && !is(tdata, new):
			t.Errorf("the message says %s holds the new data, but it holds %s: %v", tmp, desc(tdata, tok), err)
		case tok && !strings.Contains(msg, name+" may be incomplete") && !is(got, old) && !is(got, new):
			t.Errorf("%s is half-written (%s): %v", name, desc(got, ok), err)
		}
	default:
		t.Errorf("the message does not say what is on the board (%s: %s, %s: %s): %v", name, desc(got, ok), tmp, desc(tdata, tok), err)
	}
}

// stepUpload: the fault strikes a chunk of an upload, or its answer.
var stepUpload = faultStep{
	name:  "upload",
	kinds: []testboard.Kind{testboard.Wasm, testboard.Microbit},
	points: func(testboard.Kind) []point {
		return []point{
			{side: toBoard, pat: "MARKER", nth: 1},  // inside the last chunk
			{side: fromBoard, pat: "W\r\n", nth: 1}, // the first chunk's answer
		}
	},
	faults: faultsFor,
	run:    uploadCase,
}

// stepPlace: the fault strikes while the verified upload is put in place:
// renamed (wasm) or copied (micro:bit, which has no os.rename).
var stepPlace = faultStep{
	name:  "place",
	kinds: []testboard.Kind{testboard.Wasm, testboard.Microbit},
	points: func(kind testboard.Kind) []point {
		if kind == testboard.Microbit {
			return []point{
				{side: toBoard, after: "d.write(b)", pat: "\x04", nth: 1}, // the copy's end of code
				{side: fromBoard, after: "d.write(b)", pat: "OK", nth: 1}, // the board took it
			}
		}
		return []point{
			{side: toBoard, after: "os.rename(", pat: "\x04", nth: 1},
			{side: fromBoard, pat: "CHECKED", nth: 1},
		}
	},
	faults: func(p point) []fault {
		// A doubled \x04 after the micro:bit's copy soft-resets it, and
		// how much of the next code the reboot swallows depends on the
		// emulator's timing: under load the next exec can get a
		// SyntaxError. TestFaultStrayCtrlD covers that fault on the fake
		// board, where it always happens the same way.
		if p.after == "d.write(b)" && p.pat == "\x04" {
			return slices.DeleteFunc(slices.Clone(writeFaults), func(f fault) bool { return f == fDup })
		}
		return faultsFor(p)
	},
	run: uploadCase,
}

// stepDownload: the fault strikes a download's code or a chunk of its
// answer.
var stepDownload = faultStep{
	name:  "download",
	kinds: []testboard.Kind{testboard.Wasm, testboard.Microbit},
	points: func(testboard.Kind) []point {
		return []point{
			{side: toBoard, pat: "sum(b))", nth: 1},  // inside the code
			{side: fromBoard, pat: "MARKER", nth: 1}, // inside the data
		}
	},
	faults: faultsFor,
	run: func(t *testing.T, ctx context.Context, fc *faultCase) error {
		_, data := uploadData(fc.kind)
		look := fc.fresh(t)
		writeOld(t, ctx, look, faultFile, data)
		_ = look.Close()

		b := fc.env.board(t, fc.in)
		if _, err := b.Stat(ctx, faultFile); err != nil {
			t.Fatalf("stat: %v", err)
		}
		fc.in.arm()
		got, err := b.ReadFile(ctx, faultFile, nil)
		t.Logf("read: %d bytes, %v", len(got), err)
		if err == nil && !bytes.Equal(got, data) {
			t.Errorf("the read succeeded with %d bytes that are not the file's %d", len(got), len(data))
		}
		checkLinkMessage(t, err, fc.env.url, fc.in.fault)
		if err != nil && !strings.Contains(err.Error(), "read "+faultFile) {
			t.Errorf("the error does not say that reading %s failed: %v", faultFile, err)
		}
		var be *BoardError
		if errors.As(err, &be) && be.Name == "SyntaxError" {
			t.Errorf("a damaged command is reported as the board's SyntaxError: %v", err)
		}
		nextExecWorks(t, ctx, b)
		_ = b.Close()

		look = fc.fresh(t)
		files := boardFiles(t, ctx, look)
		_ = look.Close()
		if !bytes.Equal(files[faultFile], data) {
			t.Errorf("a read changed %s: now %d bytes", faultFile, len(files[faultFile]))
		}
		if _, ok := files[faultFile+partSuffix]; ok {
			t.Errorf("a read left %s", faultFile+partSuffix)
		}
		return err
	},
}

// stepInterrupt: the fault strikes the Ctrl-C that stops a running cell,
// or the KeyboardInterrupt it brings back.
var stepInterrupt = faultStep{
	name:  "interrupt",
	kinds: []testboard.Kind{testboard.Wasm, testboard.Microbit},
	points: func(testboard.Kind) []point {
		return []point{
			{side: toBoard, after: "tick", pat: "\x03", nth: 1},
			{side: fromBoard, pat: "KeyboardInterrupt", nth: 1},
		}
	},
	faults: func(p point) []fault {
		if p.side == fromBoard {
			// A byte lost from the traceback would change its text, which
			// no one can tell from the board's own.
			return []fault{fDelay, fCut}
		}
		return writeFaults
	},
	run: func(t *testing.T, ctx context.Context, fc *faultCase) error {
		code := "import time\nwhile 1:\n print('tick')\n time.sleep(0.05)\n"
		if fc.kind == testboard.Microbit {
			code = "from microbit import sleep\nwhile 1:\n print('tick')\n sleep(50)\n"
		}
		b := fc.env.board(t, fc.in)
		nextExecWorks(t, ctx, b) // the link is up
		fc.in.arm()
		out := watch("tick", func() { _ = b.Interrupt(ctx) })
		err := b.Exec(ctx, code, ExecOptions{Stdout: out})
		t.Logf("exec: %v", err)
		var be *BoardError
		switch {
		case errors.As(err, &be):
			if be.Name != "KeyboardInterrupt" {
				t.Errorf("the stopped cell ended in %v, not KeyboardInterrupt", err)
			}
		case err == nil:
			t.Errorf("the stopped cell succeeded")
		default:
			if fc.in.fault != fCut && fc.in.fault != fCutAfter {
				t.Errorf("the stopped cell ended in %v, not KeyboardInterrupt", err)
			}
			checkLinkMessage(t, err, fc.env.url, fc.in.fault)
		}
		nextExecWorks(t, ctx, b)
		_ = b.Close()
		return err
	},
}

// runRawPasteFaults strikes the raw-paste flow control, on the fake board
// (neither test board has raw-paste): a window grant from the board, and
// a byte of the code the window paces.
func runRawPasteFaults(t *testing.T) {
	var code strings.Builder
	for i := 0; code.Len() < 120; i++ {
		fmt.Fprintf(&code, "x%d=%d\n", i, i)
	}
	code.WriteString("y=2\n")
	for i := 0; code.Len() < 240; i++ {
		fmt.Fprintf(&code, "z%d=%d\n", i, i)
	}
	code.WriteString("print('ok')\n")
	want := code.String()
	points := []point{
		{side: toBoard, pat: "y=2", nth: 1},
		{side: fromBoard, after: "\x05A\x01", pat: "\x01", nth: 3}, // a grant mid-code
	}
	for _, pt := range points {
		for _, f := range faultsFor(pt) {
			t.Run(fmt.Sprintf("rawPaste/%s/%s", pt, f), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				fake := newFake(t, "yes")
				fake.window = 32
				fake.direct = true
				fake.run = func(x *fakeExec) string {
					switch x.code {
					case want:
						x.out("ok\r\n")
					case "print(6*7)":
						x.out("42\r\n")
					default:
						// What a board does with code that lost or gained
						// bytes on the way.
						return "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1\r\nSyntaxError: invalid syntax\r\n"
					}
					return ""
				}
				env := &faultEnv{url: "fake:", dial: fake.dial, opt: Options{Timeout: time.Second}}
				in := &injector{pt: pt, fault: f}
				b := env.board(t, in)
				nextExecWorks(t, ctx, b) // the link is up, raw-paste learnt
				in.arm()
				var out bytes.Buffer
				err := b.Exec(ctx, want, ExecOptions{Stdout: &out})
				t.Logf("exec: %q, %v", out.String(), err)
				if !in.hasFired() {
					t.Errorf("the fault's point %s never went by", pt)
				}
				var be *BoardError
				switch {
				case err == nil:
					if out.String() != "ok\r\n" {
						t.Errorf("exec succeeded with output %q, want ok", out.String())
					}
				case errors.As(err, &be):
					// The code changed on the way: the raw REPL has no
					// check of it, and the board reports what it got.
					if f == fDelay || f == fCut || f == fCutAfter || be.Name != "SyntaxError" {
						t.Errorf("exec failed with the board's %v", err)
					}
				default:
					checkLinkMessage(t, err, env.url, f)
					if !strings.Contains(err.Error(), "raw-paste") && !errors.Is(err, ErrLinkLost) {
						t.Errorf("the error does not say the raw-paste transfer failed: %v", err)
					}
				}
				fake.mu.Lock()
				overflow := fake.overflow
				fake.mu.Unlock()
				if overflow > 0 && f != fDup {
					t.Errorf("%d bytes were sent beyond the board's window", overflow)
				}
				nextExecWorks(t, ctx, b)
			})
		}
	}
}

// A \x04 doubled on its way to the board reaches it as a Ctrl-D on an
// empty raw line, after the code: the board soft-resets, and the next
// exec gets that reset's "OK" and reboot banner first. It must not take
// them for its own answer (the banner is not the cell's output), and a
// code that the reboot swallowed is sent again; the reset is told once.
func TestFaultStrayCtrlD(t *testing.T) {
	for _, lose := range []int{0, len("print(6*7)\x04")} {
		t.Run(fmt.Sprintf("lost%d", lose), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			fake := newFake(t, "no")
			fake.direct = true
			fake.loseInReset = lose
			fake.run = func(x *fakeExec) string {
				switch x.code {
				case "print(6*7)":
					x.out("42\r\n")
				case "print(1)":
					x.out("1\r\n")
				}
				return ""
			}
			env := &faultEnv{url: "fake:", dial: fake.dial, opt: Options{Timeout: 500 * time.Millisecond}}
			in := &injector{pt: point{side: toBoard, after: "print(1)", pat: "\x04", nth: 1}, fault: fDup}
			b := env.board(t, in)
			nextExecWorks(t, ctx, b)
			in.arm()
			var out bytes.Buffer
			if err := b.Exec(ctx, "print(1)", ExecOptions{Stdout: &out}); err != nil || out.String() != "1\r\n" {
				t.Fatalf("exec: %q, %v", out.String(), err)
			}
			var notes []string
			out.Reset()
			err := b.Exec(ctx, "print(6*7)", ExecOptions{Stdout: &out, Reset: func(n string) { notes = append(notes, n) }})
			if err != nil || out.String() != "42\r\n" {
				t.Errorf("the exec after the stray Ctrl-D: output %q, err %v; want 42", out.String(), err)
			}
			fake.mu.Lock()
			resets := fake.softResets
			fake.mu.Unlock()
			if resets != 1 {
				t.Fatalf("the board soft-reset %d times, want 1 (the fault did not strike as planned)", resets)
			}
			if len(notes) != 1 || !strings.Contains(notes[0], "soft-reset") {
				t.Errorf("the user was told %q, want one note of the soft reset", notes)
			}
			nextExecWorks(t, ctx, b)
		})
	}
}
