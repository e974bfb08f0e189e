package rfc2217_test

import (
	"context"
	"fmt"
	"time"

	"github.com/iot-kernel/iot-kernel/transport/rfc2217"
)

func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rw, err := rfc2217.Dial(ctx, "rfc2217://raspberrypi.local:2217", rfc2217.Options{Baud: 115200})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rw.Close()
	rw.Write([]byte("\r\x01")) // Ctrl-A: raw REPL
}
