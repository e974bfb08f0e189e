package rfc2217_test

import (
	"context"
	"fmt"
	"time"

	"github.com/iot-kernel/iot-kernel/transport/rfc2217"
)

func ExampleDial() {
	// A fake server on 127.0.0.1 stands in for one such as
	// rfc2217://raspberrypi.local:2217 (ser2net, esp_rfc2217_server).
	url, received, stop := rfc2217.FakeServer()
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rw, err := rfc2217.Dial(ctx, url, rfc2217.Options{Baud: 115200})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rw.Close()
	rw.Write([]byte("\r\x01")) // Ctrl-A: raw REPL
	fmt.Printf("the board's UART got %q\n", received(2))
	// Output: the board's UART got "\r\x01"
}
