package kernel

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"

	"github.com/iot-kernel/iot-kernel/kernel/wire"
)

// ConnectionInfo is the content of a Jupyter connection file. A port of 0
// asks NewServer to pick a free port (tcp only); Server.ConnectionInfo
// reports the ports actually bound.
type ConnectionInfo struct {
	Transport       string `json:"transport"` // "tcp" or "ipc"
	IP              string `json:"ip"`
	ShellPort       int    `json:"shell_port"`
	IOPubPort       int    `json:"iopub_port"`
	StdinPort       int    `json:"stdin_port"`
	ControlPort     int    `json:"control_port"`
	HBPort          int    `json:"hb_port"`
	Key             string `json:"key"` // HMAC key; empty means unsigned
	SignatureScheme string `json:"signature_scheme"`
	KernelName      string `json:"kernel_name,omitempty"`
}

// ReadConnectionFile reads and checks a connection file.
func ReadConnectionFile(path string) (ConnectionInfo, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return ConnectionInfo{}, fmt.Errorf("read connection file: %w", err)
	}
	var ci ConnectionInfo
	if err := json.Unmarshal(b, &ci); err != nil {
		return ConnectionInfo{}, fmt.Errorf("parse connection file %s: %w", path, err)
	}
	if err := ci.validate(); err != nil {
		return ConnectionInfo{}, fmt.Errorf("connection file %s: %w", path, err)
	}
	return ci, nil
}

func (ci *ConnectionInfo) validate() error {
	if ci.Transport == "" {
		ci.Transport = "tcp"
	}
	if ci.Transport != "tcp" && ci.Transport != "ipc" {
		return fmt.Errorf("unsupported transport %q", ci.Transport)
	}
	if ci.IP == "" {
		ci.IP = "127.0.0.1"
	}
	if ci.SignatureScheme == "" {
		ci.SignatureScheme = "hmac-sha256"
	}
	if _, err := wire.NewSigner(ci.SignatureScheme, ci.Key); err != nil {
		return err
	}
	for _, p := range []int{ci.ShellPort, ci.IOPubPort, ci.StdinPort, ci.ControlPort, ci.HBPort} {
		if p < 0 || p > 65535 {
			return fmt.Errorf("port %d out of range", p)
		}
	}
	return nil
}

// String describes the connection without its key.
func (ci ConnectionInfo) String() string {
	return fmt.Sprintf("%s://%s shell=%d iopub=%d stdin=%d control=%d hb=%d scheme=%s signed=%t",
		ci.Transport, ci.IP, ci.ShellPort, ci.IOPubPort, ci.StdinPort, ci.ControlPort, ci.HBPort,
		ci.SignatureScheme, ci.Key != "")
}

// GoString keeps the key out of %#v as well.
func (ci ConnectionInfo) GoString() string { return "kernel.ConnectionInfo{" + ci.String() + "}" }

// LogValue keeps the key out of log records.
func (ci ConnectionInfo) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("transport", ci.Transport),
		slog.String("ip", ci.IP),
		slog.Int("shell_port", ci.ShellPort),
		slog.Int("iopub_port", ci.IOPubPort),
		slog.Int("stdin_port", ci.StdinPort),
		slog.Int("control_port", ci.ControlPort),
		slog.Int("hb_port", ci.HBPort),
		slog.String("signature_scheme", ci.SignatureScheme),
		slog.Bool("signed", ci.Key != ""),
	)
}
