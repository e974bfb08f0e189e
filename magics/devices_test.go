package magics

import (
	"fmt"
	"syscall"
	"testing"

	"github.com/iot-kernel/iot-kernel/transport/webrepl"
)

// %discover lists each network board's state in a few words.
func TestShortCause(t *testing.T) {
	for err, want := range map[error]string{
		fmt.Errorf("ws://10.0.0.2:8266: %w", webrepl.ErrAccessDenied):            "wrong or missing password",
		fmt.Errorf("dial tcp 127.0.0.1:1: connect: %w", syscall.ECONNREFUSED):    "connection refused",
		fmt.Errorf("ws://h: board not responding"):                               "board not responding",
		fmt.Errorf("webrepl ws://h: waiting for x: %w (EOF)", webrepl.ErrHungUp): "busy: another WebREPL client is connected",
	} {
		if got := shortCause(err); got != want {
			t.Errorf("shortCause(%v) = %q, want %q", err, got, want)
		}
	}
}
