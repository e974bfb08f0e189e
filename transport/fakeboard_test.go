package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeBoard speaks the raw REPL over net.Pipe the way MicroPython's
// shared/runtime/pyexec.c does, running a Go handler instead of Python.
// Every dial is a fresh connection to the same board.
type fakeBoard struct {
	t *testing.T

	// Set before the first dial.
	paste     string // "yes" (R\x01), "no" (R\x00), "old" (answers "ra")
	window    int    // raw-paste window increment
	slowPaste bool   // consume raw-paste bytes slowly (forces flow control)
	bootNoise string // printed when a connection opens
	deaf      bool   // ignore all input, print noise
	deafFor   int    // the first deafFor connections are deaf
	noOK      bool   // swallow code without ever answering
	memFree   int    // what gc.mem_free() says; 0 means 100000
	zeroReads bool   // the host side's Read returns (0, nil) between data
	direct    bool   // the host side is a TimedReader (no pump goroutine)
	// loseInReset is how many input bytes a soft reset loses while the
	// board reboots (between its OK and its banner), as a micro:bit does.
	loseInReset int
	// staleIntr: a Ctrl-C that came while code ran and was not taken
	// stays pending, and the next code raises KeyboardInterrupt at once,
	// as old firmware (the micro:bit's) does; else it is dropped.
	staleIntr bool
	run       func(x *fakeExec) string
	// boot, when set, is boot.py: it runs at each soft reset, between the
	// soft reboot line and the banner, and returns what the board then
	// prints (its traceback). A Ctrl-C reaches it on x.intr.
	boot         func(x *fakeExec) string
	resetOnPaste atomic.Bool // the next raw-paste request is lost in a hard reset (a watchdog)
	resetOnCode  atomic.Bool // the next classic code is lost in a hard reset
	// probeStall, when set, makes the next probe wait for a Ctrl-C,
	// closing it first: a board busy at the kernel's first command.
	probeStall chan struct{}

	mu         sync.Mutex
	conn       net.Conn
	dials      int
	codes      []string // code received by exec, in order
	pasteReqs  int      // raw-paste requests seen
	overflow   int      // raw-paste bytes sent beyond the window
	shims      int      // input shim installs
	shim       bool
	state      map[string]string // "globals"; cleared by soft reset
	friendly   bool              // in the friendly REPL at last look
	softResets int
}

func newFake(t *testing.T, paste string) *fakeBoard {
	return &fakeBoard{t: t, paste: paste, window: 128, state: map[string]string{}}
}

// board returns a Board on the fake with a short timeout.
func (f *fakeBoard) board(timeout time.Duration) *Board {
	b := New("fake:", f.dial, Options{Timeout: timeout})
	f.t.Cleanup(func() { _ = b.Close() })
	return b
}

func (f *fakeBoard) dial(context.Context) (io.ReadWriteCloser, error) {
	host, dev := net.Pipe()
	f.mu.Lock()
	f.dials++
	f.conn = dev
	f.mu.Unlock()
	go f.serve(dev)
	f.t.Cleanup(func() { _ = dev.Close() })
	switch {
	case f.zeroReads:
		return &zeroReader{Conn: host}, nil
	case f.direct:
		return &timedPipe{Conn: host}, nil
	}
	return host, nil
}

// timedPipe is a TimedReader over net.Pipe. The pipe holds no bytes: the
// board's writes wait until the host reads, as a board's do once the host
// buffers are full.
type timedPipe struct {
	net.Conn
	woken atomic.Bool
}

func (p *timedPipe) ReadTimeout(b []byte, d time.Duration) (int, error) {
	// A pipe with a deadline already past does not even take a waiting
	// write, so a poll waits a moment.
	_ = p.SetReadDeadline(time.Now().Add(max(d, 100*time.Microsecond)))
	// After the deadline is set, so a Wake cannot be overwritten unseen.
	if p.woken.Swap(false) {
		return 0, nil
	}
	n, err := p.Conn.Read(b)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return n, nil
	}
	return n, err
}

func (p *timedPipe) Wake() {
	p.woken.Store(true)
	_ = p.SetReadDeadline(time.Unix(1, 0))
}

// zeroReader returns (0, nil) from every other Read, as a serial port
// with a read timeout does.
type zeroReader struct {
	net.Conn
	n int
}

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.n++; z.n%2 == 0 {
		return 0, nil
	}
	return z.Conn.Read(p)
}

// kill drops the current connection, like an unplugged board.
func (f *fakeBoard) kill() {
	f.mu.Lock()
	c := f.conn
	f.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

func (f *fakeBoard) stat() (dials, pasteReqs, shims int, codes []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dials, f.pasteReqs, f.shims, append([]string(nil), f.codes...)
}

// fakeExec is the handler's view of a running exec.
type fakeExec struct {
	code string
	out  func(string)
	in   <-chan byte
	intr <-chan struct{}
	f    *fakeBoard
	// dropEnd makes the board not print the end-of-output markers (a lost
	// answer): it goes straight back to the prompt.
	dropEnd bool
	// pend leaves an interrupt pending (see fakeBoard.staleIntr), for code
	// that ended before a Ctrl-C took.
	pend func()
}

// readLine reads stdin up to \r like the input() shim; ok is false on
// \x00-\x04 (EOF) or Ctrl-C.
func (x *fakeExec) readLine() (line string, ok bool) {
	var sb strings.Builder
	for {
		select {
		case c, open := <-x.in:
			switch {
			case !open || c < 5:
				return sb.String(), false
			case c == '\r' || c == '\n':
				return sb.String(), true
			}
			sb.WriteByte(c)
		case <-x.intr:
			return sb.String(), false
		}
	}
}

const kbdTraceback = "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\nKeyboardInterrupt: \r\n"

func (f *fakeBoard) serve(dev net.Conn) {
	in := make(chan byte, 1<<16)
	intr := make(chan struct{}, 1)
	var intrOn atomic.Bool
	go func() {
		defer close(in)
		buf := make([]byte, 256)
		for {
			n, err := dev.Read(buf)
			for _, c := range buf[:n] {
				if c == 3 && intrOn.Load() {
					select {
					case intr <- struct{}{}:
					default:
					}
					continue
				}
				in <- c
			}
			if err != nil {
				return
			}
		}
	}()
	out := func(s string) { _, _ = dev.Write([]byte(s)) }
	if f.bootNoise != "" {
		out(f.bootNoise)
	}
	f.mu.Lock()
	deaf := f.deaf || f.dials <= f.deafFor
	f.mu.Unlock()
	if deaf {
		for range in {
			out("garbage")
		}
		return
	}
	raw := false
	var line []byte
	setFriendly := func(v bool) {
		f.mu.Lock()
		f.friendly = v
		f.mu.Unlock()
	}
	setFriendly(true)
	// watchdogReset: the board resets (state and helpers gone) and prints
	// an ESP32's boot banner at its friendly REPL.
	watchdogReset := func() {
		f.mu.Lock()
		f.state = map[string]string{}
		f.shim = false
		f.mu.Unlock()
		setFriendly(true)
		out("ets Jun  8 2016 00:22:57\r\nrst:0x8 (TG1WDT_SYS_RESET)\r\nMicroPython v1.27.0 on 2025-01-01; fake with fake\r\nType \"help()\" for more information.\r\n>>> ")
	}
	for c := range in {
		if !raw {
			switch c {
			case 1:
				raw = true
				line = nil
				setFriendly(false)
				out("\r\n" + rawBanner)
			case 2:
				out("\r\nMicroPython fake\r\nType \"help()\" for more information.\r\n>>> ")
			case 3, '\r':
				out("\r\n>>> ")
			default:
				out(string([]byte{c}))
			}
			continue
		}
		switch c {
		case 1:
			if len(line) == 2 && line[0] == 5 && f.resetOnPaste.Swap(false) {
				raw, line = false, nil
				watchdogReset()
				continue
			}
			if len(line) == 2 && line[0] == 5 && f.paste != "old" {
				f.mu.Lock()
				f.pasteReqs++
				f.mu.Unlock()
				if f.paste == "no" || line[1] != 'A' {
					out("R\x00")
				} else {
					f.rawPaste(in, intr, &intrOn, out)
				}
				line = nil
				out(">")
				continue
			}
			if len(line) == 2 && line[0] == 5 {
				f.mu.Lock()
				f.pasteReqs++
				f.mu.Unlock()
			}
			line = nil
			out(rawBanner)
		case 2:
			raw = false
			setFriendly(true)
			out("\r\nMicroPython fake\r\nType \"help()\" for more information.\r\n>>> ")
		case 3:
			line = nil
		case 4:
			if f.noOK && len(line) > 0 {
				continue
			}
			if len(line) > 0 && f.resetOnCode.Swap(false) {
				// Reset as the classic code's Ctrl-D came: no OK.
				raw, line = false, nil
				watchdogReset()
				continue
			}
			out("OK")
			if len(line) == 0 {
				f.mu.Lock()
				f.state = map[string]string{}
				f.shim = false
				f.softResets++
				lose := f.loseInReset
				f.mu.Unlock()
				for ; lose > 0; lose-- {
					if _, ok := <-in; !ok {
						return
					}
				}
				out("\r\nsoft reboot\r\n")
				if f.boot != nil {
					select { // a stale interrupt
					case <-intr:
					default:
					}
					intrOn.Store(true)
					out(f.boot(&fakeExec{code: "boot.py", out: out, in: in, intr: intr, f: f}))
					intrOn.Store(false)
				}
				out(rawBanner)
				continue
			}
			f.exec(string(line), in, intr, &intrOn, out)
			line = nil
			out(">")
		default:
			line = append(line, c)
		}
	}
}

// rawPaste receives code with flow control, as mp_reader_stdin does.
func (f *fakeBoard) rawPaste(in <-chan byte, intr chan struct{}, intrOn *atomic.Bool, out func(string)) {
	w := f.window
	out("R\x01" + string([]byte{byte(w), byte(w >> 8)}) + "\x01")
	remain := w
	granted := 2 * w // bytes the host may send before the next \x01
	var code []byte
	for {
		c, ok := <-in
		if !ok {
			return
		}
		if c == 3 {
			out("\x04") // end of reception, then KeyboardInterrupt
			out("\x04" + kbdTraceback + "\x04")
			return
		}
		if c == 4 {
			out("\x04")
			break
		}
		granted--
		if granted < 0 {
			f.mu.Lock()
			f.overflow++
			f.mu.Unlock()
		}
		code = append(code, c)
		if strings.HasSuffix(string(code), "SYNTAXERR") {
			// Compile error: end reception, then skip to the host's \x04.
			out("\x04")
			for c := range in {
				if c == 3 || c == 4 {
					break
				}
			}
			out("\x04Traceback (most recent call last):\r\n  File \"<stdin>\", line 1\r\nSyntaxError: invalid syntax\r\n\x04")
			return
		}
		if remain--; remain == 0 {
			if f.slowPaste {
				time.Sleep(time.Millisecond)
			}
			remain = w
			granted += w
			out("\x01")
		}
	}
	f.exec(string(code), in, intr, intrOn, out)
}

// exec runs code and prints the end markers; the caller prints ">".
func (f *fakeBoard) exec(code string, in <-chan byte, intr chan struct{}, intrOn *atomic.Bool, out func(string)) {
	f.mu.Lock()
	f.codes = append(f.codes, code)
	f.mu.Unlock()
	switch {
	case strings.HasPrefix(code, "print(__import__('sys').platform"):
		f.mu.Lock()
		stall := f.probeStall
		f.probeStall = nil
		f.mu.Unlock()
		if stall != nil {
			intrOn.Store(true)
			close(stall)
			<-intr
			intrOn.Store(false)
			out("\x04" + kbdTraceback + "\x04")
			return
		}
		mem := f.memFree
		if mem == 0 {
			mem = 100000
		}
		out(fmt.Sprintf("fake %d\r\n\x04\x04", mem))
		return
	case strings.Contains(code, "iot-input"):
		f.mu.Lock()
		f.shims++
		f.shim = true
		f.mu.Unlock()
		out("\x04\x04")
		return
	}
	// Drain a stale interrupt, like mp_hal_set_interrupt_char resetting,
	// or (staleIntr) raise it.
	select {
	case <-intr:
		if f.staleIntr {
			out("\x04" + kbdTraceback + "\x04")
			return
		}
	default:
	}
	intrOn.Store(true)
	x := &fakeExec{code: code, out: out, in: in, intr: intr, f: f, pend: func() {
		select {
		case intr <- struct{}{}:
		default:
		}
	}}
	exc := ""
	if f.run != nil {
		exc = f.run(x)
	}
	intrOn.Store(false)
	if x.dropEnd {
		return
	}
	out("\x04" + exc + "\x04")
}
