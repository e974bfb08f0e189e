package transport

import (
	"strings"
	"testing"
)

func TestBetweenPassesLinesNotResets(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pieces []string
		want   string
	}{
		{"lines in pieces", []string{"tic", "k 1\r\ntick", " 2\r\n"}, "tick 1\r\ntick 2\r\n"},
		{"an unended line goes out when the operation begins", []string{"x = 5"}, "x = 5"},
		{"a soft reset silences the rest", []string{"tick 1\r\nMPY: soft reboot\r\nboot.py says hi\r\nraw REPL; CTRL-B to exit\r\n>"}, "tick 1\r\n"},
		{"a hard reset's banner", []string{"tick\r\n\x00MicroPython v1.9.2 on 2017-09-01; micro:bit\r\nType \"help()\" for more information.\r\n>>> "}, "tick\r\n"},
		{"the REPL's prompt bytes are not output", []string{">"}, ""},
		{"blank lines are", []string{"\r\n"}, "\r\n"},
		{"blank lines in the output are", []string{"a\r\n", "\r\n", "\r\n", "b\r\n"}, "a\r\n\r\n\r\nb\r\n"},
		// A soft reset stopped before its banner left the REPL's newline
		// and its lines behind.
		{"the newline before a soft reboot line is not", []string{"\r\nMPY: soft reboot\r\nboot.py says hi\r\n"}, ""},
		{"nor when it comes alone", []string{"tick\r\n", "\r\n", "soft reboot\r\n"}, "tick\r\n"},
		{"a board printing without newlines still shows", []string{strings.Repeat("x", maxLine+1)}, strings.Repeat("x", maxLine+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got strings.Builder
			b := &between{w: &got}
			for _, p := range tc.pieces {
				b.see([]byte(p))
			}
			b.end()
			if got.String() != tc.want {
				t.Errorf("passed on %q, want %q", got.String(), tc.want)
			}
			// After the operation, output shows again.
			got.Reset()
			b.see([]byte("after\r\n"))
			if got.String() != "after\r\n" {
				t.Errorf("after end, passed on %q", got.String())
			}
		})
	}
	var nilB *between // a board without Background
	nilB.see([]byte("dropped\n"))
	nilB.end()
}
