package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoHTTPStack keeps net/http and crypto/tls out of the kernel: they
// would add about 2.7 MB of binary and 2 MB of idle resident memory, a
// fifth of the kernel's budget, for protocols it never speaks (the
// WebREPL's WebSocket is transport/internal/ws).
func TestNoHTTPStack(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "simruntime", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "net/http" || pkg == "crypto/tls" {
			t.Errorf("the kernel imports %s; see `go list -deps` for the path that brings it", pkg)
		}
	}
}
