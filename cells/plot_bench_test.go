package cells

import (
	"context"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
	"github.com/iot-kernel/iot-kernel/testboard"
)

// timedOutput records, besides what a Recorder does, when each display
// came and, for stdout text holding "i:K", when line K came; and counts
// the bytes sent on.
type timedOutput struct {
	kerneltest.Recorder
	track    bool // look for "i:K" in stdout (costs CPU: only for the lag)
	mu       sync.Mutex
	arrived  map[int]time.Time // line index -> when its text came
	displays []timedDisplay
	bytes    int
}

type timedDisplay struct {
	at    time.Time
	lines int
}

var lineIndex = regexp.MustCompile(`i:(\d+)`)
var summaryLines = regexp.MustCompile(`^plot: (\d+) lines`)

func (o *timedOutput) Stream(name, text string) {
	now := time.Now()
	o.mu.Lock()
	o.bytes += len(text)
	if o.track {
		if ms := lineIndex.FindAllStringSubmatch(text, -1); len(ms) > 0 {
			k, _ := strconv.Atoi(ms[len(ms)-1][1])
			o.arrived[k] = now
		}
	}
	o.mu.Unlock()
	o.Recorder.Stream(name, text)
}

func (o *timedOutput) Display(data kernel.MIMEBundle, md map[string]any, id string, update bool) {
	now := time.Now()
	o.mu.Lock()
	for _, v := range data {
		if s, ok := v.(string); ok {
			o.bytes += len(s)
		}
	}
	if m := summaryLines.FindStringSubmatch(data["text/plain"].(string)); m != nil {
		n, _ := strconv.Atoi(m[1])
		o.displays = append(o.displays, timedDisplay{now, n})
	}
	o.mu.Unlock()
	o.Recorder.Display(data, md, id, update)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPlot: the wasm board printing as fast as it can, with and
// without %%plot, in turns: the board's output rate each way (the target
// is a plot costing at most 10% of it), the kernel's CPU per 1,000 lines,
// the bytes per second sent on to the front end, and (with --text, so the
// arrival of each line is seen) the lag from a line reaching the kernel to
// the first chart showing it.
func BenchmarkPlot(b *testing.B) {
	board := startBoard(b, testboard.Wasm)
	it, _ := newInterp(b)
	mustRun(b, it, "%connect -q "+board.Path())
	const lines = 50000
	body := "for i in range(" + strconv.Itoa(lines) + "):\n    print('i:%d v:%d' % (i, i % 100))"
	type result struct {
		dur, cpu time.Duration
		out      *timedOutput
	}
	cell := func(code string, track bool) result {
		out := &timedOutput{arrived: map[int]time.Time{}, track: track}
		c0, t0 := cpuTime(), time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := it.Execute(ctx, kernel.ExecuteRequest{Code: code, ExecutionCount: 1}, out); err != nil {
			b.Fatalf("cell: %v", err)
		}
		return result{time.Since(t0), cpuTime() - c0, out}
	}
	for range 3 { // warm up: the board runs faster for a while yet
		cell(body, false)
	}
	for range b.N {
		var plain, plotted []result
		// In pairs, which goes first alternating: the loss is the median
		// of the pairs' ratios, so that the machine's load and the board's
		// own speed, which drift, fall on both cells of a pair alike.
		for i := range 6 {
			if i%2 == 0 {
				plain = append(plain, cell(body, false))
				plotted = append(plotted, cell("%%plot\n"+body, false))
			} else {
				plotted = append(plotted, cell("%%plot\n"+body, false))
				plain = append(plain, cell(body, false))
			}
		}
		lag := cell("%%plot --text\n"+body, true).out
		med := func(rs []result, f func(result) float64) float64 {
			vs := make([]float64, len(rs))
			for i, r := range rs {
				vs[i] = f(r)
			}
			sort.Float64s(vs)
			return vs[len(vs)/2]
		}
		rate := func(r result) float64 { return lines / r.dur.Seconds() }
		cpuPerK := func(r result) float64 { return float64(r.cpu.Microseconds()) / (lines / 1000) }
		bps := func(r result) float64 { return float64(r.out.bytes) / r.dur.Seconds() }
		frames := func(r result) float64 { return float64(len(r.out.displays)) }
		pr, qr := med(plain, rate), med(plotted, rate)
		benchLine(b, "plot.wasm.lines_per_s_plain", pr, "lines/s")
		benchLine(b, "plot.wasm.lines_per_s_plot", qr, "lines/s")
		benchLine(b, "plot.wasm.rate_plot_over_plain", qr/pr, "x") // medians of each
		// the share of the board's output rate the plot costs: the target is
		// <= 0.10 (noise on a loaded machine can make it negative)
		ratios := make([]float64, len(plain))
		for i := range plain {
			ratios[i] = rate(plotted[i]) / rate(plain[i])
		}
		sort.Float64s(ratios)
		benchLine(b, "plot.wasm.rate_loss", 1-(ratios[len(ratios)/2-1]+ratios[len(ratios)/2])/2, "x")
		benchLine(b, "plot.wasm.cpu_per_1000_lines_plain", med(plain, cpuPerK), "us")
		benchLine(b, "plot.wasm.cpu_per_1000_lines_plot", med(plotted, cpuPerK), "us")
		benchLine(b, "plot.wasm.frontend_bytes_per_s_plain", med(plain, bps), "B/s")
		benchLine(b, "plot.wasm.frontend_bytes_per_s_plot", med(plotted, bps), "B/s")
		benchLine(b, "plot.wasm.frames_per_cell", med(plotted, frames), "x")
		// the ticker's frames a second, the final frame (when the cell
		// ends) left out: the target is <= 10
		benchLine(b, "plot.wasm.frames_per_s", med(plotted, func(r result) float64 { return (frames(r) - 1) / r.dur.Seconds() }), "x")
		var lags []time.Duration
		for _, d := range lag.displays {
			// the frame's newest line is i:(lines-1); the text that held
			// it came at or before the last arrival recorded up to it
			var at time.Time
			for k := d.lines - 1; k >= 0 && at.IsZero(); k-- {
				at = lag.arrived[k]
			}
			if !at.IsZero() {
				lags = append(lags, d.at.Sub(at))
			}
		}
		if len(lags) == 0 {
			b.Fatalf("no frame to measure the lag on (%d displays)", len(lag.displays))
		}
		sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
		benchLine(b, "plot.wasm.lag_median", float64(lags[len(lags)/2].Microseconds())/1000, "ms")
		benchLine(b, "plot.wasm.lag_max", float64(lags[len(lags)-1].Microseconds())/1000, "ms")
		if !strings.Contains(lag.Stdout(), "i:49999 ") {
			b.Fatal("--text lost lines")
		}
	}
}
