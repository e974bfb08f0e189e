package serialport_test

import (
	"context"
	"fmt"
	"time"

	"github.com/iot-kernel/iot-kernel/transport/serialport"
)

func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rw, err := serialport.Dial(ctx, "serial:///dev/ttyUSB0?baud=115200", serialport.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rw.Close()
	rw.Write([]byte("\r\x03")) // Ctrl-C: stop whatever runs
}

func ExampleDiscover() {
	ports, err := serialport.Discover()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range ports {
		if p.BoardLike {
			fmt.Println(p.Path, p.Chip)
		}
	}
}
