package kernel_test

import (
	"slices"
	"testing"

	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
)

func TestStreamWriterLineEndings(t *testing.T) {
	tests := []struct {
		writes []string
		want   string
	}{
		{[]string{"a\r\nb\r\n"}, "a\nb\n"},
		{[]string{"a\r", "\nb"}, "a\nb"},
		{[]string{"50%\r", "60%\r", "done\r\n"}, "50%\r60%\rdone\n"},
		{[]string{"x\r"}, "x\r"},
		{[]string{"plain\n"}, "plain\n"},
		{[]string{"é\r", "\n"}, "é\n"},
	}
	for _, tt := range tests {
		out := &kerneltest.Recorder{}
		w := kernel.NewStreamWriter(out, "stdout")
		for _, s := range tt.writes {
			if _, err := w.Write([]byte(s)); err != nil {
				t.Fatal(err)
			}
		}
		w.Flush()
		if got := out.Stdout(); got != tt.want {
			t.Errorf("writes %q: got %q, want %q", tt.writes, got, tt.want)
		}
	}
}

func TestStreamWriterUTF8(t *testing.T) {
	out := &kerneltest.Recorder{}
	w := kernel.NewStreamWriter(out, "stderr")
	e := []byte("é€😀") // 2, 3 and 4 byte characters
	for i := range e {
		w.Write(e[i : i+1])
	}
	w.Write([]byte("\xff!")) // an invalid byte is passed on, not held back
	w.Write([]byte("a\xc3")) // a character cut short is held back...
	w.Flush()                // ...until Flush sends it as it is
	var chunks []string
	for _, c := range out.Streams() {
		if c.Name != "stderr" {
			t.Errorf("chunk on %s", c.Name)
		}
		chunks = append(chunks, c.Text)
	}
	// One chunk per whole character: none is split across two.
	want := []string{"é", "€", "😀", "\xff!", "a", "\xc3"}
	if !slices.Equal(chunks, want) {
		t.Errorf("chunks %q, want %q", chunks, want)
	}
}
