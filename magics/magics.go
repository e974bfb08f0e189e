// Package magics holds the notebook's magic commands (%connect, %cp,
// %%host, ...). Each magic declares its flags on its own flag.FlagSet, so
// its -h text is generated from the flags it really takes and cannot drift.
// Magics act on boards through transport and report through the kernel's
// Output interface; the session that owns the boards is supplied by the
// caller through Env.
package magics

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/kballard/go-shellquote"
)

// Kind says whether a magic is written %name (line) or %%name (cell).
type Kind int

// The kinds of magic.
const (
	Line Kind = 1 << iota // %name args
	Cell                  // %%name args, taking the rest of the cell as body
)

// Runner runs one parsed invocation. args are the positional arguments left
// after the flags; body is the cell body for cell magics ("" for line ones).
type Runner func(ctx context.Context, env *Env, args []string, body string) error

// Magic describes one magic command.
type Magic struct {
	Name    string // without % signs
	Kind    Kind   // Line, Cell or Line|Cell
	Args    string // synopsis of the positional arguments, e.g. "SRC... DST"
	Summary string // one line, shown by -h and %lsmagic
	// RestOfCell makes a line magic take the lines after it, to the end
	// of the cell, as its body (%plot); they are not run otherwise.
	RestOfCell bool
	// Setup declares the magic's flags on fs and returns the function that
	// runs it; it is called afresh for every invocation, so flag values never
	// leak from one call to the next.
	Setup func(fs *flag.FlagSet) Runner
}

// UsageError reports a magic invoked wrongly (bad flag, missing argument).
// Its text ends with the magic's usage line.
type UsageError struct {
	Magic string
	Msg   string
	Usage string
}

func (e *UsageError) Error() string {
	return fmt.Sprintf("%%%s: %s\n%s", e.Magic, e.Msg, e.Usage)
}

// Usagef returns a UsageError for magic m; runners use it for argument
// errors that flag parsing cannot catch (a missing positional argument).
func Usagef(m *Magic, format string, a ...any) error {
	return &UsageError{Magic: m.errorName(), Msg: fmt.Sprintf(format, a...), Usage: m.synopsis()}
}

// ErrUnknownMagic is wrapped by the error for a magic that does not exist.
var ErrUnknownMagic = errors.New("unknown magic")

// Registry is a set of magics looked up by name. A line magic and a cell
// magic may share a name (%connect and %%connect), each with its own flags.
type Registry struct {
	magics map[string][]*Magic
}

// NewRegistry returns a registry holding ms. Registering two magics of the
// same name and kind is a programming error and panics at start-up.
func NewRegistry(ms ...*Magic) *Registry {
	r := &Registry{magics: make(map[string][]*Magic, len(ms))}
	for _, m := range ms {
		r.Add(m)
	}
	return r
}

// Add registers m. It panics on a duplicate name and kind, which can only
// come from the program's own tables.
func (r *Registry) Add(m *Magic) {
	for _, old := range r.magics[m.Name] {
		if old.Kind&m.Kind != 0 {
			panic("magics: duplicate magic " + m.Name)
		}
	}
	r.magics[m.Name] = append(r.magics[m.Name], m)
}

// Lookup finds the magic called name that can be used as kind.
func (r *Registry) Lookup(name string, kind Kind) (*Magic, bool) {
	for _, m := range r.magics[name] {
		if m.Kind&kind != 0 {
			return m, true
		}
	}
	return nil, false
}

// List returns the magics sorted by name, a line magic before the cell
// magic of the same name.
func (r *Registry) List() []*Magic {
	out := make([]*Magic, 0, len(r.magics))
	for _, ms := range r.magics {
		out = append(out, ms...)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

// SplitName splits a magic's line ("cp -r src :dst", no % sign) into its
// name and the rest: the name ends at the first space or tab, as IPython's
// does.
func SplitName(line string) (name, rest string) {
	line = strings.TrimSpace(line)
	if i := strings.IndexFunc(line, unicode.IsSpace); i >= 0 {
		return line[:i], line[i+1:]
	}
	return line, ""
}

// Run parses and runs one magic invocation. line is what follows the % or
// %% sign ("cp -r src :dst"); body is the cell body for cell magics. With
// -h or --help, it writes the magic's help to env's stdout and returns nil.
func (r *Registry) Run(ctx context.Context, env *Env, line string, kind Kind, body string) error {
	name, rest := SplitName(line)
	m, ok := r.Lookup(name, kind)
	if !ok {
		return r.unknown(name, kind)
	}
	words, err := shellquote.Split(rest)
	if err != nil {
		return &UsageError{Magic: m.errorName(), Msg: "cannot split arguments: " + err.Error(), Usage: m.synopsis()}
	}
	fs := flag.NewFlagSet(m.prefix(), flag.ContinueOnError)
	var discard bytes.Buffer
	fs.SetOutput(&discard) // errors are returned, help is printed below
	run := m.Setup(fs)
	args, err := parseInterspersed(fs, words)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			env.Out.Stream("stdout", m.Help())
			return nil
		}
		return &UsageError{Magic: m.errorName(), Msg: err.Error(), Usage: m.synopsis()}
	}
	return run(ctx, env, args, body)
}

// parseInterspersed parses words with fs, allowing flags after positional
// arguments ("%connect bench -q"); "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, words []string) ([]string, error) {
	words = splitShortBools(fs, words)
	var args []string
	for {
		if err := fs.Parse(words); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return args, nil
		}
		if len(words) > len(rest) && words[len(words)-len(rest)-1] == "--" {
			return append(args, rest...), nil // everything after "--" is positional
		}
		args = append(args, rest[0])
		words = rest[1:]
	}
}

// splitShortBools expands combined one-letter boolean flags ("-rf" into
// "-r -f"), as shell users type them, when every letter is such a flag.
// Words after "--" are left alone.
func splitShortBools(fs *flag.FlagSet, words []string) []string {
	out := make([]string, 0, len(words))
	for i, w := range words {
		if w == "--" {
			return append(out, words[i:]...)
		}
		if len(w) > 2 && w[0] == '-' && w[1] != '-' && allShortBools(fs, w[1:]) {
			for _, c := range w[1:] {
				out = append(out, "-"+string(c))
			}
			continue
		}
		out = append(out, w)
	}
	return out
}

func allShortBools(fs *flag.FlagSet, letters string) bool {
	for _, c := range letters {
		f := fs.Lookup(string(c))
		if f == nil {
			return false
		}
		b, ok := f.Value.(interface{ IsBoolFlag() bool })
		if !ok || !b.IsBoolFlag() {
			return false
		}
	}
	return true
}

// Help returns the magic's help text, generated from its flag set.
func (m *Magic) Help() string {
	var b strings.Builder
	b.WriteString(m.synopsis())
	b.WriteString("\n\n")
	b.WriteString(m.Summary)
	b.WriteString("\n")
	fs := flag.NewFlagSet(m.prefix(), flag.ContinueOnError)
	m.Setup(fs)
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		b.WriteString("\nOptions:\n")
		printOptions(&b, fs)
	}
	return b.String()
}

// printOptions lists fs's flags as flag.PrintDefaults does, but spelt as
// the synopsis spells them: --name for a long one, -n for a letter.
func printOptions(b *strings.Builder, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		dash := "-"
		if len(f.Name) > 1 {
			dash = "--"
		}
		name, usage := flag.UnquoteUsage(f)
		line := "  " + dash + f.Name
		if name != "" {
			line += " " + name
		}
		if len(line) <= 4 { // "  -r": its text fits on the line
			line += "\t"
		} else {
			line += "\n    \t"
		}
		b.WriteString(line + strings.ReplaceAll(usage, "\n", "\n    \t"))
		switch def := f.DefValue; {
		case def == "" || def == "false" || def == "0":
		case fmt.Sprintf("%T", f.Value) == "*flag.stringValue":
			fmt.Fprintf(b, " (default %q)", def)
		default:
			fmt.Fprintf(b, " (default %s)", def)
		}
		b.WriteString("\n")
	})
}

func (m *Magic) prefix() string {
	if m.Kind&Line != 0 {
		return "%" + m.Name
	}
	return "%%" + m.Name
}

// errorName is m's name as a UsageError holds it: after the first %, so
// that a cell magic's errors read "%%name:".
func (m *Magic) errorName() string { return strings.TrimPrefix(m.prefix(), "%") }

func (m *Magic) synopsis() string {
	fs := flag.NewFlagSet(m.prefix(), flag.ContinueOnError)
	m.Setup(fs)
	var flags []string
	fs.VisitAll(func(f *flag.Flag) {
		dash := "-"
		if len(f.Name) > 1 {
			dash = "--"
		}
		name, _ := flag.UnquoteUsage(f)
		if name == "" {
			flags = append(flags, "["+dash+f.Name+"]")
		} else {
			flags = append(flags, "["+dash+f.Name+" "+name+"]")
		}
	})
	parts := append([]string{"Usage: " + m.prefix()}, flags...)
	if m.Args != "" {
		parts = append(parts, m.Args)
	}
	return strings.Join(parts, " ")
}

// unknown builds the error for a magic that does not exist, naming the
// closest existing ones so a typo is easy to fix.
func (r *Registry) unknown(name string, kind Kind) error {
	sign := "%"
	if kind == Cell {
		sign = "%%"
	}
	close := r.Closest(name, 3)
	if len(close) == 0 {
		return fmt.Errorf("%w %s%s: %%lsmagic lists the magics", ErrUnknownMagic, sign, name)
	}
	for i, c := range close {
		m, ok := r.Lookup(c, kind)
		if !ok {
			m = r.magics[c][0]
		}
		close[i] = m.prefix()
	}
	return fmt.Errorf("%w %s%s; did you mean %s?", ErrUnknownMagic, sign, name, strings.Join(close, ", "))
}

// Closest returns up to n magic names nearest to name by edit distance,
// nearest first, leaving out those too far to be a typo: about one edit in
// three letters of the shorter name, or name being the start of a magic's.
func (r *Registry) Closest(name string, n int) []string {
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	for k := range r.magics {
		d := editDistance(name, k)
		limit := max(1, min(len(name), len(k))/3)
		if d <= limit || strings.HasPrefix(k, name) && name != "" {
			cs = append(cs, cand{k, d})
		}
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].d != cs[j].d {
			return cs[i].d < cs[j].d
		}
		return cs[i].name < cs[j].name
	})
	out := make([]string, 0, n)
	for i := 0; i < len(cs) && i < n; i++ {
		out = append(out, cs[i].name)
	}
	return out
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
