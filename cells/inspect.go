package cells

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/magics"
	"github.com/iot-kernel/iot-kernel/transport"
)

// inspectCode prints what the board knows of an object: its type, the
// module it comes from (a function's globals, a class's __module__, the
// module it was taken from, or a loaded module that holds it under its
// name), the file of a function's module, its __name__, whether it is a
// global of the notebook's (1 or 0), then its repr and,
// after \x1f, its docstring where the port keeps one. It leaves nothing
// behind: its function deletes itself and imports only sys, which is
// always loaded. EXPR, PARENT and NAME are filled in.
const inspectCode = `def __iot_i(o,p,n):
 import sys
 m=f=''
 g=getattr(o,'__globals__',None)
 if g:m=g.get('__name__','');f=g.get('__file__','')
 if not m:m=getattr(o,'__module__','')
 if not m and type(p) is type(sys):m=p.__name__
 if not m:
  M=getattr(sys,'modules',{})
  for k in M:
   if getattr(M[k],n,None) is o:m=k;break
 print(type(o));print(m);print(f);print(getattr(o,'__name__',''));print(int(globals().get(n) is o))
 print(repr(o)[:500],end='\x1f')
 d=getattr(o,'__doc__',None)
 if type(d) is str:print(d,end='')
try:
 __iot_i(EXPR,PARENT,NAME)
finally:
 del __iot_i
`

// boardObject is what inspectCode reports.
type boardObject struct {
	typ, module, file, name, repr, doc string
	global                             bool // a global of the notebook's under the name inspected
}

// kind is the object's type name: "<class 'int'>" gives "int".
func (o boardObject) kind() string {
	return strings.TrimSuffix(strings.TrimPrefix(o.typ, "<class '"), "'>")
}

func parseBoardObject(out string) (boardObject, bool) {
	out = strings.ReplaceAll(out, "\r\n", "\n")
	f := strings.SplitN(out, "\n", 6)
	if len(f) < 6 {
		return boardObject{}, false
	}
	o := boardObject{typ: f[0], module: f[1], file: f[2], name: f[3], global: f[4] == "1"}
	o.repr, o.doc, _ = strings.Cut(f[5], "\x1f")
	o.doc = strings.TrimRight(o.doc, "\n")
	return o, true
}

// inspectTarget is the dotted name at the cursor, or, when the cursor is on
// no name, the name of the call it is in ("f(" or "f(1, " inspect f).
func inspectTarget(code string, cursor int) string {
	before, cursor := beforeCursor(code, cursor)
	after := string([]rune(code)[cursor:])
	name := trailingName(before)
	for i := 0; i < len(after) && (isIdent(after[i]) || after[i] == '.'); i++ {
		name += string(after[i])
	}
	if name = strings.Trim(name, "."); name != "" {
		return name
	}
	if open := unclosedParen(before); open >= 0 {
		return strings.Trim(trailingName(strings.TrimRight(before[:open], " \t")), ".")
	}
	return ""
}

// unclosedParen returns the offset of the innermost '(' of src that is not
// closed, or -1; strings and comments are skipped.
func unclosedParen(src string) int {
	var stack []int
	sc := scanner{src: src}
	for sc.pos < len(src) {
		switch c := src[sc.pos]; {
		case c == '"' || c == '\'':
			sc.skipString()
			continue
		case c == '#':
			for sc.pos < len(src) && src[sc.pos] != '\n' {
				sc.pos++
			}
			continue
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, sc.pos)
		case c == ')' || c == ']' || c == '}':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
		sc.pos++
	}
	if n := len(stack); n > 0 && src[stack[n-1]] == '(' {
		return stack[n-1]
	}
	return -1 // in no bracket, or in a list or a dict: not a call
}

// Inspect answers inspect_request (Shift-Tab) with what the board knows of
// the name at the cursor, or of the call the cursor is in: its type, its
// repr, the module it comes from, the file of a function's module, its
// docstring where the port keeps one, and for functions and classes their
// parameters, read from the source that defined them (the cells run on
// this board, or the module's file on the board), since MicroPython keeps
// no parameter names at run time. It changes nothing on the board.
func (it *Interpreter) Inspect(ctx context.Context, code string, cursor, detail int) (kernel.Inspection, error) {
	name := inspectTarget(code, cursor)
	if !dottedName.MatchString(name) {
		return noInspection(), nil
	}
	ctx, b, done := it.askBoard(ctx)
	if b == nil {
		return noInspection(), nil
	}
	defer done()
	return it.inspectOn(ctx, b, name), nil
}

func noInspection() kernel.Inspection {
	return kernel.Inspection{Data: kernel.MIMEBundle{}, Metadata: map[string]any{}}
}

// inspectOn is Inspect for the dotted name on b, which the caller holds.
func (it *Interpreter) inspectOn(ctx context.Context, b *transport.Board, name string) kernel.Inspection {
	none := noInspection()
	parent, last := "None", name
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		parent, last = name[:i], name[i+1:]
	}
	src := strings.NewReplacer("EXPR", name, "PARENT", parent, "NAME", transport.PyStr(last)).Replace(inspectCode)
	var out strings.Builder
	if err := b.Exec(ctx, src, transport.ExecOptions{Stdout: &out}); err != nil {
		return none // not defined on the board: nothing to show
	}
	o, ok := parseBoardObject(out.String())
	if !ok {
		return none
	}
	cells := it.sources.newestFirst(b)
	if o.module == "" && o.kind() != "module" {
		// the port could not tell (the micro:bit's functions know
		// neither their module nor their globals): the cells can
		for _, c := range cells {
			if m, ok := importedFrom(c, last); ok && !strings.Contains(name, ".") {
				o.module = m
				break
			}
		}
		if o.module == "" && o.global {
			o.module = "__main__"
		}
	}
	var fields [][2]string
	switch k := o.kind(); {
	case k == "type":
		sig, ok := it.findSource(ctx, b, o, last, cells, initParams)
		fields = append(fields, [2]string{"Init signature", signature(name, sig, ok, last)})
	case strings.Contains(k, "function") || strings.Contains(k, "method") || k == "closure" || k == "generator":
		sig, ok := it.findSource(ctx, b, o, last, cells, funcParams)
		if ok && k == "bound_method" {
			sig = dropFirst(sig)
		}
		fields = append(fields, [2]string{"Signature", signature(name, sig, ok, last)})
	}
	fields = append(fields, [2]string{"Type", o.kind()})
	if o.module != "" && (o.module != "__main__" || len(fields) > 1) {
		fields = append(fields, [2]string{"Module", o.module})
	}
	if o.file != "" && o.file != "<stdin>" {
		fields = append(fields, [2]string{"File", o.file})
	}
	fields = append(fields, [2]string{"Value", o.repr})
	if o.doc != "" {
		fields = append(fields, [2]string{"Docstring", o.doc})
	}
	none.Found = true
	none.Data["text/plain"] = formatFields(fields)
	return none
}

// signature renders a signature line, or says honestly why there is none.
func signature(name, params string, ok bool, last string) string {
	if !ok {
		return "unknown: MicroPython keeps no parameter names at run time, and no cell run here or file on the board defines " + last
	}
	return name + "(" + params + ")"
}

// findSource looks for the definition of the object named last with find:
// in the file of its module when the board named one, else in the cells
// run on this board (newest first), else in the module's file on the
// board (NAME.py or lib/NAME.py).
func (it *Interpreter) findSource(ctx context.Context, b *transport.Board, o boardObject, last string, cells []string, find func(src, name string) (string, bool)) (string, bool) {
	name := last
	if o.name != "" && dottedName.MatchString(o.name) {
		name = o.name // the definition's own name, for an alias
	}
	var files []string
	switch {
	case o.file != "" && o.file != "<stdin>":
		files = []string{o.file}
	case o.module != "" && o.module != "__main__" && o.module != "builtins":
		p := strings.ReplaceAll(o.module, ".", "/")
		files = []string{p + ".py", path.Join(p, "__init__.py"), "lib/" + p + ".py"}
	}
	for _, f := range files {
		data, _, err := b.ReadFileHead(ctx, f, sourceFileMax, nil)
		if err != nil {
			continue
		}
		if s, ok := find(string(data), name); ok {
			return s, true
		}
	}
	if o.module == "" || o.module == "__main__" {
		for _, c := range cells {
			if s, ok := find(c, name); ok {
				return s, true
			}
		}
	}
	return "", false
}

// sourceFileMax bounds how much of a module file inspection reads.
const sourceFileMax = 64 << 10

// formatFields lines up "Label: value" lines, IPython's ?-style.
func formatFields(fields [][2]string) string {
	width := 0
	for _, f := range fields {
		width = max(width, len(f[0]))
	}
	var b strings.Builder
	for i, f := range fields {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(f[0] + ":" + strings.Repeat(" ", width-len(f[0])+1) + f[1])
	}
	return b.String()
}

// helpPattern is IPython's help syntax, a cell of one line: name?, ?name,
// name?? or ??name, the name dotted or a magic's.
var helpPattern = regexp.MustCompile(`^\s*(?:\?\??\s*(%{0,2}[\p{L}_][\p{L}\p{N}_.]*)|(%{0,2}[\p{L}_][\p{L}\p{N}_.]*)\s*\?\??)\s*$`)

// helpRequest reports whether code asks for help, and on what: on the
// board, a trailing ? is a SyntaxError, so nothing is taken from it.
func helpRequest(code string) (string, bool) {
	m := helpPattern.FindStringSubmatch(code)
	if m == nil {
		return "", false
	}
	return m[1] + m[2], true
}

// help answers name? as IPython does in a cell (jupyter console users
// type it): a magic's help, or what Shift-Tab shows of a name on the board.
func (it *Interpreter) help(ctx context.Context, env *magics.Env, name string) error {
	if magic, ok := strings.CutPrefix(name, "%"); ok {
		// %%name? asks for the cell magic first, %name? for the line one.
		kinds := []magics.Kind{magics.Line, magics.Cell}
		if cell, ok := strings.CutPrefix(magic, "%"); ok {
			magic, kinds = cell, []magics.Kind{magics.Cell, magics.Line}
		}
		for _, kind := range kinds {
			if m, ok := it.reg.Lookup(magic, kind); ok {
				env.Out.Stream("stdout", m.Help())
				return nil
			}
		}
		return it.magicError(ctx, fmt.Errorf("%w: %%%s", magics.ErrUnknownMagic, magic))
	}
	b, err := currentBoard(ctx, env)
	if err != nil {
		return it.magicError(ctx, err)
	}
	in := it.inspectOn(ctx, b, name)
	if text, _ := in.Data["text/plain"].(string); in.Found && text != "" {
		env.Out.Stream("stdout", strings.TrimRight(text, "\n")+"\n")
		return nil
	}
	env.Out.Stream("stdout", "Object `"+name+"` not found on the board.\n")
	return nil
}

// exitRequest is a cell that is just exit or quit, called or not.
var exitRequest = regexp.MustCompile(`^\s*(exit|quit)(?:\(\))?\s*$`)

// boardHas reports whether the connected board defines name, in the
// user's globals or its builtins; false with no board connected.
func (it *Interpreter) boardHas(ctx context.Context, name string) bool {
	b := it.sess.connected()
	if b == nil {
		return false
	}
	v, err := b.Eval(ctx, fmt.Sprintf("%s in globals() or %s in dir(__import__('builtins'))", transport.PyStr(name), transport.PyStr(name)))
	return err == nil && v == "True"
}
