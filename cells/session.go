package cells

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/iot-kernel/iot-kernel/devices"
	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/magics"
	"github.com/iot-kernel/iot-kernel/transport"
	"github.com/iot-kernel/iot-kernel/transport/serialport"
	"github.com/iot-kernel/iot-kernel/transport/webrepl"
)

// EnvWebREPLPassword names the environment variable that supplies a WebREPL
// password for boards the devices file does not list with one.
const EnvWebREPLPassword = "IOT_WEBREPL_PASSWORD"

// session is the notebook's set of boards: the current one, and how to find
// others. It implements magics.Boards.
type session struct {
	log         *slog.Logger
	devicesPath string
	state       *lastDevice
	opts        transport.Options
	// open and discover are transport.Open and serialport.Discover; tests
	// may replace them.
	open     func(ctx context.Context, url string, opts transport.Options) (*transport.Board, error)
	discover func() ([]serialport.Port, error)
	run      func(ctx context.Context, b *transport.Board, code string, at magics.CodeAt, out kernel.Output) (kernel.MIMEBundle, error)
	// afterCell shows what the boards print between cells; sources names
	// the frames of their tracebacks.
	afterCell *afterCell
	sources   *sourceLog

	// mu is held only briefly, never across a board operation: a board's
	// Background writer (boardLines) takes it from inside one.
	mu        sync.Mutex
	cur       *transport.Board
	curTarget target                      // what cur was connected as, to connect it again
	names     map[*transport.Board]string // names of the boards this session opened
	// idle holds the virtual boards let go of (by %%connect, %connect to
	// another board, %disconnect):
	// their processes keep running, as a real board runs on (variables
	// and all) when its link closes, and the next open of the address
	// takes them back instead of booting a new one. Closed with the
	// session, or when a reset asks for a fresh process.
	idle     []*transport.Board
	tried    bool   // the lazy reattach after a restart was tried
	lastErr  error  // why the reattach failed
	lastWhat string // what it tried to connect
	// lastTarget is what the last %connect asked for, even if it failed:
	// %hardreset --pin resets that board when none is connected.
	lastTarget string

	// pin, when set, is the board every target means (Config.Board).
	pin string
	// simHome, when set, holds the virtual boards' folders
	// (Config.SimHome).
	simHome string
	// simReattached: the board the notebook had before the kernel
	// restarted was connected again, and it is a virtual board, which
	// restarted too.
	simReattached bool
}

// target is a resolved %connect target.
type target struct {
	url      string
	name     string
	password string
	uid      string         // the uid the devices file gives, if any
	entry    bool           // found in the devices file by name or uid
	dev      devices.Device // the entry, if any (a virtual board's settings)
	reset    bool           // open it with a hard reset by the serial port's RTS line
	noReset  bool           // open without the hard reset Options.HardReset asks for
}

// remember is what to reconnect after a restart: a registered board by its
// name, so that a port renamed by a replug is found again by its uid.
func (t target) remember() string {
	if t.entry {
		return t.name
	}
	return t.url
}

// devices loads the devices file afresh, so edits made while the kernel
// runs count.
func (s *session) devices() (*devices.File, error) {
	if s.devicesPath == "" {
		return &devices.File{}, nil
	}
	return devices.Load(s.devicesPath)
}

var hexUID = regexp.MustCompile(`^[0-9a-fA-F]{8,}$`)

// resolve turns what the user typed after %connect into a URL, a name and
// a password. What is an address is transport's table to say; other words
// are names or uids of the devices file.
func (s *session) resolve(ctx context.Context, what string) (target, error) {
	if s.pin != "" {
		return s.resolvePinned(ctx, what)
	}
	return s.resolveTarget(ctx, what)
}

// resolvePinned resolves what a notebook names when every board means the
// pinned one: the pinned board's address and password, under the name the
// notebook gave, with the virtual-board settings (hosts, heap, ip) of the
// named entry of the devices file where the pinned board has none. So a
// notebook written for `%connect esp32` replays on a virtual board and
// still shows "Connected to esp32".
func (s *session) resolvePinned(ctx context.Context, what string) (target, error) {
	what = strings.TrimSpace(what)
	t, err := s.resolveTarget(ctx, s.pin)
	if err != nil {
		return target{}, fmt.Errorf("the board every notebook runs on, %s: %w", devices.Redact(s.pin), err)
	}
	if what == "" || what == s.pin {
		return t, nil
	}
	name := what
	if df, err := s.devices(); err == nil {
		if d, ok := df.Lookup(what); ok {
			name = d.Name
			if t.dev.Hosts == nil {
				t.dev.Hosts = d.Hosts
			}
			if t.dev.Heap == 0 {
				t.dev.Heap = d.Heap
			}
			if t.dev.IP == "" {
				t.dev.IP = d.IP
			}
			t.dev.Expose = t.dev.Expose || d.Expose
		}
	}
	if name == what {
		if addr, err := transport.ParseAddress(what); err == nil && addr.Target != "auto" {
			name = transport.DefaultName(addr.URL)
		}
	}
	t.name = name
	return t, nil
}

// resolveTarget is resolve without the pin.
func (s *session) resolveTarget(ctx context.Context, what string) (target, error) {
	what = strings.TrimSpace(what)
	if what == "" {
		return target{}, errors.New("no target given")
	}
	if err := devices.CheckURL(what); err != nil {
		return target{}, err // before anything can print or log the URL
	}
	df, err := s.devices()
	if err != nil {
		return target{}, err
	}
	withEntry := func(url string) target {
		t := target{url: url, name: transport.DefaultName(url)}
		if d, ok := df.ByURL(url); ok {
			t.name, t.password, t.dev = d.Name, d.Password, d
		}
		return t
	}
	addr, aerr := transport.ParseAddress(what)
	switch {
	case aerr == nil && addr.Kind == transport.KindSerial && addr.Target == "auto":
		path, err := s.autoPort()
		if err != nil {
			return target{}, err
		}
		return withEntry(path), nil
	case aerr == nil && addr.Kind == transport.KindSerial && strings.HasPrefix(what, "."):
		abs, err := filepath.Abs(what)
		if err != nil {
			return target{}, fmt.Errorf("%s: %w", what, err)
		}
		return withEntry(abs), nil
	case aerr == nil:
		return withEntry(addr.URL), nil
	case !errors.Is(aerr, transport.ErrNotAddress):
		return target{}, aerr
	}
	d, ok := df.Lookup(what)
	if !ok {
		d, ok = df.ByUID(what)
	}
	if ok {
		t := target{url: d.URL, name: d.Name, password: d.Password, uid: d.UID, entry: true, dev: d}
		if t.url == "" {
			path, err := s.findUID(ctx, d.UID)
			if err != nil {
				return target{}, fmt.Errorf("%s: %w", d.Name, err)
			}
			t.url = path
		}
		return t, nil
	}
	if hexUID.MatchString(what) {
		path, err := s.findUID(ctx, what)
		if err != nil {
			return target{}, err
		}
		return withEntry(path), nil
	}
	msg := fmt.Sprintf("unknown target %q: not a board address (sim, sim:NAME, a serial port, ws://, rfc2217://, serial://, auto), nor a device in %s", what, s.devicesPath)
	if names := df.Names(); len(names) > 0 {
		msg += " (registered: " + strings.Join(names, ", ") + ")"
	}
	return target{}, errors.New(msg)
}

// autoPort picks the serial port %connect auto means: the first board-like
// port.
func (s *session) autoPort() (string, error) {
	ports, err := s.discover()
	if err != nil {
		return "", fmt.Errorf("auto: %w", err)
	}
	var all []string
	for _, p := range ports {
		if p.BoardLike {
			return p.Path, nil
		}
		all = append(all, p.Path)
	}
	if len(all) == 0 {
		return "", errors.New("auto: no serial ports found; is the board plugged in?")
	}
	return "", fmt.Errorf("auto: none of the serial ports looks like a board (%s); name the port", strings.Join(all, ", "))
}

// findUID opens each board-like serial port to find the board whose
// machine.unique_id() is uid.
func (s *session) findUID(ctx context.Context, uid string) (string, error) {
	uid = strings.ToLower(uid)
	ports, err := s.discover()
	if err != nil {
		return "", fmt.Errorf("looking for board %s: %w", uid, err)
	}
	s.mu.Lock()
	cur := s.cur
	s.mu.Unlock()
	for _, p := range ports {
		if !p.BoardLike {
			continue
		}
		if cur != nil && transport.SameAddress(cur.URL(), p.Path) {
			if got, err := magics.ReadUID(ctx, cur); err == nil && got == uid {
				return p.Path, nil
			}
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		b, err := s.open(pctx, p.Path, s.opts)
		if err != nil {
			cancel()
			s.log.Debug("uid scan: cannot open port", "port", p.Path, "err", err)
			continue
		}
		got, err := magics.ReadUID(pctx, b)
		b.Close()
		cancel()
		if err == nil && got == uid {
			return p.Path, nil
		}
	}
	return "", fmt.Errorf("no serial port has the board with uid %s", uid)
}

// openTarget opens the board t names. A registered serial board that is
// not at its port any more (replugged as ttyACM1) is looked for by its uid.
func (s *session) openTarget(ctx context.Context, t target) (*transport.Board, error) {
	b, err := s.openURL(ctx, t)
	if err == nil || t.uid == "" || transport.AddressKind(t.url) != transport.KindSerial || ctx.Err() != nil {
		return b, err
	}
	path, ferr := s.findUID(ctx, t.uid)
	if ferr != nil || transport.SameAddress(path, t.url) {
		return nil, err
	}
	s.log.Info("board found at another port by its uid", "name", t.name, "was", t.url, "now", path)
	t.url = path
	return s.openURL(ctx, t)
}

// openURL opens t.url with t's password.
func (s *session) openURL(ctx context.Context, t target) (*transport.Board, error) {
	opts := s.opts
	opts.HardReset = opts.HardReset || t.reset
	if t.noReset {
		opts.HardReset = false
	}
	opts.Password = t.password
	opts.Logger = s.log
	opts.Sim.Heap, opts.Sim.IP, opts.Sim.Expose, opts.Sim.Hosts = t.dev.Heap, t.dev.IP, t.dev.Expose, t.dev.Hosts
	from := "the devices file's password: for " + t.name
	if s.simHome != "" {
		if addr, err := transport.ParseAddress(t.url); err == nil && addr.Kind == transport.KindSim {
			opts.Sim.Dir = filepath.Join(s.simHome, addr.Target)
		}
	}
	if opts.Password == "" && transport.AddressKind(t.url) == transport.KindWebREPL {
		opts.Password = os.Getenv(EnvWebREPLPassword)
		from = "$" + EnvWebREPLPassword
	}
	if b := s.takeIdle(t.url); b != nil {
		s.mu.Lock()
		s.names[b] = t.name
		s.mu.Unlock()
		return b, nil
	}
	var bg *boardLines
	if s.afterCell != nil {
		bg = &boardLines{to: s.afterCell, sources: s.sources, sess: s, name: t.name}
		opts.Background = bg
	}
	b, err := s.open(ctx, t.url, opts)
	if bg != nil && b != nil {
		bg.b.Store(b)
	}
	if errors.Is(err, webrepl.ErrAccessDenied) {
		if opts.Password == "" {
			err = fmt.Errorf("%w: no password was given; put it in the board's entry of %s (password: ...), or in $%s", err, s.devicesPath, EnvWebREPLPassword)
		} else {
			err = fmt.Errorf("%w: check the password (it came from %s)", err, from)
		}
	}
	if kind := transport.AddressKind(t.url); err != nil && errors.Is(err, transport.ErrNoResponse) &&
		(kind == transport.KindSerial || kind == transport.KindSim) {
		// The board is busy (a main.py that never ends) or hung: say how
		// to reset it, where the kernel can.
		what := t.url
		if t.entry {
			what = t.name
		}
		err = fmt.Errorf("%w; %%hardreset --pin %s resets it through the serial port's RTS line, or unplug it", err, what)
	}
	if err != nil && transport.AddressKind(t.url) == transport.KindSerial && errors.Is(err, fs.ErrNotExist) {
		err = fmt.Errorf("%w (%s)", err, s.portsHere())
	}
	if err != nil {
		if strings.Contains(err.Error(), t.name) {
			return nil, fmt.Errorf("connect: %w", err) // it names the board already
		}
		return nil, fmt.Errorf("connect %s: %w", t.name, err)
	}
	s.mu.Lock()
	s.names[b] = t.name
	s.mu.Unlock()
	return b, nil
}

// Current returns the connected board. After a kernel restart the first
// call reattaches the notebook's last board.
func (s *session) Current(ctx context.Context) (*transport.Board, error) {
	b, _, err := s.current(ctx)
	return b, err
}

// currentNotify is Current that tells out when it connected a board by
// itself, in %connect's words.
func (s *session) currentNotify(ctx context.Context, out kernel.Output) (*transport.Board, error) {
	b, auto, err := s.current(ctx)
	if auto {
		out.Stream("stdout", magics.ConnectedLine(s.Name(b), b.URL())+"\n")
		s.mu.Lock()
		note := s.simReattached
		s.simReattached = false
		s.mu.Unlock()
		if note {
			// A board keeps its state across a kernel restart; a virtual
			// board is the kernel's child and does not.
			out.Stream("stderr", "The virtual board restarted with the kernel: its variables are gone, its files are kept.\n")
		}
	}
	return b, err
}

// current returns the current board. The first time a board is needed
// with none connected, it connects the notebook's last board (after a
// kernel restart) or, when the notebook has none, the devices file's
// default board; auto reports that it did.
func (s *session) current(ctx context.Context) (b *transport.Board, auto bool, err error) {
	s.mu.Lock()
	cur, tried := s.cur, s.tried
	s.tried = true
	s.mu.Unlock()
	if cur != nil {
		return cur, false, nil
	}
	if !tried {
		if b := s.reattach(ctx); b != nil {
			return b, true, nil
		}
		if ctx.Err() != nil {
			// Stopped, not failed: the next cell tries again.
			s.mu.Lock()
			s.tried, s.lastErr = false, nil
			s.mu.Unlock()
			return nil, false, context.Cause(ctx)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.lastErr != nil:
		return nil, false, fmt.Errorf("%w (connecting to %s failed: %v)", magics.ErrNoBoard, s.lastWhat, s.lastErr)
	case s.devicesPath != "":
		return nil, false, fmt.Errorf("%w; or name the board every notebook starts on with a line \"%s: NAME\" in %s", magics.ErrNoBoard, devices.DefaultKey, s.devicesPath)
	}
	return nil, false, magics.ErrNoBoard
}

// reattach connects the board remembered for this notebook or, when there
// is none, the devices file's default board. It returns nil when there is
// nothing to connect or that failed; the failure is kept for the no-board
// error.
func (s *session) reattach(ctx context.Context) *transport.Board {
	what, why := "", ""
	if s.state != nil {
		if url, ok := s.state.load(); ok {
			what, why = url, "the last board"
		}
	}
	if what == "" {
		df, err := s.devices()
		if err != nil {
			s.mu.Lock()
			s.lastWhat, s.lastErr = "the default board", err
			s.mu.Unlock()
			return nil
		}
		what, why = df.Default(), "the default board"
	}
	if what == "" && s.pin != "" {
		what, why = s.pin, "the board every notebook runs on"
	}
	if what == "" {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	b, err := s.Connect(rctx, what)
	shown := devices.Redact(what) // Connect refuses a password in it; the log and the no-board error show it
	if err != nil {
		s.log.Info("cannot connect "+why, "target", shown, "err", err)
		s.mu.Lock()
		s.lastWhat, s.lastErr = why+" "+shown, err
		s.mu.Unlock()
		return nil
	}
	s.log.Info("connected "+why, "target", shown)
	if why == "the last board" && transport.AddressKind(b.URL()) == transport.KindSim {
		s.mu.Lock()
		s.simReattached = true // told by the first cell (currentNotify)
		s.mu.Unlock()
	}
	return b
}

// connected returns the current board without trying to reattach one.
func (s *session) connected() *transport.Board {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Connect makes the board target names the current one, closing the one
// before unless it is the same board.
func (s *session) Connect(ctx context.Context, what string) (*transport.Board, error) {
	return s.connect(ctx, what, false)
}

// ConnectReset is Connect with a hard reset of the board first, by the
// serial port's RTS line (a virtual board's process is restarted), so that
// a board that does not answer can be connected.
func (s *session) ConnectReset(ctx context.Context, what string) (*transport.Board, error) {
	return s.connect(ctx, what, true)
}

// LastTarget is what the last %connect asked for, connected or not.
func (s *session) LastTarget() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastTarget
}

func (s *session) connect(ctx context.Context, what string, reset bool) (*transport.Board, error) {
	s.mu.Lock()
	s.lastTarget = what
	s.mu.Unlock()
	t, err := s.resolve(ctx, what)
	if err != nil {
		return nil, s.stillCurrent(err)
	}
	// A serial port resets as it opens; a virtual board opened anew is a
	// fresh process, so it needs nothing more; other links cannot reset.
	kind := transport.AddressKind(t.url)
	if reset && kind != transport.KindSerial && kind != transport.KindSim {
		return nil, fmt.Errorf("%s: %w", t.name, transport.ErrNoHardReset)
	}
	t.reset = reset && kind == transport.KindSerial
	if reset && kind == transport.KindSim {
		// The board kept running after a %%connect: its process is the
		// one to restart.
		if b := s.takeIdle(t.url); b != nil {
			s.release(b)
		}
	}
	s.mu.Lock()
	cur := s.cur
	s.tried = true
	s.mu.Unlock()
	if cur != nil && reset && transport.SameAddress(cur.URL(), t.url) {
		if err := cur.HardReset(ctx); err != nil {
			return nil, err
		}
	}
	b := cur
	if cur != nil && transport.SameAddress(cur.URL(), t.url) {
		// Connected already, its variables kept: check that the board is
		// still there, or %connect would say so of a port that is gone.
		if _, err := cur.Eval(ctx, "1"); err != nil {
			return nil, fmt.Errorf("%s: %w", t.name, err)
		}
		s.mu.Lock()
		s.names[cur] = t.name
		s.mu.Unlock()
	} else {
		if b, err = s.switchTo(ctx, cur, t); err != nil {
			return nil, s.stillCurrent(err)
		}
		s.mu.Lock()
		s.cur, s.curTarget = b, t
		s.lastErr = nil
		s.mu.Unlock()
	}
	if s.state != nil {
		if err := s.state.store(t.remember()); err != nil {
			s.log.Warn("cannot remember the board for the next start", "err", err)
		}
	}
	return b, nil
}

// stillCurrent adds to a failed %connect's error which board the cells
// still run on, if any: the failure changed nothing.
func (s *session) stillCurrent(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return err
	}
	return fmt.Errorf("%w; cells still run on %s", err, s.curTarget.name)
}

// switchTo opens t, the board that is to replace cur (nil: none), and lets
// go of cur.
//
// Two addresses may be one board (its WebREPL and its USB port, or its
// port and an RFC 2217 server in front of it), which no address tells.
// Two links to one board take each other's bytes, and closing the old one
// last would take the board out of the raw REPL under the new one. So a
// board reached by a real link is let go of first; when t then fails to
// open, cur is connected again (without a hard reset), so that a failed
// %connect leaves the notebook as it was. A virtual board is never the
// same board as another address: it stays open until t is, and then keeps
// running (see letGo), as a real board runs on when its link closes.
func (s *session) switchTo(ctx context.Context, cur *transport.Board, t target) (*transport.Board, error) {
	kind := transport.AddressKind(t.url)
	if cur == nil || kind == transport.KindSim || transport.AddressKind(cur.URL()) == transport.KindSim {
		b, err := s.openTarget(ctx, t)
		if err != nil {
			return nil, err
		}
		if cur != nil {
			s.letGo(cur)
		}
		return b, nil
	}
	s.mu.Lock()
	old := s.curTarget
	s.cur = nil
	s.mu.Unlock()
	s.release(cur)
	b, err := s.openTarget(ctx, t)
	if err == nil {
		return b, nil
	}
	// The old board answered a moment ago: its own bound, not the cell's
	// (a stop may be what ended the new connect).
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*s.timeout())
	defer cancel()
	old.noReset = true
	back, berr := s.openTarget(rctx, old)
	// A WebREPL server may not have seen the old session end yet: it turns
	// the new one away as a second client for a moment.
	for errors.Is(berr, webrepl.ErrHungUp) && rctx.Err() == nil {
		select {
		case <-rctx.Done():
		case <-time.After(100 * time.Millisecond):
			back, berr = s.openTarget(rctx, old)
		}
	}
	if berr != nil {
		s.log.Warn("cannot connect the board before again", "target", old.url, "err", berr)
		return nil, fmt.Errorf("%w; and %s, the board connected before, could not be connected again (%v): %%connect it", err, old.name, berr)
	}
	s.mu.Lock()
	s.cur, s.curTarget = back, old
	s.mu.Unlock()
	return nil, err
}

// timeout is the bound of each wait for a board.
func (s *session) timeout() time.Duration {
	if s.opts.Timeout > 0 {
		return s.opts.Timeout
	}
	return transport.DefaultTimeout
}

// Open resolves target and opens it without making it current. When target
// is the current board, it returns that and a release that does nothing.
func (s *session) Open(ctx context.Context, what string) (*transport.Board, func(), error) {
	t, err := s.resolve(ctx, what)
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	cur := s.cur
	s.mu.Unlock()
	if cur != nil && transport.SameAddress(cur.URL(), t.url) {
		return cur, func() {}, nil
	}
	b, err := s.openTarget(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	return b, func() { s.letGo(b) }, nil
}

// Address is the address what resolves to, so that %%connect can tell two
// names of one board apart; "" when every name means the pinned board.
func (s *session) Address(ctx context.Context, what string) (string, error) {
	if s.pin != "" {
		return "", nil
	}
	t, err := s.resolveTarget(ctx, what)
	return t.url, err
}

// letGo is the release of a board Open opened: a virtual board is kept
// running in idle, any other is closed.
func (s *session) letGo(b *transport.Board) {
	if transport.AddressKind(b.URL()) != transport.KindSim {
		s.release(b)
		return
	}
	s.mu.Lock()
	s.idle = append(s.idle, b)
	s.mu.Unlock()
}

// takeIdle removes the idle virtual board at url from idle and returns it,
// or nil when there is none.
func (s *session) takeIdle(url string) *transport.Board {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, b := range s.idle {
		if transport.SameAddress(b.URL(), url) {
			s.idle = append(s.idle[:i], s.idle[i+1:]...)
			return b
		}
	}
	return nil
}

// release closes b and forgets its name.
func (s *session) release(b *transport.Board) {
	if err := b.Close(); err != nil {
		s.log.Debug("close board", "url", b.URL(), "err", err)
	}
	s.mu.Lock()
	delete(s.names, b)
	s.mu.Unlock()
}

// Disconnect releases the current board; the next kernel start will not
// reattach it. A virtual board stops, so that another kernel can have it.
// It does not connect one first: after a restart, the board remembered for
// the notebook is forgotten without being opened, even when it is gone.
func (s *session) Disconnect(ctx context.Context) (magics.Disconnected, error) {
	s.mu.Lock()
	cur, tried := s.cur, s.tried
	s.cur, s.curTarget = nil, target{}
	s.tried = true
	s.lastErr = nil
	s.mu.Unlock()
	var d magics.Disconnected
	if cur != nil {
		d.Name, d.URL = s.Name(cur), cur.URL()
	}
	if s.state != nil {
		if url, ok := s.state.load(); ok && cur == nil && !tried {
			d.Forgot = url // never reattached (a restart, then %disconnect)
		}
		if err := s.state.store(""); err != nil {
			s.log.Warn("cannot forget the last board", "err", err)
		}
	}
	if cur == nil {
		if d.Forgot != "" {
			return d, nil
		}
		return d, magics.ErrNoBoard
	}
	s.release(cur)
	return d, nil
}

// Name returns the name b is known by: its devices-file name, or the last
// part of its URL.
func (s *session) Name(b *transport.Board) string {
	s.mu.Lock()
	n, ok := s.names[b]
	s.mu.Unlock()
	if ok {
		return n
	}
	if df, err := s.devices(); err == nil {
		if d, ok := df.ByURL(b.URL()); ok {
			return d.Name
		}
	}
	return transport.DefaultName(b.URL())
}

// RunCode runs code on b as a cell would.
func (s *session) RunCode(ctx context.Context, b *transport.Board, code string, at magics.CodeAt, out kernel.Output) (kernel.MIMEBundle, error) {
	return s.run(ctx, b, code, at, out)
}

// close releases every board on kernel shutdown, leaving the current one
// remembered for the next start.
func (s *session) close() {
	s.mu.Lock()
	bs := make([]*transport.Board, 0, len(s.names))
	for b := range s.names {
		bs = append(bs, b)
	}
	s.cur = nil
	s.idle = nil
	s.mu.Unlock()
	sort.Slice(bs, func(i, j int) bool { return bs[i].URL() < bs[j].URL() })
	for _, b := range bs {
		s.release(b)
	}
}

// portsHere lists the serial ports there are, for an error about one that
// is not: often the board is plugged in under another name.
func (s *session) portsHere() string {
	ports, err := s.discover()
	if err != nil || len(ports) == 0 {
		return "no serial port is plugged in"
	}
	paths := make([]string, len(ports))
	for i, p := range ports {
		paths[i] = p.Path
	}
	return "the serial ports here: " + strings.Join(paths, ", ")
}
