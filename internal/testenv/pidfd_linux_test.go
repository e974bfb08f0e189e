package testenv

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

func TestWaitGone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	go func() { cmd.Wait(); close(done) }()

	if WaitGone(t, cmd.Process.Pid, 50*time.Millisecond) {
		t.Fatal("WaitGone: a running process is gone")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if !WaitGone(t, cmd.Process.Pid, 10*time.Second) {
		t.Error("WaitGone: a killed process is still there")
	}
}
