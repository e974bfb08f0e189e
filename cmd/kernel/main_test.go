package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args    []string
		code    int
		wantOut []string
		wantErr []string
	}{
		{args: nil, code: exitUsage, wantErr: []string{"usage: iot-kernel COMMAND", "install", "uninstall", "run", "version"}},
		{args: []string{"help"}, code: exitOK, wantOut: []string{"usage: iot-kernel COMMAND", "help"}},
		{args: []string{"--help"}, code: exitOK, wantOut: []string{"usage: iot-kernel COMMAND"}},
		{args: []string{"help", "install"}, code: exitOK, wantOut: []string{"usage: iot-kernel install", "-sys-prefix", "-prefix DIR", "-display-name"}},
		{args: []string{"help", "run"}, code: exitOK, wantOut: []string{"-f file", "-log-level", "SIGUSR1", `msg="runtime stats" goroutines=N`}},
		{args: []string{"install", "-h"}, code: exitOK, wantErr: []string{"usage: iot-kernel install"}},
		{args: []string{"help", "frobnicate"}, code: exitUsage, wantErr: []string{`unknown command "frobnicate"`}},
		{args: []string{"frobnicate"}, code: exitUsage, wantErr: []string{`unknown command "frobnicate"`, "usage:"}},
		{args: []string{"install", "--bogus"}, code: exitUsage, wantErr: []string{"bogus", "usage: iot-kernel install"}},
		{args: []string{"install", "extra"}, code: exitUsage, wantErr: []string{`unexpected argument "extra"`}},
		{args: []string{"run"}, code: exitUsage, wantErr: []string{"-f CONNECTION_FILE is required"}},
		{args: []string{"run", "-f", "x.json", "--log-level", "loud"}, code: exitUsage, wantErr: []string{`invalid value "loud" for flag -log-level: not a log level (debug, info, warn or error)`}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errs := runCLI(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errs)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, _ := runCLI(t, args...)
		if code != 0 || out != "iot-kernel "+versionString()+"\n" {
			t.Errorf("%v: exit %d, output %q", args, code, out)
		}
	}
	if versionString() == "" {
		t.Error("empty version string")
	}
}

func TestInstallUninstall(t *testing.T) {
	jdd := t.TempDir()
	t.Setenv("JUPYTER_DATA_DIR", jdd)
	t.Setenv("HOME", t.TempDir())
	code, out, errs := runCLI(t, "install", "--name", "Test-Board", "--display-name", "Test board")
	if code != 0 {
		t.Fatalf("install: exit %d: %s", code, errs)
	}
	dir := filepath.Join(jdd, "kernels", "test-board")
	if !strings.Contains(out, dir) {
		t.Errorf("install output %q does not say where it installed (%s)", out, dir)
	}
	b, err := os.ReadFile(filepath.Join(dir, "kernel.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Argv        []string `json:"argv"`
		DisplayName string   `json:"display_name"`
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	if len(spec.Argv) != 4 || spec.Argv[0] != exe || spec.Argv[1] != "run" || spec.DisplayName != "Test board" {
		t.Errorf("kernel.json = %s", b)
	}

	if code, _, errs := runCLI(t, "install", "--user", "--sys-prefix"); code != exitUsage || !strings.Contains(errs, "only one") {
		t.Errorf("conflicting scopes: exit %d, %s", code, errs)
	}

	if code, _, errs := runCLI(t, "uninstall", "--name", "test-board"); code != 0 {
		t.Fatalf("uninstall: exit %d: %s", code, errs)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("spec dir still there after uninstall: %v", err)
	}
	code, _, errs = runCLI(t, "uninstall", "--name", "test-board")
	if code != exitError || !strings.Contains(errs, "no kernel spec") {
		t.Errorf("second uninstall: exit %d, %s", code, errs)
	}
}

// install --prefix "" (an unset variable in a script) is refused rather
// than read as no --prefix, which would install for the user.
func TestInstallEmptyPrefix(t *testing.T) {
	jdd := t.TempDir()
	t.Setenv("JUPYTER_DATA_DIR", jdd)
	t.Setenv("HOME", t.TempDir())
	for _, cmd := range []string{"install", "uninstall"} {
		code, out, errs := runCLI(t, cmd, "--prefix", "")
		if code != exitUsage || !strings.Contains(errs, "-prefix") || !strings.Contains(errs, "want a directory") {
			t.Errorf("%s --prefix '': exit %d, stdout %q, stderr %q", cmd, code, out, errs)
		}
	}
	if entries, _ := os.ReadDir(jdd); len(entries) != 0 {
		t.Errorf("install --prefix '' wrote to the user's data dir: %v", entries)
	}
}

// uninstall --name python3 leaves ipykernel's spec alone unless forced.
func TestUninstallForeignSpec(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	prefix := t.TempDir()
	dir := filepath.Join(prefix, "share", "jupyter", "kernels", "python3")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ipy := `{"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "Python 3", "language": "python"}`
	if err := os.WriteFile(filepath.Join(dir, "kernel.json"), []byte(ipy), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"uninstall", "install"} {
		code, _, errs := runCLI(t, cmd, "--prefix", prefix, "--name", "python3")
		if code != exitError || !strings.Contains(errs, dir) || !strings.Contains(errs, "--force") {
			t.Errorf("%s over ipykernel's spec: exit %d, %s", cmd, code, errs)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "kernel.json")); err != nil || string(b) != ipy {
			t.Fatalf("after %s, ipykernel's spec is gone or changed: %v %s", cmd, err, b)
		}
	}
	if code, _, errs := runCLI(t, "uninstall", "--prefix", prefix, "--name", "python3", "--force"); code != exitOK {
		t.Fatalf("uninstall --force: exit %d, %s", code, errs)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("uninstall --force left %s: %v", dir, err)
	}
}

func TestRunBadConnectionFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.json")
	code, _, errs := runCLI(t, "run", "-f", path)
	if code != exitError || !strings.Contains(errs, path) {
		t.Errorf("exit %d, stderr %q; want 1 and a message naming the file", code, errs)
	}
}

// startKernel runs `run -f` in-process on free loopback ports and returns
// its stderr lines and a channel that yields its exit code.
func startKernel(t *testing.T, ctx context.Context) (lines *logLines, exit <-chan int) {
	t.Helper()
	return startKernelWith(t, ctx, 0, "--log-level", "debug")
}

// startKernelWith runs the kernel in this process with args after the
// connection file, its heartbeat on hbPort (0: any).
func startKernelWith(t *testing.T, ctx context.Context, hbPort int, args ...string) (lines *logLines, exit <-chan int) {
	t.Helper()
	conn := filepath.Join(t.TempDir(), "kernel.json")
	cfg := fmt.Sprintf(`{"transport": "tcp", "ip": "127.0.0.1", "shell_port": 0, "iopub_port": 0,
		"stdin_port": 0, "control_port": 0, "hb_port": %d, "key": "secret", "signature_scheme": "hmac-sha256"}`, hbPort)
	if err := os.WriteFile(conn, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	ls := &logLines{changed: make(chan struct{})}
	go ls.read(pr)
	ex := make(chan int, 1)
	go func() {
		code := run(ctx, append([]string{"run", "-f", conn}, args...), io.Discard, pw)
		pw.Close()
		ex <- code
	}()
	return ls, ex
}

// logLines keeps every line the kernel logs, however many come before a
// test looks: a line is never dropped, and the kernel never waits for the
// test to read.
type logLines struct {
	mu      sync.Mutex
	lines   []string
	ended   bool
	changed chan struct{} // closed and replaced on every change
	next    int           // the first line waitLine has not looked at
}

func (l *logLines) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l.mu.Lock()
		l.lines = append(l.lines, sc.Text())
		close(l.changed)
		l.changed = make(chan struct{})
		l.mu.Unlock()
	}
	l.mu.Lock()
	l.ended = true
	close(l.changed)
	l.mu.Unlock()
}

// waitLine waits, bounded, for a stderr line containing want, after the
// line the last waitLine found.
func waitLine(t *testing.T, l *logLines, want string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		l.mu.Lock()
		for ; l.next < len(l.lines); l.next++ {
			if strings.Contains(l.lines[l.next], want) {
				l.next++
				l.mu.Unlock()
				return
			}
		}
		ended, changed := l.ended, l.changed
		l.mu.Unlock()
		if ended {
			t.Fatalf("kernel output ended before %q", want)
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("no log line with %q within 10 s", want)
		}
	}
}

func waitExit(t *testing.T, exit <-chan int) int {
	t.Helper()
	select {
	case code := <-exit:
		return code
	case <-time.After(10 * time.Second):
		t.Fatal("kernel did not stop within 10 s")
		return -1
	}
}

func TestRunStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines, exit := startKernel(t, ctx)
	waitLine(t, lines, "kernel listening")
	cancel()
	if code := waitExit(t, exit); code != 0 {
		t.Errorf("exit code %d after cancel, want 0", code)
	}
}

// TestRunSignals sends real signals to this test process while the kernel
// runs in it: SIGINT interrupts and keeps it running, SIGUSR1 logs runtime
// stats and keeps it running, SIGTERM stops it cleanly.
func TestRunSignals(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines, exit := startKernel(t, ctx)
	waitLine(t, lines, "kernel listening") // logged after signal.Notify

	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitLine(t, lines, "SIGINT")
	select {
	case code := <-exit:
		t.Fatalf("kernel exited (%d) on SIGINT", code)
	default:
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitLine(t, lines, `msg="runtime stats" goroutines=`)
	select {
	case code := <-exit:
		t.Fatalf("kernel exited (%d) on SIGUSR1", code)
	default:
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, exit); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}

// TestLogLevel: by default the kernel logs warnings and errors only, as
// ipykernel does, since jupyter console and papermill show its stderr
// among the user's output; SIGUSR1's stats still show; $IOT_LOG_LEVEL
// sets the level when --log-level is not given.
func TestLogLevel(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		t.Setenv(envLogLevel, "")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		lines, exit := startKernelWith(t, ctx, port)
		// The heartbeat answers once the ports are open, which is after
		// the kernel took over the signals.
		for deadline := time.Now().Add(10 * time.Second); ; {
			c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the kernel's heartbeat never answered: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		waitLine(t, lines, `msg="runtime stats" goroutines=`)
		cancel()
		if code := waitExit(t, exit); code != 0 {
			t.Errorf("exit code %d after cancel, want 0", code)
		}
		lines.mu.Lock()
		defer lines.mu.Unlock()
		for _, l := range lines.lines {
			if strings.Contains(l, "level=INFO") && !strings.Contains(l, "runtime stats") {
				t.Errorf("logged at the default level: %s", l)
			}
		}
	})
	t.Run("env", func(t *testing.T) {
		t.Setenv(envLogLevel, "info")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		lines, exit := startKernelWith(t, ctx, 0)
		waitLine(t, lines, "kernel listening")
		cancel()
		waitExit(t, exit)
	})
	t.Run("bad env", func(t *testing.T) {
		t.Setenv(envLogLevel, "loud")
		code, _, stderr := runCLI(t, "run", "-f", filepath.Join(t.TempDir(), "none.json"))
		if code != exitUsage || !strings.Contains(stderr, `IOT_LOG_LEVEL="loud": not a log level`) {
			t.Errorf("IOT_LOG_LEVEL=loud: exit %d, stderr %q", code, stderr)
		}
	})
}
