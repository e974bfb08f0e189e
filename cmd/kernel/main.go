// Command iot-kernel is a Jupyter kernel that runs notebook cells on
// MicroPython boards.
//
//	iot-kernel install [--user|--sys-prefix|--prefix DIR] [--name N] [--display-name T]
//	iot-kernel run -f CONNECTION_FILE [--log-level LEVEL]
//	iot-kernel uninstall [--name N] [--user|--sys-prefix|--prefix DIR]
//	iot-kernel replay [--board TARGET]... [--jobs N] [--junit FILE] [--sanitize FILE] [--update] NOTEBOOK...
//	iot-kernel version
//	iot-kernel help [COMMAND]
//
// Jupyter starts `iot-kernel run -f {connection_file}` as written in the
// kernel.json that `iot-kernel install` writes.
package main

import (
	"context"
	"os"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// when empty, it is derived from the module's build information.
var version string

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
