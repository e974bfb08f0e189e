package rfc2217

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/iot-kernel/iot-kernel/internal/testenv"
)

// startSer2net runs Debian's ser2net in front of the slave of a new pty
// and returns the pty master (the "board"), the slave and the rfc2217://
// URL.
func startSer2net(t *testing.T) (master, slave *os.File, url string) {
	t.Helper()
	bin, err := exec.LookPath("ser2net")
	if err != nil {
		testenv.SkipOrFail(t, "ser2net is not installed: %v", err)
	}
	master, slave, err = pty.Open()
	if err != nil {
		testenv.SkipOrFail(t, "no pty: %v", err)
	}
	t.Cleanup(func() { master.Close(); slave.Close() })

	// A free port; ser2net binds it a moment later.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	dir := t.TempDir()
	cfg := filepath.Join(dir, "ser2net.yaml")
	yaml := fmt.Sprintf("connection: &board\n  accepter: telnet(rfc2217),tcp,127.0.0.1,%d\n  connector: serialdev,%s,115200n81,local\n", port, slave.Name())
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-n", "-u", "-d", "-c", cfg, "-P", filepath.Join(dir, "ser2net.pid"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting ser2net: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(bound):
			cmd.Process.Kill()
			<-done
		}
	})

	// ser2net -d logs to its output; wait until the port accepts, bounded.
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(bound)
	var log []string // what ser2net said, for the failure message
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			// ser2net is still running: take what it has said so far,
			// without waiting for its output to end.
			t.Fatalf("ser2net never listened on %s: %v\n%s", addr, err, strings.Join(drain(lines, log), "\n"))
		}
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("ser2net exited: %v\n%s", cmd.Wait(), strings.Join(log, "\n"))
			}
			log = append(log, l)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return master, slave, "rfc2217://" + addr
}

// drain appends to log the lines already in ch, without blocking.
func drain(ch <-chan string, log []string) []string {
	for {
		select {
		case l, ok := <-ch:
			if !ok {
				return log
			}
			log = append(log, l)
		default:
			return log
		}
	}
}

// Through the real ser2net: negotiation succeeds and every byte value,
// 0xFF included, crosses both ways.
func TestSer2net(t *testing.T) {
	master, slave, url := startSer2net(t)
	rw := dialFake(t, url, Options{})
	if got := lineSpeed(t, slave); got != unix.B115200 {
		t.Errorf("line speed after Dial = %#o, want B115200", got)
	}

	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	msg := append(append([]byte("to board:"), all...), 0xFF, 0xFF, '\r', '\n')
	if _, err := rw.Write(msg); err != nil {
		t.Fatal(err)
	}
	if got := testenv.ReadFull(t, master, len(msg), bound); !bytes.Equal(got, msg) {
		t.Fatalf("board got\n%x\nwant\n%x", got, msg)
	}

	reply := append(append([]byte("from board:"), all...), 0xFF, '\r', 0, '\n')
	if _, err := master.Write(reply); err != nil {
		t.Fatal(err)
	}
	if got := testenv.ReadFull(t, rw, len(reply), bound); !bytes.Equal(got, reply) {
		t.Fatalf("client got\n%x\nwant\n%x", got, reply)
	}
}

// A second session asks for another rate, and ser2net sets it on the line.
func TestSer2netBaud(t *testing.T) {
	_, slave, url := startSer2net(t)
	dialFake(t, url+"?baud=9600", Options{})
	if got := lineSpeed(t, slave); got != unix.B9600 {
		t.Errorf("line speed = %#o, want B9600", got)
	}
}

func lineSpeed(t *testing.T, tty *os.File) uint32 {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatalf("reading the line settings: %v", err)
	}
	return tio.Cflag & unix.CBAUD
}

// A second client of a ser2net port is told "Port already in use" and
// hung up on: the error says so, not only that the connection dropped.
func TestSer2netPortInUse(t *testing.T) {
	_, _, url := startSer2net(t)
	dialFake(t, url, Options{})
	_, err := Dial(testCtx(t), url, Options{})
	if err == nil || !strings.Contains(err.Error(), `the server said "Port already in use"`) || !strings.Contains(err.Error(), "another client") {
		t.Fatalf("Dial of a port another client holds = %v", err)
	}
}
