package magics

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/iot-kernel/iot-kernel/devices"
	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/transport"
	"github.com/iot-kernel/iot-kernel/transport/serialport"
	"github.com/iot-kernel/iot-kernel/transport/webrepl"
)

// BoardOpener is implemented by Boards that can open a board besides the
// current one (for %%connect and %discover) and know boards' names. The
// cells package's session implements it.
type BoardOpener interface {
	// Open resolves target like Connect but leaves the current board
	// alone. release lets go of the board; it does nothing when target is
	// the current board.
	Open(ctx context.Context, target string) (b *transport.Board, release func(), err error)
	// Name returns the name b is known by: its devices-file name, else
	// the last part of its URL.
	Name(b *transport.Board) string
	// Address returns the address target resolves to, without opening
	// it, or "" when every name means one board (a replay pinned to a
	// board), where two names are meant to run twice.
	Address(ctx context.Context, target string) (string, error)
}

// deviceDeps is what the device magics need from outside; tests replace
// discover.
type deviceDeps struct {
	devicesPath string
	discover    func() ([]serialport.Port, error)
}

func deviceMagics(d deviceDeps) []*Magic {
	return []*Magic{
		connectMagic(), connectCellMagic(d), disconnectMagic(),
		discoverMagic(d), registerMagic(d), unregisterMagic(d),
	}
}

// boardName is the name env's boards know b by.
func boardName(env *Env, b *transport.Board) string {
	if o, ok := env.Boards.(BoardOpener); ok {
		return o.Name(b)
	}
	return b.URL()
}

func (d deviceDeps) load() (*devices.File, error) {
	if d.devicesPath == "" {
		return nil, errors.New("no devices file (set " + devices.EnvPath + ")")
	}
	return devices.Load(d.devicesPath)
}

// ConnectedLine is what %connect says once connected, and what a cell
// says when it connected a board by itself.
func ConnectedLine(name, url string) string {
	return fmt.Sprintf("Connected to %s @ %s", name, url)
}

func connectMagic() *Magic {
	m := &Magic{
		Name: "connect", Kind: Line, Args: "TARGET",
		Summary: "Connect to a board: sim or sim:NAME (a virtual board, its files kept between sessions), " +
			"a serial port (/dev/ttyACM0, serial://...), ws://host[:port] (WebREPL), " +
			"rfc2217://host:port, auto (the first USB board), a name from the devices file, or a board uid. " +
			"WebREPL passwords come from the devices file or $IOT_WEBREPL_PASSWORD, never from the notebook.",
	}
	m.Setup = func(fs *flag.FlagSet) Runner {
		say := quietFlag(fs)
		return func(ctx context.Context, env *Env, args []string, _ string) error {
			if len(args) != 1 {
				return Usagef(m, "want exactly one TARGET, got %s", plural(len(args), "argument"))
			}
			b, err := env.Boards.Connect(ctx, args[0])
			if err != nil {
				return err
			}
			say(env, ConnectedLine(boardName(env, b), b.URL()))
			return nil
		}
	}
	return m
}

func connectCellMagic(d deviceDeps) *Magic {
	m := &Magic{
		Name: "connect", Kind: Cell, Args: "NAME...",
		Summary: "Run the cell on every named board at once (connecting as needed; the current board stays current), " +
			"each board's output in a section of its own headed by its name and updated as it comes; a stop stops them all.",
	}
	m.Setup = func(fs *flag.FlagSet) Runner {
		all := fs.Bool("all", false, "run on every device in the devices file")
		seq := fs.Bool("seq", false, "one board after another, for boards that share a resource")
		return func(ctx context.Context, env *Env, args []string, body string) error {
			targets := args
			if *all {
				if len(args) > 0 {
					return Usagef(m, "give either NAMEs or --all, not both")
				}
				df, err := d.load()
				if err != nil {
					return err
				}
				for _, dev := range df.Devices() {
					targets = append(targets, dev.Name)
				}
				if len(targets) == 0 {
					return fmt.Errorf("%%%%connect --all: no devices in %s (add some with %%register)", df.Path)
				}
			}
			if len(targets) == 0 {
				return Usagef(m, "name at least one board")
			}
			seen := map[string]bool{}
			for _, t := range targets {
				if seen[t] {
					// One board cannot run the cell twice at once.
					return Usagef(m, "%s is named twice", t)
				}
				seen[t] = true
			}
			n := len(targets)
			opener, ok := env.Boards.(BoardOpener)
			if !ok {
				return errors.New("%%connect: this session cannot open several boards")
			}
			if err := sameBoardTwice(ctx, opener, targets); err != nil {
				return err
			}
			var failed []string
			if !*seq {
				failed = runConcurrently(ctx, env, opener, targets, body)
				if ctx.Err() != nil {
					return context.Cause(ctx)
				}
				targets = nil
			}
			for i, t := range targets {
				if i > 0 {
					env.Out.Stream("stdout", "\n")
				}
				env.Out.Stream("stdout", "── "+t+" ──\n")
				if err := ctx.Err(); err != nil {
					return context.Cause(ctx)
				}
				if err := runOnTarget(ctx, env, opener, t, body); err != nil {
					if ctx.Err() != nil {
						return err
					}
					failed = append(failed, t)
					env.Out.Stream("stderr", errorText(err)+"\n")
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("the cell failed on %d of %d boards: %s", len(failed), n, strings.Join(failed, ", "))
			}
			return nil
		}
	}
	return m
}

// sameBoardTwice returns an error when two targets are one board by
// different names (a name and its URL, two names of one URL): the cell
// would run on it twice. A target that does not resolve is left to Open,
// which says why in its section.
func sameBoardTwice(ctx context.Context, opener BoardOpener, targets []string) error {
	addrs := make([]string, len(targets))
	for i, t := range targets {
		addrs[i], _ = opener.Address(ctx, t)
		if addrs[i] == "" {
			continue
		}
		for j := range i {
			if addrs[j] != "" && transport.SameAddress(addrs[i], addrs[j]) {
				return fmt.Errorf("%%%%connect: %s and %s are the same board (%s); name it once", targets[j], t, addrs[i])
			}
		}
	}
	return nil
}

func runOnTarget(ctx context.Context, env *Env, opener BoardOpener, target, body string) error {
	b, release, err := opener.Open(ctx, target)
	if err != nil {
		return err
	}
	defer release()
	data, err := env.Boards.RunCode(ctx, b, body, env.codeAt(), env.Out)
	if data != nil {
		env.Out.Display(data, nil, "", false) // one of several boards' values
	}
	return err
}

// errorText is how an error reads in a board's section of %%connect:
// a board exception as its traceback.
func errorText(err error) string {
	var ee *kernel.ExecError
	if errors.As(err, &ee) && len(ee.Traceback) > 0 {
		return strings.Join(ee.Traceback, "\n")
	}
	return err.Error()
}

func disconnectMagic() *Magic {
	m := &Magic{Name: "disconnect", Kind: Line,
		Summary: "Let go of the current board, leaving it running (a virtual board stops, so that another kernel can have it); the notebook will not reconnect it after a restart."}
	m.Setup = func(fs *flag.FlagSet) Runner {
		say := quietFlag(fs)
		return func(ctx context.Context, env *Env, args []string, _ string) error {
			if len(args) > 0 {
				return Usagef(m, "takes no arguments")
			}
			d, err := env.Boards.Disconnect(ctx)
			switch {
			case err != nil:
				return err
			case d.URL == "":
				say(env, "No board was connected; the notebook will not reconnect "+d.Forgot+" after a restart")
			case transport.AddressKind(d.URL) == transport.KindSim:
				say(env, "Disconnected from "+d.Name+": the virtual board stopped (its variables are gone, its files kept)")
			default:
				say(env, "Disconnected from "+d.Name)
			}
			return nil
		}
	}
	return m
}

func discoverMagic(d deviceDeps) *Magic {
	m := &Magic{Name: "discover", Kind: Line,
		Summary: "List serial ports (with the USB chip, if known) and probe the network boards of the devices file."}
	m.Setup = func(fs *flag.FlagSet) Runner {
		timeout := fs.Duration("t", 3*time.Second, "how long a network board may take to answer")
		return func(ctx context.Context, env *Env, args []string, _ string) error {
			if len(args) > 0 {
				return Usagef(m, "takes no arguments")
			}
			if *timeout <= 0 {
				return Usagef(m, "-t must be positive")
			}
			df, dferr := d.load()
			if dferr != nil {
				df = &devices.File{}
			}
			var b strings.Builder
			ports, err := d.discover()
			switch {
			case err != nil:
				fmt.Fprintf(&b, "Serial ports: cannot list them: %v\n", err)
			case len(ports) == 0:
				b.WriteString("Serial ports: none\n")
			default:
				b.WriteString("Serial ports:\n")
				for _, p := range ports {
					line := "  " + p.Path
					if p.Chip != "" {
						line += "  " + p.Chip
					}
					if p.Product != "" && p.Product != p.Chip {
						line += "  (" + p.Product + ")"
					}
					if p.BoardLike {
						line += "  [board]"
					}
					if dev, ok := df.ByURL(p.Path); ok {
						line += "  registered as " + dev.Name
					}
					b.WriteString(line + "\n")
				}
			}
			env.Out.Stream("stdout", b.String())
			if dferr != nil {
				return dferr
			}
			return probeNetwork(ctx, env, df, *timeout)
		}
	}
	return m
}

// probeNetwork tries every network device of the devices file at once and
// says which answer.
func probeNetwork(ctx context.Context, env *Env, df *devices.File, timeout time.Duration) error {
	var net []devices.Device
	for _, dev := range df.Devices() {
		if transport.IsNetwork(dev.URL) {
			net = append(net, dev)
		}
	}
	if len(net) == 0 {
		env.Out.Stream("stdout", "Network boards: none registered (%register ws://host NAME)\n")
		return nil
	}
	opener, ok := env.Boards.(BoardOpener)
	if !ok {
		return errors.New("%discover: this session cannot probe boards")
	}
	results := make([]string, len(net))
	var wg sync.WaitGroup
	for i, dev := range net {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			_, release, err := opener.Open(pctx, dev.Name)
			if err == nil {
				// a WebREPL login, or a raw REPL over RFC 2217, answered
				results[i] = "answers"
				release()
				return
			}
			if pctx.Err() != nil {
				results[i] = "no answer within " + timeout.String()
				return
			}
			results[i] = "no answer (" + shortCause(err) + ")"
		}()
	}
	wg.Wait()
	var b strings.Builder
	b.WriteString("Network boards:\n")
	idx := make([]int, len(net))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, c int) bool { return net[idx[a]].Name < net[idx[c]].Name })
	for _, i := range idx {
		fmt.Fprintf(&b, "  %s  %s  %s\n", net[i].Name, net[i].URL, results[i])
	}
	env.Out.Stream("stdout", b.String())
	return nil
}

// shortCause is the gist of a failed probe, for a one-line listing.
func shortCause(err error) string {
	msg := err.Error()
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, webrepl.ErrHungUp):
		return "busy: another WebREPL client is connected"
	case errors.Is(err, webrepl.ErrAccessDenied):
		return "wrong or missing password"
	}
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

func registerMagic(d deviceDeps) *Magic {
	m := &Magic{Name: "register", Kind: Line, Args: "URL [NAME]",
		Summary: "Add a board to the devices file under NAME (default: the last part of URL); a name already " +
			"registered for another URL needs --force. When URL is the connected board, its uid is recorded too. " +
			"Add a WebREPL password by editing the file."}
	m.Setup = func(fs *flag.FlagSet) Runner {
		force := fs.Bool("force", false, "replace a board already registered under NAME")
		return func(ctx context.Context, env *Env, args []string, _ string) error {
			if len(args) < 1 || len(args) > 2 {
				return Usagef(m, "want URL and an optional NAME")
			}
			url := args[0]
			if err := devices.CheckURL(url); err != nil {
				return fmt.Errorf("%%register: %w", err)
			}
			name := transport.DefaultName(url)
			if len(args) == 2 {
				name = args[1]
			}
			if d.devicesPath == "" {
				_, err := d.load() // the error that says why there is no file
				return err
			}
			dev := devices.Device{Name: name, URL: url}
			// Read before the file is locked: it can take seconds, and
			// another kernel may be waiting to edit the file.
			if b, err := env.Boards.Current(ctx); err == nil && transport.SameAddress(b.URL(), url) {
				uctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				if uid, err := ReadUID(uctx, b); err == nil {
					dev.UID = uid
				}
				cancel()
			}
			var saved devices.Device
			var path string
			err := devices.Update(d.devicesPath, func(df *devices.File) error {
				if old, ok := df.Lookup(name); ok {
					switch {
					case old.URL != "" && transport.SameAddress(old.URL, url):
						if dev.UID == "" {
							dev.UID = old.UID
						}
					case !*force:
						was := old.URL
						if was == "" {
							was = "uid " + old.UID
						}
						return fmt.Errorf("%%register: %s is already registered as %s in %s; add --force to replace it, or choose another name",
							name, was, df.Path)
					}
				}
				if err := df.Set(dev); err != nil {
					return err
				}
				saved, _ = df.Lookup(name)
				path = df.Path
				return nil
			})
			if err != nil {
				return err
			}
			msg := fmt.Sprintf("Registered %s in %s\n", saved, path)
			if transport.AddressKind(url) == transport.KindWebREPL && saved.Password == "" {
				msg += fmt.Sprintf("Add the WebREPL password as `password: ...` under %s in that file (it is never typed in a notebook).\n", name)
			}
			env.Out.Stream("stdout", msg)
			return nil
		}
	}
	return m
}

func unregisterMagic(d deviceDeps) *Magic {
	m := &Magic{Name: "unregister", Kind: Line, Args: "NAME", Summary: "Remove a board from the devices file."}
	m.Setup = func(fs *flag.FlagSet) Runner {
		return func(ctx context.Context, env *Env, args []string, _ string) error {
			if len(args) != 1 {
				return Usagef(m, "want exactly one NAME")
			}
			if d.devicesPath == "" {
				_, err := d.load() // the error that says why there is no file
				return err
			}
			var path string
			err := devices.Update(d.devicesPath, func(df *devices.File) error {
				path = df.Path
				if err := df.Remove(args[0]); err != nil {
					if names := df.Names(); len(names) > 0 {
						return fmt.Errorf("%w (registered: %s)", err, strings.Join(names, ", "))
					}
					return err
				}
				return nil
			})
			if err != nil {
				return err
			}
			env.Out.Stream("stdout", fmt.Sprintf("Unregistered %s from %s\n", args[0], path))
			return nil
		}
	}
	return m
}
