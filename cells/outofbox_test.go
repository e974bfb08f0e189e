package cells

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/iot-kernel/iot-kernel/testboard"
)

// %info says how the filesystem is used on every board that has one; the
// micro:bit has no os.statvfs, so there it adds up its files, and so it
// does on the wasm board, whose os.statvfs answers emscripten's fixed
// placeholders (1.9 GB free of 3.8 GB whatever is stored).
func TestInfoFilesystem(t *testing.T) {
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			it, _ := connected(t, kind)
			mustRun(t, it, "f = open('info.txt', 'w')\nf.write('x' * 300)\nf.close()")
			out, _ := mustRun(t, it, "%info")
			line := regexp.MustCompile(`(?m)^filesystem: +(.*)$`).FindStringSubmatch(out.Stdout())
			if line == nil {
				t.Fatalf("%%info has no filesystem line:\n%s", out.Stdout())
			}
			sizes := "import os\n(sum([os.size(f) for f in os.listdir()]), len(os.listdir()))"
			if kind != testboard.Microbit {
				sizes = "import os\n(sum([os.stat(f)[6] for f in os.listdir()]), len(os.listdir()))"
			}
			_, res := mustRun(t, it, sizes)
			text, _ := res.Data["text/plain"].(string)
			sums := strings.Split(strings.Trim(text, "()"), ", ")
			if len(sums) != 2 {
				t.Fatalf("file sizes on the board: %q", text)
			}
			n, _ := strconv.Atoi(sums[1])
			want := sums[0] + " bytes used by " + strconv.Itoa(n) + " files; its total size is unknown"
			if !strings.HasPrefix(line[1], want) || n < 1 {
				t.Errorf("filesystem: %s\nwant it to start %q", line[1], want)
			}
		})
	}
}

// %info on the virtual board (a wasm port too) adds up its files, those
// in folders included, rather than show emscripten's fixed statvfs answer.
func TestInfoFilesystemVirtualBoard(t *testing.T) {
	it, _, _ := simInterp(t)
	mustRun(t, it, "%connect -q sim")
	mustRun(t, it, "import os\nos.mkdir('d')\nwith open('d/a.txt', 'w') as f:\n    f.write('x' * 500)\nwith open('b.txt', 'w') as f:\n    f.write('y' * 300)")
	out, _ := mustRun(t, it, "%info")
	want := "filesystem:     800 bytes used by 2 files; its total size is unknown (this port's os.statvfs answers fixed placeholder numbers)\n"
	if !strings.Contains(out.Stdout(), want) {
		t.Errorf("%%info on the virtual board:\n%s\nwant the line %q", out.Stdout(), want)
	}
}

// %rsync -n of a folder with subfolders to the micro:bit, whose filesystem
// is flat, says at once that it cannot create them, and changes nothing.
func TestRsyncToFlatBoard(t *testing.T) {
	b := startBoard(t, testboard.Microbit)
	it, cfg := newInterp(t)
	mustRun(t, it, "%connect -q "+b.Path())
	for rel, data := range map[string]string{"app/main.py": "x = 1\n", "app/lib/util.py": "y = 2\n"} {
		p := filepath.Join(cfg.WorkDir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, before := mustRun(t, it, "import os\nsorted(os.listdir())")
	for _, line := range []string{"%rsync -n app :", "%rsync app :"} {
		ee, out := execError(t, it, line)
		if !strings.Contains(ee.Value, "this board's filesystem has no folders, so it cannot create :lib/; nothing changed") || out.Stdout() != "" {
			t.Errorf("%s: %s: %s (stdout %q)", line, ee.Name, ee.Value, out.Stdout())
		}
	}
	if _, after := mustRun(t, it, "sorted(os.listdir())"); after.Data["text/plain"] != before.Data["text/plain"] {
		t.Errorf("board files %v, were %v", after.Data, before.Data)
	}
}
