package kernel

import "testing"

func TestIsComplete(t *testing.T) {
	for _, tc := range []struct {
		code, status, indent string
	}{
		{"", "complete", ""},
		{"   \n", "complete", ""},
		{"1", "complete", ""},
		{"print('hello, world')", "complete", ""},
		{"x = {'a': 1}", "complete", ""},
		{"s = 'a:'", "complete", ""},
		{"x = 1  # comment:", "complete", ""},
		{"def f(x):\n  return x*2\n\n\n", "complete", ""},
		{"for i in range(3):\n    print(i)\n\n", "complete", ""},
		{"%ls (", "complete", ""},
		{"!echo [", "complete", ""},
		{"%%cell_magic\nbody\n\n", "complete", ""},
		// Enter pressed on the line after a block's last one, as IPython
		// takes it: the line is empty or only indented.
		{"for i in range(3):\n    print(i)\n", "complete", ""},
		{"for i in range(3):\n    print(i)\n    ", "complete", ""},
		{"@dec\ndef f():\n    pass\n", "complete", ""},

		{"for i in range(3):", "incomplete", "    "},
		{"if x:  # comment", "incomplete", "    "},
		{"if x:\n    if y:", "incomplete", "        "},
		{"def f(x):\n  x*2", "incomplete", "  "},
		{"for i in range(3):\n    print(i)", "incomplete", "    "},
		{"print('''hello", "incomplete", ""},
		{"x = \"\"\"a\nb", "incomplete", ""},
		{"foo(1,\n", "incomplete", ""},
		{"x = [1, 2,", "incomplete", ""},
		{"d = {", "incomplete", ""},
		{"x = 1 + \\", "incomplete", ""},
		{"s = 'abc\\", "incomplete", ""},
		{"%%writefile f.py", "incomplete", ""},
		{"%%writefile f.py\nprint(1)", "incomplete", ""},
		{"@dec", "incomplete", ""},
		{"class A:\n    @staticmethod", "incomplete", "    "},

		{"x = (1]", "invalid", ""},
		{")", "invalid", ""},
		{"s = 'abc\nt = 1", "invalid", ""},
	} {
		st, ind := isComplete(tc.code)
		if st != tc.status || ind != tc.indent {
			t.Errorf("isComplete(%q) = %q, %q; want %q, %q", tc.code, st, ind, tc.status, tc.indent)
		}
	}
}
