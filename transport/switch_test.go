package transport

import (
	"bytes"
	"context"
	"errors"
	"strings"
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
func TestSwitchLinksToTheSameBoard(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the test boards")
	}
	for _, second := range []string{"serial", "rfc2217"} {
		t.Run(second, func(t *testing.T) {
			// Far above the links' own bounds (5 s a wait): reaching it
			// means an operation did not end by itself.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
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
				var out bytes.Buffer
				err := b.Exec(ctx, "print(input('?'))", ExecOptions{Stdout: &out, Input: input})
				return strings.ReplaceAll(out.String(), "\r\n", "\n"), err
			}
			// clear: an error of a shared board ends by its own bound,
			// names the board and says what to do.
			clear := func(what string, err error) {
				t.Helper()
				t.Logf("%s: %v", what, err)
				if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("%s did not end by its own bound: %v", what, err)
				}
				msg := err.Error()
				if !errors.Is(err, ErrNoResponse) && !errors.Is(err, ErrLinkLost) {
					t.Errorf("%s: error %q is neither ErrNoResponse nor ErrLinkLost", what, msg)
				}
				if !strings.Contains(msg, url) {
					t.Errorf("%s: error %q does not name the board %s", what, msg, url)
				}
				if errors.Is(err, ErrNoResponse) && !strings.Contains(msg, "close it and try again") {
					t.Errorf("%s: error %q does not say what to do", what, msg)
				}
			}

			first, err := Open(ctx, ws.URL(), Options{Password: "pw"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = first.Close() })
			if out, err := roundTrip(first); err != nil || out != "typed\n" {
				t.Fatalf("first link: %q, %v", out, err)
			}

			b, err := Open(ctx, url, Options{})
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
				if b, err = Open(ctx, url, Options{}); err != nil {
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
