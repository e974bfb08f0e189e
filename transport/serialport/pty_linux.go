package serialport

import "golang.org/x/sys/unix"

// isPTY reports whether path is the slave side of a Unix98 pseudo-terminal
// (major numbers 136-143). Ptys have no modem lines, so the ioctls that set
// DTR and RTS fail on them.
func isPTY(path string) bool {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return false
	}
	major := unix.Major(uint64(st.Rdev))
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && major >= 136 && major <= 143
}
