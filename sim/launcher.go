package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ResetExit is the exit status of the board program after machine.reset()
// (EX_TEMPFAIL, "start me again"): the launcher starts it again at once on
// the same folder.
const ResetExit = 75

// DeepSleepExit is the exit status after machine.deepsleep(ms): the board
// wakes through a reset, which the launcher does as for ResetExit.
const DeepSleepExit = 76

// Config describes one virtual board.
type Config struct {
	// Name is the board's name ("" means "sim"): its folder's name, and
	// what machine.unique_id() and its hostname derive from.
	Name string
	// Dir holds the board's files; "" means DataDir(Name).
	Dir string
	// Heap is the Python heap in bytes; 0 means the program's default
	// (about 110 KB free after boot, as on an ESP32 without PSRAM).
	Heap int
	// IP is the address the board's network interface reports; "" means
	// the program's default (127.0.0.1).
	IP string
	// Expose lets sockets bound to 0.0.0.0 listen on every host interface;
	// otherwise they listen on 127.0.0.1 only.
	Expose bool
	// Hosts sends connections for "name" or "name:port" elsewhere
	// ("addr" or "addr:port").
	Hosts map[string]string
	// Runtime is node and the MicroPython runtime; zero means FindRuntime.
	Runtime Runtime
	// Logger receives the program's stderr (at debug level) and the
	// board's life events; nil discards them.
	Logger *slog.Logger
}

// Board is a virtual board: its folder, locked while the Board is open,
// and the node process running it, started by Dial. Its methods are safe
// for concurrent use.
type Board struct {
	cfg     Config
	log     *slog.Logger
	lock    *os.File // the folder's lock, held until Close
	progDir string   // the program's temporary folder
	entry   string   // board.mjs in progDir
	env     []string

	mu         sync.Mutex
	cur        *proc         // the process handed out by the last Dial
	next       *proc         // started after machine.reset(), not handed out yet
	restarting chan struct{} // closed once next is started; nil when no restart is under way
	closed     bool
}

// ErrInUse is wrapped by Open's error when another kernel has the board.
var ErrInUse = errors.New("the virtual board is in use")

// Open prepares the virtual board cfg describes: it finds the runtime,
// locks the board's folder (creating it) and writes the program out. No
// process runs until Dial. Close releases it all. ctx bounds the look for
// the runtime (a node that does not answer its --version).
func Open(ctx context.Context, cfg Config) (*Board, error) {
	if cfg.Name == "" {
		cfg.Name = "sim"
	}
	if cfg.Runtime == (Runtime{}) {
		rt, err := FindRuntime(ctx)
		if err != nil {
			return nil, err
		}
		cfg.Runtime = rt
	}
	if cfg.Dir == "" {
		d, err := DataDir(cfg.Name)
		if err != nil {
			return nil, err
		}
		cfg.Dir = d
	}
	b := &Board{cfg: cfg, log: cfg.Logger}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("the virtual board's folder: %w", err)
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	b.lock = lock
	prog, err := os.MkdirTemp("", "iot-sim-")
	if err != nil {
		b.unlock()
		return nil, fmt.Errorf("the virtual board's program: %w", err)
	}
	b.progDir = prog
	if b.entry, err = WriteProgram(prog); err != nil {
		b.cleanup()
		return nil, err
	}
	if b.env, err = cfg.environ(); err != nil {
		b.cleanup()
		return nil, err
	}
	return b, nil
}

// Dir is the folder holding the board's files.
func (b *Board) Dir() string { return b.cfg.Dir }

// Name is the board's name.
func (b *Board) Name() string { return b.cfg.Name }

// environ is the program's environment: ours, less what the program reads,
// plus the board's settings.
func (c Config) environ() ([]string, error) {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "IOT_SIM") || strings.HasPrefix(k, "IOT_MPY_") || k == "IOT_FILE_FDS" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"IOT_SIM=1",
		"IOT_MPY_MODULE="+c.Runtime.Module,
		"IOT_SIM_DIR="+c.Dir,
		"IOT_SIM_NAME="+c.Name)
	if c.Heap > 0 {
		env = append(env, "IOT_MPY_HEAPSIZE="+strconv.Itoa(c.Heap))
	}
	if c.IP != "" {
		env = append(env, "IOT_SIM_IP="+c.IP)
	}
	if c.Expose {
		env = append(env, "IOT_SIM_EXPOSE=1")
	}
	if len(c.Hosts) > 0 {
		j, err := json.Marshal(c.Hosts)
		if err != nil {
			return nil, fmt.Errorf("the virtual board's hosts: %w", err)
		}
		env = append(env, "IOT_SIM_HOSTS="+string(j))
	}
	return env, nil
}

// lockDir takes the folder's lock, a file beside it (inside, the board
// would see it among its files).
func lockDir(dir string) (*os.File, error) {
	path := filepath.Clean(dir) + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the virtual board's folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := ""
		if data, rerr := os.ReadFile(path); rerr == nil && len(strings.TrimSpace(string(data))) > 0 {
			holder = " (process " + strings.TrimSpace(string(data)) + ")"
		}
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w by another kernel%s, which holds %s: %%disconnect it there (after %%connect to it, if another board is current) or shut that kernel down, or use another board (%%connect sim:OTHER)",
				ErrInUse, holder, dir)
		}
		return nil, fmt.Errorf("lock the virtual board's folder %s: %w", dir, err)
	}
	// Who holds it, for the message another kernel gets.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

func (b *Board) unlock() {
	if b.lock != nil {
		_ = b.lock.Truncate(0)
		_ = b.lock.Close() // closing releases the flock
		b.lock = nil
	}
}

func (b *Board) cleanup() {
	if b.progDir != "" {
		_ = os.RemoveAll(b.progDir)
	}
	b.unlock()
}

// Dial returns the byte stream of the board's serial line: the stdin and
// stdout of its process. The process started after a machine.reset() is
// taken if there is one; otherwise any process still running is killed (a
// board has one line) and a fresh one started on the same folder. Closing
// the stream kills its process: that is the board's hard reset.
func (b *Board) Dial(ctx context.Context) (io.ReadWriteCloser, error) {
	b.mu.Lock()
	restarting := b.restarting
	b.mu.Unlock()
	if restarting != nil {
		select {
		case <-restarting:
		case <-ctx.Done():
			return nil, fmt.Errorf("the virtual board restarting after machine.reset(): %w", context.Cause(ctx))
		}
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, os.ErrClosed
	}
	old, p := b.cur, b.next
	b.cur, b.next = nil, nil
	b.mu.Unlock()
	if old != nil {
		old.kill()
	}
	if p != nil && p.exited() {
		p.kill() // exited already: this closes its pipes
		p = nil
	}
	if p == nil {
		var err error
		if p, err = b.start(); err != nil {
			return nil, err
		}
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		p.kill()
		return nil, os.ErrClosed
	}
	b.cur = p
	b.mu.Unlock()
	if err := p.waitStarted(ctx); err != nil {
		p.kill()
		return nil, err
	}
	return &conn{p: p, b: b}, nil
}

// start runs the program once.
func (b *Board) start() (*proc, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start the virtual board: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		_ = inR.Close()
		_ = inW.Close()
		return nil, fmt.Errorf("start the virtual board: %w", err)
	}
	p := &proc{
		log:    b.log,
		stdin:  inW,
		stdout: outR,
		out:    bufio.NewReaderSize(outR, 4096),
		done:   make(chan struct{}),
		stderr: &tail{log: b.log, max: 2048},
	}
	cmd := exec.Command(b.cfg.Runtime.Node, b.entry)
	cmd.Dir = b.progDir
	cmd.Env = b.env
	cmd.Stdin = inR
	cmd.Stdout = outW
	cmd.Stderr = p.stderr
	// The board dies with the kernel, and kill reaches its whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	p.cmd = cmd
	p.started = time.Now()
	err = cmd.Start()
	_ = inR.Close()
	_ = outW.Close()
	if err != nil {
		_ = inW.Close()
		_ = outR.Close()
		return nil, fmt.Errorf("start the virtual board with %s: %w", b.cfg.Runtime.Node, err)
	}
	b.log.Debug("virtual board started", "pid", cmd.Process.Pid, "dir", b.cfg.Dir)
	go func() {
		err := cmd.Wait()
		p.status = err
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			p.code = ee.ExitCode()
		}
		p.byUs = p.wasKilled()
		var restarting chan struct{}
		if (p.code == ResetExit || p.code == DeepSleepExit) && !p.byUs {
			// Before the stream reports the reset: a Dial that follows
			// waits for the restart rather than starting another.
			restarting = make(chan struct{})
			b.mu.Lock()
			b.restarting = restarting
			b.mu.Unlock()
		}
		close(p.done)
		b.log.Debug("virtual board exited", "pid", cmd.Process.Pid, "err", err)
		if restarting != nil {
			b.restarted(p)
			b.mu.Lock()
			if b.restarting == restarting {
				b.restarting = nil
			}
			b.mu.Unlock()
			close(restarting)
		}
	}()
	return p, nil
}

// restarted starts the board again after its process p exited from
// machine.reset(), as a board boots after a reset: boot.py and main.py
// run at once. The next Dial takes the new process.
func (b *Board) restarted(p *proc) {
	// p's stream may be closed already (the engine saw it end): then cur
	// is nil. Anything else means a newer process took over.
	current := func() bool { return !b.closed && (b.cur == p || b.cur == nil) && b.next == nil }
	b.mu.Lock()
	ok := current()
	b.mu.Unlock()
	if !ok {
		return
	}
	if lived := time.Since(p.started); lived < resetPause {
		// A main.py that resets at once would spin node processes: pause
		// as a board's boot would take.
		time.Sleep(resetPause - lived)
	}
	np, err := b.start()
	if err != nil {
		b.log.Warn("virtual board: restart after machine.reset() failed; the next connection tries again", "err", err)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !current() {
		np.kill()
		return
	}
	b.next = np
	b.log.Info("virtual board restarted after machine.reset()", "name", b.cfg.Name)
}

// Close kills the board's process and releases its folder. It is
// idempotent.
func (b *Board) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	cur, next := b.cur, b.next
	b.cur, b.next = nil, nil
	b.mu.Unlock()
	for _, p := range []*proc{cur, next} {
		if p != nil {
			p.kill()
		}
	}
	b.cleanup()
	return nil
}

// proc is one run of the board program.
type proc struct {
	log     *slog.Logger
	cmd     *exec.Cmd
	stdin   *os.File
	stdout  *os.File
	rmu     sync.Mutex // held by the reader of out
	out     *bufio.Reader
	stderr  *tail
	done    chan struct{} // closed when the process has exited
	started time.Time
	status  error // cmd.Wait's, once done
	code    int   // exit code, once done (-1: killed by a signal)
	byUs    bool  // killed by kill, once done

	mu     sync.Mutex
	killed bool
}

// resetPause is the shortest life of a board process between two resets.
const resetPause = 500 * time.Millisecond

// startWait bounds how long Dial waits for the board's first output, so a
// program that fails at once (a broken runtime) is reported by Dial.
const startWait = 3 * time.Second

// waitStarted waits until the program printed something, exited, or
// startWait or ctx passed (a board whose main.py prints nothing is still
// usable: the engine's Ctrl-C reaches it).
func (p *proc) waitStarted(ctx context.Context) error {
	got := make(chan struct{})
	go func() {
		p.rmu.Lock()
		_, _ = p.out.Peek(1)
		p.rmu.Unlock()
		close(got)
	}()
	t := time.NewTimer(startWait)
	defer t.Stop()
	select {
	case <-got:
		if p.out.Buffered() > 0 {
			return nil
		}
		// The output ended before it began: the program is exiting.
		select {
		case <-p.done:
			return p.exitError()
		case <-time.After(2 * time.Second):
			return errors.New("the virtual board's program closed its output at start")
		}
	case <-p.done:
		<-got // the pipe ends once the process has exited
		if p.out.Buffered() == 0 {
			return p.exitError()
		}
		return nil
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("start the virtual board: %w", context.Cause(ctx))
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) wasKilled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.killed
}

// kill ends the process (its whole group) and waits for it, a bounded
// time, then closes the pipes.
func (p *proc) kill() {
	p.mu.Lock()
	first := !p.killed
	p.killed = true
	p.mu.Unlock()
	if !first {
		return
	}
	if pr := p.cmd.Process; pr != nil && !p.exited() {
		_ = syscall.Kill(-pr.Pid, syscall.SIGKILL)
		_ = pr.Kill()
	}
	_ = p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.log.Warn("virtual board: process did not exit after SIGKILL", "pid", p.cmd.Process.Pid)
	}
	_ = p.stdout.Close()
}

// ResetError is what a read of the board's stream returns once the board
// reset itself (machine.reset()): the stream is over, and the next Dial
// reaches the board booted afresh, its files kept.
type ResetError struct {
	// DeepSleep: the reset was the wake from machine.deepsleep().
	DeepSleep bool
}

func (e ResetError) Error() string {
	if e.DeepSleep {
		return "the board woke from machine.deepsleep() through a reset"
	}
	return "the board was reset by machine.reset()"
}

// BoardReset marks the error as a reset of the board, not a failure of
// the link.
func (ResetError) BoardReset() bool { return true }

// exitError says why the process ended; p.done is closed.
func (p *proc) exitError() error {
	if p.byUs {
		return os.ErrClosed
	}
	if p.code == ResetExit || p.code == DeepSleepExit {
		return ResetError{DeepSleep: p.code == DeepSleepExit}
	}
	msg := "the virtual board's program exited"
	if p.status != nil {
		msg += " (" + p.status.Error() + ")"
	}
	if t := p.stderr.last(); t != "" {
		msg += ": " + t
	}
	return errors.New(msg)
}

// conn is the stream Dial returns: one process's stdin and stdout.
type conn struct {
	p    *proc
	b    *Board
	once sync.Once
}

func (c *conn) Read(buf []byte) (int, error) {
	c.p.rmu.Lock()
	n, err := c.p.out.Read(buf)
	c.p.rmu.Unlock()
	if err == nil || n > 0 {
		return n, nil
	}
	// The output ended: the process is gone, or going.
	select {
	case <-c.p.done:
	case <-time.After(2 * time.Second):
		return 0, fmt.Errorf("the virtual board's output ended: %w", err)
	}
	return 0, c.p.exitError()
}

func (c *conn) Write(buf []byte) (int, error) {
	n, err := c.p.stdin.Write(buf)
	if err != nil && c.p.exited() {
		return n, c.p.exitError()
	}
	return n, err
}

// Close kills the process behind the stream.
func (c *conn) Close() error {
	c.once.Do(func() {
		c.p.kill()
		c.b.mu.Lock()
		if c.b.cur == c.p {
			c.b.cur = nil
		}
		c.b.mu.Unlock()
	})
	return nil
}

// tail logs the program's stderr line by line at debug level and keeps its
// last lines for error messages.
type tail struct {
	log  *slog.Logger
	max  int
	mu   sync.Mutex
	buf  []byte
	line []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	t.line = append(t.line, p...)
	for {
		i := bytes.IndexByte(t.line, '\n')
		if i < 0 {
			break
		}
		t.log.Debug("virtual board stderr", "line", string(t.line[:i]))
		t.line = t.line[i+1:]
	}
	if len(t.line) > t.max {
		// A line that never ends (board code writing to stderr in a
		// loop): logged in pieces, so memory stays bounded.
		t.log.Debug("virtual board stderr", "line", string(t.line), "cut", true)
		t.line = t.line[:0]
	}
	return len(p), nil
}

// last is the end of stderr, its last few lines joined on one line.
func (t *tail) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(t.buf)), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	s := strings.Join(lines, " | ")
	if len(s) > 400 {
		s = "..." + s[len(s)-400:]
	}
	return s
}
