package webrepl_test

import (
	"context"
	"fmt"
	"time"

	"github.com/iot-kernel/iot-kernel/transport/webrepl"
)

func ExampleDial() {
	// A fake board on 127.0.0.1 stands in for one at ws://192.168.4.1:8266/.
	url, files, stop := webrepl.FakeBoard("secret")
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := webrepl.Dial(ctx, url, "secret")
	if err != nil {
		fmt.Println(err) // errors.Is(err, webrepl.ErrAccessDenied) for a wrong password
		return
	}
	defer c.Close()
	var sent int64
	err = c.PutFile(ctx, "main.py", []byte("print('hi')\n"), func(done, total int64) {
		sent = done
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("sent", sent, "bytes; the board has", files())
	// Output: sent 12 bytes; the board has map[main.py:12]
}
