package webrepl_test

import (
	"context"
	"fmt"
	"time"

	"github.com/iot-kernel/iot-kernel/transport/webrepl"
)

func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := webrepl.Dial(ctx, "ws://192.168.4.1:8266/", "secret")
	if err != nil {
		fmt.Println(err) // errors.Is(err, webrepl.ErrAccessDenied) for a wrong password
		return
	}
	defer c.Close()
	err = c.PutFile(ctx, "main.py", []byte("print('hi')\n"), func(done, total int64) {
		fmt.Printf("\r%d/%d bytes", done, total)
	})
	if err != nil {
		fmt.Println(err)
	}
}
