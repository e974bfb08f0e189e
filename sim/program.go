// Package sim is the virtual MicroPython board: MicroPython 1.27's
// WebAssembly port run by node, made to behave like an ESP32 on a serial
// line (raw REPL on stdin/stdout, a persisted filesystem, machine, network
// and socket modules). This file holds the board's program (the folder
// board, embedded); the rest of the package launches it.
package sim

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// program is the board's JavaScript and Python, run by node ("all:" keeps
// files whose names start with "_", such as py/_simgc.py).
//
//go:embed all:board
var program embed.FS

// WriteProgram writes the board's program (every embedded file, keeping
// sub-folders) into dir and returns the path of its entry point,
// board.mjs, to be run with node. dir must exist.
func WriteProgram(dir string) (entry string, err error) {
	err = fs.WalkDir(program, "board", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel("board", filepath.FromSlash(name))
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		data, err := program.ReadFile(name)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o600)
	})
	if err != nil {
		return "", fmt.Errorf("write the board program to %s: %w", dir, err)
	}
	return filepath.Join(dir, "board.mjs"), nil
}
