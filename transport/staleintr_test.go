package transport

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// A stop whose Ctrl-C reaches the board just as its code ends on its own
// leaves, on old firmware (the micro:bit's), an interrupt pending that the
// next code would raise at once: the next exec runs as asked, not with a
// KeyboardInterrupt nobody asked for.
func TestLateInterruptDoesNotHitTheNextExec(t *testing.T) {
	f := newFake(t, "no")
	f.staleIntr = true
	running := make(chan struct{})
	f.run = func(x *fakeExec) string {
		if x.code == "ends as stopped" {
			close(running)
			<-x.intr // the Ctrl-C comes, but the code ends on its own
			x.pend()
			x.out("ended\r\n")
			return ""
		}
		return echoRun(x)
	}
	b := f.board(2 * time.Second)
	var out bytes.Buffer
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	go func() {
		select { // stop once the code runs
		case <-running:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := b.Exec(ctx, "ends as stopped", ExecOptions{Stdout: &out})
	t.Logf("the stopped exec: %v, output %q", err, out.String())
	out.Reset()
	if err := b.Exec(testCtx(t), "next", ExecOptions{Stdout: &out}); err != nil || out.String() != "ran:next\r\n" {
		t.Fatalf("the exec after: %v, output %q; want it run", err, out.String())
	}
}
