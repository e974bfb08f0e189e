package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/iot-kernel/iot-kernel/sim"
	"github.com/iot-kernel/iot-kernel/transport/rfc2217"
	"github.com/iot-kernel/iot-kernel/transport/serialport"
	"github.com/iot-kernel/iot-kernel/transport/webrepl"
)

// Open connects to the board at url and enters its raw REPL. The link is
// chosen from the URL by the table of addresses (see ParseAddress):
//
//	/dev/ttyUSB0, serial:///dev/ttyUSB0?baud=N, COM3, auto   serial port
//	ws://host:8266/                                          WebREPL (Options.Password)
//	rfc2217://host:port                                      RFC 2217 (ser2net)
//	sim, sim:NAME                                            virtual board (Options.Sim)
func Open(ctx context.Context, url string, opt Options) (*Board, error) {
	addr, err := ParseAddress(url)
	if err != nil {
		return nil, err
	}
	l, err := linkFor(ctx, addr, opt)
	if err != nil {
		return nil, err
	}
	b := New(url, l.dial, opt)
	b.resetDial, b.restartable, b.release = l.resetDial, l.restartable, l.release
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

// linkKind is what Open needs to know of a kind of link.
type linkKind struct {
	dial Dialer
	// resetDial opens the link with a hard reset of the board; nil when
	// the link cannot.
	resetDial Dialer
	// restartable: the hard reset is quick and works whatever the board
	// is doing, so an interrupt the board ignores escalates to it.
	restartable bool
	// release frees what the dialer holds, once the Board is closed.
	release func() error
}

// linkFor returns how to reach the board at addr. Each dial is bounded by
// its ctx and by Options.Timeout, plus the time a reset takes when
// Options.HardReset asks for one (only the first dial resets).
func linkFor(ctx context.Context, addr Address, opt Options) (linkKind, error) {
	url := addr.URL
	switch addr.Kind {
	case KindWebREPL:
		return linkKind{dial: bounded(opt, 0, webreplDial(url, opt.Password))}, nil
	case KindRFC2217:
		return linkKind{dial: bounded(opt, 0, func(ctx context.Context) (io.ReadWriteCloser, error) {
			return rfc2217.Dial(ctx, url, rfc2217.Options{Baud: opt.Baud})
		})}, nil
	case KindSerial:
		// HardReset pulses the board on the first open only, not on each
		// reconnect.
		var opened atomic.Bool
		extra := time.Duration(0)
		if opt.HardReset {
			extra = resetBound
		}
		return linkKind{
			dial: bounded(opt, extra, serialDial(url, opt, func() bool {
				return opt.HardReset && !opened.Swap(true)
			})),
			resetDial: bounded(opt, resetBound, serialDial(url, opt, func() bool { return true })),
		}, nil
	case KindSim:
		cfg := opt.Sim
		cfg.Name = addr.Target
		if cfg.Logger == nil {
			cfg.Logger = opt.logger().With("board", url)
		}
		sb, err := sim.Open(ctx, cfg)
		if err != nil {
			return linkKind{}, err
		}
		// Closing the stream kills the board's process and a dial starts
		// it afresh on the same folder: a hard reset that always works.
		dial := bounded(opt, 0, sb.Dial)
		return linkKind{dial: dial, resetDial: dial, restartable: true, release: sb.Close}, nil
	}
	return linkKind{}, fmt.Errorf("%q: no link for %v addresses", url, addr.Kind)
}

// hangUpRetry is how long a WebREPL login the board hangs up on is tried
// again (see webreplDial).
const hangUpRetry = 1500 * time.Millisecond

// webreplDial logs in to the board's WebREPL. A board serves one client at
// a time, and when a link was lost and the kernel connects again at once,
// the board may not have seen the old session end yet: it hangs up on the
// new one. So a hang-up during the login is tried again for a moment; a
// client that really holds the board still gets its error.
func webreplDial(url, password string) Dialer {
	return func(ctx context.Context) (io.ReadWriteCloser, error) {
		end := time.Now().Add(hangUpRetry)
		for pause := 20 * time.Millisecond; ; pause *= 2 {
			c, err := webrepl.Dial(ctx, url, password)
			if err == nil {
				return c, nil
			}
			if !errors.Is(err, webrepl.ErrHungUp) || time.Now().Add(pause).After(end) {
				return nil, err
			}
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, err
			}
		}
	}
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
