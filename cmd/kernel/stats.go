package main

import (
	"bufio"
	"bytes"
	"log/slog"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
)

// logRuntimeStats logs one line at info level with what the process holds,
// for benchmarks and leak hunts, which send the statsSignal (SIGUSR1) and
// read stderr: no Jupyter message is needed and nothing runs otherwise.
// Sizes are in bytes; the rss* and threads fields are present only where
// /proc/self/status exists (Linux).
func logRuntimeStats(log *slog.Logger) {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"}, // live and not yet swept
		{Name: "/gc/heap/goal:bytes"},
		{Name: "/memory/classes/total:bytes"}, // all the runtime has mapped
	}
	metrics.Read(samples)
	attrs := []any{"goroutines", runtime.NumGoroutine()}
	for i, name := range []string{"heap_alloc", "heap_goal", "go_mapped"} {
		if samples[i].Value.Kind() == metrics.KindUint64 {
			attrs = append(attrs, name, samples[i].Value.Uint64())
		}
	}
	attrs = append(attrs, procStatus()...)
	log.Info("runtime stats", attrs...)
}

// procStatus returns resident memory and thread count from
// /proc/self/status as slog attributes, or nothing where it is missing.
func procStatus() []any {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil
	}
	fields := []struct{ key, name string }{
		{"VmRSS", "rss"}, {"RssAnon", "rss_anon"}, {"RssFile", "rss_file"}, {"Threads", "threads"},
	}
	var attrs []any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		for _, f := range fields {
			if string(k) != f.key {
				continue
			}
			num, unit, _ := bytes.Cut(bytes.TrimSpace(v), []byte(" "))
			n, err := strconv.ParseUint(string(num), 10, 64)
			if err != nil {
				break
			}
			if string(unit) == "kB" {
				n *= 1024
			}
			attrs = append(attrs, f.name, n)
		}
	}
	return attrs
}
