package ws

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// wire is a net.Conn whose reads come from a fixed byte string and whose
// writes (pongs, close answers) go nowhere.
type wire struct {
	net.Conn // nil: the methods below are all that is used
	r        io.Reader
}

func (w *wire) Read(p []byte) (int, error)       { return w.r.Read(p) }
func (w *wire) Write(p []byte) (int, error)      { return len(p), nil }
func (w *wire) Close() error                     { return nil }
func (w *wire) SetDeadline(time.Time) error      { return nil }
func (w *wire) SetReadDeadline(time.Time) error  { return nil }
func (w *wire) SetWriteDeadline(time.Time) error { return nil }
func (w *wire) RemoteAddr() net.Addr             { return &net.TCPAddr{} }

// FuzzReadFrames feeds arbitrary bytes as a server's frames: reading ends
// (no hang, no panic), every message is within the limit, and an error
// ends the reading for good.
func FuzzReadFrames(f *testing.F) {
	f.Add([]byte("\x81\x02hi"))
	f.Add([]byte("\x02\x03one\x89\x00\x00\x03two\x80\x05three"))
	f.Add([]byte("\x82\x7e\x00\x10aaaaaaaaaaaaaaaa\x88\x02\x03\xe8"))
	f.Add([]byte("\x82\x7f\x00\x00\x00\x00\x00\x00\x00\x04abcd"))
	f.Fuzz(func(t *testing.T, in []byte) {
		nc := &wire{r: bytes.NewReader(in)}
		c := newConn(nc)
		c.SetReadLimit(64)
		total := 0
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				if _, _, again := c.Read(context.Background()); again == nil {
					t.Fatal("a Read after a failed one succeeded")
				}
				return
			}
			if len(data) > 64 {
				t.Fatalf("a message of %d bytes over the limit of 64", len(data))
			}
			if total += len(data); total > len(in) {
				t.Fatalf("%d bytes of messages from %d bytes of frames", total, len(in))
			}
		}
	})
}
