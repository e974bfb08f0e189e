// Package rfc2217 reaches a board's serial port shared over the network by
// ser2net (or any RFC 2217 server): telnet with the COM-PORT-OPTION.
//
//	rw, err := rfc2217.Dial(ctx, "rfc2217://pi.local:2217", rfc2217.Options{})
//	rw, err := rfc2217.Dial(ctx, "rfc2217://10.0.0.5:4000?baud=9600", rfc2217.Options{})
//
// Dial negotiates BINARY in both directions, SUPPRESS-GO-AHEAD and
// COM-PORT-OPTION, then sets the line to the baud rate (default 115200), 8
// data bits, no parity and 1 stop bit, and waits for the server to
// acknowledge each setting. It never sends SET-CONTROL, so the server
// leaves DTR and RTS as they are and the board is not reset.
//
// The returned stream escapes 0xFF bytes on write and strips telnet
// commands on read, including commands split across TCP segments; the
// server's NOTIFY-LINESTATE, NOTIFY-MODEMSTATE and flow-control messages
// are ignored. Read blocks until data arrives; Close unblocks it, after
// which Read and Write return errors wrapping net.ErrClosed. Any other Read
// error means the TCP connection dropped.
package rfc2217
