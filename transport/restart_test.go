package transport

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// restartable makes b's link one whose hard reset is a fresh dial, as a
// virtual board's is.
func restartable(f *fakeBoard, b *Board) {
	b.resetDial, b.restartable = f.dial, true
}

// On a restartable link, a board that ignores both Ctrl-C is restarted
// (not soft-reset, which could not reach it): the error says so, and the
// next exec runs on the board started afresh.
func TestInterruptIgnoredThenRestart(t *testing.T) {
	f := newFake(t, "yes")
	started := make(chan struct{})
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	f.run = func(x *fakeExec) string {
		close(started)
		<-stop // a busy loop nothing can stop
		return ""
	}
	b := f.board(2 * time.Second)
	restartable(f, b)
	err := cancelMidExec(t, b, started)
	if !errors.Is(err, ErrReset) || !strings.Contains(err.Error(), "hard-reset") || !strings.Contains(err.Error(), "variables are gone") {
		t.Fatalf("err = %v; want ErrReset saying the board was hard-reset", err)
	}
	if f.softResets != 0 {
		t.Errorf("soft resets: %d; a restartable board is restarted instead", f.softResets)
	}
	dials, _, _, _ := f.stat()
	if dials != 2 {
		t.Errorf("dials = %d; want the first and the restart", dials)
	}
	f.run = echoRun
	if err := b.Exec(testCtx(t), "y", ExecOptions{}); err != nil {
		t.Fatalf("exec after the restart: %v", err)
	}
	if dials, _, _, _ := f.stat(); dials != 2 {
		t.Errorf("dials = %d after an exec on the restarted board", dials)
	}
}

// A restartable board that does not even answer the raw REPL's Ctrl-A (a
// busy loop that never reads its input) is restarted, and the operation
// says so; the next one runs on the board started afresh.
func TestDeafBoardRestarted(t *testing.T) {
	f := newFake(t, "yes")
	f.deafFor = 1
	b := f.board(300 * time.Millisecond)
	restartable(f, b)
	err := b.Exec(testCtx(t), "x", ExecOptions{})
	if !errors.Is(err, ErrReset) || !strings.Contains(err.Error(), "did not answer") {
		t.Fatalf("exec on a deaf board: %v; want ErrReset saying it was restarted", err)
	}
	f.run = echoRun
	if err := b.Exec(testCtx(t), "y", ExecOptions{}); err != nil {
		t.Fatalf("exec after the restart: %v", err)
	}
	if dials, _, _, _ := f.stat(); dials != 2 {
		t.Errorf("dials = %d; want the first and one restart", dials)
	}

	// deaf after every restart too: one restart per operation, then the
	// error says so
	g := newFake(t, "yes")
	g.deaf = true
	c := g.board(300 * time.Millisecond)
	restartable(g, c)
	err = c.Exec(testCtx(t), "x", ExecOptions{})
	if !errors.Is(err, ErrNoResponse) || !strings.Contains(err.Error(), "not after a hard reset either") {
		t.Fatalf("a board deaf at every dial: %v", err)
	}
	if dials, _, _, _ := g.stat(); dials != 2 {
		t.Errorf("dials = %d; want one restart", dials)
	}
}

// brokenWrites is a link whose program died: its writes fail, while a
// read has not shown it yet (the reader of a pipe sees the end only after
// the exit is reaped).
type brokenWrites struct {
	*timedPipe
	broken atomic.Bool
}

func (w *brokenWrites) Write(p []byte) (int, error) {
	if w.broken.Load() {
		return 0, errors.New("the virtual board's program exited (signal: killed)")
	}
	return w.timedPipe.Write(p)
}

// A restartable board whose program died between operations, unseen by
// any read, fails the next operation's first write: nothing was sent, so
// the board is started again and the operation runs there, saying so once.
func TestRestartableDiedBeforeTheCodeWent(t *testing.T) {
	for _, paste := range []string{"yes", "no"} {
		t.Run("paste "+paste, func(t *testing.T) {
			f := newFake(t, paste)
			f.direct = true
			var first *brokenWrites
			b := New("fake:", func(ctx context.Context) (io.ReadWriteCloser, error) {
				rwc, err := f.dial(ctx)
				if err == nil && first == nil {
					first = &brokenWrites{timedPipe: rwc.(*timedPipe)}
					return first, nil
				}
				return rwc, err
			}, Options{Timeout: 2 * time.Second})
			t.Cleanup(func() { _ = b.Close() })
			restartable(f, b)
			f.run = echoRun
			if err := b.Exec(testCtx(t), "a", ExecOptions{}); err != nil {
				t.Fatal(err)
			}
			first.broken.Store(true)
			var out strings.Builder
			var notes []string
			err := b.Exec(testCtx(t), "b", ExecOptions{Stdout: &out, Reset: func(n string) { notes = append(notes, n) }})
			if err != nil || out.String() != "ran:b\r\n" {
				t.Fatalf("exec after the program died: %v, output %q; want it run on the board started again", err, out.String())
			}
			if len(notes) != 1 || !strings.Contains(notes[0], "program exited (signal: killed); it was started again") {
				t.Errorf("notes: %q", notes)
			}
			if dials, _, _, _ := f.stat(); dials != 2 {
				t.Errorf("dials = %d; want the first and one more", dials)
			}
		})
	}
}
