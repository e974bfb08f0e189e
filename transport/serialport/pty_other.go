//go:build !linux

package serialport

import (
	"os"
	"time"
)

// isPTY is only needed on Linux, where the test boards are ptys; elsewhere
// open falls back to opening without modem lines when setting them fails.
func isPTY(string) bool { return false }

func devFDs(string) map[int]bool { return nil }

func newFD(string, map[int]bool) int { return -1 }

func waitWritable(_ int, d time.Duration) { time.Sleep(d) }

func pollable(int, string) *os.File { return nil }
