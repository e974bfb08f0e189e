package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/testboard"
	"github.com/iot-kernel/iot-kernel/transport/serialport"
)

// faultBoard starts a test board of kind and a Board on its serial port
// whose link goes through a faultConn; conn gives the current one (each
// dial makes a new one, set up by setup).
func faultBoard(t *testing.T, kind testboard.Kind, setup func(*faultConn)) (*Board, *testboard.Board, func() *faultConn) {
	t.Helper()
	tb := startTestBoard(t, kind, testboard.Options{})
	var mu sync.Mutex
	var cur *faultConn
	b := New(tb.Path(), func(ctx context.Context) (io.ReadWriteCloser, error) {
		rwc, err := serialport.Dial(ctx, tb.Path(), serialport.Options{})
		if err != nil {
			return nil, err
		}
		c := newFaultConn(rwc)
		if setup != nil {
			setup(c)
		}
		mu.Lock()
		cur = c
		mu.Unlock()
		return c.stream(), nil
	}, Options{})
	t.Cleanup(func() { _ = b.Close() })
	return b, tb, func() *faultConn {
		mu.Lock()
		defer mu.Unlock()
		return cur
	}
}

// boardFiles reads every file on the board's top folder; one that cannot
// be read holds a note saying so.
func boardFiles(t *testing.T, ctx context.Context, b *Board) map[string][]byte {
	t.Helper()
	list, err := b.ListDir(ctx, "")
	if err != nil {
		t.Fatalf("ListDir: %v", err)
	}
	files := map[string][]byte{}
	for _, fi := range list {
		if fi.IsDir {
			continue
		}
		data, err := b.ReadFile(ctx, fi.Name, nil)
		if err != nil {
			// Once more: a stop may leave the board a moment behind.
			t.Logf("ReadFile %s: %v", fi.Name, err)
			if data, err = b.ReadFile(ctx, fi.Name, nil); err != nil {
				t.Logf("%s cannot be read back: %v", fi.Name, err)
				data = []byte("unreadable: " + err.Error())
			}
		}
		files[fi.Name] = data
	}
	return files
}

// checkTruth checks what a write of name that ended in err left on the
// board: the file holds the old or the new data, a temporary file is
// there only if the message names it, and one the message names holds the
// new data.
func checkTruth(t *testing.T, files map[string][]byte, name string, old, new []byte, err error) {
	t.Helper()
	tmp := name + partSuffix
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	got, ok := files[name]
	switch {
	case err == nil && !bytes.Equal(got, new):
		t.Errorf("the write succeeded but %s holds %d bytes (present %v), not the %d written", name, len(got), ok, len(new))
	case !ok:
		t.Errorf("%s is gone after a write that failed with: %v", name, err)
	case !bytes.Equal(got, old) && !bytes.Equal(got, new):
		t.Errorf("%s holds %d bytes, neither the old %d nor the new %d, after: %v", name, len(got), len(old), len(new), err)
	}
	tdata, tok := files[tmp]
	named := strings.Contains(msg, tmp)
	switch {
	case named && !tok:
		t.Errorf("the message names %s, which is not on the board: %v", tmp, err)
	case named && !bytes.Equal(tdata, new):
		t.Errorf("the message names %s, which holds %d bytes, not the %d written: %v", tmp, len(tdata), len(new), err)
	case tok && !named:
		t.Errorf("%s was left on the board without a word: %v", tmp, err)
	}
}

// lastCode is the code of the last exec in what was sent: the bytes
// between the last two \x04.
func lastCode(sent []byte) []byte {
	end := bytes.LastIndexByte(sent, 4)
	if end < 0 {
		return nil
	}
	return sent[bytes.LastIndexByte(sent[:end], 4)+1 : end]
}

// On the micro:bit, which has no os.rename, a stop that arrives while the
// board copies the verified upload into place must not lose the file: the
// copy finishes, and whatever is reported is true. The stop is timed from
// the board's "OK" to the copy's code (the copy runs in the 3-5 ms after
// it on the test board), 0-4 ms later, which is how the issue found it.
func TestMicrobitUploadStoppedDuringCopy(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the micro:bit test board")
	}
	var mu sync.Mutex
	var armed bool
	var stop func() // schedules the stop; set per try
	b, _, _ := faultBoard(t, testboard.Microbit, func(c *faultConn) {
		c.onWrite = func(c *faultConn, p []byte) ([]byte, bool) {
			// The copy's code ends with \x04: arm on it.
			if bytes.IndexByte(p, 4) >= 0 && bytes.Contains(lastCode(c.sentTail(2000)), []byte("d.write(b)")) {
				mu.Lock()
				armed = stop != nil
				mu.Unlock()
			}
			return p, false
		}
		c.onRead = func(c *faultConn, p []byte) {
			mu.Lock()
			defer mu.Unlock()
			if armed && stop != nil && bytes.Contains(p, []byte("OK")) {
				armed = false
				stop()
				stop = nil
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const name = "f.bin"
	old := bytes.Repeat([]byte("old data "), 400)
	tries, stopped := 0, 0
	for round := 0; round < 2; round++ {
		for delay := time.Duration(0); delay <= 4*time.Millisecond; delay += time.Millisecond {
			tries++
			if err := b.WriteFile(ctx, name, old, nil); err != nil {
				t.Fatalf("try %d: writing the old file: %v", tries, err)
			}
			sent := make(chan struct{})
			mu.Lock()
			stop = func() {
				time.AfterFunc(delay, func() { _ = b.Interrupt(ctx); close(sent) })
			}
			mu.Unlock()
			new := []byte(strings.Repeat(fmt.Sprintf("new data %d ", tries), 300))
			err := b.WriteFile(ctx, name, new, nil)
			mu.Lock()
			if stop == nil {
				stopped++
				mu.Unlock()
				<-sent
			} else {
				stop, armed = nil, false
				mu.Unlock()
				t.Logf("try %d: the copy's OK was not seen", tries)
			}
			t.Logf("try %d (stop %v after the copy's OK): %v", tries, delay, err)
			files := boardFiles(t, ctx, b)
			checkTruth(t, files, name, old, new, err)
			if t.Failed() {
				t.Fatalf("try %d (stop %v after the copy's OK) lost the file", tries, delay)
			}
			if _, ok := files[name+partSuffix]; ok {
				_ = b.Remove(ctx, name+partSuffix)
			}
		}
	}
	if stopped == 0 {
		t.Fatal("no try was stopped during the copy")
	}
	if _, err := b.Stat(ctx, name+partSuffix); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary file left: %v", err)
	}
}

// On the micro:bit (no os.rename, about 15 KB of flash), a file that fits
// once but not twice is replaced all the same: the copy of the verified
// upload runs out of room once the old file is gone, and the data is then
// written in place. A file that does not fit beside the old one fails
// with the old file intact and no temporary file left.
func TestMicrobitOverwriteWithRoomForOneCopy(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the micro:bit test board")
	}
	b, _, _ := faultBoard(t, testboard.Microbit, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const name = "a.bin"
	data := func(n, seed int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte((i*7 + seed*31 + i/251) % 256)
		}
		return p
	}
	old, new := data(6000, 1), data(8000, 2)
	if err := b.WriteFile(ctx, name, old, nil); err != nil {
		t.Fatalf("writing the old file: %v", err)
	}
	if err := b.WriteFile(ctx, name, new, nil); err != nil {
		t.Fatalf("replacing a 6000-byte file by an 8000-byte one: %v", err)
	}
	files := boardFiles(t, ctx, b)
	checkTruth(t, files, name, old, new, nil)
	if len(files) != 1 {
		t.Errorf("files on the board after the write: %d, want 1", len(files))
	}

	// Now 8000 bytes are there: another 8000 do not fit beside them.
	newer := data(8000, 3)
	err := b.WriteFile(ctx, name, newer, nil)
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("8000 bytes beside 8000 = %v, want ErrNoSpace", err)
	}
	if !strings.Contains(err.Error(), name+" is unchanged") {
		t.Errorf("the error does not say the file is unchanged: %v", err)
	}
	checkTruth(t, boardFiles(t, ctx, b), name, new, newer, err)
}

// A stop during an upload in chunks stops it: each chunk is an exec of its
// own, and a board that got the code with a Ctrl-C after it ran the chunk
// in full (the wasm board, or any that reads the Ctrl-C only at its
// prompt), so the upload went on to the end. The file stays unchanged.
func TestUploadStopsBetweenChunks(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the wasm test board")
	}
	b, _, _ := faultBoard(t, testboard.Wasm, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const name = "up.bin"
	old := []byte("old contents\n")
	if err := b.WriteFile(ctx, name, old, nil); err != nil {
		t.Fatalf("writing the old file: %v", err)
	}
	new := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KiB
	stopCtx, stop := context.WithCancelCause(ctx)
	errStop := errors.New("stopped by the test")
	var last int64
	err := b.WriteFile(stopCtx, name, new, func(done, total int64) {
		last = done
		if done >= 16<<10 {
			stop(errStop) // between two chunks
		}
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("the stopped upload returned %v, want the stop's cause", err)
	}
	if last >= int64(len(new)) {
		t.Errorf("the upload went on to the end (%d bytes) after the stop", last)
	}
	checkTruth(t, boardFiles(t, ctx, b), name, old, new, err)
}

// A file step whose answer never ends (bytes lost, a board gone silent,
// another program reading the port) fails within a bound, with a true
// message, instead of holding the upload until the user stops it.
func TestFileStepWithoutAnAnswerIsBounded(t *testing.T) {
	f := newFake(t, "yes")
	f.run = func(x *fakeExec) string {
		switch {
		case strings.Contains(x.code, "int(hasattr(os,'ilistdir'))"):
			x.out("1 1 1 1 1 100000\r\n\r\n")
		case strings.HasPrefix(x.code, "_iotb="):
			x.out("W\r\n")
			x.dropEnd = true // the chunk's answer loses its end
		}
		return ""
	}
	b := f.board(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(testCtx(t), 8*time.Second)
	defer cancel()
	err := b.WriteFile(ctx, "main.py", []byte("x=1\n"), nil)
	if ctx.Err() != nil {
		t.Fatalf("WriteFile still waiting after 8 s (link timeout 300 ms): err=%v", err)
	}
	if !errors.Is(err, ErrNoResponse) || !strings.Contains(err.Error(), "main.py") {
		t.Errorf("err=%v; want no answer from the board, naming main.py", err)
	}
	t.Logf("the error: %v", err)
}

// A virtual board that ignores Ctrl-C during an upload is restarted; the
// error still says what the upload left on the board: the verified data
// under its temporary name (stuck in the commit), or a partial temporary
// file (stopped during a chunk).
func TestRestartDuringUploadTellsWhatWasLeft(t *testing.T) {
	for _, at := range []string{"commit", "chunk"} {
		f := newFake(t, "yes")
		stuck := make(chan struct{})
		started := make(chan struct{})
		f.run = func(x *fakeExec) string {
			switch {
			case strings.Contains(x.code, "int(hasattr(os,'ilistdir'))"):
				x.out("1 1 1 1 1 100000\r\n\r\n")
			case strings.HasPrefix(x.code, "_iotb="):
				if at == "chunk" {
					close(started)
					<-stuck // busy: ignores every Ctrl-C
				}
				x.out("W\r\n")
			case strings.Contains(x.code, "print('CHECKED')"):
				x.out("CHECKED\r\n")
				<-stuck
			}
			return ""
		}
		b := f.board(300 * time.Millisecond)
		restartable(f, b)
		ctx, cancel := context.WithCancel(testCtx(t))
		if at == "chunk" {
			go func() {
				<-started
				cancel() // the user presses stop
			}()
		}
		err := b.WriteFile(ctx, "main.py", []byte("x=1\n"), nil)
		cancel()
		close(stuck)
		var wf WriteFailure
		if err == nil || !errors.Is(err, ErrReset) || !errors.As(err, &wf) || !strings.Contains(err.Error(), "main.py"+partSuffix) {
			t.Errorf("%s: err=%v; want the restart, and what was left under main.py%s", at, err, partSuffix)
		}
		t.Logf("%s: %v", at, err)
	}
}

// Writing onto a folder fails at once, says so, and leaves nothing behind
// (the verified upload was removed), on real firmware with folders.
func TestWriteOntoAFolderLeavesNothing(t *testing.T) {
	ctx := testCtx(t)
	tb := startTestBoard(t, testboard.Wasm, testboard.Options{})
	b := New(tb.Path(), func(ctx context.Context) (io.ReadWriteCloser, error) {
		return serialport.Dial(ctx, tb.Path(), serialport.Options{})
	}, Options{})
	t.Cleanup(func() { _ = b.Close() })
	if err := b.Mkdir(ctx, "lib"); err != nil {
		t.Fatal(err)
	}
	err := b.WriteFile(ctx, "lib", []byte("hello\n"), nil)
	if !errors.Is(err, ErrIsDir) || strings.Count(err.Error(), "lib") != 1 || strings.Contains(err.Error(), "copy it again") {
		t.Errorf("err=%v; want one clear error: lib is a folder", err)
	}
	list, err := b.ListDir(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, fi := range list {
		if strings.HasSuffix(fi.Name, partSuffix) {
			t.Errorf("%s left on the board", fi.Name)
		}
	}
}
