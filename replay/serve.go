package replay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
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

// maxAnswer bounds what is kept of one answer to a serving cell's request.
const maxAnswer = 1 << 20

// poke waits until the cell's server accepts connections, then sends each
// request in turn, as a person with a browser would. The first request is
// also the probe: a refused connection means the server is not up yet,
// until the cell has ended (ended is closed): then it never will be.
func poke(ctx context.Context, s Serve, ended <-chan struct{}) ([][]byte, error) {
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
		case <-ended:
			return answers, fmt.Errorf("the cell ended before anything listened on %s", addr)
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
// print them, so they must not vary) and returns the answer, headers
// included. It asks the server to close the connection after answering,
// and stops reading at the end of a body whose length the server gave,
// for a server that keeps it open anyway. (net/http would fit, but the
// kernel keeps it out of its binary.)
func httpGet(ctx context.Context, addr, path string) ([]byte, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: iot-kernel-replay\r\nAccept: */*\r\nConnection: close\r\n\r\n", path, addr)
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	r := bufio.NewReader(io.LimitReader(conn, maxAnswer))
	var b []byte
	length := -1
	for {
		line, err := r.ReadString('\n')
		b = append(b, line...)
		if err != nil {
			return b, fmt.Errorf("GET %s: the answer's headers: %w", path, err)
		}
		h := strings.TrimRight(line, "\r\n")
		if h == "" {
			break
		}
		if k, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Content-Length") {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
				length = n
			}
		}
	}
	var body []byte
	if length >= 0 {
		body = make([]byte, min(length, maxAnswer-len(b)))
		n, err := io.ReadFull(r, body)
		body = body[:n]
		if err != nil {
			return append(b, body...), fmt.Errorf("GET %s: %w", path, err)
		}
	} else if body, err = io.ReadAll(r); err != nil {
		return append(b, body...), fmt.Errorf("GET %s: %w", path, err)
	}
	return append(b, body...), nil
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
