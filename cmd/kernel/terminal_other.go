//go:build !linux

package main

import (
	"io"
	"os"
)

// isTerminal reports whether w is a terminal (here: a character device
// other than the null device), for colour and progress lines drawn in
// place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && f.Name() != os.DevNull
}

// terminalWidth is w's width in columns, or 0 when unknown (always, here).
func terminalWidth(io.Writer) int { return 0 }
