package sim_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/transport"
)

// Every address in these tests is on the loopback interface: the board's
// name lookups go through IOT_SIM_HOSTS to servers the test starts.

// hostsEnv is IOT_SIM_HOSTS for the map m.
func hostsEnv(t *testing.T, m map[string]string) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return "IOT_SIM_HOSTS=" + string(b)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// hostPort splits a server's "127.0.0.1:port".
func hostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(addr, "http://"), "https://"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return h, n
}

// execErr runs code and returns its output and the board's exception.
func (b *board) execErr(ctx context.Context, code string) (string, error) {
	var out syncBuf
	err := b.eng.Exec(ctx, code, transport.ExecOptions{Stdout: &out})
	return out.String(), err
}

// syncBuf collects output written from the engine's goroutine and says
// when a marker has arrived.
type syncBuf struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker string
	seen   chan struct{}
}

func newWatch(marker string) *syncBuf { return &syncBuf{marker: marker, seen: make(chan struct{})} }

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	if s.seen != nil && strings.Contains(s.buf.String(), s.marker) {
		close(s.seen)
		s.seen = nil
	}
	return len(p), nil
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// running is code started on the board that the test interrupts later.
type running struct {
	b      *board
	out    *syncBuf
	cancel context.CancelFunc
	done   chan struct{} // closed when the exec has returned err
	err    error
}

// run starts code and waits for marker in its output.
func (b *board) run(code, marker string) *running {
	b.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := newWatch(marker)
	seen := out.seen
	r := &running{b: b, out: out, cancel: cancel, done: make(chan struct{})}
	go func() {
		r.err = b.eng.Exec(ctx, code, transport.ExecOptions{Stdout: out})
		close(r.done)
	}()
	b.t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(opTimeout):
		}
	})
	select {
	case <-seen:
	case <-r.done:
		b.t.Fatalf("code ended before printing %q: %v; output %q", marker, r.err, out.String())
	case <-time.After(opTimeout):
		b.t.Fatalf("no %q within %v; output %q", marker, opTimeout, out.String())
	}
	return r
}

// wait waits for the code to end by itself and returns its error.
func (r *running) wait() error {
	r.b.t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(opTimeout):
		r.b.t.Fatalf("code did not end within %v; output %q", opTimeout, r.out.String())
		return nil
	}
}

// interrupt sends Ctrl-C (by cancelling the exec) and returns the board's
// exception, which must be a KeyboardInterrupt raised on line (of the
// code's own lines, 1-based; 0: anywhere).
func (r *running) interrupt(line int) *transport.BoardError {
	t := r.b.t
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(opTimeout):
		t.Fatalf("Ctrl-C did not stop the code within %v; output %q", opTimeout, r.out.String())
	}
	var be *transport.BoardError
	if !errors.As(r.err, &be) || be.Name != "KeyboardInterrupt" {
		t.Fatalf("after Ctrl-C got %v, want KeyboardInterrupt; output %q", r.err, r.out.String())
	}
	if line > 0 {
		want := fmt.Sprintf(`File "<stdin>", line %d,`, line)
		if !strings.Contains(strings.Join(be.Traceback, "\n"), want) {
			t.Errorf("KeyboardInterrupt not raised in line %d: traceback %q", line, be.Traceback)
		}
	}
	return be
}

// use makes b's helpers report to t (a subtest) until the function it
// returns is called.
func (b *board) use(t *testing.T) func() {
	prev := b.t
	b.t = t
	return func() { b.t = prev }
}

// lineOf is the 1-based number of the first line of code containing s.
func lineOf(t *testing.T, code, s string) int {
	t.Helper()
	for i, l := range strings.Split(code, "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%q not in code", s)
	return 0
}

// row is one table case: code run on the board and its exact output.
type row struct {
	name string
	code string
	want string
}

func runRows(t *testing.T, b *board, rows []row) {
	t.Helper()
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			defer b.use(t)()
			got, err := b.execErr(b.ctx(), r.code)
			if err != nil {
				t.Fatalf("%v; output %q", err, got)
			}
			if got != r.want {
				t.Errorf("output\n%q\nwant\n%q", got, r.want)
			}
		})
	}
}

// echoServer accepts TCP connections on loopback and echoes each line
// back prefixed by "echo:"; it ends with the test.
func echoServer(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(opTimeout))
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, "echo:"+line); err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

func TestNetSocket(t *testing.T) {
	echo := echoServer(t)
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close() })
	go func() { // a UDP echo
		buf := make([]byte, 2048)
		for {
			n, from, err := udp.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = udp.WriteTo(append([]byte("u:"), buf[:n]...), from)
		}
	}()
	udpPort := udp.LocalAddr().(*net.UDPAddr).Port
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	busyPort := busy.Addr().(*net.TCPAddr).Port
	refused := freePort(t)
	boardPort := freePort(t)

	b := start(t, env{more: []string{hostsEnv(t, map[string]string{
		"echo.test":         fmt.Sprintf("127.0.0.1:%d", echo),
		"udp.test:7":        fmt.Sprintf("127.0.0.1:%d", udpPort),
		"plain.test":        "127.0.0.1",
		"google.com:80":     "127.0.0.1:18080",
		"other.example:443": "127.0.0.2",
	})}})
	runRows(t, b, []row{
		{"getaddrinfo mapped name and port", `import socket
print(socket.getaddrinfo('google.com', 80))`,
			"[(2, 1, 0, 'google.com', ('127.0.0.1', 18080))]\r\n"},
		{"getaddrinfo mapped name, same port", `print(socket.getaddrinfo('plain.test', 1234))`,
			"[(2, 1, 0, 'plain.test', ('127.0.0.1', 1234))]\r\n"},
		{"getaddrinfo name:port key only for that port", `print(socket.getaddrinfo('other.example', 443)[0][-1], socket.getaddrinfo('localhost', 80)[0][-1])`,
			"('127.0.0.2', 443) ('127.0.0.1', 80)\r\n"},
		{"getaddrinfo address and type", `print(socket.getaddrinfo('0.0.0.0', 8080), socket.getaddrinfo('127.0.0.1', 53, 0, socket.SOCK_DGRAM))`,
			"[(2, 1, 0, '0.0.0.0', ('0.0.0.0', 8080))] [(2, 2, 0, '127.0.0.1', ('127.0.0.1', 53))]\r\n"},
		{"tcp client: send, recv, readline, read, readinto", `s = socket.socket()
s.connect(socket.getaddrinfo('echo.test', 1)[0][-1])
print(s.send(b'one\n'), s.readline())
s.sendall(b'two\nthree\n')
print(s.read(9), s.read(5), s.readline())
s.write(b'four\n')
buf = bytearray(12)
print(s.readinto(buf, 10), buf)
s.write('five\n')
print(s.recv(100))
s.close()`,
			"4 b'echo:one\\n'\r\nb'echo:two\\n' b'echo:' b'three\\n'\r\n10 bytearray(b'echo:four\\n\\x00\\x00')\r\nb'echo:five\\n'\r\n"},
		{"makefile and a long line", `s = socket.socket()
s.connect(('echo.test', 0))
f = s.makefile('rwb', 0)
f.write(b'x' * 5000 + b'\n')
l = f.readline()
print(len(l), l[:7], l[-2:])
s.close()`,
			"5006 b'echo:xx' b'x\\n'\r\n"},
		{"tcp server on the board, client on the board", fmt.Sprintf(`srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('0.0.0.0', %d))
srv.listen(1)
c = socket.socket()
c.connect(('127.0.0.1', %d))
a, addr = srv.accept()
print(addr[0], type(addr[1]))
c.write(b'ping')
print(a.recv(4))
a.write(b'pong')
a.close()
print(c.read(), c.read())
c.close()
srv.close()`, boardPort, boardPort),
			"127.0.0.1 <class 'int'>\r\nb'ping'\r\nb'pong' b''\r\n"},
		{"close is a close both ways: the peer's sends fail", fmt.Sprintf(`srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('0.0.0.0', %d))
srv.listen(1)
c = socket.socket()
c.connect(('127.0.0.1', %d))
a, addr = srv.accept()
a.close()
srv.close()
import errno, time
failed = None
for i in range(50):
    try:
        c.send(b'x')
    except OSError as e:
        failed = e.errno in (errno.ECONNRESET, 32)  # 32: EPIPE, which errno lacks
        break
    time.sleep_ms(20)
print(failed, i < 25)
c.close()`, boardPort, boardPort),
			"True True\r\n"},
		{"udp sendto, recvfrom", `u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b'hello', socket.getaddrinfo('udp.test', 7)[0][-1])
d, a = u.recvfrom(100)
print(d, a[0])
u.close()`,
			"b'u:hello' 127.0.0.1\r\n"},
		{"timeout", `import errno
s = socket.socket()
s.connect(('echo.test', 0))
s.settimeout(0.2)
try:
    s.recv(10)
except OSError as e:
    print(e.errno == errno.ETIMEDOUT, e)
s.write(b'late\n')
print(s.readline())
s.close()`,
			"True [Errno 110] ETIMEDOUT\r\nb'echo:late\\n'\r\n"},
		{"non-blocking", `s = socket.socket()
s.connect(('echo.test', 0))
s.setblocking(False)
try:
    s.recv(10)
except OSError as e:
    print(e.errno == errno.EAGAIN)
print(s.read(10), s.readline())
s.setblocking(True)
s.write(b'x\n')
print(s.readline())
s.close()`,
			"True\r\nNone None\r\nb'echo:x\\n'\r\n"},
		{"EADDRINUSE", fmt.Sprintf(`for host in ('127.0.0.1', '0.0.0.0'):
    s = socket.socket()
    try:
        s.bind((host, %d))
    except OSError as e:
        print(e.errno == errno.EADDRINUSE, e)
    s.close()`, busyPort),
			"True [Errno 98] EADDRINUSE\r\nTrue [Errno 98] EADDRINUSE\r\n"},
		{"ECONNREFUSED", fmt.Sprintf(`s = socket.socket()
try:
    s.connect(('127.0.0.1', %d))
except OSError as e:
    print(e.errno == errno.ECONNREFUSED, e)
s.close()`, refused),
			"True [Errno 111] ECONNREFUSED\r\n"},
		{"bad addresses and kinds are refused, as on an ESP32", `for f in (lambda: socket.socket().connect('127.0.0.1:80'), lambda: socket.socket().bind('0.0.0.0'),
          lambda: socket.socket().connect(('127.0.0.1', '80')), lambda: socket.socket().connect(('127.0.0.1',)),
          lambda: socket.socket(99, 99), lambda: socket.socket(socket.AF_INET, 99)):
    try:
        f()
        print('accepted')
    except (TypeError, ValueError, OSError) as e:
        print(type(e).__name__, e)`,
			"TypeError object 'str' isn't a tuple or list\r\nTypeError object 'str' isn't a tuple or list\r\nTypeError can't convert str to int\r\nValueError requested length 2 but object has length 1\r\nOSError 97\r\nOSError [Errno 22] EINVAL\r\n"},
		{"closed socket", `s = socket.socket()
s.close()
try:
    s.connect(('127.0.0.1', 1))
except OSError as e:
    print(e.errno == errno.EBADF)`,
			"True\r\n"},
	})
}

func TestNetSelect(t *testing.T) {
	echo := echoServer(t)
	port := freePort(t)
	b := start(t, env{})
	runRows(t, b, []row{
		{"poll a listening socket", fmt.Sprintf(`import socket, select
srv = socket.socket()
srv.bind(('127.0.0.1', %d))
srv.listen(2)
p = select.poll()
p.register(srv, select.POLLIN)
print(p.poll(0), p.poll(30))
c = socket.socket()
c.connect(('127.0.0.1', %d))
r = p.poll(5000)
print(len(r), r[0][0] is srv, r[0][1] == select.POLLIN)
a, _ = srv.accept()
print(p.poll(0))`, port, port),
			"[] []\r\n1 True True\r\n[]\r\n"},
		{"poll data, writable, hangup", `p = select.poll()
p.register(a, select.POLLIN)
print(p.poll(0))
c.write(b'data')
r = p.poll(5000)
print(r[0][0] is a, r[0][1])
print(a.recv(10))
p.modify(a, select.POLLOUT)
print(p.poll(0)[0][1] == select.POLLOUT)
p.modify(a, select.POLLIN)
c.close()
print(p.poll(5000)[0][1] & select.POLLIN, a.recv(10))
p.unregister(a)
print(p.poll(0))
a.close()`,
			"[]\r\nTrue 1\r\nb'data'\r\nTrue\r\n1 b''\r\n[]\r\n"},
		{"ipoll one-shot", fmt.Sprintf(`s = socket.socket()
s.connect(('127.0.0.1', %d))
p = select.poll()
p.register(s, select.POLLIN)
s.write(b'hi\n')
for o, ev in p.ipoll(5000, 1):
    print(o is s, ev)
print(p.poll(0))
print(s.readline())`, echo),
			"True 1\r\n[]\r\nb'echo:hi\\n'\r\n"},
		{"select", `p.modify(s, select.POLLIN)
print(select.select([s], [], [], 0))
s.write(b'x\n')
r, w, x = select.select([s], [], [], 5)
print(r == [s], w, select.select([], [s], [], 0)[1] == [s])
s.close()
srv.close()`,
			"([], [], [])\r\nTrue [] True\r\n"},
	})
}

// tlsPair makes a self-signed certificate for name and 127.0.0.1, as DER.
func tlsPair(t *testing.T, name string) (certDER, keyDER []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	certDER, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err = x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return certDER, keyDER
}

func TestNetSSL(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "tls ok %s", r.URL.Path)
	}))
	// The cases that fail verification leave handshake errors behind.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port := hostPort(t, srv.URL)
	ca := hex.EncodeToString(srv.Certificate().Raw)
	certDER, keyDER := tlsPair(t, "board.test")
	boardPort := freePort(t)

	b := start(t, env{more: []string{hostsEnv(t, map[string]string{
		"secure.test": fmt.Sprintf("127.0.0.1:%d", port),
	})}})
	runRows(t, b, []row{
		{"wrap_socket without verification", `import socket, ssl
s = socket.socket()
s.connect(socket.getaddrinfo('secure.test', 443)[0][-1])
s = ssl.wrap_socket(s)
print(s)
s.write(b'GET /a HTTP/1.0\r\n\r\n')
r = s.read()
print(r.split(b'\r\n')[0], r.split(b'\r\n\r\n')[1])
s.close()`,
			"<SSLSocket>\r\nb'HTTP/1.0 200 OK' b'tls ok /a'\r\n"},
		{"CERT_REQUIRED without the CA fails", `s = socket.socket()
s.connect(('secure.test', 443))
try:
    ssl.wrap_socket(s, cert_reqs=ssl.CERT_REQUIRED)
except OSError as e:
    print(e)
s.close()`,
			"(-9984, 'MBEDTLS_ERR_X509_CERT_VERIFY_FAILED')\r\n"},
		{"CERT_REQUIRED with cadata and server_hostname", fmt.Sprintf(`CA = bytes.fromhex('%s')
s = socket.socket()
s.connect(('secure.test', 443))
s = ssl.wrap_socket(s, cert_reqs=ssl.CERT_REQUIRED, cadata=CA, server_hostname='example.com')
s.write(b'GET /b HTTP/1.0\r\n\r\n')
print(s.read().split(b'\r\n\r\n')[1])
s.close()`, ca),
			"b'tls ok /b'\r\n"},
		{"SSLContext: a wrong hostname fails", `ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
print(ctx.verify_mode == ssl.CERT_NONE)
ctx.verify_mode = ssl.CERT_REQUIRED
ctx.load_verify_locations(cadata=CA)
s = socket.socket()
s.connect(('secure.test', 443))
try:
    ctx.wrap_socket(s, server_hostname='wrong.test')
except OSError as e:
    print(e.args[0])
s.close()`,
			"True\r\n-9984\r\n"},
	})

	// The board as a TLS server, with a DER certificate and key, to a Go
	// client that verifies it.
	code := fmt.Sprintf(`import socket, ssl
CERT = bytes.fromhex('%s')
KEY = bytes.fromhex('%s')
srv = socket.socket()
srv.bind(('127.0.0.1', %d))
srv.listen(1)
print('ready')
for legacy in (False, True):
    c, _ = srv.accept()
    if legacy:
        c = ssl.wrap_socket(c, server_side=True, key=KEY, cert=CERT)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(CERT, KEY)
        c = ctx.wrap_socket(c, server_side=True)
    c.write(b'hi ' + c.readline())
    c.close()
srv.close()
print('done')`, hex.EncodeToString(certDER), hex.EncodeToString(keyDER), boardPort)
	t.Run("server side", func(t *testing.T) {
		defer b.use(t)()
		r := b.run(code, "ready")
		cert, err := x509.ParseCertificate(certDER)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(cert)
		for i := 0; i < 2; i++ {
			d := &net.Dialer{Timeout: opTimeout}
			c, err := tls.DialWithDialer(d, "tcp", fmt.Sprintf("127.0.0.1:%d", boardPort),
				&tls.Config{RootCAs: pool, ServerName: "board.test"})
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			_ = c.SetDeadline(time.Now().Add(opTimeout))
			fmt.Fprintf(c, "client %d\n", i)
			got, err := io.ReadAll(c)
			c.Close()
			if want := fmt.Sprintf("hi client %d\n", i); string(got) != want || err != nil {
				t.Errorf("connection %d: got %q, %v; want %q", i, got, err, want)
			}
		}
		if err := r.wait(); err != nil || !strings.Contains(r.out.String(), "done") {
			t.Errorf("board: %v; output %q", err, r.out.String())
		}
	})
}

func TestNetNetwork(t *testing.T) {
	port := freePort(t)
	b := start(t, env{name: "kitchen", more: []string{"IOT_SIM_IP=10.1.2.3"}})
	runRows(t, b, []row{
		{"station is connected", `import network, machine
w = network.WLAN(network.STA_IF)
print(w.active(), w.isconnected(), w.status() == network.STAT_GOT_IP)`,
			"True True True\r\n"},
		{"addresses", `print(w.ifconfig()[0], w.ipconfig('addr4'), network.WLAN(network.STA_IF).ifconfig() == w.ifconfig())`,
			"10.1.2.3 ('10.1.2.3', '255.255.255.0') True\r\n"},
		{"mac is the unique id", `m = w.config('mac')
print(len(m), m == machine.unique_id(), network.WLAN(network.AP_IF).config('mac') != m)`,
			"6 True True\r\n"},
		{"hostname", `print(network.hostname())
network.hostname('porch')
print(network.hostname(), w.config('hostname'))`,
			"mpy-kitchen\r\nporch porch\r\n"},
		{"connect, disconnect", `w.disconnect()
print(w.isconnected(), w.status() == network.STAT_IDLE)
w.connect('home', 'secret')
print(w.isconnected(), w.config('essid'))
w.active(False)
print(w.isconnected(), w.active())
w.active(True)
w.connect()
print(w.isconnected())`,
			"False True\r\nTrue home\r\nFalse False\r\nTrue\r\n"},
		{"the board's own address reaches its own server", fmt.Sprintf(`import socket
s = socket.socket()
s.bind(('0.0.0.0', %d))
s.listen(1)
c = socket.socket()
c.connect((w.ifconfig()[0], %d))  # 10.1.2.3 is this host: 127.0.0.1
a, addr = s.accept()
c.write(b'me')
print(a.recv(2), addr[0])
for x in (a, c, s):
    x.close()`, port, port),
			"b'me' 127.0.0.1\r\n"},
	})
}

func TestNetRequests(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/chunked":
			w.Write([]byte("part one, "))
			w.(http.Flusher).Flush() // no Content-Length: chunked
			w.Write([]byte("part two"))
		case "/redirect":
			http.Redirect(w, r, "/echo", http.StatusFound)
		case "/missing":
			http.Error(w, "nothing here", http.StatusNotFound)
		default:
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{
				"method": r.Method, "path": r.URL.Path, "body": string(body),
				"type": r.Header.Get("Content-Type"), "x": r.Header.Get("X-Test"),
				"te": strings.Join(r.TransferEncoding, ","),
			})
		}
	})
	plain := httptest.NewServer(handler)
	t.Cleanup(plain.Close)
	secure := httptest.NewTLSServer(handler)
	t.Cleanup(secure.Close)
	_, pp := hostPort(t, plain.URL)
	_, sp := hostPort(t, secure.URL)
	b := start(t, env{more: []string{hostsEnv(t, map[string]string{
		"api.test:80":  fmt.Sprintf("127.0.0.1:%d", pp),
		"api.test:443": fmt.Sprintf("127.0.0.1:%d", sp),
	})}})
	runRows(t, b, []row{
		{"get json", `import requests, urequests
r = requests.get('http://api.test/echo?q=1')
d = r.json()
print(r.status_code, d['method'], d['path'], r.headers['Content-Type'])`,
			"200 GET /echo application/json\r\n"},
		{"post json, headers", `r = requests.post('http://api.test/p', json={'a': [1, 2]}, headers={'X-Test': 'yes'})
d = r.json()
print(d['method'], d['body'], d['type'], d['x'])
r.close()`,
			"POST {\"a\": [1, 2]} application/json yes\r\n"},
		{"put data, delete, head", `print(requests.put('http://api.test/u', data=b'raw bytes').json()['body'])
print(requests.delete('http://api.test/d').json()['method'])
r = requests.head('http://api.test/h')
print(r.status_code, r.content)`,
			"raw bytes\r\nDELETE\r\n200 b''\r\n"},
		{"chunked body", `r = requests.get('http://api.test/chunked')
print(r.headers.get('Transfer-Encoding'), r.text)`,
			"chunked part one, part two\r\n"},
		{"status, redirect", `r = requests.get('http://api.test/missing')
print(r.status_code, r.reason, r.text)
print(requests.get('http://api.test/redirect').json()['path'])`,
			"404 b'Not Found' nothing here\r\n\r\n/echo\r\n"},
		{"https, urequests", `r = urequests.get('https://api.test/s')
print(r.status_code, r.json()['path'], len(r.content) > 0)`,
			"200 /s True\r\n"},
	})
}

// listenAddr finds the local address of the TCP listener on port in
// /proc/net/tcp (Linux), e.g. "0100007F" for 127.0.0.1.
func listenAddr(t *testing.T, port int) (string, bool) {
	t.Helper()
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	suffix := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[1], suffix) && f[3] == "0A" { // LISTEN
			return strings.TrimSuffix(f[1], suffix), true
		}
	}
	return "", false
}

// nonLoopback is one of this host's own IPv4 addresses outside
// 127.0.0.0/8, or nil.
func nonLoopback() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP
		}
	}
	return nil
}

func TestNetLoopbackOnly(t *testing.T) {
	for _, expose := range []bool{false, true} {
		t.Run(fmt.Sprintf("IOT_SIM_EXPOSE=%v", expose), func(t *testing.T) {
			var more []string
			if expose {
				more = append(more, "IOT_SIM_EXPOSE=1")
			}
			b := start(t, env{more: more})
			port := freePort(t)
			b.exec(fmt.Sprintf(`import socket
s = socket.socket()
s.bind(('0.0.0.0', %d))
s.listen(1)`, port))
			got, ok := listenAddr(t, port)
			want := "0100007F"
			if expose {
				want = "00000000"
			}
			if !ok || got != want {
				t.Fatalf("listener on port %d: address %q (found %v), want %q", port, got, ok, want)
			}
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), opTimeout)
			if err != nil {
				t.Fatalf("loopback connection: %v", err)
			}
			c.Close()
			if ip := nonLoopback(); ip != nil && !expose {
				// The host's own address: the connection never leaves the host.
				if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip.String(), strconv.Itoa(port)), opTimeout); err == nil {
					c.Close()
					t.Errorf("a bind to 0.0.0.0 is reachable on %v", ip)
				}
			}
			b.exec("s.close()")
		})
	}
}

// blackhole is a loopback listener whose backlog is full: a connect to it
// gets no answer. It returns its port.
func blackhole(t *testing.T) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	// Fill the accept queue (one connection with backlog 0).
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), opTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// Check that a further connect hangs.
	if c2, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond); err == nil {
		c2.Close()
		t.Skip("this host answers connects beyond a full backlog: no unanswered connect on loopback")
	}
	return port
}

func TestNetInterrupt(t *testing.T) {
	// A server that accepts and then says nothing: recv, readline and a
	// TLS handshake wait on it.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	var wg sync.WaitGroup
	t.Cleanup(func() {
		silent.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	_, sp := hostPort(t, silent.Addr().String())
	hole := blackhole(t)
	port := freePort(t)
	echo := echoServer(t)

	b := start(t, env{})
	b.exec(fmt.Sprintf(`import socket, select, ssl, time
srv = socket.socket()
srv.bind(('127.0.0.1', %d))
srv.listen(1)
c = socket.socket()
c.connect(('127.0.0.1', %d))`, port, sp))
	cases := []struct {
		name, code, call string
	}{
		{"accept", "print('ready')\nsrv.accept()", "srv.accept()"},
		{"recv", "print('ready')\nc.recv(10)", "c.recv(10)"},
		{"readline", "print('ready')\nc.readline()", "c.readline()"},
		{"read", "print('ready')\nc.read(10)", "c.read(10)"},
		{"poll", "p = select.poll()\np.register(c, select.POLLIN)\nprint('ready')\np.poll()", "p.poll()"},
		{"select", "print('ready')\nselect.select([c], [], [])", "select.select("},
		{"sleep", "print('ready')\ntime.sleep(30)", "time.sleep(30)"},
		{"connect without answer", fmt.Sprintf("h = socket.socket()\nprint('ready')\nh.connect(('127.0.0.1', %d))", hole), "h.connect("},
		{"TLS handshake", fmt.Sprintf("t = socket.socket()\nt.connect(('127.0.0.1', %d))\nprint('ready')\nssl.wrap_socket(t)", sp), "ssl.wrap_socket(t)"},
		{"send to a peer that does not read", fmt.Sprintf("w = socket.socket()\nw.connect(('127.0.0.1', %d))\nprint('ready')\nwhile True:\n    w.send(b'x' * 16384)", sp), ""},
		{"a loop of calls that never wait", fmt.Sprintf("e = socket.socket()\ne.connect(('127.0.0.1', %d))\nprint('ready')\nwhile True:\n    e.write(b'x\\n')\n    e.readline()", echo), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer b.use(t)()
			line := 0 // anywhere in a loop
			if tc.call != "" {
				line = lineOf(t, tc.code, tc.call)
			}
			b.run(tc.code, "ready").interrupt(line)
		})
	}
	t.Run("connect timeout", func(t *testing.T) {
		defer b.use(t)()
		got := b.exec(fmt.Sprintf(`import errno
h2 = socket.socket()
h2.settimeout(0.2)
try:
    h2.connect(('127.0.0.1', %d))
except OSError as e:
    print(e.errno == errno.ETIMEDOUT)
h2.close()`, hole))
		if got != "True\r\n" {
			t.Errorf("connect with a timeout to an unanswered address: %q", got)
		}
	})
	t.Run("state kept", func(t *testing.T) {
		defer b.use(t)()
		// The sockets interrupted above still work.
		go func() {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), opTimeout)
			if err == nil {
				_ = c.SetDeadline(time.Now().Add(opTimeout))
				_, _ = c.Write([]byte("after\n"))
				_, _ = io.ReadAll(c)
				c.Close()
			}
		}()
		got := b.exec(`a, _ = srv.accept()
print(a.readline())
a.close()
print(c)`)
		if !strings.HasPrefix(got, "b'after\\n'\r\n<socket") {
			t.Errorf("after the interrupts: %q", got)
		}
	})
}

// seedCells are the code cells of notebooks/sockets.ipynb, without their
// magic lines.
func seedCells(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../notebooks/sockets.ipynb")
	if err != nil {
		t.Fatal(err)
	}
	var nb struct {
		Cells []struct {
			Type   string          `json:"cell_type"`
			Source json.RawMessage `json:"source"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(data, &nb); err != nil {
		t.Fatal(err)
	}
	var cells []string
	for _, c := range nb.Cells {
		if c.Type != "code" {
			continue
		}
		var src string
		var lines []string
		if err := json.Unmarshal(c.Source, &lines); err == nil {
			src = strings.Join(lines, "")
		} else if err := json.Unmarshal(c.Source, &src); err != nil {
			t.Fatal(err)
		}
		var keep []string
		for _, l := range strings.Split(src, "\n") {
			if !strings.HasPrefix(l, "%") {
				keep = append(keep, l)
			}
		}
		cells = append(cells, strings.Join(keep, "\n"))
	}
	if len(cells) != 3 {
		t.Fatalf("sockets.ipynb has %d code cells, want 3", len(cells))
	}
	return cells
}

// TestNetSeedNotebook runs notebooks/sockets.ipynb's three cells unchanged,
// with google.com mapped to local servers.
func TestNetSeedNotebook(t *testing.T) {
	cells := seedCells(t)
	page := "<!doctype html><html>the search page</html>"
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, page)
	})
	plain := httptest.NewServer(handler)
	t.Cleanup(plain.Close)
	secure := httptest.NewTLSServer(handler)
	t.Cleanup(secure.Close)
	_, pp := hostPort(t, plain.URL)
	_, sp := hostPort(t, secure.URL)
	b := start(t, env{more: []string{hostsEnv(t, map[string]string{
		"google.com:80":  fmt.Sprintf("127.0.0.1:%d", pp),
		"google.com:443": fmt.Sprintf("127.0.0.1:%d", sp),
	})}})

	t.Run("http client", func(t *testing.T) {
		defer b.use(t)()
		got := b.exec(cells[0])
		want := fmt.Sprintf("Address information: [(2, 1, 0, 'google.com', ('127.0.0.1', %d))]\r\n\r\nResponse:\r\nHTTP/1.0 200 OK\r\n", pp)
		if !strings.HasPrefix(got, want) || !strings.HasSuffix(got, page+" ...\r\n") {
			t.Errorf("output\n%q\nwant it to start with\n%q\nand end with the page", got, want)
		}
	})

	t.Run("http server", func(t *testing.T) {
		defer b.use(t)()
		if l, err := net.Listen("tcp", "127.0.0.1:8080"); err != nil {
			t.Skipf("port 8080 is in use on this host: %v", err)
		} else {
			l.Close()
		}
		r := b.run(cells[1], "Listening, connect your browser to http://127.0.0.1:8080/")
		client := &http.Client{Timeout: opTimeout, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
		for i := 0; i < 2; i++ {
			resp, err := client.Get("http://127.0.0.1:8080/")
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := fmt.Sprintf("Hello #%d from MicroPython!\n", i); string(body) != want || err != nil {
				t.Errorf("request %d: %q, %v; want %q", i, body, err, want)
			}
		}
		// The Ctrl-C may come while the loop is still between requests (after
		// the response, before the next accept): anywhere in the loop.
		r.interrupt(0)
		out := r.out.String()
		if n := strings.Count(out, "b'GET / HTTP/1.1\\r\\n'"); n != 2 {
			t.Errorf("the board printed %d requests, want 2: %q", n, out)
		}
		// The finally clause closed the listening socket.
		if c, err := net.DialTimeout("tcp", "127.0.0.1:8080", opTimeout); err == nil {
			c.Close()
			t.Errorf("port 8080 still accepts connections after the KeyboardInterrupt")
		}
	})

	t.Run("tls client", func(t *testing.T) {
		defer b.use(t)()
		got := b.exec(cells[2])
		want := fmt.Sprintf("Address information: [(2, 1, 0, 'google.com', ('127.0.0.1', %d))]\r\n\r\nResponse:\r\nHTTP/1.0 200 OK\r\n", sp)
		if !strings.HasPrefix(got, want) || !strings.HasSuffix(got, page+"\r\n") {
			t.Errorf("output\n%q\nwant it to start with\n%q\nand end with the page", got, want)
		}
	})
}

func TestNetSoftResetClosesSockets(t *testing.T) {
	port := freePort(t)
	b := start(t, env{})
	bind := fmt.Sprintf(`import socket
s = socket.socket()
s.bind(('127.0.0.1', %d))
s.listen(1)
print('listening')`, port)
	if got := b.exec(bind); got != "listening\r\n" {
		t.Fatalf("bind: %q", got)
	}
	if err := b.eng.SoftReset(b.ctx(), nil); err != nil {
		t.Fatal(err)
	}
	// The old interpreter's listener is gone: the port is free again.
	if got := b.exec(bind); got != "listening\r\n" {
		t.Fatalf("bind after a soft reset: %q", got)
	}
}

func TestNetAsyncio(t *testing.T) {
	port := freePort(t)
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "async tls")
	}))
	t.Cleanup(secure.Close)
	_, sp := hostPort(t, secure.URL)
	b := start(t, env{})
	runRows(t, b, []row{
		{"server and clients over streams", fmt.Sprintf(`import asyncio
async def handler(r, w):
    while True:
        l = await r.readline()
        if not l:
            break
        w.write(b'echo:' + l)
        await w.drain()
    w.close()
    await w.wait_closed()

async def client(i):
    r, w = await asyncio.open_connection('127.0.0.1', %d)
    out = []
    for k in range(2):
        w.write(b'%%d-%%d\n' %% (i, k))
        await w.drain()
        out.append(await r.readline())
    w.close()
    return out

async def main():
    srv = await asyncio.start_server(handler, '0.0.0.0', %d)
    print(await asyncio.gather(client(1), client(2)))
    srv.close()
    await srv.wait_closed()
    return 'done'
print(asyncio.run(main()))`, port, port),
			"[[b'echo:1-0\\n', b'echo:1-1\\n'], [b'echo:2-0\\n', b'echo:2-1\\n']]\r\ndone\r\n"},
		{"wait_for, cancel, Event, Lock", `async def main():
    try:
        await asyncio.wait_for(asyncio.sleep(10), 0.05)
    except asyncio.TimeoutError:
        print('timeout')
    ev = asyncio.Event()
    async def setter():
        await asyncio.sleep_ms(10)
        ev.set()
    asyncio.create_task(setter())
    print(await ev.wait())
    lock = asyncio.Lock()
    order = []
    async def worker(n):
        async with lock:
            order.append(n)
            await asyncio.sleep_ms(5)
            order.append(n)
    await asyncio.gather(worker(1), worker(2))
    print(order)
    t = asyncio.create_task(asyncio.sleep(10))
    await asyncio.sleep_ms(5)
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        print('cancelled', t.done())
asyncio.run(main())`,
			"timeout\r\nTrue\r\n[1, 1, 2, 2]\r\ncancelled True\r\n"},
		{"tls stream", fmt.Sprintf(`async def main():
    r, w = await asyncio.open_connection('127.0.0.1', %d, ssl=True)
    w.write(b'GET / HTTP/1.0\r\n\r\n')
    await w.drain()
    print((await r.read()).split(b'\r\n\r\n')[1])
    w.close()
asyncio.run(main())`, sp),
			"b'async tls'\r\n"},
	})
	t.Run("Ctrl-C stops the loop", func(t *testing.T) {
		defer b.use(t)()
		code := fmt.Sprintf(`async def main():
    srv = await asyncio.start_server(handler, '127.0.0.1', %d)
    print('ready')
    await asyncio.sleep(60)
asyncio.run(main())`, port)
		b.run(code, "ready").interrupt(lineOf(t, code, "asyncio.run("))
		// The interrupted loop's server still answers, as on a board.
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), opTimeout)
		if err != nil {
			t.Fatalf("the server socket after Ctrl-C: %v", err)
		}
		c.Close()
	})
}

// A connect that fails (refused), then a connect on the same socket that
// succeeds: the second connection reads the server's reply, as on a board
// (the failed socket's late close made it read as ended).
func TestConnectAgainAfterARefusedConnect(t *testing.T) {
	b := start(t, env{})
	port := echoServer(t)
	dead := freePort(t)
	got := b.exec(fmt.Sprintf(`import socket, time
s = socket.socket()
try:
    s.connect(('127.0.0.1', %d))
except OSError as e:
    print('refused', e.errno)
time.sleep_ms(100)
s.connect(('127.0.0.1', %d))
s.settimeout(0.5)
try:
    print('got', repr(s.recv(64)))
except OSError as e:
    print('timeout', e.errno)
s.send(b'hi\n')
s.settimeout(2)
print(repr(s.recv(64)))
s.close()`, dead, port))
	if !strings.Contains(got, "echo:hi") || strings.Contains(got, "got b") {
		t.Fatalf("after a failed connect, the retried connection reads %q", got)
	}
}

// A UDP socket that only sends (never bound) is bound to loopback, as the
// board's listeners are, not to every interface of the host.
func TestUDPSendBindsToLoopback(t *testing.T) {
	b := start(t, env{})
	if got := b.exec(`import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b'x', ('127.0.0.1', 9))
print('sent')`); !strings.Contains(got, "sent") {
		t.Fatalf("sendto: %q", got)
	}
	// The bind is node's, a moment after the send: look for it, bounded.
	pid := b.cmd.Process.Pid
	var local []string
	for deadline := time.Now().Add(5 * time.Second); len(local) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		data, err := os.ReadFile("/proc/net/udp")
		if err != nil {
			t.Skipf("no /proc/net/udp: %v", err)
		}
		inodes := socketInodes(pid)
		for _, line := range strings.Split(string(data), "\n")[1:] {
			if f := strings.Fields(line); len(f) > 9 && inodes[f[9]] {
				local = append(local, f[1])
			}
		}
	}
	if len(local) == 0 {
		t.Fatalf("no UDP socket of the board's process (pid %d) found", pid)
	}
	for _, a := range local {
		if !strings.HasPrefix(a, "0100007F:") {
			t.Errorf("the board's UDP socket is bound to %s, not loopback, without IOT_SIM_EXPOSE", a)
		}
	}
	b.exec("u.close()")
}

func socketInodes(pid int) map[string]bool {
	m := map[string]bool{}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		l, err := os.Readlink(dir + "/" + e.Name())
		if err == nil && strings.HasPrefix(l, "socket:[") {
			m[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	return m
}
