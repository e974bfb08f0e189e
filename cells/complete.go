package cells

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/magics"
	"github.com/iot-kernel/iot-kernel/transport"
)

// askTimeout bounds how long completion and inspection wait for the board:
// a frontend asks as the user types, and a slow answer is worse than none.
const askTimeout = 2 * time.Second

var (
	// dottedName is a Python name with attributes, e.g. "machine.Pin".
	dottedName = regexp.MustCompile(`^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$`)
	// quoted picks the strings out of the repr of a list of names.
	quoted = regexp.MustCompile(`'([^'\\]*)'`)
	// magicPrefix is a magic name being typed at the start of a line.
	magicPrefix = regexp.MustCompile(`^(%%?)(\w*)$`)
	// fromImport is "from MODULE import A, B" being typed: the module and
	// the name at the cursor.
	fromImport = regexp.MustCompile(`^\s*from\s+([A-Za-z_][\w.]*)\s+import\s+\(?(?:\w+(?:\s+as\s+\w+)?\s*,\s*)*(\w*)$`)
	// importing is a module name being typed after import or from.
	importing = regexp.MustCompile(`^\s*(?:import\s+(?:[\w.]+(?:\s+as\s+\w+)?\s*,\s*)*|from\s+)([\w.]*)$`)
)

// askBoard lends the connected board for a quick question (completion,
// inspection), with ctx bounded by askTimeout. It returns a nil board when
// a cell is running or no board is connected: the frontend then gets no
// answer rather than wait. done gives the board back.
func (it *Interpreter) askBoard(ctx context.Context) (context.Context, *transport.Board, func()) {
	if !it.busy.TryLock() {
		return ctx, nil, nil
	}
	b := it.sess.connected()
	if b == nil {
		it.busy.Unlock()
		return ctx, nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, askTimeout)
	return ctx, b, func() {
		cancel()
		it.busy.Unlock()
	}
}

// Complete answers complete_request: magic names after '%', board paths
// after ':' in a magic line, and Python names from the board. It returns
// no matches rather than wait for a board that is busy or slow.
func (it *Interpreter) Complete(ctx context.Context, code string, cursor int) (kernel.Completion, error) {
	before, cursor := beforeCursor(code, cursor)
	none := kernel.Completion{CursorStart: cursor, CursorEnd: cursor, Matches: []string{}, Metadata: map[string]any{}}
	line := before[strings.LastIndexByte(before, '\n')+1:]

	if m := magicPrefix.FindStringSubmatch(line); m != nil {
		kind := magics.Line
		if m[1] == "%%" {
			kind = magics.Cell
		}
		var matches []string
		for _, mg := range it.reg.List() {
			if mg.Kind&kind != 0 && strings.HasPrefix(mg.Name, m[2]) {
				matches = append(matches, m[1]+mg.Name)
			}
		}
		none.Matches = dedupe(matches)
		none.CursorStart = cursor - runeLen(line)
		return none, nil
	}
	if strings.HasPrefix(line, "%connect ") || strings.HasPrefix(line, "%%connect ") {
		// a board name from the devices file
		word := line[strings.LastIndexAny(line, " \t")+1:]
		if strings.HasPrefix(word, "-") {
			return none, nil
		}
		var matches []string
		if df, err := it.sess.devices(); err == nil {
			for _, n := range append(df.Names(), "auto", "sim") {
				if strings.HasPrefix(n, word) {
					matches = append(matches, n)
				}
			}
		}
		none.Matches = dedupe(matches)
		none.CursorStart = cursor - runeLen(word)
		return none, nil
	}
	ctx, b, done := it.askBoard(ctx)
	if b == nil {
		return none, nil
	}
	defer done()

	if strings.HasPrefix(line, "%") {
		// a board path after ':' in a magic's arguments
		word := line[strings.LastIndexAny(line, " \t")+1:]
		if strings.HasPrefix(word, ":") {
			matches := boardPaths(ctx, b, word[1:])
			for i := range matches {
				matches[i] = ":" + matches[i]
			}
			none.Matches = matches
			none.CursorStart = cursor - runeLen(word)
			return none, nil
		}
		return none, nil
	}

	if m := fromImport.FindStringSubmatch(line); m != nil {
		// from MODULE import NA: the module's names
		names, err := moduleAttrs(ctx, b, m[1], m[2])
		if err != nil {
			it.log.Debug("completion", "err", err)
		}
		none.Matches = names
		none.CursorStart = cursor - runeLen(m[2])
		return none, nil
	}
	if m := importing.FindStringSubmatch(line); m != nil {
		// import MA, from MA: the modules the board has
		names, err := moduleNames(ctx, b, m[1])
		if err != nil {
			it.log.Debug("completion", "err", err)
		}
		none.Matches = names
		none.CursorStart = cursor - runeLen(m[1])
		return none, nil
	}

	tok := trailingName(before)
	obj, prefix := "", tok
	if i := strings.LastIndexByte(tok, '.'); i >= 0 {
		obj, prefix = tok[:i], tok[i+1:]
		if !dottedName.MatchString(obj) {
			return none, nil
		}
	}
	names, err := boardNames(ctx, b, obj, prefix)
	if err != nil {
		it.log.Debug("completion", "err", err)
		return none, nil
	}
	if obj == "" {
		for _, k := range pythonKeywords {
			if strings.HasPrefix(k, prefix) {
				names = append(names, k)
			}
		}
	}
	sort.Strings(names)
	none.Matches = dedupe(names)
	none.CursorStart = cursor - runeLen(prefix)
	return none, nil
}

// pythonKeywords complete at the start of a name.
var pythonKeywords = []string{
	"and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
	"elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in",
	"is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
	"with", "yield", "None", "True", "False",
}

// beforeCursor returns the code before cursor (counted in code points,
// clamped to the code) and the clamped cursor.
func beforeCursor(code string, cursor int) (string, int) {
	r := []rune(code)
	cursor = max(0, min(cursor, len(r)))
	return string(r[:cursor]), cursor
}

func runeLen(s string) int { return len([]rune(s)) }

// trailingName is the run of name characters and dots that ends s.
func trailingName(s string) string {
	i := len(s)
	for i > 0 {
		c := s[i-1]
		if !isIdent(c) && c != '.' {
			break
		}
		i--
	}
	return s[i:]
}

func dedupe(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	if out == nil {
		return []string{}
	}
	return out
}

// boardNames lists the names on the board that start with prefix: the
// attributes of obj, or the globals and builtins when obj is "". Names
// starting with '_' are left out unless prefix starts with one.
func boardNames(ctx context.Context, b *transport.Board, obj, prefix string) ([]string, error) {
	src := "list(globals())+dir(__import__('builtins'))"
	if obj != "" {
		src = "dir(" + obj + ")"
	}
	code := "print(sorted(set([n for n in " + src + " if n.startswith(" + transport.PyStr(prefix) + ")])))"
	var out strings.Builder
	if err := b.Exec(ctx, code, transport.ExecOptions{Stdout: &out}); err != nil {
		return nil, err
	}
	var names []string
	for _, m := range quoted.FindAllStringSubmatch(out.String(), -1) {
		n := m[1]
		if strings.HasPrefix(n, "_") && !strings.HasPrefix(prefix, "_") || strings.HasPrefix(n, "__iot") {
			continue
		}
		names = append(names, n)
	}
	return names, nil
}

// boardPaths lists the board entries that complete partial, a path; folders
// end in '/'.
func boardPaths(ctx context.Context, b *transport.Board, partial string) []string {
	dir, base := path.Split(partial)
	list := dir
	if list == "" {
		list = "."
	}
	entries, err := b.ListDir(ctx, list)
	if err != nil {
		return []string{}
	}
	out := []string{}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name, base) {
			continue
		}
		p := dir + e.Name
		if e.IsDir {
			p += "/"
		}
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// moduleAttrsCode prints the names in module N that start with P: of the
// module loaded (sys.modules, or a global: the micro:bit has no
// sys.modules), else of a built-in one, imported and taken out of
// sys.modules again so the board is left as it was. A module file not yet
// imported is not: it would run, which completion must never cause.
const moduleAttrsCode = `def _iotc(n,p):
 import sys,os
 M=getattr(sys,'modules',{})
 t=n.split('.')[0]
 m=M.get(t) or globals().get(t)
 if type(m) is not type(sys):
  for d in getattr(sys,'path',['']):
   try:L=os.listdir(d) if d else os.listdir()
   except Exception:continue
   if t+'.py' in L or t+'.mpy' in L or t in L:return
  m=__import__(t)
  if t in M:del M[t]
 for a in n.split('.')[1:]:m=getattr(m,a)
 print(sorted([k for k in dir(m) if k.startswith(p)]))
try:_iotc(%s,%s)
finally:del _iotc
`

// moduleAttrs lists the names of module mod that start with prefix, for
// "from mod import pre".
func moduleAttrs(ctx context.Context, b *transport.Board, mod, prefix string) ([]string, error) {
	var out strings.Builder
	code := fmt.Sprintf(moduleAttrsCode, transport.PyStr(mod), transport.PyStr(prefix))
	if err := b.Exec(ctx, code, transport.ExecOptions{Stdout: &out}); err != nil {
		return []string{}, err
	}
	names := []string{}
	for _, m := range quoted.FindAllStringSubmatch(out.String(), -1) {
		if n := m[1]; !strings.HasPrefix(n, "_") || strings.HasPrefix(prefix, "_") {
			names = append(names, n)
		}
	}
	return names, nil
}

// moduleNamesCode prints the board's built-in modules (help('modules')),
// then, after a \x1e line, the modules loaded (after '>') and the entries
// of the folders of sys.path, one a line.
const moduleNamesCode = `try:help('modules')
except Exception:pass
def _iotc():
 import sys,os
 print('\x1e')
 for k in getattr(sys,'modules',{}):print('>'+k)
 for d in getattr(sys,'path',['']):
  try:L=os.listdir(d) if d else os.listdir()
  except Exception:continue
  for f in L:print(f)
try:_iotc()
finally:del _iotc
`

// moduleNames lists the modules the board could import whose names start
// with prefix.
func moduleNames(ctx context.Context, b *transport.Board, prefix string) ([]string, error) {
	var out strings.Builder
	if err := b.Exec(ctx, moduleNamesCode, transport.ExecOptions{Stdout: &out}); err != nil {
		return []string{}, err
	}
	builtin, files, _ := strings.Cut(strings.ReplaceAll(out.String(), "\r\n", "\n"), "\x1e\n")
	seen := map[string]bool{}
	add := func(n string) {
		if n != "" && dottedName.MatchString(n) && strings.HasPrefix(n, prefix) &&
			(!strings.HasPrefix(n, "_") || strings.HasPrefix(prefix, "_")) {
			seen[n] = true
		}
	}
	for _, l := range strings.Split(builtin, "\n") {
		if strings.Contains(l, "modules on the filesystem") {
			continue
		}
		for _, w := range strings.Fields(l) {
			add(strings.ReplaceAll(strings.TrimSuffix(w, "/__init__"), "/", "."))
		}
	}
	for _, l := range strings.Split(files, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, ">"):
			add(l[1:]) // a loaded module, maybe of a package ("os.path")
		case strings.HasSuffix(l, ".py"), strings.HasSuffix(l, ".mpy"):
			add(l[:strings.LastIndexByte(l, '.')])
		case !strings.Contains(l, "."):
			add(l) // a folder: a package, as far as a listing can tell
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}
