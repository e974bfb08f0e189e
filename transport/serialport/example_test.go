package serialport_test

import (
	"context"
	"fmt"
	"time"

	"github.com/iot-kernel/iot-kernel/transport/serialport"
)

func ExampleDial() {
	// A pty stands in for a board at serial:///dev/ttyUSB0?baud=115200.
	url, received, stop := serialport.FakePort()
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rw, err := serialport.Dial(ctx, url, serialport.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rw.Close()
	rw.Write([]byte("\r\x03")) // Ctrl-C: stop whatever runs
	fmt.Printf("the board got %q\n", received(2))
	// Output: the board got "\r\x03"
}
