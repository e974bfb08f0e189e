package serialport

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"go.bug.st/serial"
)

// Timings of the hard reset. The pulse length is esptool's; the boot waits
// are generous bounds for MicroPython's banner and boot.py, cut to half of
// what remains of the Dial context.
const (
	resetPulse    = 100 * time.Millisecond
	bootQuiet     = 300 * time.Millisecond // silence that ends the boot output
	bootSilent    = 2 * time.Second        // no output at all: nothing was reset
	bootMax       = 5 * time.Second        // a main.py that never stops printing
	reappearMax   = 10 * time.Second       // USB re-enumeration after a reset
	reappearRetry = 100 * time.Millisecond
)

// hardReset resets the board through RTS (EN) with DTR released (GPIO0
// high), waits for it to boot, and returns the port to use from then on:
// a new one if the board's USB device re-enumerated. On error p is closed.
func hardReset(ctx context.Context, p serial.Port, fd int, path string, baud int) (serial.Port, int, error) {
	fail := func(err error) (serial.Port, int, error) {
		p.Close()
		return nil, -1, fmt.Errorf("serial %s: hard reset: %w", path, err)
	}
	// (DTR, RTS) goes (1,1) -> (0,1): EN low, GPIO0 high.
	if err := p.SetDTR(false); err != nil {
		return fail(fmt.Errorf("cannot drive DTR/RTS (a pty has none): %w", err))
	}
	if err := p.SetRTS(true); err != nil {
		return fail(fmt.Errorf("cannot drive RTS: %w", err))
	}
	if err := sleep(ctx, resetPulse); err != nil {
		return fail(err)
	}
	// (0,0): EN high, the chip boots normally.
	if err := p.SetRTS(false); err != nil {
		return fail(fmt.Errorf("cannot drive RTS: %w", err))
	}
	gone, err := waitBoot(ctx, p)
	if err != nil {
		return fail(err)
	}
	if gone {
		p.Close()
		return reopen(ctx, path, baud)
	}
	// Back to (1,1) through (1,0), never through (0,1), which is EN low.
	if err := p.SetDTR(true); err != nil {
		return fail(fmt.Errorf("cannot drive DTR: %w", err))
	}
	if err := p.SetRTS(true); err != nil {
		return fail(fmt.Errorf("cannot drive RTS: %w", err))
	}
	return p, fd, nil
}

// waitBoot discards the boot output until it goes quiet. gone reports that
// the device vanished (native USB re-enumerating after the reset).
func waitBoot(ctx context.Context, p serial.Port) (gone bool, err error) {
	if err := p.SetReadTimeout(50 * time.Millisecond); err != nil {
		return false, err
	}
	// Leave half of what remains of ctx for the caller: the board is
	// usable even if its boot output has not stopped.
	silent, most := bootSilent, bootMax
	if deadline, ok := ctx.Deadline(); ok {
		half := time.Until(deadline) / 2
		silent, most = min(silent, half), min(most, half)
	}
	buf := make([]byte, 1024)
	start := time.Now()
	var last time.Time
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		n, err := p.Read(buf)
		if err != nil && !errors.Is(err, syscall.EAGAIN) { // EAGAIN: see newFD
			return true, nil
		}
		now := time.Now()
		if n > 0 {
			last = now
		}
		switch {
		case !last.IsZero() && now.Sub(last) >= bootQuiet,
			last.IsZero() && now.Sub(start) >= silent,
			now.Sub(start) >= most:
			return false, nil
		}
	}
}

// reopen waits for the device node to come back after a USB re-enumeration
// and opens it again, without another reset.
func reopen(ctx context.Context, path string, baud int) (serial.Port, int, error) {
	ctx, cancel := context.WithTimeout(ctx, reappearMax)
	defer cancel()
	for {
		p, fd, err := open(serial.Open, path, baud)
		if err == nil {
			return p, fd, nil
		}
		if err := sleep(ctx, reappearRetry); err != nil {
			return nil, -1, fmt.Errorf("serial %s: waiting for the board to come back after the reset: %w", path, err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
