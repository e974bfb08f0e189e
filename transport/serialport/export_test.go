package serialport

import (
	"time"

	"github.com/creack/pty"
)

// FakePort opens a pty, so that the examples run without a board: it
// returns the serial:// URL of its board side, a function that waits (up
// to the tests' bound) for the next n bytes written to the port, and one
// that closes the pty.
func FakePort() (url string, received func(n int) []byte, stop func()) {
	master, slave, err := pty.Open()
	if err != nil {
		panic(err)
	}
	data := make(chan []byte, 16)
	go func() {
		defer close(data)
		for {
			b := make([]byte, 256)
			n, err := master.Read(b)
			if n > 0 {
				data <- b[:n]
			}
			if err != nil {
				return
			}
		}
	}()
	timeout := time.After(bound)
	received = func(n int) []byte {
		var got []byte
		for len(got) < n {
			select {
			case b, ok := <-data:
				if !ok {
					return got
				}
				got = append(got, b...)
			case <-timeout:
				return got
			}
		}
		return got
	}
	stop = func() { master.Close(); slave.Close() }
	return "serial://" + slave.Name(), received, stop
}
