// Package webrepl is a client for MicroPython's WebREPL: the REPL and file
// transfers of a board over a WebSocket (extmod/modwebrepl.c, webrepl.py).
//
//	c, err := webrepl.Dial(ctx, "ws://192.168.4.1:8266/", password)
//	// c is an io.ReadWriteCloser carrying the REPL's bytes.
//	err = c.PutFile(ctx, "main.py", src, nil)
//	data, err := c.GetFile(ctx, "boot.py", -1, nil) // at most DefaultGetLimit bytes
//
// The URL may leave out the port (8266) and the path ("/"); a bare
// "host[:port]" means ws://host[:port]/.
//
// Dial logs in: it waits for the board's "Password: " prompt, sends the
// password and waits for "WebREPL connected". A wrong password gives an
// error wrapping ErrAccessDenied. The password never appears in an error.
// The ">>> " prompt that follows the greeting is passed on to Read as REPL
// output, like everything the board prints from then on.
//
// After login, Write sends REPL bytes (raw-REPL control bytes included) in
// text frames, as the browser client does; Read returns the board's output,
// from text frames and from binary frames that are not part of a file
// transfer (newer WebREPL versions print in binary frames). One goroutine
// owns the WebSocket and routes binary frames to the file transfer in
// progress, so a concurrent Read never steals them. Transfers run one at a
// time.
//
// If a transfer's context ends half way, the board is left in the middle of
// the transfer with no way to resynchronise, so the connection is closed.
// MicroPython's C WebREPL drops the whole session when a file to get does
// not exist (the exception ends the dupterm stream): GetFile then fails
// with a lost connection; a server that answers with an error status gives
// a *StatusError.
//
// After Close, Read and Write return errors wrapping net.ErrClosed. Any
// other Read error means the connection to the board is lost.
//
// The WebSocket is this module's own client (transport/internal/ws), ws://
// only: MicroPython's WebREPL has no TLS.
package webrepl
