package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// serveResult is what a serving cell's requests got.
type serveResult struct {
	answers [][]byte
	err     error
}

// check returns why the answers are not what s expects, or "".
func (r serveResult) check(s Serve) string {
	if r.err != nil {
		return "iot.serve: " + r.err.Error()
	}
	if len(r.answers) != len(s.Paths) {
		return fmt.Sprintf("iot.serve: %d of %d requests were answered", len(r.answers), len(s.Paths))
	}
	for i, want := range s.Expect {
		if i < len(r.answers) && !bytes.Contains(r.answers[i], []byte(want)) {
			return fmt.Sprintf("iot.serve: the answer to GET %s lacks %q: %q", s.Paths[i], want, truncate(r.answers[i], 200))
		}
	}
	return ""
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return append(b[:n:n], "..."...)
	}
	return b
}

// poke waits until the cell's server accepts connections, then sends each
// request in turn, as a person with a browser would. The first request is
// also the probe: a refused connection means the server is not up yet.
func poke(ctx context.Context, s Serve) ([][]byte, error) {
	if len(s.Paths) == 0 {
		s.Paths = []string{"/"}
	}
	host := s.Host
	if host == "" {
		host = "127.0.0.1"
	}
	addr := net.JoinHostPort(host, strconv.Itoa(s.Port))
	var answers [][]byte
	for {
		a, err := httpGet(ctx, addr, s.Paths[0])
		if err == nil {
			answers = append(answers, a)
			break
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return answers, err
		}
		select {
		case <-ctx.Done():
			return answers, fmt.Errorf("nothing listened on %s", addr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	for _, p := range s.Paths[1:] {
		a, err := httpGet(ctx, addr, p)
		if err != nil {
			return answers, err
		}
		answers = append(answers, a)
	}
	return answers, nil
}

// httpGet sends one HTTP/1.1 GET with fixed headers (a serving cell may
// print them, so they must not vary) and reads the answer to its end.
func httpGet(ctx context.Context, addr, path string) ([]byte, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: iot-kernel-replay\r\nAccept: */*\r\n\r\n", path, addr)
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		return b, fmt.Errorf("GET %s: %w", path, err)
	}
	return b, nil
}

// portLocks lets one serving cell at a time use a port, when notebooks
// replay on several boards at once.
type portLocks struct {
	mu    sync.Mutex
	ports map[int]*sync.Mutex
}

func (p *portLocks) lock(port int) func() {
	if p == nil {
		return func() {}
	}
	p.mu.Lock()
	if p.ports == nil {
		p.ports = map[int]*sync.Mutex{}
	}
	m := p.ports[port]
	if m == nil {
		m = new(sync.Mutex)
		p.ports[port] = m
	}
	p.mu.Unlock()
	m.Lock()
	return m.Unlock
}
