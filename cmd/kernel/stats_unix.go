//go:build unix

package main

import (
	"os"
	"syscall"
)

// statsSignals are the signals serve answers with logRuntimeStats.
func statsSignals() []os.Signal { return []os.Signal{syscall.SIGUSR1} }
