package kernel

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iot-kernel/iot-kernel/kernel/wire"
)

func TestReadConnectionFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := write("ok.json", `{"shell_port": 5001, "iopub_port": 5002, "stdin_port": 5003, "control_port": 5004,
		"hb_port": 5005, "ip": "127.0.0.1", "key": "s3cr3t-key", "transport": "tcp",
		"signature_scheme": "hmac-sha256", "kernel_name": "iot"}`)
	ci, err := ReadConnectionFile(p)
	if err != nil {
		t.Fatal(err)
	}
	want := ConnectionInfo{Transport: "tcp", IP: "127.0.0.1", ShellPort: 5001, IOPubPort: 5002, StdinPort: 5003,
		ControlPort: 5004, HBPort: 5005, Key: "s3cr3t-key", SignatureScheme: "hmac-sha256", KernelName: "iot"}
	if ci != want {
		t.Errorf("got %#v", ci)
	}
	// The key never shows in the ways a connection gets printed or logged.
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("conn", "conn", ci)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("conn", "conn", ci)
	for _, s := range []string{fmt.Sprint(ci), fmt.Sprintf("%+v %#v %s", ci, ci, ci), logs.String()} {
		if strings.Contains(s, "s3cr3t-key") {
			t.Errorf("key leaked: %s", s)
		}
	}

	def, err := ReadConnectionFile(write("defaults.json", `{"key": ""}`))
	if err != nil || def.Transport != "tcp" || def.IP != "127.0.0.1" || def.SignatureScheme != "hmac-sha256" {
		t.Errorf("defaults: %#v %v", def, err)
	}
	for name, body := range map[string]string{
		"bad.json":       `{"shell_port": `,
		"transport.json": `{"transport": "udp"}`,
		"scheme.json":    `{"key": "k", "signature_scheme": "hmac-md5"}`,
		"port.json":      `{"hb_port": 70000}`,
	} {
		if _, err := ReadConnectionFile(write(name, body)); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := ReadConnectionFile(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing file accepted")
	}
}

func TestIPCTransport(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, &fakeInterp{}, func(c *Config) {
		c.Conn = ConnectionInfo{Transport: "ipc", IP: filepath.Join(dir, "kernel"), ShellPort: 1, IOPubPort: 2, StdinPort: 3, ControlPort: 4, HBPort: 5, Key: testKey}
	}, nil)
	c := newClient(t, ts.ConnectionInfo())
	ctx := testCtx(t)
	c.waitReady(ctx)
	rep, _ := c.execute(ctx, map[string]any{"code": "1"})
	if r := content[wire.ExecuteReplyOK](t, rep); r.Status != "ok" {
		t.Errorf("execute over ipc: %+v", r)
	}
}
