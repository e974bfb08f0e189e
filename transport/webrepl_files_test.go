package transport

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/testboard"
	"github.com/iot-kernel/iot-kernel/transport/webrepl"
)

// startWebREPLBoard starts a wasm test board behind a WebREPL server with
// password and returns the server's URL.
func startWebREPLBoard(t *testing.T, password string) string {
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
	return s.URL()
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
