package sim_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/transport"
)

// BenchmarkSleepCPU reports the CPU a virtual board's process uses while
// Python sleeps for a second: time.sleep (the board's wait), and the
// port's own sleep for comparison (it polls the clock). Eight boards
// sleeping on two cores share what is left. Also a second of waiting for
// the next cell, with no timers: a board let go of waits so for hours.
//
//	go test ./sim -run '^$' -bench SleepCPU -benchtime 3x
func BenchmarkSleepCPU(bm *testing.B) {
	eng, pid := benchBoard(bm)
	if _, err := cpuTime(pid); err != nil {
		bm.Skipf("no CPU figures here: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := eng.Exec(ctx, "import time", transport.ExecOptions{}); err != nil {
		bm.Fatal(err)
	}
	for _, c := range []struct{ name, code string }{
		{"sleep0_", "time.sleep(0)"},
		{"sleep", "time.sleep(1)"},
		{"port_sleep", "time._t.sleep(1)"},
	} {
		var used time.Duration
		for range bm.N {
			before, _ := cpuTime(pid)
			ectx, ecancel := context.WithTimeout(context.Background(), opTimeout)
			err := eng.Exec(ectx, c.code, transport.ExecOptions{})
			ecancel()
			if err != nil {
				bm.Fatalf("%s: %v", c.code, err)
			}
			after, _ := cpuTime(pid)
			used += after - before
		}
		ms := float64(used.Microseconds()) / 1000 / float64(bm.N)
		fmt.Printf("BENCH sim.%s1s_cpu_ms %.4g ms\n", c.name, ms)
		bm.ReportMetric(ms, c.name+"_cpu_ms/s")
	}
	var idle time.Duration
	for range bm.N {
		before, _ := cpuTime(pid)
		time.Sleep(time.Second) // the window measured: nothing is waited for
		after, _ := cpuTime(pid)
		idle += after - before
	}
	ms := float64(idle.Microseconds()) / 1000 / float64(bm.N)
	fmt.Printf("BENCH sim.idle1s_cpu_ms %.4g ms\n", ms)
	bm.ReportMetric(ms, "idle_cpu_ms/s")
}

// cpuTime is the CPU time process pid's threads have used, from Linux's
// schedstat (nanoseconds, unlike stat's clock ticks).
func cpuTime(pid int) (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("no /proc/%d/task/*/schedstat", pid)
	}
	var total time.Duration
	for _, p := range tasks {
		data, err := os.ReadFile(p)
		if err != nil {
			continue // the thread ended
		}
		ns, err := strconv.ParseInt(strings.Fields(string(data))[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", p, err)
		}
		total += time.Duration(ns)
	}
	return total, nil
}
