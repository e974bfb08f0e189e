package webrepl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/iot-kernel/iot-kernel/transport/internal/neterr"
	"github.com/iot-kernel/iot-kernel/transport/internal/ws"
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
	conn, err := ws.Dial(ctx, target, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("webrepl %s: cannot connect: %w", target, ctx.Err())
		}
		return nil, &neterr.Error{Err: err, Msg: fmt.Sprintf(
			"webrepl %s: cannot connect: %s; check the address, and that WebREPL runs on the board (import webrepl_setup)",
			target, neterr.Reason(err))}
	}
	rest, err := login(ctx, conn, password)
	if err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("webrepl %s: %w", target, err)
	}
	return newConn(conn, target, rest), nil
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
	if u.Scheme == "wss" {
		return "", "", errors.New("webrepl: wss:// (WebSocket over TLS) is not supported: MicroPython's WebREPL serves ws:// only; use ws://HOST:8266/")
	}
	if u.Scheme != "ws" {
		return "", "", fmt.Errorf("webrepl: URL scheme %q is not ws://", u.Scheme)
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

// login answers the password prompt and waits for the verdict. It returns
// what the board sent after its greeting (the ">>> " prompt).
func login(ctx context.Context, conn *ws.Conn, password string) ([]byte, error) {
	var got []byte
	for !bytes.HasSuffix(got, []byte(passwordPrompt)) {
		if err := readMore(ctx, conn, &got, "the password prompt"); err != nil {
			return nil, err
		}
	}
	if err := conn.Write(ctx, ws.Text, []byte(password+"\r")); err != nil {
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
		if err := readMore(ctx, conn, &got, "the login verdict"); err != nil {
			return nil, err
		}
	}
}

// readMore appends the next message to got, whatever its type.
func readMore(ctx context.Context, conn *ws.Conn, got *[]byte, waiting string) error {
	if len(*got) > loginMax {
		return fmt.Errorf("not a WebREPL: no %s in %q", waiting, clip(*got))
	}
	_, data, err := conn.Read(ctx)
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
