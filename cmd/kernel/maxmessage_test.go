package main

import (
	"flag"
	"io"
	"testing"

	"github.com/iot-kernel/iot-kernel/kernel"
)

func TestMaxMessageBytes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		want int
		ok   bool
	}{
		{nil, "", 16 << 20, true},
		{nil, "64", 64 << 20, true},
		{[]string{"-max-message-mb", "2"}, "64", 2 << 20, true}, // the flag wins
		{nil, "lots", 0, false},
		{[]string{"-max-message-mb", "0"}, "", 0, false},
	} {
		fs := flag.NewFlagSet("run", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		mb := fs.Int("max-message-mb", kernel.DefaultMaxMessageBytes>>20, "")
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		got, err := maxMessageBytes(fs, *mb, tc.env)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("args %q env %q: %d, %v; want %d (ok %v)", tc.args, tc.env, got, err, tc.want, tc.ok)
		}
	}
}
