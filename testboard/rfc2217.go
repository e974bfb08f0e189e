package testboard

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// StartRFC2217 runs Debian's ser2net in front of the board's serial device,
// serving telnet with RFC 2217 (serial port control) on 127.0.0.1 at a free
// port. ser2net opens the device for each TCP client, through Path, so it
// follows the board across Kill and Restart: a client connected then loses
// its connection. It returns once ser2net listens, or fails when ctx ends
// first.
//
// A pty has no modem lines, so ser2net never answers SET-CONTROL (DTR,
// RTS); baud rate, data size, parity and stop size are answered. Clients
// must not wait for that answer: pyserial (and so mpremote) needs
// "?ign_set_control" appended to the URL, or its open times out.
func StartRFC2217(ctx context.Context, b *Board) (*Server, error) {
	bin := os.Getenv("IOT_SER2NET")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("ser2net"); err != nil {
			return nil, fmt.Errorf("rfc2217: ser2net not found (Debian package ser2net): %w", err)
		}
	}
	var lastErr error
	for range 3 { // the free port we picked may be taken before ser2net binds it
		s, err := startSer2net(ctx, b, bin)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func startSer2net(ctx context.Context, b *Board, bin string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("rfc2217: %w", err)
	}
	dir, err := os.MkdirTemp(b.dir, "ser2net-")
	if err != nil {
		return nil, fmt.Errorf("rfc2217: %w", err)
	}
	// kickolduser: a client that reconnects while its old connection lingers
	// gets the port, as with a local serial port.
	config := fmt.Sprintf(`connection: &board
  accepter: telnet(rfc2217),tcp,127.0.0.1,%d
  connector: serialdev,%s,115200n81,local
  options:
    kickolduser: true
`, port, b.Path())
	cfgPath := filepath.Join(dir, "ser2net.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		return nil, fmt.Errorf("rfc2217: %w", err)
	}
	log := b.log.With("server", "ser2net")
	out := &tailWriter{log: log, max: 4096}
	// -n: stay in the foreground; -u: no UUCP lock files in /var/lock.
	cmd := exec.Command(bin, "-n", "-u", "-c", cfgPath, "-P", filepath.Join(dir, "ser2net.pid"))
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("rfc2217: start ser2net: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		t := time.NewTimer(5 * time.Second)
		defer t.Stop()
		select {
		case <-exited:
		case <-t.C:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("rfc2217: %w", err)
		}
		return nil
	}
	// Wait until ser2net listens. Probing with a connection would open the
	// board, so watch the kernel's socket table instead.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := listening(port)
		if err != nil {
			_ = stop()
			return nil, fmt.Errorf("rfc2217: %w", err)
		}
		if ok {
			break
		}
		select {
		case err := <-exited:
			exited <- err
			_ = stop()
			return nil, fmt.Errorf("rfc2217: ser2net exited (%v): %s", err, out.String())
		case <-ctx.Done():
			_ = stop()
			return nil, fmt.Errorf("rfc2217: waiting for ser2net: %w", ctx.Err())
		case <-tick.C:
		}
	}
	url := "rfc2217://127.0.0.1:" + strconv.Itoa(port)
	log.Info("RFC 2217 listening", "url", url, "pid", cmd.Process.Pid)
	return &Server{url: url, close: stop}, nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		return 0, err
	}
	return port, nil
}

// listening tells whether some socket listens on 127.0.0.1:port, from
// /proc/net/tcp.
func listening(port int) (bool, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return false, err
	}
	defer f.Close()
	want := fmt.Sprintf("0100007F:%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// sl local_address rem_address st ...; st 0A is LISTEN.
		if len(fields) > 3 && fields[1] == want && fields[3] == "0A" {
			return true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, errors.Join(errors.New("read /proc/net/tcp"), err)
	}
	return false, nil
}
