package transport

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/iot-kernel/iot-kernel/transport/rfc2217"
	"github.com/iot-kernel/iot-kernel/transport/serialport"
	"github.com/iot-kernel/iot-kernel/transport/webrepl"
)

// Open connects to the board at url and enters its raw REPL. The link is
// chosen from the URL:
//
//	/dev/ttyUSB0, serial:///dev/ttyUSB0?baud=N, COM3, auto   serial port
//	ws://host:8266/                                          WebREPL (Options.Password)
//	rfc2217://host:port                                      RFC 2217 (ser2net)
func Open(ctx context.Context, url string, opt Options) (*Board, error) {
	dial, err := DialerFor(url, opt)
	if err != nil {
		return nil, err
	}
	b := New(url, dial, opt)
	if isSerial(url) {
		b.resetDial = bounded(opt, resetBound, serialDial(url, opt, func() bool { return true }))
	}
	if err := b.op(ctx, func(context.Context, *link) error { return nil }); err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

// resetBound is added to the dial's bound when the dial resets the board:
// it covers the boot and a USB re-enumeration (serialport waits up to 5 s
// for boot output to end and 10 s for the device to come back).
const resetBound = 20 * time.Second

// DialerFor returns the Dialer for url (see Open). Each dial is bounded by
// its ctx and by Options.Timeout, plus the time a reset takes when
// Options.HardReset asks for one (only the first dial resets).
func DialerFor(url string, opt Options) (Dialer, error) {
	switch {
	case strings.HasPrefix(url, "ws://"), strings.HasPrefix(url, "wss://"):
		return bounded(opt, 0, func(ctx context.Context) (io.ReadWriteCloser, error) {
			return webrepl.Dial(ctx, url, opt.Password)
		}), nil
	case strings.HasPrefix(url, "rfc2217://"):
		return bounded(opt, 0, func(ctx context.Context) (io.ReadWriteCloser, error) {
			return rfc2217.Dial(ctx, url, rfc2217.Options{Baud: opt.Baud})
		}), nil
	case isSerial(url):
		// HardReset pulses the board on the first open only, not on each
		// reconnect.
		var opened atomic.Bool
		extra := time.Duration(0)
		if opt.HardReset {
			extra = resetBound
		}
		return bounded(opt, extra, serialDial(url, opt, func() bool {
			return opt.HardReset && !opened.Swap(true)
		})), nil
	}
	return nil, fmt.Errorf("%q: unknown kind of board address (want /dev/..., serial://, auto, ws:// or rfc2217://)", url)
}

func isSerial(url string) bool {
	return strings.HasPrefix(url, "/") || strings.HasPrefix(url, "serial://") || url == "auto" ||
		strings.HasPrefix(strings.ToUpper(url), "COM")
}

// serialDial opens the serial port, pulsing RTS when reset says so.
func serialDial(url string, opt Options, reset func() bool) Dialer {
	return func(ctx context.Context) (io.ReadWriteCloser, error) {
		return serialport.Dial(ctx, url, serialport.Options{Baud: opt.Baud, HardReset: reset()})
	}
}

// bounded bounds each dial by Options.Timeout plus extra.
func bounded(opt Options, extra time.Duration, dial Dialer) Dialer {
	timeout := opt.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return func(ctx context.Context) (io.ReadWriteCloser, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout+extra)
		defer cancel()
		return dial(ctx)
	}
}
