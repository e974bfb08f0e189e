package sim_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/iot-kernel/iot-kernel/transport"
)

// growList is a cell that keeps a growing list until the heap is full; n
// counts the bytes of data it holds.
const growList = "l = []\nn = 0\nwhile True:\n    l.append(bytearray(1000))\n    n += 1000"

// fill grows a list until MemoryError, drops it, and returns how much data
// it held.
func fill(t *testing.T, b *board) int {
	t.Helper()
	out := b.exec("try:\n    l = []\n    n = 0\n    while True:\n        l.append(bytearray(1000))\n        n += 1000\nexcept MemoryError:\n    l = None\n    print('MemoryError', n)")
	f := strings.Fields(out)
	if len(f) != 2 || f[0] != "MemoryError" {
		t.Fatalf("a list that keeps growing printed %q, want MemoryError and a size", out)
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func memFree(t *testing.T, b *board) int {
	t.Helper()
	n, err := strconv.Atoi(b.eval("__import__('gc').mem_free()"))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestHeapMemoryError: the heap holds what an ESP32's does (about 110 KB),
// a bigger allocation raises MemoryError, and the board works on after it.
func TestHeapMemoryError(t *testing.T) {
	b := start(t, env{})
	// Uncaught, through the raw REPL, as a cell would meet it.
	err := b.eng.Exec(b.ctx(), growList, transport.ExecOptions{})
	var be *transport.BoardError
	if !errors.As(err, &be) || be.Name != "MemoryError" {
		t.Fatalf("a list that keeps growing: %v, want MemoryError", err)
	}
	// The next exec works and gc.collect() gives the memory back.
	if got := b.exec("print(n)\nl = None\nimport gc\ngc.collect()"); strings.TrimSpace(got) == "" {
		t.Fatalf("exec after MemoryError printed nothing")
	}
	if f := memFree(t, b); f < 90_000 {
		t.Errorf("gc.mem_free() after freeing the list = %d, want about 110 KB", f)
	}
	n := fill(t, b)
	t.Logf("MemoryError after %d bytes of data", n)
	if n < 80_000 || n > 130_000 {
		t.Errorf("MemoryError after %d bytes of data, want 80-130 KB (an ESP32's heap)", n)
	}
	// Again, as a board would: the same size.
	if n2 := fill(t, b); n2 < n*8/10 || n2 > n*12/10 {
		t.Errorf("second fill: MemoryError after %d bytes, first after %d", n2, n)
	}

	// One allocation bigger than the heap fails; one that fits succeeds.
	err = b.eng.Exec(b.ctx(), "b = bytearray(200_000)", transport.ExecOptions{})
	if !errors.As(err, &be) || be.Name != "MemoryError" {
		t.Errorf("bytearray(200_000): %v, want MemoryError", err)
	}
	if got := b.exec("b = bytearray(60_000)\nprint(len(b))\nb = None"); strings.TrimSpace(got) != "60000" {
		t.Errorf("bytearray(60_000) printed %q", got)
	}

	// Garbage is not a MemoryError: a board collects it (here: about 2 MB
	// of short-lived strings in one exec).
	if got := b.exec("for i in range(20000):\n    s = str(i) * 10\ns = None\nprint('done')"); strings.TrimSpace(got) != "done" {
		t.Errorf("a loop making garbage printed %q", got)
	}
	if f := memFree(t, b); f < 90_000 || f > 120_000 {
		t.Errorf("gc.mem_free() after the garbage loop = %d, want about 110 KB", f)
	}

	// A soft reboot is a new interpreter: bounded again.
	if err := b.eng.SoftReset(b.ctx(), nil); err != nil {
		t.Fatal(err)
	}
	if f := memFree(t, b); f < 100_000 || f > 120_000 {
		t.Errorf("gc.mem_free() after a soft reboot = %d, want about 110 KB", f)
	}
	if n3 := fill(t, b); n3 < n*8/10 || n3 > n*12/10 {
		t.Errorf("after a soft reboot: MemoryError after %d bytes, before after %d", n3, n)
	}
}

// TestHeapSize: IOT_MPY_HEAPSIZE sets the usable heap; a bigger one holds
// proportionally more.
func TestHeapSize(t *testing.T) {
	small := fill(t, start(t, env{}))
	big := fill(t, start(t, env{more: []string{"IOT_MPY_HEAPSIZE=300000"}}))
	t.Logf("MemoryError after %d bytes (default heap), %d bytes (IOT_MPY_HEAPSIZE=300000)", small, big)
	if big < 250_000 || big > 310_000 {
		t.Errorf("with IOT_MPY_HEAPSIZE=300000: MemoryError after %d bytes of data, want 250-310 KB", big)
	}
	if r := float64(big) / float64(small); r < 2.0 || r > 3.2 {
		t.Errorf("300000-byte heap holds %.2f times the default's, want about 2.6", r)
	}
}
