package plot

import (
	"fmt"
	"testing"
)

// BenchmarkFeed is the cost of a line on the goroutine that reads the
// board: parse and store.
func BenchmarkFeed(b *testing.B) {
	var lines []byte
	for i := range 1000 {
		lines = append(lines, fmt.Sprintf("i:%d v:%d\r\n", i, i%100)...)
	}
	p := New(Config{})
	b.SetBytes(int64(len(lines)))
	b.ResetTimer()
	for range b.N {
		p.Write(lines)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "us/1000lines")
}

// BenchmarkFrame is the cost of one frame of a full window of two series.
func BenchmarkFrame(b *testing.B) {
	p := New(Config{})
	for i := range 2000 {
		fmt.Fprintf(p, "i:%d v:%d\n", i, i%100)
	}
	b.ResetTimer()
	for range b.N {
		p.Frame()
	}
}
