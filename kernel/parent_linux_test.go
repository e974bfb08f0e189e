package kernel

import (
	"os/exec"
	"testing"

	"github.com/iot-kernel/iot-kernel/internal/testenv"
)

// On Linux the watch sleeps on pidfds, which see an exit at once, before
// the parent reaps the process (kill(pid, 0) still finds a zombie).
func TestWatchExitsSeesUnreapedExit(t *testing.T) {
	ctx := testCtx(t)
	child := exec.Command("sleep", "60")
	if err := child.Start(); err != nil {
		testenv.SkipOrFail(t, "cannot start a child (sleep): %v", err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	exited, stop, err := watchExits([]int{child.Process.Pid})
	if err != nil {
		testenv.SkipOrFail(t, "pidfds unavailable here (Linux >= 5.3 has them), WatchParent polls: %v", err)
	}
	defer stop()
	select {
	case <-exited:
		t.Fatal("fired while the process lives")
	default:
	}
	_ = child.Process.Kill() // not reaped until Cleanup
	select {
	case <-exited:
	case <-ctx.Done():
		t.Fatal("the exit of an unreaped child was not seen")
	}
}
