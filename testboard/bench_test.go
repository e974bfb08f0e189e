package testboard

import (
	"context"
	"testing"
	"time"
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
	w := dialWebREPL(b, s)
	w.login("pw")
	data := make([]byte, 64*1024)
	for b.Loop() {
		if st := w.put("b.bin", data); st != 0 {
			b.Fatalf("PUT status %d", st)
		}
	}
	b.SetBytes(int64(len(data)))
}
