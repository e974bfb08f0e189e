package transport

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
)

// What a board prints when it resets. A soft reset prints a "soft reboot"
// line (MicroPython 1.27 "MPY: soft reboot", 1.9.2 "soft reboot"), then
// boot.py's output and the prompt of the REPL it was in; a hard reset (the
// reset button, a watchdog, machine.reset() on a board whose link
// survives it) prints boot noise, then the friendly REPL's banner and
// prompt.
const (
	softRebootLine = "soft reboot\r\n"
	bannerStart    = "MicroPython v"
	friendlyPrompt = "for more information.\r\n>>> "
)

// resetKind says how a board was found reset.
type resetKind int

const (
	noReset   resetKind = iota
	softReset           // a soft reboot: Python state gone, REPL mode kept
	hardReset           // a boot banner: at the friendly REPL, state gone
)

// resetNote is what the user is told about a reset the kernel noticed.
func resetNote(k resetKind, during bool) string {
	switch {
	case k == softReset && during:
		return "The board soft-reset at the end of the code (SystemExit and machine.soft_reset() do on this board): its variables are gone, its files kept."
	case during:
		return "The board reset at the end of the code: its variables are gone, its files kept."
	case k == softReset:
		return "The board soft-reset since the last cell: its variables are gone, its files kept."
	}
	return "The board was reset since the last cell (it printed its boot banner: the reset button, a watchdog or machine.reset()): its variables are gone, its files kept."
}

// resetWatch looks for reset banners in a stream read in pieces, such as
// the bytes dropped between operations.
type resetWatch struct {
	tail []byte // the end of what was seen, for banners split across reads
	kind resetKind
}

// watchKeep is how much of the stream a resetWatch keeps between pieces:
// enough for the longest pattern and the banner's first line.
const watchKeep = 256

// see scans p and records the strongest reset it shows.
func (w *resetWatch) see(p []byte) {
	if len(p) == 0 {
		return
	}
	w.tail = append(w.tail, p...)
	if k := bannerIn(w.tail); k > w.kind {
		w.kind = k
	}
	if len(w.tail) > watchKeep {
		w.tail = append(w.tail[:0], w.tail[len(w.tail)-watchKeep:]...)
	}
}

// bannerIn reports the reset that text shows, if any.
func bannerIn(text []byte) resetKind {
	if i := bytes.Index(text, []byte(friendlyPrompt)); i >= 0 && bytes.Contains(text[:i], []byte(bannerStart)) {
		return hardReset
	}
	if bytes.Contains(text, []byte(softRebootLine)) {
		return softReset
	}
	return noReset
}

// endsInBanner reports whether the board's output ends in its boot banner
// and friendly prompt: it was reset while code ran.
func endsInBanner(tail []byte) bool {
	if !bytes.HasSuffix(tail, []byte(friendlyPrompt)) {
		return false
	}
	// The banner's first line, "MicroPython v1.27.0 on ...; BOARD with
	// CPU", comes just before.
	i := len(tail) - len(friendlyPrompt)
	return bytes.Contains(tail[max(0, i-200):i], []byte(bannerStart))
}

// noticeReset records on the link that the board was reset: what the
// kernel installed is gone, and after a hard reset the board is at its
// friendly REPL. The note waits for the next Exec that can tell the user.
func (l *link) noticeReset(k resetKind, during bool) {
	if k == noReset {
		return
	}
	l.shim = false
	if k == hardReset {
		l.inRaw = false
	}
	if l.resetSeen == "" {
		l.resetSeen = resetNote(k, during)
	}
}

// newNonce makes the part of the value marker that is the link's own.
func newNonce() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}
