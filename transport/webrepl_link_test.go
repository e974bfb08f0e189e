package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/testboard"
	"github.com/iot-kernel/iot-kernel/transport/webrepl"
)

// startWebREPLBoard starts a wasm test board behind a WebREPL server with
// password and returns the server's URL.
func startWebREPLBoard(t *testing.T, password string) string {
	t.Helper()
	return startWebREPLServer(t, password).URL()
}

// startWebREPLServer is startWebREPLBoard returning the server.
func startWebREPLServer(t *testing.T, password string) *testboard.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tb := startTestBoard(t, testboard.Wasm, testboard.Options{})
	s, err := testboard.StartWebREPL(ctx, tb, password)
	if err != nil {
		skipIfMissing(t, err)
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// wrappedWebREPL opens a Board at url over a WebREPL link that wrap puts
// in front of the webrepl.Conn, to watch or break its transfers.
func wrappedWebREPL(t *testing.T, url, password string, opt Options, wrap func(*webrepl.Conn) io.ReadWriteCloser) *Board {
	t.Helper()
	b := New(url, func(ctx context.Context) (io.ReadWriteCloser, error) {
		c, err := webrepl.Dial(ctx, url, password)
		if err != nil {
			return nil, err
		}
		return wrap(c), nil
	}, opt)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// getLimits records the limit of every GET.
type getLimits struct {
	*webrepl.Conn
	limits *[]int64
}

func (c getLimits) GetFile(ctx context.Context, name string, limit int64, progress func(done, total int64)) ([]byte, error) {
	*c.limits = append(*c.limits, limit)
	return c.Conn.GetFile(ctx, name, limit, progress)
}

// ReadFile over WebREPL bounds the GET by the size the board stated, so
// that a board sending on and on cannot fill the host's memory.
func TestWebREPLReadFileBoundedBySize(t *testing.T) {
	url := startWebREPLBoard(t, "pw")
	var limits []int64
	b := wrappedWebREPL(t, url, "pw", Options{}, func(c *webrepl.Conn) io.ReadWriteCloser { return getLimits{c, &limits} })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := make([]byte, 3000)
	if err := b.WriteFile(ctx, "f.bin", data, nil); err != nil {
		t.Fatal(err)
	}
	got, err := b.ReadFile(ctx, "f.bin", nil)
	if err != nil || len(got) != len(data) {
		t.Fatalf("ReadFile = %d bytes, %v", len(got), err)
	}
	if len(limits) != 1 || limits[0] < int64(len(data)) || limits[0] > int64(len(data))+1<<20 {
		t.Fatalf("the GET of a %d-byte file had limits %v, want one near its size", len(data), limits)
	}
}

// stalling is a WebREPL link whose first GET or PUT (as stall says) never
// gets an answer, as when the board stops mid-transfer with its TCP
// connection up; webrepl's own transfers then wait on their context only.
type stalling struct {
	*webrepl.Conn
	stall   string // "get" or "put"
	stalled *atomic.Bool
}

func (c stalling) GetFile(ctx context.Context, name string, limit int64, progress func(done, total int64)) ([]byte, error) {
	if c.stall == "get" && c.stalled.CompareAndSwap(false, true) {
		<-ctx.Done()
		c.Close() // as webrepl's transfers do: the board is left mid-transfer
		return nil, ctx.Err()
	}
	return c.Conn.GetFile(ctx, name, limit, progress)
}

func (c stalling) PutFile(ctx context.Context, name string, data []byte, progress func(done, total int64)) error {
	if c.stall == "put" && c.stalled.CompareAndSwap(false, true) {
		<-ctx.Done()
		c.Close()
		return ctx.Err()
	}
	return c.Conn.PutFile(ctx, name, data, progress)
}

// A WebREPL transfer that stalls ends after the idle bound of the raw
// REPL's file operations (4 × Timeout), reported as a board not
// responding, not when the user stops it; the next operation works.
func TestWebREPLStalledTransferBounded(t *testing.T) {
	for _, stall := range []string{"get", "put"} {
		t.Run(stall, func(t *testing.T) {
			url := startWebREPLBoard(t, "pw")
			var stalled atomic.Bool
			b := wrappedWebREPL(t, url, "pw", Options{Timeout: 500 * time.Millisecond}, func(c *webrepl.Conn) io.ReadWriteCloser {
				return stalling{c, stall, &stalled}
			})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if stall == "get" {
				if err := b.WriteFile(ctx, "f.txt", []byte("hello"), nil); err != nil {
					t.Fatal(err)
				}
			}
			done := make(chan error, 1)
			go func() {
				// A cell's context: it ends only on a stop.
				if stall == "get" {
					_, err := b.ReadFile(context.Background(), "f.txt", nil)
					done <- err
				} else {
					done <- b.WriteFile(context.Background(), "f.txt", []byte("hello"), nil)
				}
			}()
			select {
			case err := <-done:
				if !errors.Is(err, ErrNoResponse) || !strings.Contains(err.Error(), "no answer within 2s") {
					t.Fatalf("the stalled %s = %v, want the board not responding", stall, err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("a stalled WebREPL %s still waiting after 30 s (Timeout 500ms: the raw REPL's file operations give up after 2 s)", stall)
			}
			// The board lets go of the stalled session once it sees that
			// connection closed; until then it turns a new login away as
			// concurrent, as MicroPython's WebREPL does. A user's next
			// cell comes later than this; the test waits for it, bounded.
			for deadline := time.Now().Add(10 * time.Second); ; {
				err := b.WriteFile(ctx, "g.txt", []byte("again"), nil)
				if err == nil {
					break
				}
				if !strings.Contains(err.Error(), "concurrent WebREPL connection rejected") || time.Now().After(deadline) {
					t.Fatalf("WriteFile after the stalled %s: %v", stall, err)
				}
				time.Sleep(50 * time.Millisecond) // the board's cleanup has no event to wait on
			}
			if got, err := b.ReadFile(ctx, "g.txt", nil); err != nil || string(got) != "again" {
				t.Fatalf("ReadFile after the stalled %s = %q, %v", stall, got, err)
			}
		})
	}
}

// openWebREPL opens the board at url through Open, as the kernel does.
func openWebREPL(t *testing.T, url, password string) *Board {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := Open(ctx, url, Options{Password: password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// A name that WebREPL takes is written and read back, though its
// temporary NAME.iotpart is too long for WebREPL (the raw REPL, which the
// link carries too, sends it); a name WebREPL does not take at all is read
// the same way.
func TestWebREPLNamesPastItsLimit(t *testing.T) {
	b := openWebREPL(t, startWebREPLBoard(t, "pw"), "pw")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, n := range []int{webrepl.MaxNameLen - len(PartSuffix), webrepl.MaxNameLen - len(PartSuffix) + 1, webrepl.MaxNameLen, webrepl.MaxNameLen + 1, 70} {
		name := strings.Repeat("a", n-3) + ".py"
		want := fmt.Sprintf("x=%d\n", n)
		if err := b.WriteFile(ctx, name, []byte(want), nil); err != nil {
			t.Errorf("WriteFile(a %d-byte name): %v", n, err)
			continue
		}
		if got, err := b.ReadFile(ctx, name, nil); err != nil || string(got) != want {
			t.Errorf("ReadFile(a %d-byte name) = %q, %v; want %q", n, got, err, want)
		}
	}
	// Written by the board itself: no upload of the kernel's on the way.
	name := strings.Repeat("b", 66) + ".txt"
	if err := b.Exec(ctx, "f=open('"+name+"','w');f.write('hi');f.close()", ExecOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := b.ReadFile(ctx, name, nil); err != nil || string(got) != "hi" {
		t.Errorf("ReadFile(a %d-byte name) = %q, %v", len(name), got, err)
	}
}

// A read that WebREPL refuses says which file once.
func TestWebREPLReadErrorNamesFileOnce(t *testing.T) {
	b := openWebREPL(t, startWebREPLBoard(t, "pw"), "pw")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.Exec(ctx, "import os;os.mkdir('d')", ExecOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := b.ReadFile(ctx, "d", nil)
	if err == nil {
		t.Fatal("ReadFile of a folder succeeded")
	}
	if strings.Count(err.Error(), "read d:") != 1 {
		t.Fatalf("ReadFile of a folder = %v, want the file named once", err)
	}
}

// A password written in a ws:// URL logs in, and is shown nowhere: not in
// the Board's URL, its errors, its log, or the board's default name.
func TestWebREPLPasswordInURLNotShown(t *testing.T) {
	const pw = "s3cretpw"
	for _, tc := range []struct{ name, password string }{{"right", pw}, {"wrong", "other"}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startWebREPLServer(t, tc.password)
			url := strings.Replace(srv.URL(), "ws://", "ws://:"+pw+"@", 1)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var log bytes.Buffer
			b, err := Open(ctx, url, Options{Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			if tc.name == "right" {
				if err != nil {
					t.Fatalf("Open with the password in the URL: %v", err)
				}
				t.Cleanup(func() { _ = b.Close() })
				if strings.Contains(b.URL(), pw) || !SameAddress(b.URL(), url) {
					t.Errorf("Board.URL() = %q, want the address without its password", b.URL())
				}
				// An error that names the board: the board is gone.
				_ = srv.Close()
				_, err = b.ReadFile(ctx, "f.txt", nil)
				var le *LinkError
				if !errors.As(err, &le) {
					t.Fatalf("ReadFile from a board that is gone = %v, want a LinkError", err)
				}
			} else if !errors.Is(err, webrepl.ErrAccessDenied) {
				t.Fatalf("Open with a wrong password in the URL = %v", err)
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("the error shows the password: %v", err)
			}
			if strings.Contains(log.String(), pw) {
				t.Errorf("the log shows the password:\n%s", log.String())
			}
			if n := DefaultName(url); strings.Contains(n, pw) {
				t.Errorf("DefaultName(%q) = %q shows the password", url, n)
			}
		})
	}
}
