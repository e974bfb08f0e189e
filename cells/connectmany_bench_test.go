package cells

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/sim"
)

// BenchmarkConnectMany times a %%connect cell that takes a second on each
// of eight virtual boards, at once and with --seq (target: at most 1.5 s
// at once). The boards are connected first, so only the cell is timed.
//
//	go test ./cells -run '^$' -bench ConnectMany -benchtime 1x
func BenchmarkConnectMany(b *testing.B) {
	if _, err := sim.FindRuntime(context.Background()); err != nil {
		b.Skipf("virtual board: %v", err)
	}
	it, _ := newInterp(b)
	var names []string
	for i := range 8 {
		names = append(names, fmt.Sprintf("sim:bench%d", i))
	}
	head := "%%connect " + strings.Join(names, " ")
	mustRunFor(b, it, head+"\npass", 2*time.Minute)
	for range b.N {
		for _, mode := range []string{"", " --seq"} {
			start := time.Now()
			out, _ := mustRunFor(b, it, strings.Replace(head, "%%connect", "%%connect"+mode, 1)+"\nimport time\ntime.sleep(1)\nprint('slept')", 2*time.Minute)
			wall := time.Since(start)
			for _, sec := range sections(b, out) {
				if !strings.HasSuffix(sec, "  done\nslept\n") {
					b.Fatalf("a board's section: %q", sec)
				}
			}
			name := "at_once"
			if mode != "" {
				name = "seq"
			}
			benchLine(b, "connect.sim8."+name+"_s", wall.Seconds(), "s")
		}
	}
}
