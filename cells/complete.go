package cells

import (
	"context"
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
