package cells

import (
	"fmt"
	"strings"
	"testing"
)

func describe(cell string, ps []part) string {
	var out []string
	for _, p := range ps {
		switch p.kind {
		case partCode:
			out = append(out, fmt.Sprintf("code@%d:%q", p.line, p.text))
		case partMagic:
			out = append(out, fmt.Sprintf("magic@%d:%q", p.line, p.text))
		case partShell:
			out = append(out, fmt.Sprintf("shell@%d:%q", p.line, p.text))
		}
	}
	return strings.Join(out, " ")
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name, cell, want string
	}{
		{"empty", "", ""},
		{"blank and comments", "\n  \n# hi\n", ""},
		{"code", "x = 1\nprint(x)", `code@1:"x = 1\nprint(x)"`},
		{"magic between code", "a = 1\n%uid\nb = 2\n", `code@1:"a = 1" magic@2:"uid" code@3:"b = 2"`},
		{"shell", "!ls -l\nprint(1)", `shell@1:"ls -l" code@2:"print(1)"`},
		{"leading blank lines", "\n\n%info -v\n\nx\n", `magic@3:"info -v" code@5:"x"`},
		{"modulo continuation in brackets", "x = (10\n% 3)\n", `code@1:"x = (10\n% 3)"`},
		{"not-equal continuation", "y = (1\n!= 2)", `code@1:"y = (1\n!= 2)"`},
		{"percent in triple string", "s = '''\n%notmagic\n'''\n%uid", `code@1:"s = '''\n%notmagic\n'''" magic@4:"uid"`},
		{"indented percent stays code", "if 1:\n    %uid\n", `code@1:"if 1:\n    %uid"`},
		{"backslash continuation", "x = 1 + \\\n%2\n", `code@1:"x = 1 + \\\n%2"`},
		{"comment keeps code whole", "x = 1 # c\n", `code@1:"x = 1 # c"`},
		{"hash in string", "s = '#'\n%uid", `code@1:"s = '#'" magic@2:"uid"`},
		{"escaped quote", `s = 'it\'s'` + "\n%uid", `code@1:"s = 'it\\'s'" magic@2:"uid"`},
		{"crlf", "x = 1\r\n%uid\r\n", `code@1:"x = 1" magic@2:"uid"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := describe(tt.cell, split(tt.cell))
			if got != tt.want {
				t.Errorf("split(%q)\n got %s\nwant %s", tt.cell, got, tt.want)
			}
		})
	}
}

func TestLastExpression(t *testing.T) {
	tests := []struct {
		code string
		want bool
	}{
		{"x", true},
		{"1 + 2", true},
		{"f(a=1)", true},
		{"x == 2", true},
		{"x != 2", true},
		{"x <= 2", true},
		{"x >= 2", true},
		{"a, b", true},
		{"[i for i in range(3)]", true},
		{"d['k']", true},
		{"d[1:2]", true},
		{"lambda: 1", true},
		{"not x", true},
		{"'a string = 1'", true},
		{"foo(1,\n    2)", true},
		{"x  # a comment", true},
		{"x = 1", false},
		{"x += 1", false},
		{"x <<= 1", false},
		{"x >>= 1", false},
		{"x: int = 1", false},
		{"x;", false},
		{"x = 1; x", true},
		{"import sys; sys.platform", true},
		{"import sys; sys.platform;", false},
		{"a; b = 1", false},
		{"s = 'a; b'", false},
		{"'a; b'", true},
		{"x  # a; b = 1", true},
		{"x = 1  # ; x", false},
		{"if x: a; b", false},
		{"for i in r: a; i", false},
		{"f = lambda: 1; f()", true},
		{"x: int = 1; x", true},
		{"d = {1: 2}; d[1]", true},
		{"a = 1; import os", false},
		{"  x = 1; x", false},
		{"import os", false},
		{"from os import listdir", false},
		{"def f(): pass", false},
		{"if x: y", false},
		{"for i in r: pass", false},
		{"pass", false},
		{"del x", false},
		{"return 1", false},
		{"raise ValueError", false},
		{"assert x", false},
		{"@decorator", false},
		{"   x", false},
		{"global x", false},
		{"while True: pass", false},
		{"with f: pass", false},
		{"x, y = 1, 2", false},
		{"(y := 3)", true},
		{"lambda x=1: x", true},
		{"f = lambda x=1: x", false},
		{"lambda x=1: x; y = 2", false},
		{"match", true}, // MicroPython has no match statement: a name
		{"match.group(1)", true},
		{"match = 5", false},
		{"case[0]", true},
		{"match x:", false},
	}
	for _, tt := range tests {
		ps := split(tt.code)
		if len(ps) != 1 {
			t.Fatalf("%q: %d parts", tt.code, len(ps))
		}
		lls := ps[0].lines
		_, got := lls[len(lls)-1].shown(tt.code)
		if got != tt.want {
			t.Errorf("isExpression(%q) = %v, want %v (%+v)", tt.code, got, tt.want, lls[len(lls)-1])
		}
	}
}

func TestIsPrintCall(t *testing.T) {
	for expr, want := range map[string]bool{
		"print(1)":               true,
		"print('a)', x[1], (2))": true,
		"print(1, end=')')":      true,
		"print(1) + 1":           false,
		"print(1)(2)":            false,
		"print(1).x":             false,
		"print":                  false,
		"printer(1)":             false,
		"(print(1))":             false,
		"print(1); 2":            false,
	} {
		if got := isPrintCall(expr); got != want {
			t.Errorf("isPrintCall(%q) = %v, want %v", expr, got, want)
		}
	}
}
