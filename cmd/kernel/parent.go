package main

import (
	"log/slog"
	"os"
	"strconv"
)

// launcherPID returns the pid in JPY_PARENT_PID, which jupyter_client sets
// to the process that launched the kernel, or 0 when it is unset or not a
// pid; kernel.WatchParent then watches that process as well as the direct
// parent. Watching the launcher also catches a launcher that died before
// the kernel started watching, when the kernel was already reparented.
func launcherPID(log *slog.Logger) int {
	s := os.Getenv("JPY_PARENT_PID")
	if s == "" {
		return 0
	}
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 1 {
		log.Warn("ignoring JPY_PARENT_PID: not a process id", "value", s)
		return 0
	}
	return pid
}
