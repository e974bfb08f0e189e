package replay

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// listen starts a listener on a free loopback port and returns its port.
func listen(t *testing.T) (net.Listener, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, ln.Addr().(*net.TCPAddr).Port
}

// A server that speaks HTTP/1.1 as it should keeps a connection open
// after answering unless asked to close it: poke asks, and gets each
// answer at once (it waited for the whole cell timeout, then failed).
func TestPokeKeepAliveServer(t *testing.T) {
	ln, port := listen(t)
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "Hello from "+r.URL.Path) }))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	answers, err := poke(ctx, Serve{Host: "127.0.0.1", Port: port, Paths: []string{"/", "/b"}}, nil)
	if err != nil || len(answers) != 2 || !strings.HasSuffix(string(answers[1]), "\r\n\r\nHello from /b") {
		t.Fatalf("two GETs of a keep-alive server: %q, %v", answers, err)
	}
}

// A server that ignores Connection: close is read to the end of the body
// its Content-Length gives.
func TestPokeReadsContentLength(t *testing.T) {
	ln, port := listen(t)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					l, err := r.ReadString('\n')
					if err != nil || l == "\r\n" {
						break
					}
				}
				io.WriteString(conn, "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nHello")
				<-done // and the connection stays open
			}()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	answers, err := poke(ctx, Serve{Port: port, Paths: []string{"/"}}, nil)
	if err != nil || len(answers) != 1 || !strings.HasSuffix(string(answers[0]), "\r\n\r\nHello") {
		t.Fatalf("GET of a server that keeps the connection open: %q, %v", answers, err)
	}
}
