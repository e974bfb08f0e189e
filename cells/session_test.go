package cells

import (
	"bytes"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer a logger can write from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A password in the board a notebook starts on, the devices file's
// default: or the pinned board, shows neither in the notebook nor in the
// log.
func TestReattachShowsNoPassword(t *testing.T) {
	const secret = "hunter2"
	for _, tt := range []struct {
		name, devices, pin, want string
	}{
		{name: "default", devices: "default: ws://:" + secret + "@127.0.0.1:9\n", want: "devices.yaml:1: default: a board URL must not hold a password"},
		{name: "pinned", pin: "ws://me:" + secret + "@127.0.0.1:9", want: "ws://***@127.0.0.1:9"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, cfg := newInterp(t)
			var log syncBuffer
			cfg.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
			cfg.Board = tt.pin
			if tt.devices != "" {
				if err := os.WriteFile(cfg.DevicesPath, []byte(tt.devices), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			it := New(cfg)
			shutdownAtEnd(t, it)
			ee, out := execError(t, it, "1+1")
			shown := ee.Value + strings.Join(ee.Traceback, "\n") + out.Stdout() + out.Stderr()
			if strings.Contains(shown, secret) {
				t.Errorf("the notebook shows the password: %s", shown)
			}
			if !strings.Contains(shown, tt.want) {
				t.Errorf("the error does not say %q: %s", tt.want, shown)
			}
			if strings.Contains(log.String(), secret) {
				t.Errorf("the log shows the password:\n%s", log.String())
			}
		})
	}
}
