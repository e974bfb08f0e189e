package transport

import "testing"

// What a board printed last, as an error shows it: its text, never the
// raw REPL's own bytes.
func TestReadable(t *testing.T) {
	for in, want := range map[string]string{
		"\r\n\x04>OK\x04\x04>OK\x04\x04>":   "",
		"raw REPL; CTRL-B to exit\r\n>":     "",
		"main.py: waiting for wifi\r\n>>> ": "main.py: waiting for wifi",
		"garbagegarbage\x00\xff":            "garbagegarbage",
		"\x1b[1mTraceback\x1b[0m (most":     "Traceback (most",
	} {
		if got := readable([]byte(in)); got != want {
			t.Errorf("readable(%q) = %q, want %q", in, got, want)
		}
	}
}
