package cells

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
)

// Benchmarks of what a cell costs on the test boards, against the bare raw
// REPL exchange of the same code on a board of the same kind, measured in
// turns in the same run. Each prints "BENCH name value unit" lines; run
// them once each (make bench does):
//
//	go test ./cells -run '^$' -bench . -benchtime 1x
//
// The micro:bit runs paced like its 115200-baud UART (87 us a byte), so
// every byte sent to it counts.

func benchLine(b *testing.B, name string, v float64, unit string) {
	fmt.Printf("BENCH %s %.4g %s\n", name, v, unit)
	b.ReportMetric(v, unit)
}

// BenchmarkCellCost compares a print(1) cell with an empty cell plus the
// bare exchange of print(1): the target is print1 <= empty + 1.3 x raw,
// on both boards. The interpreter runs the cells as the kernel does, minus
// the Jupyter messages (the same for both cells).
func BenchmarkCellCost(b *testing.B) {
	for _, kind := range kinds {
		b.Run(string(kind), func(b *testing.B) {
			it, _ := connected(b, kind)
			bare := newBareREPL(b, startBoard(b, kind))
			cell := func(code, want string) func() time.Duration {
				return func() time.Duration {
					out := &kerneltest.Recorder{}
					start := time.Now()
					if _, err := run(b, it, code, out); err != nil || out.Stdout() != want {
						b.Fatalf("cell %q: %v %q", code, err, out.Stdout())
					}
					return time.Since(start)
				}
			}
			empty, print1 := cell("", ""), cell("print(1)", "1\n")
			raw := func() time.Duration {
				start := time.Now()
				if out, _ := bare.exec("print(1)"); out != "1\r\n" {
					b.Fatalf("bare exec: %q", out)
				}
				return time.Since(start)
			}
			for range 20 { // warm up
				empty()
				print1()
				raw()
			}
			const n = 300
			for range b.N {
				var es, ps, rs []time.Duration
				for i := range n {
					fns := []func(){func() { es = append(es, empty()) }, func() { ps = append(ps, print1()) }, func() { rs = append(rs, raw()) }}
					for j := range fns {
						fns[(i+j)%3]()
					}
				}
				e, p, r := trimmed(es), trimmed(ps), trimmed(rs)
				pre := "cells." + string(kind) + "."
				benchLine(b, pre+"empty_cell", float64(e.Microseconds()), "us")
				benchLine(b, pre+"print1_cell", float64(p.Microseconds()), "us")
				benchLine(b, pre+"raw_exchange", float64(r.Microseconds()), "us")
				// (print1 - empty) / raw: the target is <= 1.3.
				benchLine(b, pre+"print1_minus_empty_over_raw", float64(p-e)/float64(r), "x")
			}
		})
	}
}

// BenchmarkCellBytes reports the bytes each kind of cell sends to the
// board, against its own code: the target is at most code + 24.
func BenchmarkCellBytes(b *testing.B) {
	for _, kind := range kinds {
		b.Run(string(kind), func(b *testing.B) {
			it, sent, execs := countedInterp(b, kind)
			for range b.N {
				for _, code := range []string{"print(1)", "x = 21\nx * 2", "'a' + 'b'  # a comment", "1, 2", "for i in range(3):\n    print(i)"} {
					sent.Store(0)
					execs.Store(0)
					if _, err := run(b, it, code, &kerneltest.Recorder{}); err != nil {
						b.Fatalf("cell %q: %v", code, err)
					}
					name := strings.NewReplacer("\n", "_", " ", "", "'", "", "#", "", "(", "", ")", "", "=", "", "*", "", "+", "", ",", "").Replace(code)
					pre := "cells." + string(kind) + ".bytes_" + name
					benchLine(b, pre+"_overhead", float64(sent.Load()-int64(len(code))), "B")
					benchLine(b, pre+"_exchanges", float64(execs.Load()), "x")
				}
			}
		})
	}
}

func trimmed(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	s = s[len(s)/10 : len(s)-len(s)/10]
	var sum time.Duration
	for _, x := range s {
		sum += x
	}
	return sum / time.Duration(len(s))
}
