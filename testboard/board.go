package testboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"github.com/iot-kernel/iot-kernel/sim"
)

// Kind names an emulated board.
type Kind string

const (
	// Microbit is MicroPython 1.9.2 for the BBC micro:bit, run by QEMU.
	Microbit Kind = "microbit"
	// Wasm is MicroPython 1.27's WebAssembly port, run by node.
	Wasm Kind = "wasm"
)

// Options tune a board. The zero value is usable.
type Options struct {
	// PaceBaud paces host-to-board bytes at this baud rate (bits/10 per
	// byte) to model a real UART. 0 means the board's own: 115200 for the
	// micro:bit, whose 64-byte RX buffer has no flow control, and none for
	// wasm. Negative: no pacing (the client must pace for the micro:bit).
	PaceBaud int
	// Logger receives the board's life events and the emulator's stderr;
	// nil discards them.
	Logger *slog.Logger
	// RepoRoot is where node_modules is (wasm only); "" = find it by walking
	// up from the working directory to the one holding go.mod. The
	// environment variable IOT_NODE_MODULES (a node_modules directory)
	// overrides both.
	RepoRoot string
	// HeapSize is the wasm board's Python heap in bytes; 0 = 1 MiB.
	HeapSize int
}

// Board is an emulated MicroPython board behind a pseudo-terminal, which
// clients open like a USB serial port. Its methods are safe for concurrent
// use.
type Board struct {
	kind Kind
	opt  Options
	log  *slog.Logger
	dir  string // temporary directory, removed by Close
	path string // stable symlink to the current pty slave
	argv []string
	env  []string

	mu     sync.Mutex // serialises Kill, Restart and Close; guards below
	cur    *run
	closed bool
}

// microPythonModule is the npm package file the wasm board loads.
const microPythonModule = "@micropython/micropython-webassembly-pyscript/micropython.mjs"

// Start starts a board and returns once it has printed its first ">>> "
// prompt, or fails when ctx ends first. What the board printed while
// booting is discarded, so the first client starts with an empty line.
// Call Close to stop it.
func Start(ctx context.Context, kind Kind, opt Options) (*Board, error) {
	b := &Board{kind: kind, opt: opt, log: opt.Logger}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	b.log = b.log.With("board", string(kind))
	dir, err := os.MkdirTemp("", "testboard-")
	if err != nil {
		return nil, fmt.Errorf("testboard: %w", err)
	}
	b.dir = dir
	b.path = filepath.Join(dir, "ttyACM0")
	if err := b.prepare(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("testboard %s: %w", kind, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.start(ctx); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return b, nil
}

// prepare works out the emulator's command line.
func (b *Board) prepare() error {
	switch b.kind {
	case Microbit:
		qemu := os.Getenv("IOT_QEMU")
		if qemu == "" {
			var err error
			if qemu, err = exec.LookPath("qemu-system-arm"); err != nil {
				return fmt.Errorf("qemu-system-arm not found (Debian package qemu-system-arm): %w", err)
			}
		}
		fw := os.Getenv("IOT_MICROBIT_FIRMWARE")
		if fw == "" {
			fw = "/usr/share/firmware-microbit-micropython/firmware.hex"
		}
		if _, err := os.Stat(fw); err != nil {
			return fmt.Errorf("micro:bit firmware (Debian package firmware-microbit-micropython): %w", err)
		}
		// Not -serial pty (it drops output while no client holds the pty)
		// and not -nographic (Ctrl-A would be QEMU's escape key).
		b.argv = []string{qemu, "-M", "microbit", "-display", "none", "-monitor", "none",
			"-device", "loader,file=" + fw, "-serial", "stdio"}
	case Wasm:
		node := os.Getenv("IOT_NODE")
		if node == "" {
			var err error
			if node, err = exec.LookPath("node"); err != nil {
				return fmt.Errorf("node not found: %w", err)
			}
		}
		mod, err := findMicroPython(b.opt.RepoRoot)
		if err != nil {
			return err
		}
		// The program that makes the WebAssembly port a serial board.
		script, err := sim.WriteProgram(b.dir)
		if err != nil {
			return err
		}
		b.argv = []string{node, script}
		b.env = append(os.Environ(), "IOT_MPY_MODULE="+mod, fileFDsEnv)
		if b.opt.HeapSize > 0 {
			b.env = append(b.env, "IOT_MPY_HEAPSIZE="+strconv.Itoa(b.opt.HeapSize))
		}
	default:
		return fmt.Errorf("unknown kind %q (want %q or %q)", b.kind, Microbit, Wasm)
	}
	return nil
}

// findMicroPython locates the npm package the wasm board needs.
func findMicroPython(repoRoot string) (string, error) {
	var tried []string
	check := func(nodeModules string) (string, bool) {
		p := filepath.Join(nodeModules, filepath.FromSlash(microPythonModule))
		tried = append(tried, p)
		_, err := os.Stat(p)
		return p, err == nil
	}
	if nm := os.Getenv("IOT_NODE_MODULES"); nm != "" {
		if p, ok := check(nm); ok {
			return p, nil
		}
	} else if repoRoot != "" {
		if p, ok := check(filepath.Join(repoRoot, "node_modules")); ok {
			return p, nil
		}
	} else if dir, err := os.Getwd(); err == nil {
		for {
			if p, ok := check(filepath.Join(dir, "node_modules")); ok {
				return p, nil
			}
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("npm package %s not found (run npm install at the repository root, or set IOT_NODE_MODULES); tried %v",
		"@micropython/micropython-webassembly-pyscript", tried)
}

// Path is the stable path of the board's serial device: a symlink to the
// current pty, opened by clients like a serial port. It is absent while the
// board is unplugged (after Kill).
func (b *Board) Path() string { return b.path }

// Kind tells which board this is.
func (b *Board) Kind() Kind { return b.kind }

// UARTBaud is the micro:bit's line rate, which its test board models unless
// told otherwise.
const UARTBaud = 115200

// paceBaud is the rate host-to-board bytes are paced at; 0: not paced.
func (b *Board) paceBaud() int {
	switch {
	case b.opt.PaceBaud > 0:
		return b.opt.PaceBaud
	case b.opt.PaceBaud == 0 && b.kind == Microbit:
		return UARTBaud
	}
	return 0
}

// Paced reports whether host-to-board bytes are paced like a UART.
func (b *Board) Paced() bool { return b.paceBaud() > 0 }

// Kill simulates unplugging the board: the emulator dies, the pty is closed
// (so clients' reads fail with EOF or EIO) and Path disappears.
func (b *Board) Kill() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.kill()
}

func (b *Board) kill() error {
	r := b.cur
	b.cur = nil
	if r == nil {
		return nil
	}
	r.shutdown()
	<-r.done
	b.log.Info("board unplugged")
	if err := os.Remove(b.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("testboard: %w", err)
	}
	return nil
}

// Restart plugs the board in again, after Kill or while it runs: a fresh
// emulator behind a new pty, reached through the same Path. It returns once
// the board printed its prompt.
func (b *Board) Restart(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("testboard: restart: %w", os.ErrClosed)
	}
	if err := b.kill(); err != nil {
		return err
	}
	return b.start(ctx)
}

// Close stops the board and removes its temporary files. It is idempotent.
func (b *Board) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	err := b.kill()
	if rerr := os.RemoveAll(b.dir); rerr != nil && err == nil {
		err = fmt.Errorf("testboard: %w", rerr)
	}
	return err
}

// run is one life of the emulator, from plug-in to unplug.
type run struct {
	log    *slog.Logger
	cmd    *exec.Cmd
	master *os.File // our side of the pty
	slave  *os.File // held open so the pty survives clients that close it
	toEmu  *os.File // emulator's stdin
	frEmu  *os.File // emulator's stdout
	ready  chan struct{}
	stop   chan struct{}
	done   chan struct{} // everything below has ended
	files  *fileChan     // wasm only: WebREPL's native file transfer
	once   sync.Once
	stderr *tailWriter
}

// start begins a new run and waits for its prompt. b.mu is held.
func (b *Board) start(ctx context.Context) error {
	r, err := b.spawn()
	if err != nil {
		return fmt.Errorf("testboard %s: %w", b.kind, err)
	}
	select {
	case <-r.ready:
	case <-r.done:
		return fmt.Errorf("testboard %s: emulator exited before its prompt: %s", b.kind, r.stderr.String())
	case <-ctx.Done():
		r.shutdown()
		<-r.done
		return fmt.Errorf("testboard %s: waiting for the prompt: %w", b.kind, ctx.Err())
	}
	if err := flushInput(r.slave); err != nil {
		b.log.Warn("discarding boot output", "err", err)
	}
	tmp := b.path + ".new"
	_ = os.Remove(tmp)
	err = os.Symlink(r.slave.Name(), tmp)
	if err == nil {
		err = os.Rename(tmp, b.path)
	}
	if err != nil {
		r.shutdown()
		<-r.done
		return fmt.Errorf("testboard %s: link %s: %w", b.kind, b.path, err)
	}
	b.cur = r
	b.log.Info("board ready", "path", b.path, "pty", r.slave.Name())
	return nil
}

// spawn starts the emulator and the goroutines that copy between it and
// the pty.
func (b *Board) spawn() (*run, error) {
	master, slave, err := openPTY()
	if err != nil {
		return nil, err
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		_ = master.Close()
		_ = slave.Close()
		return nil, fmt.Errorf("pipe: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		for _, f := range []*os.File{master, slave, inR, inW} {
			_ = f.Close()
		}
		return nil, fmt.Errorf("pipe: %w", err)
	}
	r := &run{
		log:    b.log,
		master: master,
		slave:  slave,
		toEmu:  inW,
		frEmu:  outR,
		ready:  make(chan struct{}),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		stderr: &tailWriter{log: b.log, max: 4096},
	}
	cmd := exec.Command(b.argv[0], b.argv[1:]...)
	var childEnds []*os.File // closed once the child has them
	if b.kind == Wasm {
		files, reqR, ansW, err := newFileChan()
		if err != nil {
			for _, f := range []*os.File{master, slave, inR, inW, outR, outW} {
				_ = f.Close()
			}
			return nil, err
		}
		r.files = files
		cmd.ExtraFiles = []*os.File{reqR, ansW} // fds 3 and 4, see fileFDsEnv
		childEnds = cmd.ExtraFiles
	}
	cmd.Env = b.env
	cmd.Dir = b.dir
	cmd.Stdin = inR
	cmd.Stdout = outW
	cmd.Stderr = r.stderr
	// The emulator dies with us, and Kill reaches its whole process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	r.cmd = cmd
	err = cmd.Start()
	_ = inR.Close()
	_ = outW.Close()
	for _, f := range childEnds {
		_ = f.Close()
	}
	if err != nil {
		for _, f := range []*os.File{master, slave, inW, outR} {
			_ = f.Close()
		}
		if r.files != nil {
			r.files.close()
		}
		return nil, fmt.Errorf("start %s: %w", b.argv[0], err)
	}
	b.log.Debug("emulator started", "pid", cmd.Process.Pid, "argv", b.argv)

	var wg sync.WaitGroup
	wg.Add(3)
	go func() { // host -> board
		defer wg.Done()
		var unread func() (int, error)
		if b.kind == Microbit {
			// QEMU's UART takes bytes only as it has room: gate on that.
			unread = func() (int, error) { return pipeUnread(inW) }
		}
		_, err := io.Copy(newPacedWriter(inW, b.paceBaud(), unread, r.stop), master)
		r.log.Debug("host-to-board copy ended", "err", err)
	}()
	go func() { // board -> host
		defer wg.Done()
		r.copyOut()
		// The emulator is gone or we are stopping: unplug.
		r.shutdown()
	}()
	go func() {
		defer wg.Done()
		err := cmd.Wait()
		r.log.Debug("emulator exited", "err", err)
		r.shutdown()
	}()
	go func() {
		wg.Wait()
		close(r.done)
	}()
	return r, nil
}

// copyOut copies the emulator's output to the pty and reports the first
// prompt.
func (r *run) copyOut() {
	prompt := []byte(">>> ")
	var tail []byte
	buf := make([]byte, 4096)
	for {
		n, err := r.frEmu.Read(buf)
		if n > 0 {
			if _, werr := r.master.Write(buf[:n]); werr != nil {
				r.log.Debug("board-to-host copy ended", "err", werr)
				return
			}
			if !isClosed(r.ready) {
				tail = append(tail, buf[:n]...)
				if bytes.Contains(tail, prompt) {
					close(r.ready)
					tail = nil
				} else if len(tail) > 64 {
					tail = tail[len(tail)-64:]
				}
			}
		}
		if err != nil {
			r.log.Debug("emulator output ended", "err", err)
			return
		}
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// shutdown kills the emulator and closes the pty; safe to call many times.
func (r *run) shutdown() {
	r.once.Do(func() {
		close(r.stop)
		if p := r.cmd.Process; p != nil {
			_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
			_ = p.Kill()
		}
		for _, f := range []*os.File{r.master, r.slave, r.toEmu, r.frEmu} {
			_ = f.Close()
		}
		if r.files != nil {
			r.files.close()
		}
	})
}

// tailWriter logs the emulator's stderr line by line and keeps its end for
// error messages.
type tailWriter struct {
	log  *slog.Logger
	max  int
	mu   sync.Mutex
	buf  []byte
	line []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > w.max {
		w.buf = w.buf[len(w.buf)-w.max:]
	}
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			break
		}
		w.log.Debug("emulator stderr", "line", string(w.line[:i]))
		w.line = w.line[i+1:]
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(bytes.TrimSpace(w.buf))
}
