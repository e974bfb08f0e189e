package transport

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Kind is the kind of link a board address names.
type Kind int

// The kinds of link.
const (
	KindSerial  Kind = iota + 1 // a serial port (USB or UART)
	KindWebREPL                 // WebREPL over a websocket
	KindRFC2217                 // a serial port served over TCP (ser2net)
	KindSim                     // a virtual board: a child process (package sim)
)

func (k Kind) String() string {
	switch k {
	case KindSerial:
		return "serial"
	case KindWebREPL:
		return "webrepl"
	case KindRFC2217:
		return "rfc2217"
	case KindSim:
		return "sim"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Address is a parsed board address.
type Address struct {
	// URL is the address as written, without surrounding space. It may
	// hold a password (ws://:PASSWORD@host/): show SafeURL(URL).
	URL  string
	Kind Kind
	// Target is what the address points at: the device path of a serial
	// port ("auto" for the first board-like port), host[:port] of a
	// network board (without user info), the name of a virtual board.
	Target string
}

// Network reports whether the board is reached over the network.
func (a Address) Network() bool { return a.Kind == KindWebREPL || a.Kind == KindRFC2217 }

// TakesPassword reports whether the link logs in with a password (WebREPL).
func (a Address) TakesPassword() bool { return a.Kind == KindWebREPL }

// Name is the name a board known only by its address goes by: the last
// element of a serial path, the host of a network URL, the name of a
// virtual board ("/dev/ttyACM0" → "ttyACM0", "ws://10.0.0.2:8266" →
// "10.0.0.2", "sim:esp32" → "esp32").
func (a Address) Name() string {
	switch a.Kind {
	case KindSerial:
		if i := strings.LastIndexByte(a.Target, '/'); i >= 0 && i+1 < len(a.Target) {
			return a.Target[i+1:]
		}
	case KindWebREPL, KindRFC2217:
		host := a.Target
		if strings.HasPrefix(host, "[") { // [::1]:8266
			if end := strings.IndexByte(host, ']'); end > 0 {
				return host[1:end]
			}
		}
		if h, _, ok := strings.Cut(host, ":"); ok && h != "" {
			return h
		}
	}
	if a.Target == "" {
		return a.URL
	}
	return a.Target
}

// key is what two addresses of the same board have in common.
func (a Address) key() string {
	switch a.Kind {
	case KindSerial:
		return "serial:" + a.Target
	case KindSim:
		return "sim:" + a.Target
	}
	return strings.TrimSuffix(SafeURL(a.URL), "/") // the password does not make another board
}

// SafeURL is url without the user info of a network address
// (ws://:PASSWORD@host/ gives ws://host/), to show and to log; anything
// else is returned as it is.
func SafeURL(url string) string {
	for _, p := range []string{"ws://", "wss://", "rfc2217://"} {
		if rest, ok := strings.CutPrefix(url, p); ok {
			return p + withoutUserInfo(rest)
		}
	}
	return url
}

// withoutUserInfo removes "user:password@" from the start of s, a URL
// after its "scheme://".
func withoutUserInfo(s string) string {
	end := strings.IndexAny(s, "/?#")
	if end < 0 {
		end = len(s)
	}
	if at := strings.LastIndexByte(s[:end], '@'); at >= 0 {
		return s[at+1:]
	}
	return s
}

// ErrNotAddress is wrapped by ParseAddress's error for a word that is not
// written as any board address (it may be a name in the devices file).
var ErrNotAddress = errors.New("not a board address")

// scheme is one row of the table of board addresses.
type scheme struct {
	kind Kind
	// parse recognises s (already trimmed) and returns its target; ok is
	// false when s is not of this scheme at all, err set when it is but
	// is malformed.
	parse func(s string) (target string, ok bool, err error)
}

// SimDefaultName is the name of the virtual board `sim` stands for.
const SimDefaultName = "sim"

var (
	comPort = regexp.MustCompile(`^(?i)com\d+$`)
	simName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
)

// schemes is the one table of board addresses: every package that needs
// to know what an address is asks it, through ParseAddress.
var schemes = []scheme{
	{KindSerial, func(s string) (string, bool, error) {
		switch {
		case s == "auto", strings.HasPrefix(s, "/"), strings.HasPrefix(s, "./"), strings.HasPrefix(s, "../"),
			comPort.MatchString(s):
			return s, true, nil
		}
		rest, ok := strings.CutPrefix(s, "serial://")
		if !ok {
			return "", false, nil
		}
		path, _, _ := strings.Cut(rest, "?") // serial:///dev/ttyUSB0?baud=9600
		if path == "" {
			return "", true, errors.New("serial:// needs a device path (serial:///dev/ttyUSB0)")
		}
		return path, true, nil
	}},
	{KindWebREPL, hostScheme("ws://", "wss://")},
	{KindRFC2217, hostScheme("rfc2217://")},
	{KindSim, func(s string) (string, bool, error) {
		if s == "sim" {
			return SimDefaultName, true, nil
		}
		name, ok := strings.CutPrefix(s, "sim:")
		if !ok {
			return "", false, nil
		}
		if !simName.MatchString(name) {
			return "", true, fmt.Errorf("%q: a virtual board's name is letters, digits, '.', '-' or '_' (sim:esp32)", s)
		}
		return name, true, nil
	}},
}

// hostScheme recognises URLs with one of prefixes and takes their host.
func hostScheme(prefixes ...string) func(string) (string, bool, error) {
	return func(s string) (string, bool, error) {
		for _, p := range prefixes {
			rest, ok := strings.CutPrefix(s, p)
			if !ok {
				continue
			}
			host, _, _ := strings.Cut(withoutUserInfo(rest), "/")
			if host == "" {
				return "", true, fmt.Errorf("%s needs a host (%shost:port)", p, p)
			}
			return host, true, nil
		}
		return "", false, nil
	}
}

// addressForms is what the table accepts, for error messages.
const addressForms = "a serial port (/dev/..., serial://..., COMn, auto), ws:// (WebREPL), rfc2217://host:port, or sim / sim:NAME (a virtual board)"

// ParseAddress looks s up in the table of board addresses. A word that is
// none of them gives an error wrapping ErrNotAddress; a URL of an unknown
// scheme or a malformed address, an error saying what is wrong.
func ParseAddress(s string) (Address, error) {
	s = strings.TrimSpace(s)
	for _, sc := range schemes {
		target, ok, err := sc.parse(s)
		if err != nil {
			return Address{}, err
		}
		if ok {
			return Address{URL: s, Kind: sc.kind, Target: target}, nil
		}
	}
	if strings.Contains(s, "://") || strings.HasPrefix(s, "sim") && strings.Contains(s, ":") {
		return Address{}, fmt.Errorf("%q: unknown kind of board address (want %s)", s, addressForms)
	}
	return Address{}, fmt.Errorf("%q: %w (want %s)", s, ErrNotAddress, addressForms)
}

// IsAddress reports whether s is written as a board address of the table
// (rather than, say, the name of a board in the devices file).
func IsAddress(s string) bool {
	_, err := ParseAddress(s)
	return err == nil
}

// AddressKind returns the kind of link url names, 0 when it names none.
func AddressKind(url string) Kind {
	a, err := ParseAddress(url)
	if err != nil {
		return 0
	}
	return a.Kind
}

// DefaultName is the name a board known only by its address goes by (see
// Address.Name); a string that is no address is its own name.
func DefaultName(url string) string {
	a, err := ParseAddress(url)
	if err != nil {
		return strings.TrimSpace(url)
	}
	return a.Name()
}

// SameAddress reports whether two addresses name the same board: a bare
// serial path equals its serial:// URL, sim is sim:sim, and a trailing
// slash does not count.
func SameAddress(a, b string) bool {
	pa, erra := ParseAddress(a)
	pb, errb := ParseAddress(b)
	if erra != nil || errb != nil {
		return strings.TrimSuffix(strings.TrimSpace(a), "/") == strings.TrimSuffix(strings.TrimSpace(b), "/")
	}
	return pa.key() == pb.key()
}

// IsNetwork reports whether url names a board reached over the network
// (WebREPL or RFC 2217).
func IsNetwork(url string) bool {
	a, err := ParseAddress(url)
	return err == nil && a.Network()
}
