package sim

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/internal/testenv"
)

// childEnv marks the test binary run as the "kernel" of TestDiesWithKernel.
const childEnv = "IOT_SIM_TEST_KERNEL"

// TestMain lets the test binary play a kernel that starts a board.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		kernelChild()
		return
	}
	os.Exit(m.Run())
}

// kernelChild starts a board whose program sleeps, prints the program's
// pid and waits to be killed.
func kernelChild() {
	dir := os.Getenv("IOT_SIM_TEST_DIR")
	node := filepath.Join(dir, "node")
	if err := os.WriteFile(node, []byte("#!/bin/sh\necho ready\nexec sleep 60\n"), 0o700); err != nil {
		fmt.Println("error", err)
		return
	}
	b, err := Open(context.Background(), Config{Name: "k", Dir: filepath.Join(dir, "k"), Runtime: Runtime{Node: node, Module: "/x"}})
	if err != nil {
		fmt.Println("error", err)
		return
	}
	if _, err := b.Dial(context.Background()); err != nil {
		fmt.Println("error", err)
		return
	}
	b.mu.Lock()
	pid := b.cur.cmd.Process.Pid
	b.mu.Unlock()
	fmt.Println("pid", pid)
	time.Sleep(time.Minute) // killed by the test long before
}

// The board's process dies with the kernel, even one killed by SIGKILL.
func TestDiesWithKernel(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		testenv.SkipOrFail(t, "needs sh: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "IOT_SIM_TEST_DIR="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n') // bounded by ctx killing the child
	if err != nil || !strings.HasPrefix(line, "pid ") {
		t.Fatalf("child said %q, %v", line, err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "pid ")))
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("the board's process %d is not running: %v", pid, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !testenv.WaitGone(t, pid, 10*time.Second) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Fatal("the board's process outlived its kernel")
	}
}
