package rfc2217

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/iot-kernel/iot-kernel/transport/internal/neterr"
	"github.com/iot-kernel/iot-kernel/transport/internal/urlopt"
)

// DefaultBaud is the rate set when neither Options nor the URL name one.
const DefaultBaud = 115200

// negotiationTimeout bounds the TCP connect, and the option negotiation
// when ctx has no deadline of its own.
const negotiationTimeout = 5 * time.Second

// reofferEvery is how long an offer may go unanswered before it is made
// again during the negotiation.
const reofferEvery = time.Second

// Options tune the serial line behind the server.
type Options struct {
	// Baud is the line rate; 0 means DefaultBaud. A "?baud=" in the URL
	// takes precedence.
	Baud int
}

// Dial connects to the RFC 2217 server at rawURL ("rfc2217://host:port",
// optionally "?baud=N"), negotiates the telnet options and sets the line,
// and returns the byte stream to the board. ctx bounds the connection and
// the negotiation, not the life of the stream.
func Dial(ctx context.Context, rawURL string, opt Options) (io.ReadWriteCloser, error) {
	addr, baud, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	baud = urlopt.PickBaud(baud, opt.Baud, DefaultBaud)
	if baud < 0 || baud > 1<<32-1 {
		return nil, fmt.Errorf("rfc2217 %s: invalid baud rate %d", rawURL, baud)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*negotiationTimeout)
		defer cancel()
	}
	for {
		d := net.Dialer{Timeout: negotiationTimeout}
		tcp, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, &neterr.Error{Err: err, Msg: fmt.Sprintf(
				"rfc2217 %s: cannot connect: %s; check the address, and that an RFC 2217 server (ser2net) serves the board there",
				rawURL, neterr.Reason(err))}
		}
		// ser2net may take a connection and say nothing, or answer all
		// but COM-PORT-OPTION, while it still ends the one before (seen
		// after a board was unplugged, and on a loaded machine): a new
		// connection is then answered. So an attempt that ran out of its
		// own bound is made again, within Dial's.
		actx, cancel := context.WithTimeout(ctx, attemptBound)
		c, err := open(actx, tcp, rawURL, uint32(baud))
		attemptOver := actx.Err() != nil
		cancel()
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil || !errors.Is(err, errSilent) && !attemptOver {
			return nil, err // not c: a nil *conn would make a non-nil interface
		}
	}
}

// attemptBound bounds one connection's negotiation; Dial tries again on a
// server that did not finish it in time, within its own bound.
const attemptBound = 2 * time.Second

// errSilent: the server answered none of the options offered.
var errSilent = errors.New("it answered none of the telnet options offered")

// open runs the negotiation on a connected stream; on failure it closes it.
func open(ctx context.Context, tcp net.Conn, url string, baud uint32) (*conn, error) {
	c := newConn(tcp, url, baud)
	if err := c.negotiate(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("rfc2217 %s: %w", url, err)
	}
	return c, nil
}

// parseURL returns the host:port to dial and the baud rate named in the
// URL (0 when none).
func parseURL(raw string) (addr string, baud int, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, quoted here already
		}
		return "", 0, fmt.Errorf("rfc2217: bad URL %q: %w", raw, err)
	}
	if u.Scheme != "rfc2217" {
		return "", 0, fmt.Errorf("rfc2217: URL %q does not start with rfc2217://", raw)
	}
	if u.Hostname() == "" || u.Port() == "" {
		return "", 0, fmt.Errorf("rfc2217: URL %q needs a host and a port, as in rfc2217://host:2217", raw)
	}
	baud, err = urlopt.Baud(u.Query())
	if err != nil {
		return "", 0, fmt.Errorf("rfc2217: bad URL %q: %w", raw, err)
	}
	return u.Host, baud, nil
}

// negotiate offers the options and waits until the server has accepted the
// line settings.
func (c *conn) negotiate(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, negotiationTimeout)
		defer cancel()
	}
	c.mu.Lock()
	var offer []byte
	for _, o := range []byte{optBinary, optSGA, optComPort} {
		c.us[o] = qWant
		offer = append(offer, cmdIAC, cmdWILL, o)
	}
	for _, o := range []byte{optBinary, optSGA} {
		c.them[o] = qWant
		offer = append(offer, cmdIAC, cmdDO, o)
	}
	c.mu.Unlock()
	c.reply(offer)
	// ser2net can miss an offer that comes as it sets up the port (seen
	// on a loaded machine): what is still unanswered is offered again. A
	// peer that did get it ignores the repeat (RFC 1143).
	again := time.NewTicker(reofferEvery)
	defer again.Stop()
	for {
		select {
		case <-c.settled:
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.negErr
		case <-c.done:
			return c.hungUp()
		case <-again.C:
			c.mu.Lock()
			var repeat []byte
			for _, o := range []byte{optBinary, optSGA, optComPort} {
				if c.us[o] == qWant {
					repeat = append(repeat, cmdIAC, cmdWILL, o)
				}
			}
			for _, o := range []byte{optBinary, optSGA} {
				if c.them[o] == qWant {
					repeat = append(repeat, cmdIAC, cmdDO, o)
				}
			}
			c.mu.Unlock()
			if len(repeat) > 0 {
				c.reply(repeat)
			}
			continue
		case <-ctx.Done():
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.us[optComPort] != qYes {
				why := ctx.Err()
				if c.us[optBinary] == qWant && c.us[optSGA] == qWant && c.us[optComPort] == qWant &&
					c.them[optBinary] == qWant && c.them[optSGA] == qWant {
					why = errSilent
				}
				return fmt.Errorf("the server did not agree to COM-PORT-OPTION (is it an RFC 2217 port, like ser2net's telnet(rfc2217) accepter?): %w", why)
			}
			return fmt.Errorf("the server did not acknowledge the line settings: %w", ctx.Err())
		}
	}
}

// saidMax bounds the text of a server's hang-up quoted in an error.
const saidMax = 200

// hungUp is the error of a server that closed the connection during the
// negotiation. Text it sent before is quoted: ser2net says "Port already
// in use" to a second client and hangs up, and the socket's error alone
// says nothing of it.
func (c *conn) hungUp() error {
	var said []byte
	buf := make([]byte, saidMax)
	for len(said) < saidMax {
		// The socket reader has queued all it read before it stopped.
		n, _ := c.in.ReadTimeout(buf[:saidMax-len(said)], 0)
		if n == 0 {
			break
		}
		said = append(said, buf[:n]...)
	}
	text := readable(said)
	switch {
	case text == "":
		return fmt.Errorf("the server closed the connection during option negotiation: %w", c.lostErr())
	case strings.Contains(strings.ToLower(text), "in use"):
		return fmt.Errorf("the server said %q and hung up (another client holds the port?)", text)
	}
	// What it said is why; the socket's error (a reset) adds nothing.
	return fmt.Errorf("the server said %q and hung up during option negotiation", text)
}

// readable is the printable text in b, its runs of other bytes (line
// ends, telnet leftovers) made single spaces.
func readable(b []byte) string {
	f := strings.FieldsFunc(strings.ToValidUTF8(string(b), " "), func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) })
	return strings.Join(f, " ")
}

// errRefused reports a server that declines RFC 2217.
var errRefused = errors.New("the server refused COM-PORT-OPTION (is it an RFC 2217 port, like ser2net's telnet(rfc2217) accepter?)")
