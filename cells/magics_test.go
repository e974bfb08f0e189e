package cells

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/devices"
	"github.com/iot-kernel/iot-kernel/hostkernel"
	"github.com/iot-kernel/iot-kernel/internal/testenv"
	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
	"github.com/iot-kernel/iot-kernel/testboard"
	"github.com/iot-kernel/iot-kernel/transport/serialport"
)

// myMagics are the magics this package's tests cover; the file and host
// magics are tested where they are written.
var myMagics = []string{
	"connect", "disconnect", "discover", "register", "unregister",
	"softreset", "hardreset", "uid", "name", "info", "synctime", "gettime",
	"lsmagic", "loglevel",
}

// boardMagics need a board.
var boardMagics = []string{"softreset", "hardreset", "uid", "name", "info", "synctime", "gettime", "disconnect"}

func TestMagicsHelpAndUsage(t *testing.T) {
	it, _ := newInterp(t)
	for _, name := range myMagics {
		t.Run(name, func(t *testing.T) {
			out, _ := mustRun(t, it, "%"+name+" -h")
			help := out.Stdout()
			if !strings.HasPrefix(help, "Usage: %"+name) {
				t.Errorf("help = %q", help)
			}
			m, _ := it.Magics().Lookup(name, 1)
			if !strings.Contains(help, m.Summary) {
				t.Errorf("help lacks the summary: %q", help)
			}
			ee, _ := execError(t, it, "%"+name+" --bogus")
			if ee.Name != "UsageError" || !strings.Contains(ee.Value, "flag provided but not defined: -bogus") ||
				!strings.Contains(ee.Value, "Usage: %"+name) {
				t.Errorf("bad flag: %+v", ee)
			}
		})
	}
	out, _ := mustRun(t, it, "%%connect -h")
	if !strings.HasPrefix(out.Stdout(), "Usage: %%connect [--all] [--seq] NAME...") {
		t.Errorf("%%%%connect help = %q", out.Stdout())
	}
	for _, name := range boardMagics {
		ee, _ := execError(t, it, "%"+name)
		if ee.Name != NoBoardError {
			t.Errorf("%%%s without a board: %+v", name, ee)
		}
	}
	for _, code := range []string{
		"%connect", "%connect a b", "%register", "%register a b c", "%unregister",
		"%uid x", "%info x", "%softreset x", "%disconnect x", "%discover x", "%loglevel a b", "%lsmagic x",
		"%%connect\nprint(1)", "%%connect a --all\nprint(1)", "%connect bench -x", "%%connect a b a\nprint(1)",
	} {
		ee, _ := execError(t, it, code)
		if ee.Name != "UsageError" || !strings.Contains(ee.Value, "Usage: %") {
			t.Errorf("%q: %+v", code, ee)
		}
	}
	// The usage shows a TARGET: the error says what it is for.
	if ee, _ := execError(t, it, "%hardreset sim:hr"); ee.Name != "UsageError" || !strings.Contains(ee.Value, "TARGET is for --pin") {
		t.Errorf("%%hardreset TARGET without --pin: %+v", ee)
	}
}

func TestGeneralMagics(t *testing.T) {
	it, cfg := newInterp(t)
	out, _ := mustRun(t, it, "%lsmagic")
	text := out.Stdout()
	for _, want := range []string{"%connect ", "%%connect ", "%lsmagic ", "%loglevel ", "%uid ", "Cell magics", "!COMMAND",
		// a first sentence that goes on over lines of the summary is whole
		"and delete board files the host folder lacks.", "or to a board file when PATH starts with ':'."} {
		if !strings.Contains(text, want) {
			t.Errorf("%%lsmagic lacks %q:\n%s", want, text)
		}
	}
	// Options are spelt in the help as in the usage line, and a cell
	// magic's usage error names it with %%.
	out, _ = mustRun(t, it, "%%connect -h")
	if s := out.Stdout(); !strings.Contains(s, "\n  --all\n") || strings.Contains(s, "\n  -all") {
		t.Errorf("%%%%connect -h:\n%s", s)
	}
	if ee, _ := execError(t, it, "%%writefile\nx"); !strings.HasPrefix(ee.Value, "%%writefile: ") {
		t.Errorf("%%%%writefile without PATH: %q", ee.Value)
	}
	out, _ = mustRun(t, it, "%loglevel debug")
	if cfg.Level.Level().String() != "DEBUG" || out.Stdout() != "Log level: DEBUG\n" {
		t.Errorf("level %v, said %q", cfg.Level.Level(), out.Stdout())
	}
	mustRun(t, it, "%loglevel WARNING")
	if cfg.Level.Level().String() != "WARN" {
		t.Errorf("level %v", cfg.Level.Level())
	}
	out, _ = mustRun(t, it, "%loglevel")
	if out.Stdout() != "Log level: WARN\n" {
		t.Errorf("%%loglevel = %q", out.Stdout())
	}
	ee, _ := execError(t, it, "%loglevel loud")
	if ee.Name != "UsageError" || !strings.Contains(ee.Value, `unknown level "loud"`) {
		t.Errorf("%+v", ee)
	}
	ee, _ = execError(t, it, "%lsmagc")
	if ee.Name != "UsageError" || !strings.Contains(ee.Value, "did you mean %lsmagic") {
		t.Errorf("%+v", ee)
	}
	// A name far from every magic suggests none (it once got %lsmagic).
	ee, _ = execError(t, it, "%nosuchmagic")
	if ee.Name != "UsageError" || strings.Contains(ee.Value, "did you mean") || !strings.Contains(ee.Value, "%lsmagic lists the magics") {
		t.Errorf("%%nosuchmagic: %+v", ee)
	}
	ee, _ = execError(t, it, "%softrest")
	if !strings.Contains(ee.Value, "did you mean %softreset") {
		t.Errorf("%%softrest: %+v", ee)
	}
}

func TestConnect(t *testing.T) {
	mb := startBoard(t, testboard.Microbit)
	it, cfg := newInterp(t)

	out, _ := mustRun(t, it, "%connect "+mb.Path())
	if got := out.Stdout(); got != "Connected to ttyACM0 @ "+mb.Path()+"\n" {
		t.Errorf("stdout = %q", got)
	}
	_, res := mustRun(t, it, "import sys\nsys.platform")
	if res.Data["text/plain"] != "'microbit'" {
		t.Errorf("platform = %v", res.Data)
	}

	for code, want := range map[string]string{
		"%connect sim:":             "a virtual board's name is letters",
		"%connect nosuch":           `unknown target "nosuch"`,
		"%connect ftp://x":          "unknown kind of board address",
		"%connect /dev/nonexistent": "nonexistent",
		// a password typed into the notebook is refused, and never echoed
		"%connect ws://:sekrit@127.0.0.1:8266":   "must not hold a password",
		"%register ws://me:sekrit@127.0.0.1 lab": "must not hold a password",
	} {
		ee, _ := execError(t, it, code)
		if !strings.Contains(ee.Value, want) {
			t.Errorf("%q: %+v, want %q", code, ee, want)
		}
		if strings.Contains(fmt.Sprint(ee), "sekrit") {
			t.Errorf("%q: the error shows the password: %+v", code, ee)
		}
	}
	// a failed %connect leaves the board connected before
	if _, res := mustRun(t, it, "sys.platform"); res.Data["text/plain"] != "'microbit'" {
		t.Errorf("after failed connects: %v", res.Data)
	}

	// by registered name, by uid, auto
	out, _ = mustRun(t, it, "%register "+mb.Path()+" bench")
	if !strings.Contains(out.Stdout(), "Registered bench: url: "+mb.Path()+" uid: ") {
		t.Errorf("register said %q", out.Stdout())
	}
	df, err := devices.Load(cfg.DevicesPath)
	if err != nil {
		t.Fatal(err)
	}
	dev, ok := df.Lookup("bench")
	if !ok || !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(dev.UID) {
		t.Fatalf("devices file: %+v", df.Devices())
	}
	c := complete(t, it, "%connect be")
	if strings.Join(c.Matches, ",") != "bench" || c.CursorStart != 9 {
		t.Errorf("completion of a board name = %+v", c)
	}
	c = complete(t, it, "%%connect bench a")
	if strings.Join(c.Matches, ",") != "auto" || c.CursorStart != 16 {
		t.Errorf("completion of a board name = %+v", c)
	}
	mustRun(t, it, "%disconnect")
	out, _ = mustRun(t, it, "%connect bench")
	if got := out.Stdout(); got != "Connected to bench @ "+mb.Path()+"\n" {
		t.Errorf("by name: %q", got)
	}
	out, _ = mustRun(t, it, "%name")
	if out.Stdout() != "bench\n" {
		t.Errorf("%%name = %q", out.Stdout())
	}
	mustRun(t, it, "%disconnect -q")
	// Two names for one board: %name says the one it was connected by.
	mustRun(t, it, "%register "+mb.Path()+" zbench")
	mustRun(t, it, "%connect -q zbench")
	if out, _ = mustRun(t, it, "%name"); out.Stdout() != "zbench\n" {
		t.Errorf("%%name after %%connect zbench = %q", out.Stdout())
	}
	mustRun(t, it, "%disconnect -q")
	mustRun(t, it, "%unregister zbench")

	it.sess.discover = func() ([]serialport.Port, error) {
		return []serialport.Port{{Path: "/dev/ttyS0"}, {Path: mb.Path(), Chip: "test", BoardLike: true}}, nil
	}
	out, _ = mustRun(t, it, "%connect "+dev.UID)
	if got := out.Stdout(); got != "Connected to bench @ "+mb.Path()+"\n" {
		t.Errorf("by uid: %q", got)
	}
	mustRun(t, it, "%disconnect -q")
	out, _ = mustRun(t, it, "%connect auto")
	if got := out.Stdout(); got != "Connected to bench @ "+mb.Path()+"\n" {
		t.Errorf("auto: %q", got)
	}
	out, _ = mustRun(t, it, "%discover")
	if got := out.Stdout(); !strings.Contains(got, "/dev/ttyS0\n") || !strings.Contains(got, mb.Path()+"  test  [board]  registered as bench") {
		t.Errorf("%%discover = %q", got)
	}

	// an entry with only a uid is found by scanning the serial ports
	mustRun(t, it, "%disconnect -q")
	if err := os.WriteFile(cfg.DevicesPath, []byte("# boards\nbybit:\n  uid: "+dev.UID+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ = mustRun(t, it, "%connect bybit")
	if got := out.Stdout(); got != "Connected to bybit @ "+mb.Path()+"\n" {
		t.Errorf("uid-only entry: %q", got)
	}

	// a registered board that moved to another port is found by its uid
	mustRun(t, it, "%disconnect -q")
	if err := os.WriteFile(cfg.DevicesPath, []byte("moved:\n  url: /dev/ttyGONE0\n  uid: "+dev.UID+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ = mustRun(t, it, "%connect moved")
	if got := out.Stdout(); got != "Connected to moved @ "+mb.Path()+"\n" {
		t.Errorf("moved board: %q", got)
	}
	if err := os.WriteFile(cfg.DevicesPath, []byte("# boards\nbybit:\n  uid: "+dev.UID+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, it, "%connect -q bybit")

	out, _ = mustRun(t, it, "%disconnect")
	if out.Stdout() != "Disconnected from bybit\n" {
		t.Errorf("%%disconnect = %q", out.Stdout())
	}
	ee, _ := execError(t, it, "%disconnect")
	if ee.Name != NoBoardError {
		t.Errorf("second %%disconnect: %+v", ee)
	}
	it.sess.discover = func() ([]serialport.Port, error) { return []serialport.Port{{Path: "/dev/ttyS0"}}, nil }
	ee, _ = execError(t, it, "%connect auto")
	if !strings.Contains(ee.Value, "none of the serial ports looks like a board (/dev/ttyS0)") {
		t.Errorf("auto without boards: %+v", ee)
	}
}

func TestWebREPLPasswords(t *testing.T) {
	wasm := startBoard(t, testboard.Wasm)
	ctx := t.Context()
	srv, err := testboard.StartWebREPL(ctx, wasm, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	it, cfg := newInterp(t)

	t.Setenv(EnvWebREPLPassword, "")
	ee, _ := execError(t, it, "%connect "+srv.URL())
	if ee.Name == "" || strings.Contains(ee.Value, "s3cret") {
		t.Errorf("no password: %+v", ee)
	}

	t.Setenv(EnvWebREPLPassword, "s3cret")
	out, _ := mustRun(t, it, "%connect "+srv.URL())
	if !strings.HasPrefix(out.Stdout(), "Connected to 127.0.0.1 @ ws://") {
		t.Errorf("env password: %q", out.Stdout())
	}
	mustRun(t, it, "%disconnect -q")

	t.Setenv(EnvWebREPLPassword, "wrong")
	out, _ = mustRun(t, it, "%register "+srv.URL()+" kitchen")
	if !strings.Contains(out.Stdout(), "Add the WebREPL password") || strings.Contains(out.Stdout(), "s3cret") {
		t.Errorf("register said %q", out.Stdout())
	}
	f, err := devices.Load(cfg.DevicesPath)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := f.Lookup("kitchen")
	d.Password = "s3cret"
	if err := f.Set(d); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	out, _ = mustRun(t, it, "%connect kitchen\nimport sys\nsys.platform")
	if !strings.HasPrefix(out.Stdout(), "Connected to kitchen @ ws://") {
		t.Errorf("file password: %q", out.Stdout())
	}
	out, _ = mustRun(t, it, "%register "+srv.URL()+" kitchen")
	if !strings.Contains(out.Stdout(), "password: ***") || strings.Contains(out.Stdout(), "s3cret") {
		t.Errorf("register of a device with a password said %q", out.Stdout())
	}

	// %discover probes the network devices: the connected one answers
	// without a second login, a dead one does not.
	f, _ = devices.Load(cfg.DevicesPath)
	if err := f.Set(devices.Device{Name: "gone", URL: "ws://127.0.0.1:9/"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	it.sess.discover = func() ([]serialport.Port, error) { return nil, nil }
	out, _ = mustRun(t, it, "%discover -t 2s")
	got := out.Stdout()
	if !strings.Contains(got, "Serial ports: none") || !regexp.MustCompile(`kitchen  ws://\S+  answers`).MatchString(got) ||
		!regexp.MustCompile(`gone  ws://127.0.0.1:9/  no answer`).MatchString(got) {
		t.Errorf("%%discover = %q", got)
	}
	if !strings.Contains(got, "gone  ws://127.0.0.1:9/  no answer (connection refused)") {
		t.Errorf("%%discover = %q", got)
	}
	ee, _ = execError(t, it, "%discover -t 0s")
	if ee.Name != "UsageError" {
		t.Errorf("%+v", ee)
	}
}

// Two kernels registering boards in one devices file at once keep both.
func TestRegisterFromTwoKernelsAtOnce(t *testing.T) {
	a, cfg := newInterp(t)
	b := New(cfg)
	shutdownAtEnd(t, b)
	for round := range 10 {
		var wg sync.WaitGroup
		for i, it := range []*Interpreter{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out := &kerneltest.Recorder{}
				if _, err := run(t, it, fmt.Sprintf("%%register /dev/ttyACM%d k%d_%d", i, i, round), out); err != nil {
					t.Errorf("kernel %d, round %d: %v", i, round, err)
				}
			}()
		}
		wg.Wait()
	}
	df, err := devices.Load(cfg.DevicesPath)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(df.Names()); n != 20 {
		t.Errorf("the devices file has %d of the 20 boards registered: %v", n, df.Names())
	}
}

func TestRegister(t *testing.T) {
	it, cfg := newInterp(t)
	if err := os.WriteFile(cfg.DevicesPath, []byte("# my boards\nold: /dev/ttyUSB9 # the old one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := mustRun(t, it, "%register rfc2217://localhost:2217")
	if !strings.Contains(out.Stdout(), "Registered localhost: url: rfc2217://localhost:2217 in "+cfg.DevicesPath) {
		t.Errorf("%q", out.Stdout())
	}
	mustRun(t, it, "%register /dev/ttyACM3 lab")
	data, _ := os.ReadFile(cfg.DevicesPath)
	for _, want := range []string{"# my boards", "# the old one", "localhost:", "lab:"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("devices file lacks %q:\n%s", want, data)
		}
	}
	// An existing name is replaced only with --force; the same URL again
	// just updates the entry.
	ee, _ := execError(t, it, "%register /dev/ttyACM4 lab")
	if !strings.Contains(ee.Value, "lab is already registered as /dev/ttyACM3") || !strings.Contains(ee.Value, "--force") {
		t.Errorf("re-register: %+v", ee)
	}
	if df, _ := devices.Load(cfg.DevicesPath); df != nil {
		if d, _ := df.Lookup("lab"); d.URL != "/dev/ttyACM3" {
			t.Errorf("a refused %%register changed lab to %+v", d)
		}
	}
	mustRun(t, it, "%register /dev/ttyACM3 lab")
	mustRun(t, it, "%register --force /dev/ttyACM4 lab")
	if df, _ := devices.Load(cfg.DevicesPath); df != nil {
		if d, _ := df.Lookup("lab"); d.URL != "/dev/ttyACM4" {
			t.Errorf("%%register --force left lab as %+v", d)
		}
	}
	out, _ = mustRun(t, it, "%unregister lab")
	if out.Stdout() != "Unregistered lab from "+cfg.DevicesPath+"\n" {
		t.Errorf("%q", out.Stdout())
	}
	ee, _ = execError(t, it, "%unregister lab")
	if !strings.Contains(ee.Value, `no such device "lab"`) || !strings.Contains(ee.Value, "registered: localhost, old") {
		t.Errorf("%+v", ee)
	}
	ee, _ = execError(t, it, "%register /dev/x 'bad name'")
	if !strings.Contains(ee.Value, "bad device name") {
		t.Errorf("%+v", ee)
	}
	// a malformed file is named with its line
	if err := os.WriteFile(cfg.DevicesPath, []byte("a:\n  url: x\n  pasword: y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ee, _ = execError(t, it, "%register /dev/x b")
	if !strings.Contains(ee.Value, cfg.DevicesPath+":3: ") {
		t.Errorf("%+v", ee)
	}
	ee, _ = execError(t, it, "%connect a")
	if !strings.Contains(ee.Value, cfg.DevicesPath+":3: ") {
		t.Errorf("%+v", ee)
	}
}

func TestBoardMagics(t *testing.T) {
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			it, tb := connected(t, kind)
			mb := kind == testboard.Microbit

			mustRun(t, it, "gone = 1")
			out, _ := mustRun(t, it, "%softreset")
			if out.Stdout() != "Soft reset ttyACM0\n" {
				t.Errorf("%%softreset said %q", out.Stdout())
			}
			if ee, _ := execError(t, it, "gone"); ee.Name != "NameError" {
				t.Errorf("after %%softreset: %+v", ee)
			}
			out, _ = mustRun(t, it, "%softreset -q")
			if out.Stdout() != "" {
				t.Errorf("%%softreset -q said %q", out.Stdout())
			}

			out, _ = mustRun(t, it, "%info")
			info := out.Stdout()
			for _, want := range []string{"platform:", "implementation: micropython", "memory:"} {
				if !strings.Contains(info, want) {
					t.Errorf("%%info lacks %q:\n%s", want, info)
				}
			}
			out, _ = mustRun(t, it, "%info -v")
			if !strings.Contains(out.Stdout(), "sys.version:") {
				t.Errorf("%%info -v:\n%s", out.Stdout())
			}

			uidRe := regexp.MustCompile(`^[0-9a-f]{16}\n$`)
			if mb {
				out, _ = mustRun(t, it, "%uid")
				if !uidRe.MatchString(out.Stdout()) {
					t.Errorf("%%uid = %q", out.Stdout())
				}
				uid := out.Stdout()
				out, _ = mustRun(t, it, "%name")
				if out.Stdout() != uid {
					t.Errorf("%%name of an unregistered board = %q, want its uid", out.Stdout())
				}
				ee, _ := execError(t, it, "%gettime")
				if !strings.Contains(ee.Value, "this board has no clock") {
					t.Errorf("%%gettime: %+v", ee)
				}
				mustRun(t, it, "gone = 1")
				out, _ = mustRun(t, it, "%hardreset")
				if out.Stdout() != "Hard reset ttyACM0; reconnected\n" {
					t.Errorf("%%hardreset said %q", out.Stdout())
				}
				if ee, _ := execError(t, it, "gone"); ee.Name != "NameError" {
					t.Errorf("after %%hardreset: %+v", ee)
				}
				// A pty has no RTS line to pulse: a clear error, and the
				// board still answers.
				ee, _ = execError(t, it, "%hardreset --pin")
				if !strings.Contains(ee.Value, "cannot drive DTR/RTS (a pty has none)") {
					t.Errorf("%%hardreset --pin on a pty: %+v", ee)
				}
				if out, _ := mustRun(t, it, "print(6*7)"); out.Stdout() != "42\n" {
					t.Errorf("after %%hardreset --pin failed: %q", out.Stdout())
				}
				// With no board connected, --pin opens the port itself (the
				// one %connect last tried), and says the same of a pty.
				mustRun(t, it, "%disconnect -q")
				if ee, _ := execError(t, it, "%connect /dev/ttyIOTNONE9"); ee.Value == "" {
					t.Errorf("%%connect of a missing port: %+v", ee)
				}
				ee, _ = execError(t, it, "%hardreset --pin")
				if !strings.Contains(ee.Value, "ttyIOTNONE9") {
					t.Errorf("%%hardreset --pin after a failed %%connect: %+v", ee)
				}
				ee, _ = execError(t, it, "%hardreset --pin "+tb.Path())
				if !strings.Contains(ee.Value, "cannot drive DTR/RTS (a pty has none)") {
					t.Errorf("%%hardreset --pin PTY with no board: %+v", ee)
				}
				mustRun(t, it, "%connect -q "+tb.Path())
			} else {
				ee, _ := execError(t, it, "%uid")
				if !strings.Contains(ee.Value, "this board has no unique id") {
					t.Errorf("%%uid: %+v", ee)
				}
				ee, _ = execError(t, it, "%hardreset")
				if !strings.Contains(ee.Value, "this board has no machine.reset(); use %softreset") {
					t.Errorf("%%hardreset: %+v", ee)
				}
				out, _ = mustRun(t, it, "%gettime")
				if !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\n$`).MatchString(out.Stdout()) {
					t.Errorf("%%gettime = %q", out.Stdout())
				}
			}
			ee, _ := execError(t, it, "%synctime")
			if !strings.Contains(ee.Value, "this board has no real-time clock (machine.RTC)") {
				t.Errorf("%%synctime: %+v", ee)
			}
		})
	}
}

func TestCellConnect(t *testing.T) {
	mb := startBoard(t, testboard.Microbit)
	wasm := startBoard(t, testboard.Wasm)
	it, cfg := newInterp(t)
	if err := os.WriteFile(cfg.DevicesPath, []byte("bit: "+mb.Path()+"\nweb: "+wasm.Path()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, it, "%connect -q bit\nmine = 'kept'")

	// --seq: one board after the other, their output streamed in turn.
	out, res := mustRun(t, it, "\n%%connect --seq bit web\nimport sys\nprint('on', sys.platform)\nsys.platform")
	if res.Data != nil {
		t.Errorf("result = %v", res.Data)
	}
	want := "── bit ──\non microbit\n\n── web ──\non webassembly\n"
	if got := out.Stdout(); got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if ds := out.Displays(); len(ds) != 2 || ds[0].Data["text/plain"] != "'microbit'" || ds[1].Data["text/plain"] != "'webassembly'" {
		t.Errorf("displays = %+v", ds)
	}

	// By default all at once: each board's output and value in a section
	// of its own, in the order named.
	out, res = mustRun(t, it, "%%connect bit web\nimport sys\nprint('on', sys.platform)\nsys.platform")
	if res.Data != nil || out.Stdout() != "" {
		t.Errorf("result = %v, stdout %q", res.Data, out.Stdout())
	}
	if got := sections(t, out); len(got) != 2 || got[0] != "── bit ──  done\non microbit\n'microbit'\n" ||
		got[1] != "── web ──  done\non webassembly\n'webassembly'\n" {
		t.Errorf("sections = %q", got)
	}
	// the current board is still the micro:bit, untouched
	_, res = mustRun(t, it, "mine")
	if res.Data["text/plain"] != "'kept'" {
		t.Errorf("current board after %%%%connect: %v", res.Data)
	}

	// magics in the body act on each board; one failing does not stop the others
	ee, out := execError(t, it, "%%connect --all\nprint(1/0 if sys.platform == 'microbit' else 'fine')")
	if !strings.Contains(ee.Value, "the cell failed on 1 of 2 boards: bit") {
		t.Errorf("error %+v", ee)
	}
	if got := sections(t, out); len(got) != 2 || !strings.HasPrefix(got[0], "── bit ──  failed\n") || !strings.Contains(got[0], "ZeroDivisionError") ||
		got[1] != "── web ──  done\nfine\n" {
		t.Errorf("sections = %q", got)
	}
	ee, _ = execError(t, it, "%%connect bit nosuch\n1")
	if !strings.Contains(ee.Value, "1 of 2 boards: nosuch") {
		t.Errorf("%+v", ee)
	}
	_, out = execError(t, it, "%%connect web\n%connect bit")
	if got := sections(t, out); len(got) != 1 || !strings.Contains(got[0], "cannot change the board inside %%connect") {
		t.Errorf("sections = %q", got)
	}
}

// sections returns what a concurrent %%connect finally shows in each of
// its displays, in the order they first appeared, checking that every one
// was first shown and then only updated.
func sections(t testing.TB, out *kerneltest.Recorder) []string {
	t.Helper()
	var order []string
	last := map[string]string{}
	for _, d := range out.Displays() {
		if d.DisplayID == "" {
			continue
		}
		text, _ := d.Data["text/plain"].(string)
		if _, seen := last[d.DisplayID]; seen != d.Update {
			t.Errorf("display %s: update=%v, seen before=%v", d.DisplayID, d.Update, seen)
		}
		if !d.Update {
			order = append(order, d.DisplayID)
		}
		last[d.DisplayID] = text
	}
	got := make([]string, len(order))
	for i, id := range order {
		got[i] = last[id]
	}
	return got
}

func TestReattachAfterRestart(t *testing.T) {
	mb := startBoard(t, testboard.Microbit)
	it, cfg := newInterp(t)
	mustRun(t, it, "%connect -q "+mb.Path()+"\nsurvivor = 42")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := it.Shutdown(ctx, true); err != nil {
		t.Fatal(err)
	}
	// The %%host kernel went with it.
	if ee, _ := execError(t, it, "%%host\n1"); !strings.Contains(ee.Value, "shutting down") {
		t.Errorf("%%%%host after Shutdown: %+v; want it refused", ee)
	}

	it2 := New(cfg)
	shutdownAtEnd(t, it2)
	out, res := mustRun(t, it2, "survivor")
	if out.Stdout() != "Connected to ttyACM0 @ "+mb.Path()+"\n" || res.Data["text/plain"] != "42" {
		t.Errorf("after restart: stdout %q, result %v", out.Stdout(), res.Data)
	}
	mustRun(t, it2, "%disconnect -q")
	if err := it2.Shutdown(ctx, true); err != nil {
		t.Fatal(err)
	}

	// after %disconnect, the next start has no board
	it3 := New(cfg)
	shutdownAtEnd(t, it3)
	if ee, _ := execError(t, it3, "survivor"); ee.Name != NoBoardError {
		t.Errorf("after %%disconnect and a restart: %+v", ee)
	}

	// another notebook keeps its own board
	other := cfg
	other.SessionKey = "other.ipynb"
	it4 := New(other)
	shutdownAtEnd(t, it4)
	mustRun(t, it4, "%connect -q "+mb.Path())
	if err := it4.Shutdown(ctx, true); err != nil {
		t.Fatal(err)
	}
	it5 := New(cfg)
	shutdownAtEnd(t, it5)
	if ee, _ := execError(t, it5, "1"); ee.Name != NoBoardError {
		t.Errorf("notebook took another's board: %+v", ee)
	}
}

// useHostPython points the interpreter's %%host at a python with
// ipykernel: $IOT_TEST_PYTHON, else the project's .venv; else it skips.
func useHostPython(t *testing.T, it *Interpreter) {
	t.Helper()
	py := os.Getenv("IOT_TEST_PYTHON")
	if py == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		py = filepath.Join(filepath.Dir(wd), ".venv", "bin", "python")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := hostkernel.SpecForPython(ctx, py); err != nil {
		testenv.SkipOrFail(t, "%%%%host needs a python with ipykernel (set IOT_TEST_PYTHON): %v", err)
	}
	it.host.FindKernel = func(ctx context.Context) (*hostkernel.Spec, error) {
		return hostkernel.SpecForPython(ctx, py)
	}
}

// A %%host cell after the host working directory was removed says which
// directory is gone and what to do, not a traceback of the kernel's own
// chdir snippet as if it were the cell's; %cd elsewhere mends it, the
// host kernel's variables kept.
func TestHostCellRemovedDir(t *testing.T) {
	it, cfg := newInterp(t)
	useHostPython(t, it)
	gone := filepath.Join(cfg.WorkDir, "gone")
	if err := os.Mkdir(gone, 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, it, "%%host\nx = 1")
	mustRun(t, it, "%cd "+gone)
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	for range 2 { // every later %%host too
		ee, _ := execError(t, it, "%%host\nprint(x)")
		tb := strings.Join(ee.Traceback, "\n")
		if strings.Contains(tb, "chdir") || !strings.Contains(ee.Value, "the working directory "+gone+" no longer exists: %cd to another") {
			t.Errorf("%%%%host in a removed directory: %s: %s\n%s", ee.Name, ee.Value, tb)
		}
	}
	mustRun(t, it, "%cd "+cfg.WorkDir)
	if out, _ := mustRun(t, it, "%%host\nprint(x)"); out.Stdout() != "1\n" {
		t.Errorf("%%%%host after %%cd back: %q", out.Stdout())
	}
}
