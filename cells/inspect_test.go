package cells

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestSourceParsing(t *testing.T) {
	src := "def f(a, b=(1, 2),  # first\n      *args, c='x)', **kw):\n    pass\n" +
		"class K(Base):\n    'doc'\n    x = 1\n    def __init__(self, p, q=1):\n        pass\n    def m(self, z): pass\n" +
		"class Bare:\n    pass\ndef __init__(nope): pass\n" +
		"from machine import Pin, I2C as Bus\nimport os.path as osp, sys\n"
	if p, ok := funcParams(src, "f"); !ok || p != "a, b=(1, 2), *args, c='x)', **kw" {
		t.Errorf("f params = %q, %v", p, ok)
	}
	if p, ok := initParams(src, "K"); !ok || p != "p, q=1" {
		t.Errorf("K init params = %q, %v", p, ok)
	}
	if p, ok := initParams(src, "Bare"); !ok || p != "" {
		t.Errorf("Bare init params = %q, %v (the __init__ after it is not its own)", p, ok)
	}
	if _, ok := funcParams(src, "nosuch"); ok {
		t.Error("found an undefined function")
	}
	for name, want := range map[string]string{"Pin": "machine", "Bus": "machine", "osp": "os.path", "sys": "sys"} {
		if m, ok := importedFrom(src, name); !ok || m != want {
			t.Errorf("importedFrom(%s) = %q, %v; want %q", name, m, ok, want)
		}
	}
	if _, ok := importedFrom(src, "I2C"); ok {
		t.Error("I2C was imported under another name")
	}
	for code, want := range map[string]string{
		"x = f(":          "f",
		"x = f(1, 'a(', ": "f",
		"obj.meth(":       "obj.meth",
		"print(len(x), ":  "print",
		"[a, ":            "",
		"ab":              "ab",
		"f(a":             "a",
	} {
		if got := inspectTarget(code, len(code)); got != want {
			t.Errorf("inspectTarget(%q) = %q, want %q", code, got, want)
		}
	}
}

// fieldSpace is the alignment after an inspection field's label.
var fieldSpace = regexp.MustCompile(`(?m)^([A-Z][a-z ]*): +`)

func TestInspectOnBoard(t *testing.T) {
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			it, _ := connected(t, kind)
			mustRun(t, it, "def f(a, b=2,\n      *args, c, d=4, **kw):\n    return a\n"+
				"class K:\n    'doc K'\n    def __init__(self, p, q=1):\n        self.p = p\n    def m(self, z):\n        pass\n"+
				"k = K(1)\nfrom os import listdir\n")
			mustRun(t, it, "with open('mymod.py', 'w') as fh:\n    fh.write('def add(x, y=1):\\n    return x + y\\n')")
			mustRun(t, it, "import mymod\n41 + 1")
			state, _ := mustRun(t, it, "print(sorted(globals()))")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			inspect := func(code string, cursor int) string {
				t.Helper()
				ins, err := it.Inspect(ctx, code, cursor, 0)
				if err != nil || !ins.Found {
					t.Fatalf("inspect %q at %d: %+v, %v", code, cursor, ins, err)
				}
				text, _ := ins.Data["text/plain"].(string)
				return fieldSpace.ReplaceAllString(text, "$1: ") // the alignment aside
			}
			check := func(what, text string, wants ...string) {
				t.Helper()
				for _, w := range wants {
					if !strings.Contains(text, w) {
						t.Errorf("%s: no %q in\n%s", what, w, text)
					}
				}
			}
			check("f", inspect("f", 1), "Signature: f(a, b=2, *args, c, d=4, **kw)\n", "Type: function\n", "Module: __main__\n")
			check("after f(", inspect("y = f(", 6), "Signature: f(a, b=2, *args, c, d=4, **kw)\n")
			classText := inspect("K", 1)
			check("K", classText, "Init signature: K(p, q=1)\n", "Type: type\n")
			check("k.m", inspect("k.m(", 4), "Signature: k.m(z)\n")
			check("mymod.add", inspect("mymod.add", 9), "Signature: mymod.add(x, y=1)\n", "Module: mymod\n")
			check("listdir", inspect("listdir", 7), "Signature: unknown: MicroPython keeps no parameter names at run time", "Module: os\n")
			check("k", inspect("k", 1), "Type: K\n", "Value: <K object")

			// nothing left behind on the board
			if _, res := mustRun(t, it, "_"); res.Data["text/plain"] != "42" {
				t.Errorf("_ after inspection = %v, want 42", res.Data)
			}
			if after, _ := mustRun(t, it, "print(sorted(globals()))"); after.Stdout() != state.Stdout() {
				t.Errorf("globals after inspection:\n%s\nbefore:\n%s", after.Stdout(), state.Stdout())
			}
			// the docstring shows where the port keeps it
			_, doc := mustRun(t, it, "getattr(K, '__doc__', None)")
			if kept := doc.Data["text/plain"] == "'doc K'"; kept != strings.Contains(classText, "Docstring: doc K") {
				t.Errorf("board keeps the docstring: %v; inspection:\n%s", kept, classText)
			}
		})
	}
}

// Completion knows the board's modules after import and from, and a
// module's names after "from MODULE import "; it imports no module file.
func TestCompleteImports(t *testing.T) {
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			it, _ := connected(t, kind)
			mustRun(t, it, "with open('mything.py', 'w') as fh:\n    fh.write('ran = 1\\nprint(1)\\n')")
			// the board's own module list, as the user would look it up
			out, _ := mustRun(t, it, "help('modules')")
			builtin := "micropython"
			if !strings.Contains(out.Stdout(), builtin) {
				t.Fatalf("help('modules') lacks %s:\n%s", builtin, out.Stdout())
			}
			c := complete(t, it, "import micro")
			if !has(c.Matches, "micropython") || c.CursorStart != 7 {
				t.Errorf("import micro: %+v", c)
			}
			c = complete(t, it, "import os, mythi")
			if strings.Join(c.Matches, ",") != "mything" || c.CursorStart != 11 {
				t.Errorf("a module file: %+v", c)
			}
			c = complete(t, it, "from micropython import mem_")
			if !has(c.Matches, "mem_info") || c.CursorStart != 24 {
				t.Errorf("from micropython import mem_: %+v", c)
			}
			c = complete(t, it, "from micropython import ")
			if !has(c.Matches, "const") || has(c.Matches, "__name__") {
				t.Errorf("from micropython import: %+v", c)
			}
			// completion does not run a module file to list its names
			complete(t, it, "from mything import ")
			if ee, out := execError(t, it, "ran"); ee.Name != "NameError" || out.Stdout() != "" {
				t.Errorf("after completing from mything: %+v %q", ee, out.Stdout())
			}
			if _, res := mustRun(t, it, "import sys\n'mything' in getattr(sys, 'modules', {})"); res.Data["text/plain"] != "False" {
				t.Errorf("mything imported by completion: %v", res.Data)
			}
			// once the notebook imported it, its names complete
			mustRun(t, it, "import mything")
			if c := complete(t, it, "from mything import r"); strings.Join(c.Matches, ",") != "ran" {
				t.Errorf("from an imported module file: %+v", c)
			}
		})
	}
}
