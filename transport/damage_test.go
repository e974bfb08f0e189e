package transport

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/testboard"
)

// A byte changed on the line, once, during an upload is caught by the
// content checks and the damaged part is sent again, on both test boards
// (the micro:bit has no hashlib: its file check is the board code's
// Adler-32). Two changes: one byte of a chunk raised by one, which the
// chunk's own check (length and byte sum) catches, so the chunk is sent
// again; and two bytes of a chunk changed by +1 and -1, which keep its
// length and byte sum, so only the file's checksum can catch it, and the
// whole file is sent again. Either way the upload succeeds and the board
// holds exactly the data.
func TestChangedByteIsSentAgain(t *testing.T) {
	for _, kind := range []testboard.Kind{testboard.Microbit, testboard.Wasm} {
		for _, tc := range []struct {
			name    string
			changes map[byte]byte // each first seen once, after arming
			resent  string        // the code sent twice for it
		}{
			{"chunk", map[byte]byte{'Q': 'R'}, "_iotb="},
			{"file", map[byte]byte{'Q': 'R', 'S': 'R'}, "_iotw=open("},
		} {
			t.Run(string(kind)+"/"+tc.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				var armed bool
				pending := map[byte]byte{}
				b, _, conn := faultBoard(t, kind, func(c *faultConn) {
					c.onWrite = func(c *faultConn, p []byte) ([]byte, bool) {
						c.mu.Lock()
						defer c.mu.Unlock()
						if !armed {
							return p, false
						}
						out := append([]byte(nil), p...)
						for from, to := range pending {
							if i := bytes.IndexByte(out, from); i >= 0 {
								out[i] = to
								delete(pending, from)
							}
						}
						if len(pending) == 0 {
							armed = false
						}
						return out, false
					}
				})
				// Small enough to be one chunk; Q and S appear once each.
				data := []byte("aaaaaaaaaaaaaaaaaaaaQaaaaSaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n")
				if err := b.WriteFile(ctx, "d.txt", []byte("old"), nil); err != nil {
					t.Fatal(err)
				}
				c := conn()
				c.mu.Lock()
				start := c.sent.Len()
				for k, v := range tc.changes {
					pending[k] = v
				}
				armed = true
				c.mu.Unlock()

				if err := b.WriteFile(ctx, "d.txt", data, nil); err != nil {
					t.Fatalf("upload with a byte changed once: %v; want it sent again and done", err)
				}

				c.mu.Lock()
				left, sent := len(pending), c.sent.Bytes()[start:]
				c.mu.Unlock()
				if left != 0 {
					t.Fatalf("the fault was not injected (%d changes left)", left)
				}
				if n := bytes.Count(sent, []byte(tc.resent)); n != 2 {
					t.Errorf("%q sent %d times, want 2 (once more after the damage)", tc.resent, n)
				}
				got, err := b.ReadFile(ctx, "d.txt", nil)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("d.txt = %q, %v; want %q", got, err, data)
				}
				if tc.name == "chunk" {
					// Damaged every time: a bounded number of sends, then
					// an error that says so, the file kept as it was.
					c.mu.Lock()
					c.onWrite = func(c *faultConn, p []byte) ([]byte, bool) {
						return bytes.ReplaceAll(p, []byte("Q"), []byte("R")), false
					}
					c.mu.Unlock()
					err := b.WriteFile(ctx, "d.txt", []byte("Q new"), nil)
					const want = "write d.txt: a chunk at byte 0 arrived damaged 3 times (the file was sent 3 times): d.txt is unchanged"
					if err == nil || !strings.HasSuffix(err.Error(), want) {
						t.Errorf("upload damaged every time: %v; want it to end in %q", err, want)
					}
					c.mu.Lock()
					c.onWrite = nil
					c.mu.Unlock()
					if got, err := b.ReadFile(ctx, "d.txt", nil); err != nil || !bytes.Equal(got, data) {
						t.Errorf("after the failed upload d.txt = %q, %v; want it as it was", got, err)
					}
				}
			})
		}
	}
}
