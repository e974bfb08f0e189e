package kerneltest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/iot-kernel/iot-kernel/kernel"
)

func TestRecorder(t *testing.T) {
	var r Recorder
	r.Stream("stdout", "a")
	r.Display(kernel.MIMEBundle{"text/plain": "1"}, nil, "d1", false)
	r.Stream("stderr", "oops")
	r.Stream("stdout", "b")
	r.Display(kernel.MIMEBundle{"text/plain": "2"}, nil, "d1", true)
	r.ClearOutput(false)

	if got := r.Stdout(); got != "ab" {
		t.Errorf("Stdout = %q", got)
	}
	if got := r.Stderr(); got != "oops" {
		t.Errorf("Stderr = %q", got)
	}
	if n := len(r.Streams()); n != 3 {
		t.Errorf("%d stream writes, want 3", n)
	}
	if ev := r.Events(); len(ev) != 6 || ev[len(ev)-1].Kind != "clear" {
		t.Errorf("events = %+v", ev)
	}
	out, errOut := r.TakeText()
	if out != "ab" || errOut != "oops" || r.Stdout() != "" {
		t.Errorf("TakeText = %q, %q; then Stdout = %q", out, errOut, r.Stdout())
	}
	ds := r.TakeDisplays()
	if len(ds) != 2 || ds[0].Update || !ds[1].Update || ds[1].DisplayID != "d1" || ds[1].Data["text/plain"] != "2" {
		t.Errorf("displays = %+v", ds)
	}
	if len(r.Displays()) != 0 {
		t.Error("TakeDisplays kept the displays")
	}
}

func TestRecorderInput(t *testing.T) {
	var r Recorder
	if _, err := r.Input(context.Background(), "x? ", false); !errors.Is(err, kernel.ErrNoStdin) {
		t.Errorf("Input without Answer = %v, want ErrNoStdin", err)
	}
	r.Answer = func(prompt string) (string, error) { return "yes to " + prompt, nil }
	if got, err := r.Input(context.Background(), "y? ", false); err != nil || got != "yes to y? " {
		t.Errorf("Input = %q, %v", got, err)
	}
	if p := r.Prompts(); len(p) != 2 || p[0] != "x? " || p[1] != "y? " {
		t.Errorf("prompts = %q", p)
	}
}

// Writers on several goroutines, and an OnStream that reads back, under
// the race detector.
func TestRecorderConcurrent(t *testing.T) {
	var r Recorder
	r.SetOnStream(func(string, string) { _ = r.Stdout() })
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				r.Stream("stdout", "x")
			}
		})
	}
	wg.Wait()
	if n := len(r.Stdout()); n != 400 {
		t.Errorf("%d bytes recorded, want 400", n)
	}
}
