// Package plot turns the lines a board prints into series of numbers and
// draws them as an SVG chart, with a plain-text summary. It knows nothing
// of Jupyter: a caller feeds it bytes and asks for frames.
//
// The renderer is the package's own rather than gonum.org/v1/plot's vgsvg:
// linked into the kernel, gonum made the binary 6.6 MB larger (15.9 MB
// against 9.3) and its idle RSS 12.1 MB against 8.5 (the limit is 10),
// mostly for the fonts it embeds; this package adds under 0.1 MB.
package plot

import (
	"math"
	"strconv"
	"strings"
)

// Value is one number found on a line, with the label it was printed
// with ("" when it had none).
type Value struct {
	Label string
	V     float64
}

// ParseLine finds the numbers on one line of output. It accepts Mu's
// tuples "(1.5, 2, -3)", Arduino's "temp:21.5 hum:40" (also "temp=21.5",
// "temp: 21.5" and Python dicts "{'temp': 21.5}"), plain numbers separated
// by commas, spaces or tabs, and numbers inside text ("T = 21.5 C" gives
// T). nan, inf and -inf are numbers. A line with no number gives nil.
func ParseLine(line string) []Value {
	return AppendValues(nil, line)
}

// AppendValues appends the numbers of line to out, as ParseLine finds
// them, so a caller can reuse one slice for every line.
func AppendValues(out []Value, line string) []Value {
	for i := 0; i < len(line); {
		if !canStart(line, i) {
			i++
			continue
		}
		n, v := scanNumber(line[i:])
		if n == 0 {
			i++
			continue
		}
		end := i + n
		if end < len(line) && (isDigit(line[end]) || line[end] == '.') {
			// a version, an IP address, "1.2.3": not a number; skip the run
			for end < len(line) && (isDigit(line[end]) || line[end] == '.') {
				end++
			}
			i = end
			continue
		}
		out = append(out, Value{Label: labelBefore(line, i), V: v})
		i = end
	}
	return out
}

// canStart says whether a number may begin at line[i]: not inside a word
// ("sensor1", "x2") nor right after a digit or a point.
func canStart(line string, i int) bool {
	c := line[i]
	if !(isDigit(c) || c == '.' || c == '-' || c == '+' || c == 'n' || c == 'N' || c == 'i' || c == 'I') {
		return false
	}
	return i == 0 || !isWord(line[i-1]) && line[i-1] != '.'
}

// scanNumber returns the length and value of the number at the start of s,
// or 0 when there is none.
func scanNumber(s string) (int, float64) {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	if n := wordLen(s[i:], "infinity"); n > 0 || wordLen(s[i:], "inf") > 0 || wordLen(s[i:], "nan") > 0 {
		if n == 0 {
			n = 3
		}
		v := math.Inf(1)
		if strings.EqualFold(s[i:i+3], "nan") {
			v = math.NaN()
		} else if s[0] == '-' {
			v = math.Inf(-1)
		}
		return i + n, v
	}
	digits := 0
	for i < len(s) && isDigit(s[i]) {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
			digits++
		}
	}
	if digits == 0 {
		return 0, 0
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '-' || s[j] == '+') {
			j++
		}
		k := j
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		if k > j {
			i = k
		}
	}
	// 0x1F and the like are not decimal numbers
	if i < len(s) && (s[i] == 'x' || s[i] == 'X') && s[:i] == "0" {
		return 0, 0
	}
	v, err := strconv.ParseFloat(s[:i], 64)
	if err != nil {
		// out of range: ParseFloat gives ±Inf, which is what was printed
		if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
			return 0, 0
		}
	}
	return i, v
}

// wordLen is len(word) when s starts with word (any case) and the word
// ends there ("inf" but not "info").
func wordLen(s, word string) int {
	if len(s) < len(word) || !strings.EqualFold(s[:len(word)], word) {
		return 0
	}
	if len(s) > len(word) && isWord(s[len(word)]) {
		return 0
	}
	return len(word)
}

// labelBefore is the label of the number at line[i]: the word before a ':'
// or '=' that precedes it, quotes removed. A label needs a letter, so
// "12:30" is two numbers, not a label "12".
func labelBefore(line string, i int) string {
	j := i
	for j > 0 && (line[j-1] == ' ' || line[j-1] == '\t') {
		j--
	}
	if j == 0 || (line[j-1] != ':' && line[j-1] != '=') {
		return ""
	}
	j--
	for j > 0 && (line[j-1] == ' ' || line[j-1] == '\t') {
		j--
	}
	end := j
	for j > 0 && !isSep(line[j-1]) {
		j--
	}
	label := strings.Trim(line[j:end], `'"`)
	for k := 0; k < len(label); k++ {
		if c := label[k]; c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 {
			return label
		}
	}
	return ""
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isWord is true for bytes that make up identifiers (and UTF-8 letters).
func isWord(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

// isSep separates a label from what is before it.
func isSep(c byte) bool {
	switch c {
	case ' ', '\t', ',', ';', '(', ')', '[', ']', '{', '}', ':', '=', '|':
		return true
	}
	return false
}
