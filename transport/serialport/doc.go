// Package serialport opens the USB/UART serial link to a MicroPython board
// as an io.ReadWriteCloser for the raw REPL engine.
//
//	rw, err := serialport.Dial(ctx, "/dev/ttyUSB0", serialport.Options{})
//	rw, err := serialport.Dial(ctx, "serial:///dev/ttyACM0?baud=9600", serialport.Options{})
//	rw, err := serialport.Dial(ctx, "auto", serialport.Options{}) // first board-like USB port
//
// Discover lists the serial ports with the USB chip behind each one.
//
// # DTR and RTS
//
// Opening leaves DTR and RTS both asserted, the state Linux and macOS give a
// port on open() anyway, and the state pyserial (so mpremote on Linux and
// macOS) keeps. Nothing toggles after open, so nothing resets the board:
//
//   - On ESP32/ESP8266 boards with the usual two-transistor auto-reset
//     circuit (CP210x, CH340, CH9102, FTDI bridges) EN is pulled low only
//     while RTS is asserted and DTR is not, and GPIO0 only while DTR is
//     asserted and RTS is not. With both asserted neither is pulled: the chip
//     runs, and pressing its RESET button still boots normally.
//   - Espressif's native USB-Serial/JTAG emulates the same truth table.
//   - Boards with native USB CDC (RP2040, ESP32-S2/S3 with TinyUSB, STM32)
//     treat DTR as "a terminal is connected". With DTR low, MicroPython's
//     TinyUSB console stops waiting for the host and lets its transmit
//     FIFO overwrite output the host has not fetched yet.
//
// mpremote clears both lines, but only on Windows; elsewhere it keeps
// pyserial's default, both asserted, as here.
//
// Options.HardReset resets the board the way esptool's classic reset does:
// DTR released (GPIO0 high, so a normal boot), RTS asserted for 100 ms (EN
// low), RTS released, then Dial waits for the boot output to go quiet and
// asserts DTR before RTS again (the other order would pull EN low a second
// time). Boards with native USB and no reset circuit ignore it. A board
// whose USB device re-enumerates after the reset is reopened once it is back.
// A pty (the project's emulated boards) has no modem lines: opening one
// leaves them alone, and HardReset on it fails.
//
// # Reading
//
// Read blocks until the board sends bytes, the port is closed (the error
// then wraps os.ErrClosed) or the device disappears (unplugged, or the
// master side of a pty closed): then Read returns an error instead of
// waiting forever. Close unblocks a pending Read.
//
// The conn is also a transport.TimedReader: ReadTimeout bounds a read, and
// Wake ends one early; bytes already received are returned before a Wake
// is honoured.
//
// On Linux the port's descriptor is made non-blocking, and a duplicate of
// it waits in Go's network poller: Wake and Close end that wait at once,
// and a waiting read holds no OS thread in a system call (see pollable).
// Elsewhere, and on a device whose VMIN another program set to 0, reads
// wait in go.bug.st/serial's select(2), which cannot be ended early: there
// ReadTimeout waits in slices of 25 ms and Wake is seen at the next slice.
// Non-blocking also matters there: the library reads after its select,
// and when another reader of the same device (a second link to the board)
// takes the byte in between, a blocking read would wait for good, and
// Close with it.
package serialport
