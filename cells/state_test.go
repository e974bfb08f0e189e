package cells

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Kernels that store at the same moment (papermill running notebooks in
// parallel) all find their board at the next start.
func TestLastDeviceConcurrentStores(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "last-device.json")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := &lastDevice{path: path, key: fmt.Sprintf("notebook-%d.ipynb", i)}
			for j := range 20 {
				if errs[i] = l.store(fmt.Sprintf("serial:///dev/ttyUSB%d#%d", i, j)); errs[i] != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("kernel %d: %v", i, err)
		}
		l := &lastDevice{path: path, key: fmt.Sprintf("notebook-%d.ipynb", i)}
		if url, ok := l.load(); !ok || url != fmt.Sprintf("serial:///dev/ttyUSB%d#19", i) {
			t.Errorf("kernel %d remembers %q, %v; want its last board", i, url, ok)
		}
	}
}

// Past maxConnKeys kernels without a notebook name, the ones stored
// longest ago are forgotten, never a running kernel's, nor a notebook's.
func TestLastDeviceForgetsTheOldest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "last-device.json")
	clock := time.Unix(1_800_000_000, 0)
	now := func() time.Time { clock = clock.Add(time.Second); return clock }
	nb := &lastDevice{path: path, key: "course/lab1.ipynb", now: now}
	if err := nb.store("sim:esp32"); err != nil {
		t.Fatal(err)
	}
	keys := make([]*lastDevice, maxConnKeys+5)
	for i := range keys {
		// Hashed keys: their order has nothing to do with their age.
		keys[i] = &lastDevice{path: path, key: SessionKeyFor("", fmt.Sprint(i)), now: now}
		if err := keys[i].store(fmt.Sprintf("sim:board%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// The first kernel is still running and stores again: it is recent.
	if err := keys[0].store("sim:again"); err != nil {
		t.Fatal(err)
	}
	for i, l := range keys {
		url, ok := l.load()
		// keys[0] stored last; keys 1..5 were the oldest of the others.
		forgotten := i >= 1 && i <= 5
		if ok == forgotten {
			t.Errorf("kernel %d: remembered=%v (%q), want forgotten=%v", i, ok, url, forgotten)
		}
	}
	if url, ok := nb.load(); !ok || url != "sim:esp32" {
		t.Errorf("the notebook's board is %q, %v; want it kept", url, ok)
	}
}

// A state file written by an earlier version (bare URLs) still reattaches.
func TestLastDeviceReadsTheOldForm(t *testing.T) {
	path := filepath.Join(t.TempDir(), "last-device.json")
	if err := os.WriteFile(path, []byte(`{"lab.ipynb": "sim:esp32", "kernel:00": "serial:///dev/ttyACM0"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	l := &lastDevice{path: path, key: "lab.ipynb"}
	if url, ok := l.load(); !ok || url != "sim:esp32" {
		t.Fatalf("load = %q, %v", url, ok)
	}
	if err := (&lastDevice{path: path, key: "other.ipynb"}).store("sim:other"); err != nil {
		t.Fatal(err)
	}
	if url, ok := (&lastDevice{path: path, key: "kernel:00"}).load(); !ok || url != "serial:///dev/ttyACM0" {
		t.Errorf("after a store, the old entry is %q, %v", url, ok)
	}
}

// A lock another process never releases makes a store fail, in bounded
// time, and say why; it does not hang the kernel.
func TestLastDeviceLockIsBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "last-device.json")
	unlock, err := lockFile(path+".lock", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	done := make(chan error, 1)
	go func() { done <- (&lastDevice{path: path, key: "a"}).store("sim:a") }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("stored while another held the lock")
		}
		if want := "held by another kernel"; !strings.Contains(err.Error(), want) {
			t.Errorf("error %q, want %q", err, want)
		}
	case <-time.After(stateLockWait + 5*time.Second):
		t.Fatal("store waited past its bound")
	}
}
