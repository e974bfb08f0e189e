package main

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/iot-kernel/iot-kernel/kernel"
)

func TestMaxMessageBytes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		want int
		err  string // what the error starts with: where the value came from
	}{
		{nil, "", 16 << 20, ""},
		{nil, "64", 64 << 20, ""},
		{[]string{"-max-message-mb", "2"}, "64", 2 << 20, ""}, // the flag wins
		{nil, "lots", 0, `IOT_MAX_MESSAGE_MB="lots": not a whole number`},
		{[]string{"-max-message-mb", "0"}, "", 0, "--max-message-mb 0: the message limit must be 1 to"},
		{nil, "0", 0, `IOT_MAX_MESSAGE_MB="0": the message limit must be 1 to`},
		{[]string{"-max-message-mb", "0"}, "64", 0, "--max-message-mb 0: "},
	} {
		fs := flag.NewFlagSet("run", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		mb := fs.Int("max-message-mb", kernel.DefaultMaxMessageBytes>>20, "")
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		got, err := maxMessageBytes(fs, *mb, tc.env)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.HasPrefix(err.Error(), tc.err) {
			t.Errorf("args %q env %q: %d, %v; want %d, error %q", tc.args, tc.env, got, err, tc.want, tc.err)
		}
	}
}
