package transport

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in      string
		kind    Kind
		target  string
		name    string
		network bool
		wantErr string // substring; "" means it parses
	}{
		{in: "/dev/ttyACM0", kind: KindSerial, target: "/dev/ttyACM0", name: "ttyACM0"},
		{in: "  /dev/ttyUSB1 ", kind: KindSerial, target: "/dev/ttyUSB1", name: "ttyUSB1"},
		{in: "./tty0", kind: KindSerial, target: "./tty0", name: "tty0"},
		{in: "serial:///dev/ttyUSB1?baud=9600", kind: KindSerial, target: "/dev/ttyUSB1", name: "ttyUSB1"},
		{in: "serial://COM4", kind: KindSerial, target: "COM4", name: "COM4"},
		{in: "COM3", kind: KindSerial, target: "COM3", name: "COM3"},
		{in: "com12", kind: KindSerial, target: "com12", name: "com12"},
		{in: "auto", kind: KindSerial, target: "auto", name: "auto"},
		{in: "ws://192.168.1.20:8266", kind: KindWebREPL, target: "192.168.1.20:8266", name: "192.168.1.20", network: true},
		{in: "ws://board.local/", kind: KindWebREPL, target: "board.local", name: "board.local", network: true},
		{in: "wss://[::1]:8266/", kind: KindWebREPL, target: "[::1]:8266", name: "::1", network: true},
		{in: "rfc2217://localhost:2217", kind: KindRFC2217, target: "localhost:2217", name: "localhost", network: true},
		// A password in the URL is no part of the board's name.
		{in: "ws://:s3cret@192.168.1.20:8266/", kind: KindWebREPL, target: "192.168.1.20:8266", name: "192.168.1.20", network: true},
		{in: "ws://me:s3cret@board.local", kind: KindWebREPL, target: "board.local", name: "board.local", network: true},
		{in: "sim", kind: KindSim, target: "sim", name: "sim"},
		{in: "sim:esp32", kind: KindSim, target: "esp32", name: "esp32"},
		{in: "sim:lab-2.b_c", kind: KindSim, target: "lab-2.b_c", name: "lab-2.b_c"},

		{in: "sim:", wantErr: "a virtual board's name is letters"},
		{in: "sim:../etc", wantErr: "a virtual board's name is letters"},
		{in: "sim:a/b", wantErr: "a virtual board's name is letters"},
		{in: "sim://x", wantErr: "a virtual board's name is letters"},
		{in: "ftp://x", wantErr: "unknown kind of board address"},
		{in: "ws://", wantErr: "ws:// needs a host"},
		{in: "rfc2217:///x", wantErr: "rfc2217:// needs a host"},
		{in: "serial://", wantErr: "serial:// needs a device path"},
		{in: "bench", wantErr: "not a board address"},
		{in: "simulator", wantErr: "not a board address"},
		{in: "COM", wantErr: "not a board address"},
		{in: "", wantErr: "not a board address"},
	}
	for _, tt := range tests {
		a, err := ParseAddress(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseAddress(%q) = %+v, %v; want an error with %q", tt.in, a, err, tt.wantErr)
			}
			if errors.Is(err, ErrNotAddress) != strings.Contains(tt.wantErr, "not a board address") {
				t.Errorf("ParseAddress(%q): errors.Is(ErrNotAddress) = %v", tt.in, errors.Is(err, ErrNotAddress))
			}
			if IsAddress(tt.in) || AddressKind(tt.in) != 0 {
				t.Errorf("%q is taken for an address", tt.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseAddress(%q): %v", tt.in, err)
			continue
		}
		if a.Kind != tt.kind || a.Target != tt.target || a.URL != strings.TrimSpace(tt.in) {
			t.Errorf("ParseAddress(%q) = %+v; want kind %v target %q", tt.in, a, tt.kind, tt.target)
		}
		if got := DefaultName(tt.in); got != tt.name {
			t.Errorf("DefaultName(%q) = %q, want %q", tt.in, got, tt.name)
		}
		if a.Network() != tt.network || IsNetwork(tt.in) != tt.network {
			t.Errorf("%q: Network = %v, want %v", tt.in, a.Network(), tt.network)
		}
		if a.TakesPassword() != (tt.kind == KindWebREPL) {
			t.Errorf("%q: TakesPassword = %v", tt.in, a.TakesPassword())
		}
	}
}

func TestSameAddress(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"/dev/ttyACM0", "serial:///dev/ttyACM0", true},
		{"/dev/ttyACM0", "serial:///dev/ttyACM0?baud=9600", true},
		{"/dev/ttyACM0", "/dev/ttyACM1", false},
		{"ws://h:8266/", "ws://h:8266", true},
		{"ws://h:8266", "ws://h:8267", false},
		{"ws://h:8266", "wss://h:8266", false},
		{"ws://:pw@h:8266/", "ws://h:8266", true}, // a password does not make another board
		{"ws://:pw@h:8266/", "ws://:other@h:8266/", true},
		{"sim", "sim:sim", true},
		{"sim:a", "sim:b", false},
		{"sim:a", "/dev/a", false},
		{"bench", "bench", true}, // not addresses: compared as written
		{"bench", "bench2", false},
	}
	for _, tt := range tests {
		if got := SameAddress(tt.a, tt.b); got != tt.same {
			t.Errorf("SameAddress(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.same)
		}
		if got := SameAddress(tt.b, tt.a); got != tt.same {
			t.Errorf("SameAddress(%q, %q) = %v, want %v", tt.b, tt.a, got, tt.same)
		}
	}
}

func TestSafeURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"ws://:s3cret@10.0.0.2:8266/", "ws://10.0.0.2:8266/"},
		{"ws://user:s3cret@board.local", "ws://board.local"},
		{"wss://:s3cret@[::1]:8266/x?y=1", "wss://[::1]:8266/x?y=1"},
		{"rfc2217://u:p@pi:2217?baud=9600", "rfc2217://pi:2217?baud=9600"},
		{"ws://10.0.0.2:8266/a@b", "ws://10.0.0.2:8266/a@b"}, // an @ in the path is no user info
		{"/dev/ttyACM0", "/dev/ttyACM0"},
		{"sim:esp32", "sim:esp32"},
	} {
		if got := SafeURL(tt.in); got != tt.want {
			t.Errorf("SafeURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A port that is not there is named once, however the address was written.
func TestMissingPortNamedOnce(t *testing.T) {
	const port = "/dev/ttyIOTKERNEL_NONE"
	for _, url := range []string{port, "serial://" + port} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := Open(ctx, url, Options{})
		cancel()
		if err == nil || strings.Count(err.Error(), port) != 1 {
			t.Errorf("Open(%s): %v; want the port named once", url, err)
		}
	}
}
