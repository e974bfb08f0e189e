package transport

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

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
	if err := b.op(ctx, func(context.Context, *link) error { return nil }); err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

// DialerFor returns the Dialer for url (see Open). Each dial is bounded by
// its ctx and by Options.Timeout.
func DialerFor(url string, opt Options) (Dialer, error) {
	timeout := opt.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	bounded := func(f func(context.Context) (io.ReadWriteCloser, error)) Dialer {
		return func(ctx context.Context) (io.ReadWriteCloser, error) {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return f(ctx)
		}
	}
	switch {
	case strings.HasPrefix(url, "ws://"), strings.HasPrefix(url, "wss://"):
		return bounded(func(ctx context.Context) (io.ReadWriteCloser, error) {
			return webrepl.Dial(ctx, url, opt.Password)
		}), nil
	case strings.HasPrefix(url, "rfc2217://"):
		return bounded(func(ctx context.Context) (io.ReadWriteCloser, error) {
			return rfc2217.Dial(ctx, url, rfc2217.Options{Baud: opt.Baud})
		}), nil
	case strings.HasPrefix(url, "/"), strings.HasPrefix(url, "serial://"), url == "auto",
		strings.HasPrefix(strings.ToUpper(url), "COM"):
		// HardReset pulses the board on the first open only, not on each
		// reconnect.
		var opened atomic.Bool
		return bounded(func(ctx context.Context) (io.ReadWriteCloser, error) {
			reset := opt.HardReset && !opened.Load()
			rwc, err := serialport.Dial(ctx, url, serialport.Options{Baud: opt.Baud, HardReset: reset})
			if err == nil {
				opened.Store(true)
			}
			return rwc, err
		}), nil
	}
	return nil, fmt.Errorf("%q: unknown kind of board address (want /dev/..., serial://, auto, ws:// or rfc2217://)", url)
}
