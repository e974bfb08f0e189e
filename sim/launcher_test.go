package sim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/internal/testenv"
)

// fakeNode writes a shell script that stands for node: it ignores the
// program's path and runs script instead, so the launcher's process
// handling is tested without node.
func fakeNode(t *testing.T, script string) Runtime {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		testenv.SkipOrFail(t, "needs sh: %v", err)
	}
	p := filepath.Join(t.TempDir(), "node")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script), 0o700); err != nil {
		t.Fatal(err)
	}
	return Runtime{Node: p, Module: "/nonexistent/micropython.mjs"}
}

func open(t *testing.T, cfg Config) *Board {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testenv.Logger(t)
	}
	b, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func dial(t *testing.T, b *Board) io.ReadWriteCloser {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := b.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// readLine reads one line from r within a bound.
func readLine(t *testing.T, r *bufio.Reader) (string, error) {
	t.Helper()
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := r.ReadString('\n')
		ch <- res{strings.TrimSpace(s), err}
	}()
	select {
	case got := <-ch:
		return got.s, got.err
	case <-time.After(20 * time.Second):
		t.Fatal("no line from the board within 20 s")
		return "", nil
	}
}

func TestFolderLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a")
	rt := fakeNode(t, "exit 0\n")
	b := open(t, Config{Name: "a", Dir: dir, Runtime: rt})
	_, err := Open(context.Background(), Config{Name: "a", Dir: dir, Runtime: rt})
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "sim:OTHER") {
		t.Fatalf("second Open of the same folder = %v; want ErrInUse naming the folder and what to do", err)
	}
	// another board's folder is not locked by it
	other := open(t, Config{Name: "b", Dir: filepath.Join(filepath.Dir(dir), "b"), Runtime: rt})
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(context.Background(), Config{Name: "a", Dir: dir, Runtime: rt})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	again.Close()
	// the lock is beside the folder, not among the board's files
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the board's folder holds %v", entries)
	}
}

func TestDataDir(t *testing.T) {
	t.Setenv(EnvHome, "")
	t.Setenv("XDG_DATA_HOME", "/data")
	if d, err := DataDir("esp32"); err != nil || d != "/data/iot-kernel/sim/esp32" {
		t.Errorf("DataDir = %q, %v", d, err)
	}
	if d, err := InstalledRuntimeDir(); err != nil || d != "/data/iot-kernel/runtime" {
		t.Errorf("InstalledRuntimeDir = %q, %v", d, err)
	}
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "/home/u")
	if d, err := DataDir("sim"); err != nil || d != "/home/u/.local/share/iot-kernel/sim/sim" {
		t.Errorf("DataDir = %q, %v", d, err)
	}
	t.Setenv(EnvHome, "/tmp/sims")
	if d, err := DataDir("x"); err != nil || d != "/tmp/sims/x" {
		t.Errorf("DataDir with %s = %q, %v", EnvHome, d, err)
	}
}

// The program gets the board's settings in its environment, and none of
// ours for another board.
func TestEnvironment(t *testing.T) {
	t.Setenv("IOT_SIM_EXPOSE", "1") // the kernel's own: not passed on
	dir := filepath.Join(t.TempDir(), "esp32")
	rt := fakeNode(t, "env\n")
	b := open(t, Config{Name: "esp32", Dir: dir, Runtime: rt, Heap: 123456, IP: "10.1.2.3",
		Hosts: map[string]string{"google.com": "127.0.0.1:18080"}})
	data, err := io.ReadAll(dial(t, b))
	var reset ResetError
	if err != nil && !errors.As(err, &reset) && !strings.Contains(err.Error(), "exited") {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			env[k] = v
		}
	}
	want := map[string]string{"IOT_SIM": "1", "IOT_SIM_DIR": dir, "IOT_SIM_NAME": "esp32", "IOT_MPY_HEAPSIZE": "123456",
		"IOT_SIM_IP": "10.1.2.3", "IOT_MPY_MODULE": rt.Module}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if _, ok := env["IOT_SIM_EXPOSE"]; ok {
		t.Error("IOT_SIM_EXPOSE passed on though the board does not expose")
	}
	var hosts map[string]string
	if err := json.Unmarshal([]byte(env["IOT_SIM_HOSTS"]), &hosts); err != nil || hosts["google.com"] != "127.0.0.1:18080" {
		t.Errorf("IOT_SIM_HOSTS = %q (%v)", env["IOT_SIM_HOSTS"], err)
	}
}

// machine.reset() ends the program with status 75: the stream reports the
// reset, and the next Dial reaches the board started again by itself.
func TestResetRestarts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r")
	count := filepath.Join(t.TempDir(), "boots")
	rt := fakeNode(t, `echo x >> `+count+`
echo "boot $(wc -l < `+count+`)"
read line
[ "$line" = reset ] && exit 75
echo "got $line"
exit 3
`)
	b := open(t, Config{Name: "r", Dir: dir, Runtime: rt})
	c := dial(t, b)
	r := bufio.NewReader(c)
	if l, err := readLine(t, r); err != nil || l != "boot 1" {
		t.Fatalf("first boot: %q, %v", l, err)
	}
	if _, err := c.Write([]byte("reset\n")); err != nil {
		t.Fatal(err)
	}
	_, err := readLine(t, r)
	var reset ResetError
	if !errors.As(err, &reset) || !reset.BoardReset() {
		t.Fatalf("after reset: %v; want ResetError", err)
	}
	c.Close()
	c2 := dial(t, b)
	r2 := bufio.NewReader(c2)
	if l, err := readLine(t, r2); err != nil || l != "boot 2" {
		t.Fatalf("after the reset: %q, %v; want the second boot", l, err)
	}
	// any other exit is an error with the program's last words, and no
	// restart of its own
	if _, err := c2.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if l, err := readLine(t, r2); err != nil || l != "got hello" {
		t.Fatalf("%q, %v", l, err)
	}
	_, err = readLine(t, r2)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || errors.As(err, &reset) {
		t.Fatalf("after exit 3: %v", err)
	}
	c2.Close()
	// a Dial starts it again; closing the stream kills it
	c3 := dial(t, b)
	if l, err := readLine(t, bufio.NewReader(c3)); err != nil || l != "boot 3" {
		t.Fatalf("third boot: %q, %v", l, err)
	}
	pid := b.cur.cmd.Process.Pid
	c3.Close()
	if !testenv.WaitGone(t, pid, 10*time.Second) {
		t.Error("the board's process outlived its stream")
	}
}

// A program that fails at once is reported by Dial, with its stderr.
func TestStartFailure(t *testing.T) {
	rt := fakeNode(t, "echo 'SyntaxError: broken runtime' >&2\nexit 1\n")
	b := open(t, Config{Name: "f", Dir: filepath.Join(t.TempDir(), "f"), Runtime: rt})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := b.Dial(ctx)
	if err == nil || !strings.Contains(err.Error(), "SyntaxError: broken runtime") || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("Dial = %v; want the program's error", err)
	}
}

func TestMissingNode(t *testing.T) {
	old := fakeNode(t, "echo v16.20.0\n") // before PATH is emptied: it needs sh
	t.Setenv("PATH", t.TempDir())
	t.Setenv(EnvNode, "")
	_, err := Open(context.Background(), Config{Name: "x", Dir: filepath.Join(t.TempDir(), "x")})
	if !errors.Is(err, ErrNoRuntime) || !errors.Is(err, exec.ErrNotFound) ||
		!strings.Contains(err.Error(), "needs node") || !strings.Contains(err.Error(), "install") {
		t.Fatalf("Open without node = %v", err)
	}
	if strings.Count(err.Error(), "\n") > 0 {
		t.Errorf("not one line: %q", err)
	}
	t.Setenv(EnvNode, old.Node)
	_, err = Open(context.Background(), Config{Name: "x", Dir: filepath.Join(t.TempDir(), "x")})
	if !errors.Is(err, ErrNoRuntime) || !strings.Contains(err.Error(), "18 or newer") || !strings.Contains(err.Error(), "v16.20.0") {
		t.Fatalf("Open with node 16 = %v", err)
	}
}

// A node that never answers its --version does not hang the connect: a
// stop ends the look at once.
func TestHangingNodeIsStopped(t *testing.T) {
	node := fakeNode(t, "exec sleep 60\n")
	t.Setenv(EnvNode, node.Node)
	ctx, cancel := context.WithTimeoutCause(context.Background(), 300*time.Millisecond, errors.New("stopped by the test"))
	defer cancel()
	start := time.Now()
	_, err := Open(ctx, Config{Name: "x", Dir: filepath.Join(t.TempDir(), "x")})
	if err == nil || !strings.Contains(err.Error(), "stopped by the test") {
		t.Fatalf("Open with a hanging node = %v, want the stop's cause", err)
	}
	if d := time.Since(start); d > nodeProbeWait/2 {
		t.Errorf("the stop took %v", d)
	}
}

func TestMissingRuntime(t *testing.T) {
	if embeddedRuntime() != nil {
		t.Skip("this build embeds the runtime")
	}
	node := fakeNode(t, "echo v20.1.0\n")
	t.Setenv(EnvNode, node.Node)
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv(EnvNodeModules, filepath.Join(t.TempDir(), "none"))
	_, err := Open(context.Background(), Config{Name: "x", Dir: filepath.Join(t.TempDir(), "x")})
	if !errors.Is(err, ErrNoRuntime) || !testenv.Missing(err) ||
		!strings.Contains(err.Error(), "micropython.mjs") || !strings.Contains(err.Error(), "make install") ||
		!strings.Contains(err.Error(), EnvNodeModules) {
		t.Fatalf("Open without the runtime = %v", err)
	}
	// the installed copy is found
	inst, _ := InstalledRuntimeDir()
	if err := os.MkdirAll(inst, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range runtimeFiles {
		if err := os.WriteFile(filepath.Join(inst, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rt, err := FindRuntime(context.Background())
	if err != nil || rt.Module != filepath.Join(inst, "micropython.mjs") || rt.Node != node.Node {
		t.Fatalf("FindRuntime = %+v, %v", rt, err)
	}
}

func TestEnvironmentExpose(t *testing.T) {
	rt := fakeNode(t, "env\n")
	b := open(t, Config{Name: "e", Dir: filepath.Join(t.TempDir(), "e"), Runtime: rt, Expose: true})
	data, _ := io.ReadAll(dial(t, b))
	if !strings.Contains(string(data), "\nIOT_SIM_EXPOSE=1\n") {
		t.Errorf("IOT_SIM_EXPOSE=1 not in the program's environment:\n%s", data)
	}
	if strings.Contains(string(data), "IOT_MPY_HEAPSIZE=") || strings.Contains(string(data), "IOT_SIM_HOSTS=") {
		t.Errorf("settings not given are passed:\n%s", data)
	}
}

// Board code that writes to stderr without a newline, in a loop, does not
// grow the kernel's memory: the unfinished line is bounded.
func TestStderrLineIsBounded(t *testing.T) {
	tl := &tail{log: slog.New(slog.DiscardHandler), max: 2048}
	chunk := []byte(strings.Repeat("x", 4096))
	for range 4096 { // 16 MiB without a newline
		_, _ = tl.Write(chunk)
	}
	if n := len(tl.line); n > 2*tl.max {
		t.Errorf("tail keeps %d bytes of an unfinished stderr line", n)
	}
}
