package magics

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
)

func TestProgressQuickTransferShowsNothing(t *testing.T) {
	out := &kerneltest.Recorder{}
	clock := newFakeClock()
	p := newProgress(out, clock.now, "write a.py")
	for done := int64(0); done <= 1000; done += 100 {
		clock.advance(50 * time.Millisecond)
		p.update(done, 1000)
	}
	p.finish(nil)
	if d := out.TakeDisplays(); len(d) != 0 {
		t.Errorf("a 0.55 s transfer published %d displays", len(d))
	}
}

func TestProgressSlowTransfer(t *testing.T) {
	out := &kerneltest.Recorder{}
	clock := newFakeClock()
	p := newProgress(out, clock.now, "write big.py")
	// 10 KB in 100-byte steps, 50 ms apart: 5 s in all.
	for done := int64(0); done <= 10_000; done += 100 {
		p.update(done, 10_000)
		clock.advance(50 * time.Millisecond)
	}
	p.finish(nil)
	ds := out.TakeDisplays()
	if len(ds) < 3 {
		t.Fatalf("got %d displays, want a first one, updates and a final one", len(ds))
	}
	first := ds[0]
	if first.Update || first.DisplayID == "" {
		t.Errorf("first display: update=%v id=%q, want a new display with an id", first.Update, first.DisplayID)
	}
	if txt := first.Data["text/plain"].(string); !strings.Contains(txt, "  20%") || !strings.HasSuffix(txt, "write big.py") {
		t.Errorf("first display text %q, want 20%% at 1 s", txt)
	}
	for i, d := range ds[1:] {
		if !d.Update || d.DisplayID != first.DisplayID {
			t.Errorf("display %d: update=%v id=%q, want an update of %q", i+1, d.Update, d.DisplayID, first.DisplayID)
		}
	}
	// At most one redraw per 0.2 s of (fake) time: 4 s after the first.
	if len(ds) > 1+4*5+1 {
		t.Errorf("%d displays in 5 s: redrawn too often", len(ds))
	}
	last := ds[len(ds)-1]
	txt := last.Data["text/plain"].(string)
	if !strings.HasPrefix(txt, "[####################] 100%  2.0 KB/s  write big.py") {
		t.Errorf("final display text %q", txt)
	}
	html := last.Data["text/html"].(string)
	if !strings.Contains(html, `<progress value="100" max="100"`) || !strings.Contains(html, "write big.py") {
		t.Errorf("final display html %q", html)
	}
}

func TestProgressFailedTransfer(t *testing.T) {
	out := &kerneltest.Recorder{}
	clock := newFakeClock()
	p := newProgress(out, clock.now, "write <x>.py")
	p.update(0, 1000)
	clock.advance(1500 * time.Millisecond)
	p.update(400, 1000)
	p.finish(errors.New("link lost"))
	ds := out.TakeDisplays()
	if len(ds) != 2 {
		t.Fatalf("got %d displays, want 2", len(ds))
	}
	if txt := ds[1].Data["text/plain"].(string); !strings.Contains(txt, " 40%") || !strings.HasSuffix(txt, "(failed)") {
		t.Errorf("failed display %q", txt)
	}
	if html := ds[1].Data["text/html"].(string); !strings.Contains(html, "write &lt;x&gt;.py") {
		t.Errorf("label not escaped in %q", html)
	}
}

// TestCpShowsProgress runs a slow %cp end to end: the bar appears, is
// updated in place and ends at 100 %.
func TestCpShowsProgress(t *testing.T) {
	f := newFileEnv(t)
	f.writeHost("big.bin", strings.Repeat("z", 64*256))
	f.board.onChunk = func() { f.clock.advance(100 * time.Millisecond) } // 64 chunks: 6.4 s
	f.must("cp big.bin :")
	ds := f.out.TakeDisplays()
	if len(ds) < 2 || ds[0].Update || !ds[len(ds)-1].Update {
		t.Fatalf("displays %+v", ds)
	}
	if txt := ds[len(ds)-1].Data["text/plain"].(string); !strings.Contains(txt, "100%") || !strings.HasSuffix(txt, "write big.bin") {
		t.Errorf("final bar %q", txt)
	}
	// A quick copy shows none.
	f.board.onChunk = nil
	f.writeHost("small.py", "s")
	f.must("cp small.py :")
	if ds := f.out.TakeDisplays(); len(ds) != 0 {
		t.Errorf("a quick copy published %d displays", len(ds))
	}
}

// A link that reports progress thousands of times a second, with or
// without a known total (WebREPL reports every 256-byte chunk), gets at
// most about five redraws a second, and none while the bar shows the
// same value.
func TestProgressRateLimited(t *testing.T) {
	for _, total := range []int64{-1, 6 << 20} {
		out := &kerneltest.Recorder{}
		clock := newFakeClock()
		p := newProgress(out, clock.now, "read big.bin")
		const calls = 13934 // the 6 MB download, in 2.2 s
		for i := int64(1); i <= calls; i++ {
			clock.advance(2200 * time.Millisecond / calls)
			p.update(i*256, total)
		}
		ds := out.TakeDisplays()
		// 2.2 s: shown after 1 s, then at most 5 a second.
		if len(ds) == 0 || len(ds) > 1+5*2 {
			t.Errorf("total %d: %d displays for %d progress reports in 2.2 s, want 1 to 11", total, len(ds), calls)
		}
		// Then the same value again and again for a second: nothing new
		// to show, but the value last reported, if the last redraw was
		// before it.
		for range 1000 {
			clock.advance(time.Millisecond)
			p.update(calls*256, total)
		}
		if ds := out.TakeDisplays(); len(ds) > 1 {
			t.Errorf("total %d: %d redraws in a second of the same value, want at most 1", total, len(ds))
		}
		p.finish(nil)
	}
}
