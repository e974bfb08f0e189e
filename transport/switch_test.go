package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/testboard"
)

// A second link to a board whose first link is still open (its WebREPL,
// then its serial port or an RFC 2217 server in front of that, as a
// %connect without %disconnect once did): the two links take each other's
// bytes, so nothing can be promised but this: every operation ends by its
// own bound (the test's context never has to end it) either done or with
// an error that names the board and says what to do, and once the other
// link is closed the board works again, input() included.
// errStopped marks an exec the test stopped, as a user presses stop.
var errStopped = errors.New("stopped by the test")

func TestSwitchLinksToTheSameBoard(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the test boards")
	}
	for _, second := range []string{"serial", "rfc2217"} {
		t.Run(second, func(t *testing.T) {
			// The whole test's bound; each operation has one of its own,
			// opBound, far above the links' own (5 s a wait, and an
			// interrupt's escalation after it): reaching that means the
			// operation did not end by itself. A sum of operations may
			// take long on a loaded machine without any of them hanging.
			// A program that runs has no bound of its own (a cell may run
			// for hours), and the other link may take the bytes that end
			// it: then the user presses stop (after stopAfter), and the
			// exec must end within stopBound of that.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			const opBound = time.Minute
			const stopAfter, stopBound = 20 * time.Second, 30 * time.Second
			tb, err := testboard.Start(ctx, testboard.Wasm, testboard.Options{})
			if err != nil {
				skipIfMissing(t, err)
				t.Fatalf("start board: %v", err)
			}
			t.Cleanup(func() { _ = tb.Close() })
			ws, err := testboard.StartWebREPL(ctx, tb, "pw")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ws.Close() })
			url := tb.Path()
			if second == "rfc2217" {
				s, err := testboard.StartRFC2217(ctx, tb)
				if err != nil {
					skipIfMissing(t, err)
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				url = s.URL()
			}
			input := func(string) (string, error) { return "typed", nil }
			roundTrip := func(b *Board) (string, error) {
				t.Helper()
				octx, stop := context.WithCancelCause(ctx)
				defer stop(nil)
				var stopped atomic.Int64 // when stop was pressed, unix ns
				press := time.AfterFunc(stopAfter, func() {
					stopped.Store(time.Now().UnixNano())
					stop(errors.New("stop pressed"))
				})
				defer press.Stop()
				var out bytes.Buffer
				err := b.Exec(octx, "print(input('?'))", ExecOptions{Stdout: &out, Input: input})
				if at := stopped.Load(); at != 0 {
					if d := time.Since(time.Unix(0, at)); d > stopBound {
						t.Fatalf("exec went on %v after stop was pressed: %v", d.Round(time.Second), err)
					}
					if err != nil {
						err = fmt.Errorf("%w: %w", errStopped, err)
					}
				}
				return strings.ReplaceAll(out.String(), "\r\n", "\n"), err
			}
			open := func(url string, opt Options) (*Board, error) {
				octx, ocancel := context.WithTimeout(ctx, opBound)
				defer ocancel()
				b, err := Open(octx, url, opt)
				if octx.Err() != nil {
					err = fmt.Errorf("%w after %v: %v", context.DeadlineExceeded, opBound, err)
				}
				return b, err
			}
			// clear: an error of a shared board ends by its own bound,
			// names the board and says what to do.
			clear := func(what string, err error) {
				t.Helper()
				t.Logf("%s: %v", what, err)
				if errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("%s did not end by its own bound: %v", what, err)
				}
				msg := err.Error()
				if !strings.Contains(msg, url) {
					t.Errorf("%s: error %q does not name the board %s", what, msg, url)
				}
				if errors.Is(err, errStopped) {
					return // ended by the stop button, in time, naming the board
				}
				if !errors.Is(err, ErrNoResponse) && !errors.Is(err, ErrLinkLost) {
					t.Errorf("%s: error %q is neither ErrNoResponse nor ErrLinkLost", what, msg)
				}
				if errors.Is(err, ErrNoResponse) && !strings.Contains(msg, "close it and try again") {
					t.Errorf("%s: error %q does not say what to do", what, msg)
				}
			}

			first, err := open(ws.URL(), Options{Password: "pw"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = first.Close() })
			if out, err := roundTrip(first); err != nil || out != "typed\n" {
				t.Fatalf("first link: %q, %v", out, err)
			}

			b, err := open(url, Options{})
			if err != nil {
				clear("opening the second link", err)
			} else {
				t.Cleanup(func() { _ = b.Close() })
				for i := 0; i < 3; i++ {
					if out, err := roundTrip(b); err != nil {
						clear("exec on the second link", err)
					} else if out != "typed\n" {
						t.Errorf("exec %d on the second link: %q", i, out)
					}
				}
			}

			// The other link gone, the board works again: at once, or
			// after one clear error (it left the raw REPL as it closed).
			if err := first.Close(); err != nil {
				t.Fatal(err)
			}
			if b == nil {
				if b, err = open(url, Options{}); err != nil {
					t.Fatalf("open once the first link is closed: %v", err)
				}
				t.Cleanup(func() { _ = b.Close() })
			}
			out, err := roundTrip(b)
			if err != nil {
				clear("the first exec after the first link closed", err)
				out, err = roundTrip(b)
			}
			if err != nil || out != "typed\n" {
				t.Errorf("once the first link is closed: %q, %v", out, err)
			}
		})
	}
}
