package hostkernel

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/iot-kernel/iot-kernel/kernel"
)

// newConnInfo picks five free loopback ports and a random key.
func newConnInfo() (*kernel.ConnectionInfo, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	// Hold all five listeners at once so the ports differ.
	var ports [5]int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		lns = append(lns, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return &kernel.ConnectionInfo{
		ShellPort: ports[0], IOPubPort: ports[1], StdinPort: ports[2], ControlPort: ports[3], HBPort: ports[4],
		IP: "127.0.0.1", Key: hex.EncodeToString(key), Transport: "tcp",
		SignatureScheme: "hmac-sha256", KernelName: "python3",
	}, nil
}

// writeConnInfo saves the connection file, readable by us only, in dir.
func writeConnInfo(ci *kernel.ConnectionInfo, dir string) (string, error) {
	b, err := json.MarshalIndent(ci, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kernel.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "", fmt.Errorf("write connection file: %w", err)
	}
	return path, nil
}

// tail logs the kernel process's output and keeps its last few KB for
// error messages.
type tail struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
}

const tailMax = 4096

func (t *tail) Write(p []byte) (int, error) {
	t.log.Debug("host kernel output", "text", string(p))
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailMax {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-tailMax:]...)
	}
	return len(p), nil
}

// reset forgets the output so far.
func (t *tail) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = t.buf[:0]
}

// suffix is ": " and the last lines of output, or "" when there were none.
func (t *tail) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return ":\n" + strings.Join(lines, "\n")
}

// errPortTaken marks a start that failed because another process took one
// of the kernel's ports between our pick and its bind.
var errPortTaken = errors.New("a port picked for the host kernel was taken by another process")

// portTaken reports whether one of ci's ports is bound by someone else
// now, asked of the system (EADDRINUSE), not read from the kernel's
// output.
func portTaken(ci *kernel.ConnectionInfo) bool {
	for _, port := range []int{ci.ShellPort, ci.IOPubPort, ci.StdinPort, ci.ControlPort, ci.HBPort} {
		l, err := net.Listen("tcp", net.JoinHostPort(ci.IP, strconv.Itoa(port)))
		if errors.Is(err, syscall.EADDRINUSE) {
			return true
		}
		if err == nil {
			l.Close()
		}
	}
	return false
}
