// Command genlogo writes the kernelspec logos (logo-32x32.png and
// logo-64x64.png) into a directory. It is run by `go generate` in
// kernelspec/; the PNGs are committed and embedded in the binary.
package main

import (
	"flag"
	"fmt"
	"image/png"
	"os"
	"path/filepath"

	"github.com/iot-kernel/iot-kernel/kernelspec/internal/logo"
)

func main() {
	dir := flag.String("dir", ".", "directory to write the PNGs into")
	flag.Parse()
	for _, size := range []int{32, 64} {
		if err := write(filepath.Join(*dir, fmt.Sprintf("logo-%dx%d.png", size, size)), size); err != nil {
			fmt.Fprintln(os.Stderr, "genlogo:", err)
			os.Exit(1)
		}
	}
}

func write(path string, size int) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create logo: %w", err)
	}
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(f, logo.Render(size)); err != nil {
		f.Close()
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
