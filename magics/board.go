package magics

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/iot-kernel/iot-kernel/devices"
	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/transport"
)

// boardDeps is what the board magics need from outside; tests replace now.
type boardDeps struct {
	devicesPath string
	now         func() time.Time
	// resetWait bounds the wait for a board to come back after %hardreset.
	resetWait time.Duration
}

// BoardMagics returns %softreset, %hardreset, %uid, %name, %info,
// %synctime and %gettime. devicesPath is the devices file (for %name).
func BoardMagics(devicesPath string) []*Magic {
	return boardMagics(boardDeps{devicesPath: devicesPath, now: time.Now, resetWait: 15 * time.Second})
}

func boardMagics(d boardDeps) []*Magic {
	return []*Magic{
		softresetMagic(), hardresetMagic(d), uidMagic(), nameMagic(d),
		infoMagic(), synctimeMagic(d), gettimeMagic(),
	}
}

// noArgs wraps a runner that takes no positional arguments.
func noArgs(m *Magic, run func(ctx context.Context, env *Env, b *transport.Board) error) Runner {
	return func(ctx context.Context, env *Env, args []string, _ string) error {
		if len(args) > 0 {
			return Usagef(m, "takes no arguments")
		}
		b, err := env.Boards.Current(ctx)
		if err != nil {
			return err
		}
		return run(ctx, env, b)
	}
}

// quietFlag declares -q, shared by the magics that confirm what they did,
// and returns say, which streams line (and a newline) to stdout unless -q
// was given.
func quietFlag(fs *flag.FlagSet) (say func(env *Env, line string)) {
	quiet := fs.Bool("q", false, "say nothing on success")
	return func(env *Env, line string) {
		if !*quiet {
			env.Out.Stream("stdout", line+"\n")
		}
	}
}

// runPy runs code on b and returns what it printed, "\r\n" made "\n".
func runPy(ctx context.Context, b *transport.Board, code string) (string, error) {
	var out strings.Builder
	err := b.Exec(ctx, code, transport.ExecOptions{Stdout: &out})
	return strings.ReplaceAll(out.String(), "\r\n", "\n"), err
}

// isBoardException reports whether err is the board raising one of names.
func isBoardException(err error, names ...string) bool {
	var be *transport.BoardError
	if !errors.As(err, &be) {
		return false
	}
	for _, n := range names {
		if be.Name == n {
			return true
		}
	}
	return false
}

// lacks turns the board's ImportError/AttributeError for a missing feature
// into an error that says what the board lacks.
func lacks(err error, what string) error {
	if isBoardException(err, "ImportError", "AttributeError", "NameError") {
		var be *transport.BoardError
		errors.As(err, &be)
		return fmt.Errorf("this board has no %s (%s)", what, be.Error())
	}
	return err
}

// uidCode prints machine.unique_id() in hex without ubinascii, which some
// ports (micro:bit) lack.
const uidCode = "import machine\nprint(''.join('%02x' % b for b in machine.unique_id()))"

// ReadUID asks b for its unique id.
func ReadUID(ctx context.Context, b *transport.Board) (string, error) {
	out, err := runPy(ctx, b, uidCode)
	if err != nil {
		return "", lacks(err, "unique id (machine.unique_id)")
	}
	return strings.TrimSpace(out), nil
}

func softresetMagic() *Magic {
	m := &Magic{Name: "softreset", Kind: Line,
		Summary: "Soft-reset the board: clears its Python state (variables, imports) and runs boot.py again; the link stays."}
	m.Setup = func(fs *flag.FlagSet) Runner {
		say := quietFlag(fs)
		return noArgs(m, func(ctx context.Context, env *Env, b *transport.Board) error {
			// boot.py runs again: what it prints is the cell's, as on a
			// serial terminal.
			w := kernel.NewStreamWriter(env.Out, "stdout")
			err := b.SoftReset(ctx, w)
			w.Flush()
			if err != nil {
				return fmt.Errorf("soft reset: %w", err)
			}
			say(env, "Soft reset "+boardName(env, b))
			return nil
		})
	}
	return m
}

func hardresetMagic(d boardDeps) *Magic {
	m := &Magic{Name: "hardreset", Kind: Line, Args: "[TARGET]",
		Summary: "Hard-reset the board (machine.reset()) and reconnect once it is back. " +
			"With --pin, pulse the EN pin through the serial port's RTS line instead (a virtual board's process is restarted): " +
			"that also resets a board that does not answer, one that could not be connected (TARGET, or what %connect last tried) included."}
	m.Setup = func(fs *flag.FlagSet) Runner {
		say := quietFlag(fs)
		pin := fs.Bool("pin", false, "reset through the serial port's RTS line (ESP32/ESP8266 boards), not machine.reset()")
		withBoard := noArgs(m, func(ctx context.Context, env *Env, b *transport.Board) error {
			if *pin {
				if err := b.HardReset(ctx); err != nil {
					return err // says "hard reset" and why
				}
				how := " by its EN pin"
				if transport.AddressKind(b.URL()) == transport.KindSim {
					how = " (its process restarted)" // a virtual board has no pins to pulse
				}
				say(env, "Hard reset "+boardName(env, b)+how+"; reconnected")
				return nil
			}
			// Check first, so a board without machine.reset gets a clear
			// error rather than a reset that never happens.
			if _, err := runPy(ctx, b, "import machine\nmachine.reset"); err != nil {
				if errors.Is(err, transport.ErrNoResponse) {
					return fmt.Errorf("the board does not answer, so it cannot run machine.reset(); on a serial port, %%hardreset --pin resets it by its EN pin: %w", err)
				}
				return lacks(err, "machine.reset(); use %softreset")
			}
			// The board resets while running this, so the exec itself ends
			// badly: the link drops (USB), or it never answers and the
			// engine interrupts it. Either way the board is then waited for.
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err := runPy(rctx, b, "import machine\nmachine.reset()")
			cancel()
			if ctx.Err() != nil {
				if errors.Is(err, transport.ErrNotSent) {
					return context.Cause(ctx) // stopped before the reset went
				}
				return errStoppedAfterReset
			}
			if err != nil && env.Host != nil && env.Host.Logger != nil {
				env.Host.Logger.Debug("hard reset: the reset exec ended", "err", err)
			}
			if err := waitBack(ctx, b, d.resetWait); err != nil {
				if ctx.Err() != nil {
					return errStoppedAfterReset
				}
				return err
			}
			say(env, "Hard reset "+boardName(env, b)+"; reconnected")
			return nil
		})
		return func(ctx context.Context, env *Env, args []string, body string) error {
			rc, ok := env.Boards.(ResetConnector)
			if !*pin && len(args) > 0 {
				return Usagef(m, "TARGET is for --pin (a board that cannot be connected); without it, %%hardreset resets the current board")
			}
			if !*pin || !ok {
				return withBoard(ctx, env, args, body)
			}
			if len(args) > 1 {
				return Usagef(m, "want at most one TARGET")
			}
			// A board that cannot be connected is when the pin is needed:
			// reset it as its port opens, then connect.
			var target string
			if len(args) == 1 {
				target = args[0]
			} else if _, err := env.Boards.Current(ctx); err != nil {
				if target = rc.LastTarget(); target == "" {
					return fmt.Errorf("%%hardreset --pin: no board connected or tried; name one, for example %%hardreset --pin /dev/ttyUSB0")
				}
			} else {
				return withBoard(ctx, env, nil, body)
			}
			b, err := rc.ConnectReset(ctx, target)
			if err != nil {
				return err
			}
			how := " by its EN pin"
			if transport.AddressKind(b.URL()) == transport.KindSim {
				how = " (its process restarted)"
			}
			say(env, "Hard reset "+boardName(env, b)+how+"; "+ConnectedLine(boardName(env, b), b.URL()))
			return nil
		}
	}
	return m
}

// ResetConnector is implemented by Boards that can open a board with a hard
// reset, for %hardreset --pin on a board that cannot be connected. The
// cells package's session implements it.
type ResetConnector interface {
	// ConnectReset is Connect with a hard reset as the board's link opens.
	ConnectReset(ctx context.Context, target string) (*transport.Board, error)
	// LastTarget is what the last Connect asked for, even if it failed.
	LastTarget() string
}

// errStoppedAfterReset is a stop of %hardreset once machine.reset() went:
// the board was reset all the same, which a bare KeyboardInterrupt would
// not tell.
var errStoppedAfterReset = errors.New("%hardreset stopped after the board was reset (its variables are gone, its files kept), before it answered again; the next cell reconnects it")

// waitBack retries a trivial exec until the board answers again, for at
// most bound.
func waitBack(ctx context.Context, b *transport.Board, bound time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	var last error
	for {
		// Each attempt has the rest of the bound: on a virtual board an
		// attempt restarts its process and runs boot.py, which a shorter
		// bound of its own cut short every time, starting it again.
		out, err := runPy(ctx, b, "print(1+1)")
		if err == nil && strings.TrimSpace(out) == "2" {
			return nil
		}
		last = err
		if err == nil {
			last = fmt.Errorf("print(1+1) printed %q", out)
		}
		pause := time.NewTimer(200 * time.Millisecond) // between failed attempts, while the board boots
		select {
		case <-ctx.Done():
			pause.Stop()
			if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
				return fmt.Errorf("the board did not come back within %v after the reset: %w", bound, last)
			}
			return context.Cause(ctx)
		case <-pause.C:
		}
	}
}

func uidMagic() *Magic {
	m := &Magic{Name: "uid", Kind: Line, Summary: "Show the board's unique id (machine.unique_id() in hex)."}
	m.Setup = func(fs *flag.FlagSet) Runner {
		return noArgs(m, func(ctx context.Context, env *Env, b *transport.Board) error {
			uid, err := ReadUID(ctx, b)
			if err != nil {
				return err
			}
			env.Out.Stream("stdout", uid+"\n")
			return nil
		})
	}
	return m
}

func nameMagic(d boardDeps) *Magic {
	m := &Magic{Name: "name", Kind: Line,
		Summary: "Show the board's name in the devices file (the one it was connected by, else found by URL, then by uid), else its uid."}
	m.Setup = func(fs *flag.FlagSet) Runner {
		return noArgs(m, func(ctx context.Context, env *Env, b *transport.Board) error {
			var df *devices.File
			if d.devicesPath != "" {
				f, err := devices.Load(d.devicesPath)
				if err != nil {
					return err
				}
				df = f
			} else {
				df = &devices.File{}
			}
			// The name the board was connected by comes first: a URL may be
			// registered under several names.
			if o, ok := env.Boards.(BoardOpener); ok {
				if dev, ok := df.Lookup(o.Name(b)); ok && dev.URL != "" && transport.SameAddress(dev.URL, b.URL()) {
					env.Out.Stream("stdout", dev.Name+"\n")
					return nil
				}
			}
			if dev, ok := df.ByURL(b.URL()); ok {
				env.Out.Stream("stdout", dev.Name+"\n")
				return nil
			}
			uid, err := ReadUID(ctx, b)
			if err != nil {
				return fmt.Errorf("%s is not in the devices file, and %w", b.URL(), err)
			}
			if dev, ok := df.ByUID(uid); ok {
				env.Out.Stream("stdout", dev.Name+"\n")
				return nil
			}
			env.Out.Stream("stdout", uid+"\n")
			return nil
		})
	}
	return m
}

// infoCode prints "key: value" lines about the board; each item is skipped
// on ports that lack it. VERBOSE is replaced by 1 for -v.
const infoCode = `def __iot_info(v):
 import sys
 i=sys.implementation
 print('platform:', sys.platform)
 print('implementation:', i.name, '.'.join([str(x) for x in i.version[:3]]))
 try:
  import os
  u=os.uname()
  print('machine:', u.machine)
  print('release:', u.release)
  if v:print('version:', u.version)
 except Exception:pass
 try:
  import gc
  gc.collect()
  f=gc.mem_free();a=gc.mem_alloc()
  print('memory:', f, 'bytes free of', f+a)
 except Exception:pass
 try:import os
 except ImportError:os=0
 if os:
  try:
   s=os.statvfs('/')
   if sys.platform=='webassembly' and s[2:5]==(1000000,500000,500000):print('filesystem: ?')
   else:print('filesystem:', s[0]*s[3], 'bytes free of', s[0]*s[2])
  except Exception:
   try:
    t=n=0
    for f in os.listdir():t+=os.size(f);n+=1
    print('filesystem:', t, 'bytes used by', n, 'files; its total size is unknown (this port has no os.statvfs)')
   except Exception:print('filesystem: use unknown (this port has no os.statvfs)')
 if v:
  try:print('sys.version:', sys.version)
  except Exception:pass
  try:print('sys.path:', sys.path)
  except Exception:pass
  try:
   import machine
   print('freq:', machine.freq())
  except Exception:pass
  try:
   import machine
   print('uid:', ''.join(['%02x' % b for b in machine.unique_id()]))
  except Exception:pass
try:
 __iot_info(VERBOSE)
finally:
 del __iot_info
`

// fsPlaceholder is the line infoCode prints for emscripten's statvfs
// (the wasm ports'), which answers fixed numbers whatever is stored: 1e6
// blocks of 4 KB, half of them free.
const fsPlaceholder = "filesystem: ?"

// fsUsedCode prints the size and number of the files under /, for a port
// whose filesystem has no size to tell. Only for the wasm ports, which
// have os.ilistdir and the memory for a recursive walk.
const fsUsedCode = `def __iot_du(d):
 import os
 t=n=0
 for e in os.ilistdir(d):
  p=d.rstrip('/')+'/'+e[0]
  if e[1]==0x4000:
   a,b=__iot_du(p);t+=a;n+=b
  else:t+=os.stat(p)[6];n+=1
 return t,n
try:print(*__iot_du('/'))
finally:del __iot_du
`

// fsUsed is the filesystem line for a board whose os.statvfs answers
// placeholders: what its files take, the total unknown.
func fsUsed(ctx context.Context, b *transport.Board) (string, error) {
	out, err := runPy(ctx, b, fsUsedCode)
	if err != nil {
		return "", err
	}
	var size, n int64
	if _, err := fmt.Sscan(out, &size, &n); err != nil {
		return "", fmt.Errorf("unexpected answer %q: %w", out, err)
	}
	return fmt.Sprintf("filesystem: %d bytes used by %d files; its total size is unknown (this port's os.statvfs answers fixed placeholder numbers)", size, n), nil
}

func infoMagic() *Magic {
	m := &Magic{Name: "info", Kind: Line,
		Summary: "Show what the board is: platform, MicroPython version, free memory and, where there is one, filesystem use."}
	m.Setup = func(fs *flag.FlagSet) Runner {
		verbose := fs.Bool("v", false, "more: build, sys.path, CPU frequency, uid")
		return noArgs(m, func(ctx context.Context, env *Env, b *transport.Board) error {
			v := "0"
			if *verbose {
				v = "1"
			}
			out, err := runPy(ctx, b, strings.Replace(infoCode, "VERBOSE", v, 1))
			if err != nil {
				return fmt.Errorf("info: %w", err)
			}
			if strings.Contains(out, "\n"+fsPlaceholder+"\n") {
				line, err := fsUsed(ctx, b)
				if err != nil {
					return fmt.Errorf("info: adding up the files: %w", err)
				}
				out = strings.Replace(out, fsPlaceholder, line, 1)
			}
			env.Out.Stream("stdout", alignKV(freeOf.ReplaceAllStringFunc(out, humanFreeOf)))
			return nil
		})
	}
	return m
}

// freeOf is the "N bytes free of M" that infoCode prints.
var freeOf = regexp.MustCompile(`(\d+) bytes free of (\d+)`)

// humanFreeOf writes a freeOf match in KB, MB or GB.
func humanFreeOf(s string) string {
	m := freeOf.FindStringSubmatch(s)
	free, err1 := strconv.ParseInt(m[1], 10, 64)
	total, err2 := strconv.ParseInt(m[2], 10, 64)
	if err1 != nil || err2 != nil {
		return s
	}
	return formatSize(free) + " free of " + formatSize(total)
}

// alignKV lines up "key: value" lines on their values.
func alignKV(text string) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	width := 0
	for _, l := range lines {
		if k, _, ok := strings.Cut(l, ": "); ok {
			width = max(width, len(k))
		}
	}
	var b strings.Builder
	for _, l := range lines {
		if k, v, ok := strings.Cut(l, ": "); ok {
			fmt.Fprintf(&b, "%-*s %s\n", width+1, k+":", v)
		} else {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func synctimeMagic(d boardDeps) *Magic {
	m := &Magic{Name: "synctime", Kind: Line, Summary: "Set the board's real-time clock (machine.RTC) to the host's local time."}
	m.Setup = func(fs *flag.FlagSet) Runner {
		return noArgs(m, func(ctx context.Context, env *Env, b *transport.Board) error {
			t := d.now()
			// RTC.datetime takes (year, month, day, weekday, hours,
			// minutes, seconds, subseconds); the pyboard counts weekdays
			// 1-7, other ports 0-6, both from Monday.
			wd := (int(t.Weekday()) + 6) % 7
			code := fmt.Sprintf("import machine,sys\nmachine.RTC().datetime((%d,%d,%d,%d+(sys.platform=='pyboard'),%d,%d,%d,0))",
				t.Year(), int(t.Month()), t.Day(), wd, t.Hour(), t.Minute(), t.Second())
			if _, err := runPy(ctx, b, code); err != nil {
				return lacks(err, "real-time clock (machine.RTC)")
			}
			env.Out.Stream("stdout", "Board clock set to "+t.Format("2006-01-02 15:04:05")+"\n")
			return nil
		})
	}
	return m
}

func gettimeMagic() *Magic {
	m := &Magic{Name: "gettime", Kind: Line, Summary: "Show the board's clock (time.localtime())."}
	m.Setup = func(fs *flag.FlagSet) Runner {
		return noArgs(m, func(ctx context.Context, env *Env, b *transport.Board) error {
			out, err := runPy(ctx, b, "import time\nprint('%04d-%02d-%02d %02d:%02d:%02d' % time.localtime()[:6])")
			if err != nil {
				return lacks(err, "clock (time.localtime)")
			}
			env.Out.Stream("stdout", strings.TrimSpace(out)+"\n")
			return nil
		})
	}
	return m
}
