package cells

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/kernel/kerneltest"
)

// The last statement of the last line shows its value, as in IPython,
// also after a ';' on the same line; a trailing ';' silences it, and a ';'
// inside a string or a comment is no separator.
func TestLastStatementOnTheLine(t *testing.T) {
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			it, _ := connected(t, kind)
			_, want := mustRun(t, it, "import sys\nsys.platform")
			if want.Data["text/plain"] == "" {
				t.Fatalf("sys.platform alone shows %v", want.Data)
			}
			_, res := mustRun(t, it, "import sys; sys.platform")
			if res.Data["text/plain"] != want.Data["text/plain"] {
				t.Errorf("import sys; sys.platform shows %v, want %v", res.Data, want.Data)
			}
			_, res = mustRun(t, it, "x = 20; x + 1")
			if res.Data["text/plain"] != "21" {
				t.Errorf("x = 20; x + 1 shows %v", res.Data)
			}
			out, res := mustRun(t, it, "print('a;b'); 'c;d'  # e; f")
			if res.Data["text/plain"] != "'c;d'" || out.Stdout() != "a;b\n" {
				t.Errorf("semicolons in strings and comments: result %v, stdout %q", res.Data, out.Stdout())
			}
			for _, code := range []string{"import sys; sys.platform;", "y = 1; z = 2", "if True: 1; 2"} {
				if _, res := mustRun(t, it, code); res.Data != nil {
					t.Errorf("%q shows %v, want nothing", code, res.Data)
				}
			}
		})
	}
}

// input() in a cell run without stdin (nbclient, papermill) fails with an
// EOFError that says why, and its traceback shows only the user's code.
func TestInputWithoutStdin(t *testing.T) {
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			it, _ := connected(t, kind)
			ee, _ := execError(t, it, "x = 1\nname = input('Name? ')")
			if ee.Name != "EOFError" || ee.Value != ErrNoStdinText {
				t.Errorf("error = %s: %q, want EOFError: %s", ee.Name, ee.Value, ErrNoStdinText)
			}
			tb := strings.Join(ee.Traceback, "\n")
			if strings.Contains(tb, "_iot") || strings.Count(tb, "Cell In[") != 1 || !strings.Contains(tb, "Cell In[7], line 2") {
				t.Errorf("traceback:\n%s", tb)
			}
			if !strings.HasSuffix(tb, "EOFError: "+ErrNoStdinText) {
				t.Errorf("traceback does not end with the message:\n%s", tb)
			}
			// the user's own EOFError keeps its own text
			ee, _ = execError(t, it, "raise EOFError('mine')")
			if ee.Value != "mine" {
				t.Errorf("own EOFError = %q", ee.Value)
			}
			// and a cell that catches it goes on
			out := &kerneltest.Recorder{}
			res, err := run(t, it, "try:\n    input()\nexcept EOFError:\n    r = 'caught'\nr", out)
			if err != nil || res.Data["text/plain"] != "'caught'" {
				t.Errorf("caught EOFError: %v, %v", res.Data, err)
			}
			// an answer the kernel could not take says why, the same way
			why := fmt.Errorf("the answer to input() is 3 MiB, over the limit: %w", kernel.ErrBadInputReply)
			out = &kerneltest.Recorder{Answer: func(string) (string, error) { return "", why }}
			_, err = run(t, it, "input('Name? ')", out)
			if ee := (*kernel.ExecError)(nil); !errors.As(err, &ee) || ee.Name != "EOFError" || ee.Value != why.Error() {
				t.Errorf("input() with an answer not taken: %v, want EOFError: %s", err, why)
			}
		})
	}
}
