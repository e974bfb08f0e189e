package webrepl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/iot-kernel/iot-kernel/transport/internal/neterr"
)

// DefaultPort is WebREPL's TCP port.
const DefaultPort = "8266"

// ErrAccessDenied reports that the board refused the password.
var ErrAccessDenied = errors.New("wrong WebREPL password")

// ErrHungUp reports that the board closed the connection during the login:
// MicroPython's WebREPL takes one client at a time and hangs up on the
// others, saying nothing.
var ErrHungUp = errors.New("the board closed the connection during the login (is another WebREPL client connected?)")

// Texts of the login dialogue (extmod/modwebrepl.c).
const (
	passwordPrompt = "Password: "
	greeting       = "\r\nWebREPL connected\r\n"
	denied         = "Access denied"
	loginMax       = 4096 // bytes before a prompt that make it not a WebREPL

	// defaultTimeout bounds connecting and logging in when ctx has no
	// deadline of its own.
	defaultTimeout = 10 * time.Second
)

// Dial connects to the WebREPL at rawURL and logs in with password. ctx
// bounds the connection and the login, not the life of the returned Conn.
func Dial(ctx context.Context, rawURL, password string) (*Conn, error) {
	target, urlPassword, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if password == "" {
		password = urlPassword
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultTimeout)
		defer cancel()
	}
	// One transport per session, without proxies (boards are on the LAN),
	// remembering the TCP connection so that Close can always end it.
	var rec connRecorder
	tr := &http.Transport{DialContext: rec.dial}
	ws, _, err := websocket.Dial(ctx, target, &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: exactHeaders{tr}},
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("webrepl %s: cannot connect: %w", target, ctx.Err())
		}
		return nil, &neterr.Error{Err: err, Msg: fmt.Sprintf(
			"webrepl %s: cannot connect: %s; check the address, and that WebREPL runs on the board (import webrepl_setup)",
			target, neterr.Reason(err))}
	}
	ws.SetReadLimit(1 << 20)
	rest, err := login(ctx, ws, password)
	if err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("webrepl %s: %w", target, err)
	}
	return newConn(ws, rec.get(), target, rest), nil
}

// parseURL gives the ws:// URL to dial, with the default port and path
// filled in and any user info removed, and the password found in the user
// info.
func parseURL(raw string) (target, password string, err error) {
	if !strings.Contains(raw, "://") {
		raw = "ws://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url's errors quote the URL, which may hold a password.
		return "", "", errors.New("webrepl: malformed URL")
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return "", "", fmt.Errorf("webrepl: URL scheme %q is not ws:// or wss://", u.Scheme)
	}
	if u.Hostname() == "" {
		return "", "", errors.New("webrepl: URL has no host")
	}
	if u.User != nil {
		password, _ = u.User.Password()
		u.User = nil
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), DefaultPort)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u.String(), password, nil
}

// connRecorder dials TCP and remembers the connection.
type connRecorder struct {
	mu   sync.Mutex
	conn net.Conn
}

func (r *connRecorder) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err == nil {
		r.mu.Lock()
		r.conn = conn
		r.mu.Unlock()
	}
	return conn, err
}

func (r *connRecorder) get() net.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conn
}

// exactHeaders sends the WebSocket headers spelled as MicroPython's
// case-sensitive handshake expects them.
type exactHeaders struct{ base http.RoundTripper }

// RoundTrip renames the headers and hands the request to the base
// transport.
func (e exactHeaders) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for _, name := range []string{"Sec-WebSocket-Key", "Sec-WebSocket-Version"} {
		canonical := http.CanonicalHeaderKey(name)
		if v, ok := r.Header[canonical]; ok {
			delete(r.Header, canonical)
			r.Header[name] = v
		}
	}
	return e.base.RoundTrip(r)
}

// login answers the password prompt and waits for the verdict. It returns
// what the board sent after its greeting (the ">>> " prompt).
func login(ctx context.Context, ws *websocket.Conn, password string) ([]byte, error) {
	var got []byte
	for !bytes.HasSuffix(got, []byte(passwordPrompt)) {
		if err := readMore(ctx, ws, &got, "the password prompt"); err != nil {
			return nil, err
		}
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte(password+"\r")); err != nil {
		return nil, fmt.Errorf("sending the password: %w", err)
	}
	got = nil
	for {
		if i := bytes.Index(got, []byte(greeting)); i >= 0 {
			return got[i+len(greeting):], nil
		}
		if bytes.Contains(got, []byte(denied)) {
			return nil, ErrAccessDenied
		}
		if err := readMore(ctx, ws, &got, "the login verdict"); err != nil {
			return nil, err
		}
	}
}

// readMore appends the next message to got, whatever its type.
func readMore(ctx context.Context, ws *websocket.Conn, got *[]byte, waiting string) error {
	if len(*got) > loginMax {
		return fmt.Errorf("not a WebREPL: no %s in %q", waiting, clip(*got))
	}
	_, data, err := ws.Read(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for %s: %w", waiting, ctx.Err())
		}
		return fmt.Errorf("waiting for %s: %w (%v)", waiting, ErrHungUp, err)
	}
	*got = append(*got, data...)
	return nil
}

func clip(b []byte) []byte {
	if len(b) > 80 {
		return b[len(b)-80:]
	}
	return b
}
