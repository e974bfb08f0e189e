//go:build simruntime

package sim

import "embed"

// runtimeFS is MicroPython's WebAssembly runtime, copied into sim/runtime
// by the Makefile before a build with -tags simruntime (never committed).
//
//go:embed runtime/micropython.mjs runtime/micropython.wasm
var runtimeFS embed.FS

// embeddedRuntime returns the runtime's files by name.
func embeddedRuntime() map[string][]byte {
	files := map[string][]byte{}
	for _, f := range runtimeFiles {
		data, err := runtimeFS.ReadFile("runtime/" + f)
		if err != nil {
			return nil // cannot happen: go:embed checked the files at build time
		}
		files[f] = data
	}
	return files
}
