//go:build !simruntime

package sim

// embeddedRuntime returns nil: this binary was built without the runtime
// (-tags simruntime), which is then looked for on disk.
func embeddedRuntime() map[string][]byte { return nil }
