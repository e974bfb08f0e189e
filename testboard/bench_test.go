package testboard

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// BenchmarkStart measures a board's boot to its first prompt.
func BenchmarkStart(b *testing.B) {
	for _, kind := range []Kind{Microbit, Wasm} {
		b.Run(string(kind), func(b *testing.B) {
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				board, err := Start(ctx, kind, Options{})
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				_ = board.Close()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkExec measures a raw-REPL round trip of print(1).
func BenchmarkExec(b *testing.B) {
	for _, kind := range []Kind{Microbit, Wasm} {
		b.Run(string(kind), func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			board, err := Start(ctx, kind, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer board.Close()
			f, err := OpenRaw(board.Path())
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			r := &rawREPL{w: f, next: func(context.Context) ([]byte, error) {
				buf := make([]byte, 4096)
				n, err := f.Read(buf)
				return buf[:n], err
			}}
			if err := r.enter(ctx); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if out, err := r.exec(ctx, "print(1)"); err != nil || out != "1\r\n" {
					b.Fatalf("exec: %q, %v", out, err)
				}
			}
		})
	}
}

// BenchmarkWebREPLPut measures a 64 KB WebREPL PUT on the wasm board, the
// server's side of a transfer (no client library).
func BenchmarkWebREPLPut(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	board, err := Start(ctx, Wasm, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer board.Close()
	s, err := StartWebREPL(ctx, board, "pw")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c, _, err := websocket.Dial(ctx, s.URL(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseNow()
	read := func() []byte {
		_, msg, err := c.Read(ctx)
		if err != nil {
			b.Fatal(err)
		}
		return msg
	}
	read() // Password:
	if err := c.Write(ctx, websocket.MessageText, []byte("pw\r")); err != nil {
		b.Fatal(err)
	}
	read() // WebREPL connected
	data := make([]byte, 64*1024)
	hdr := make([]byte, 82)
	copy(hdr, "WA")
	hdr[2] = 1
	binary.LittleEndian.PutUint32(hdr[12:], uint32(len(data)))
	binary.LittleEndian.PutUint16(hdr[16:], 5)
	copy(hdr[18:], "b.bin")
	for b.Loop() {
		if err := c.Write(ctx, websocket.MessageBinary, hdr); err != nil {
			b.Fatal(err)
		}
		if r := read(); string(r) != "WB\x00\x00" {
			b.Fatalf("PUT header answered %q", r)
		}
		for off := 0; off < len(data); off += 1024 {
			if err := c.Write(ctx, websocket.MessageBinary, data[off:off+1024]); err != nil {
				b.Fatal(err)
			}
		}
		if r := read(); string(r) != "WB\x00\x00" {
			b.Fatalf("PUT answered %q", r)
		}
	}
	b.SetBytes(int64(len(data)))
}
