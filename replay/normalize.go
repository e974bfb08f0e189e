package replay

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Rule is one substitution applied to output text before it is compared.
type Rule struct {
	Name    string
	Pattern *regexp.Regexp
	// Replace is in regexp.Expand's syntax ($1, ${name}).
	Replace string
}

// BuiltinRules are what varies between runs and links of the same
// notebook: the board's address in %connect's line, memory addresses,
// timings and rates, dates, a socket address's port.
func BuiltinRules() []Rule {
	return []Rule{
		{"board address", regexp.MustCompile(`Connected to (\S+) @ \S+`), "Connected to $1 @ URL"},
		{"memory address", regexp.MustCompile(`0x[0-9a-fA-F]{4,}`), "0xADDR"},
		{"timing", regexp.MustCompile(`\b\d+(\.\d+)? ?(ms|s|B/s|KB/s|MB/s)\b`), "TIME"},
		// An HTTP date (RFC 9110's IMF-fixdate) and an ISO 8601 date and time.
		{"HTTP date", regexp.MustCompile(`\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\b`), "DATE"},
		{"ISO date", regexp.MustCompile(`\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?\b`), "DATE"},
		{"socket port", regexp.MustCompile(`\('(\d{1,3}(?:\.\d{1,3}){3})', \d+\)`), "('$1', PORT)"},
	}
}

// Normalizer turns output text into what is compared.
type Normalizer struct {
	Rules []Rule
}

// Text applies the rules in order, then drops trailing blanks on each line
// and blank lines at either end, which no reader tells apart.
func (n Normalizer) Text(text string) string {
	for _, r := range n.Rules {
		text = r.Pattern.ReplaceAllString(text, r.Replace)
	}
	ls := strings.Split(strings.Trim(text, "\n"), "\n")
	for i, l := range ls {
		ls[i] = strings.TrimRight(l, " \t\r")
	}
	return strings.Join(ls, "\n")
}

// ParseSanitize reads a sanitize file in nbval's format: INI sections, each
// with a `regex:` (a Python regular expression) and a `replace:` (its
// replacement, \1 and \g<name> allowed). name is the file, for messages.
func ParseSanitize(r io.Reader, name string) ([]Rule, error) {
	type section struct {
		name, regex, replace string
		hasRegex, hasReplace bool
		line                 int
	}
	var secs []*section
	var cur *section
	var lastKey *string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		raw := strings.TrimRight(sc.Text(), "\r")
		trimmed := strings.TrimSpace(raw)
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#") || strings.HasPrefix(trimmed, ";"):
			lastKey = nil
			continue
		case raw[0] == ' ' || raw[0] == '\t':
			// A continuation line, as configparser reads them.
			if lastKey == nil {
				return nil, fmt.Errorf("%s:%d: indented line outside a value", name, n)
			}
			*lastKey += "\n" + trimmed
			continue
		case strings.HasPrefix(trimmed, "[") && strings.HasSuffix(trimmed, "]"):
			cur = &section{name: strings.TrimSpace(trimmed[1 : len(trimmed)-1]), line: n}
			secs = append(secs, cur)
			lastKey = nil
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("%s:%d: %q before any [section]", name, n, trimmed)
		}
		i := strings.IndexAny(trimmed, ":=")
		if i < 0 {
			return nil, fmt.Errorf("%s:%d: want `regex: ...` or `replace: ...`, got %q", name, n, trimmed)
		}
		key, val := strings.ToLower(strings.TrimSpace(trimmed[:i])), strings.TrimSpace(trimmed[i+1:])
		switch key {
		case "regex":
			cur.regex, cur.hasRegex = val, true
			lastKey = &cur.regex
		case "replace":
			cur.replace, cur.hasReplace = val, true
			lastKey = &cur.replace
		default:
			return nil, fmt.Errorf("%s:%d: unknown key %q in [%s] (regex and replace are)", name, n, key, cur.name)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var rules []Rule
	for _, s := range secs {
		if !s.hasRegex {
			return nil, fmt.Errorf("%s:%d: [%s] has no regex", name, s.line, s.name)
		}
		re, err := CompilePython(s.regex, false)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: [%s]: %w", name, s.line, s.name, err)
		}
		rules = append(rules, Rule{Name: s.name, Pattern: re, Replace: pythonReplacement(s.replace)})
	}
	return rules, nil
}

// CompilePython compiles a Python regular expression in the subset Go's
// RE2 shares with it (no lookaround, no backreferences); named groups
// (?P<name>...) are the same in both. multiline is Python's re.M.
func CompilePython(expr string, multiline bool) (*regexp.Regexp, error) {
	if multiline {
		expr = "(?m)" + expr
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("regular expression %q: %w (lookaround and backreferences are not supported)", expr, err)
	}
	return re, nil
}

var pyGroupRef = regexp.MustCompile(`\\(\d+)|\\g<(\w+)>`)

// pythonReplacement turns re.sub's replacement syntax (\1, \g<1>,
// \g<name>) into regexp.Expand's, keeping a literal $ literal.
func pythonReplacement(s string) string {
	s = strings.ReplaceAll(s, "$", "$$")
	s = pyGroupRef.ReplaceAllStringFunc(s, func(m string) string {
		sub := pyGroupRef.FindStringSubmatch(m)
		g := sub[1]
		if g == "" {
			g = sub[2]
		}
		return "${" + g + "}"
	})
	return strings.NewReplacer(`\n`, "\n", `\t`, "\t", `\\`, `\`).Replace(s)
}

// Mask is what a cell's iot.varies patterns put in place of what they
// match.
const Mask = "<varies>"

// mask replaces every match of each pattern in text, or every group of a
// match when the pattern has groups, with Mask.
func mask(text string, pats []*regexp.Regexp) string {
	for _, pat := range pats {
		var b strings.Builder
		pos := 0
		for _, idx := range pat.FindAllStringSubmatchIndex(text, -1) {
			if pat.NumSubexp() == 0 {
				b.WriteString(text[pos:idx[0]])
				b.WriteString(Mask)
				pos = idx[1]
				continue
			}
			for g := 1; g <= pat.NumSubexp(); g++ {
				s, e := idx[2*g], idx[2*g+1]
				if s < 0 || s < pos {
					continue
				}
				b.WriteString(text[pos:s])
				b.WriteString(Mask)
				pos = e
			}
		}
		b.WriteString(text[pos:])
		text = b.String()
	}
	return text
}
