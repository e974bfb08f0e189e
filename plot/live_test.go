package plot

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"testing"
	"time"
)

// Live shows only changed data, and its last frame holds everything fed
// before stop, however the ticks fell.
func TestLiveLastFrameHasAll(t *testing.T) {
	p := New(Config{})
	var frames []Frame
	stop := p.Live(MinInterval, func(f Frame) { frames = append(frames, f) })
	for i := 1; i <= 200; i++ {
		fmt.Fprintf(p, "a:%d b:%d\n", i, -i)
	}
	n := stop()
	if n != len(frames) || n == 0 {
		t.Fatalf("stop says %d frames, %d shown", n, len(frames))
	}
	last := frames[len(frames)-1]
	if last.Lines != 200 {
		t.Fatalf("last frame has %d lines, want 200", last.Lines)
	}
	for i := 1; i < len(frames); i++ {
		if frames[i].Version == frames[i-1].Version {
			t.Fatal("the same data shown twice")
		}
	}
	if again := stop(); again != n {
		t.Fatalf("a second stop showed more frames (%d, then %d)", n, again)
	}
}

func TestLiveNothingToShow(t *testing.T) {
	p := New(Config{})
	p.Write([]byte("only text\n"))
	if n := p.Live(MinInterval, func(Frame) { t.Error("a frame was shown for no data") })(); n != 0 {
		t.Fatalf("%d frames for no data", n)
	}
}

func TestCSVRows(t *testing.T) {
	var b bytes.Buffer
	c := NewCSV(&b, nil)
	c.Sample(1500*time.Millisecond, "temp, inside", 21.5)
	c.Sample(2*time.Second, "x", math.NaN())
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"time", "label", "value"}, {"1.500000", "temp, inside", "21.5"}, {"2.000000", "x", "NaN"}}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Fatalf("rows %q, want %q", rows, want)
	}
}
