package replay

import (
	"fmt"
	"strings"
)

// op is one line of an edit script: ' ' kept, '-' only in a, '+' only in b.
type op struct {
	kind byte
	text string
	ai   int // line in a (for ' ' and '-')
	bi   int // line in b (for ' ' and '+')
}

// editScript is a shortest edit script from a to b by longest common
// subsequence. Cell outputs are small; a very long pair falls back to
// replacing all of a by all of b rather than using quadratic memory.
func editScript(a, b []string) []op {
	const maxCells = 4 << 20
	if len(a)*len(b) > maxCells {
		var ops []op
		for i, l := range a {
			ops = append(ops, op{'-', l, i, 0})
		}
		for j, l := range b {
			ops = append(ops, op{'+', l, len(a), j})
		}
		return ops
	}
	// lcs[i][j]: the LCS length of a[i:] and b[j:].
	lcs := make([][]int32, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []op
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			ops = append(ops, op{' ', a[i], i, j})
			i++
			j++
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, op{'-', a[i], i, j})
			i++
		default:
			ops = append(ops, op{'+', b[j], i, j})
			j++
		}
	}
	return ops
}

// UnifiedDiff returns a unified diff of a against b with context lines
// around each change, headed by the two names; "" when they are equal.
func UnifiedDiff(a, b []string, nameA, nameB string, context int) string {
	ops := editScript(a, b)
	changed := false
	for _, o := range ops {
		changed = changed || o.kind != ' '
	}
	if !changed {
		return ""
	}
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
	for start := 0; start < len(ops); {
		// Find the next change, then grow a hunk around it while changes
		// are closer than twice the context.
		for start < len(ops) && ops[start].kind == ' ' {
			start++
		}
		if start == len(ops) {
			break
		}
		lo := max(0, start-context)
		hi := start
		for {
			for hi < len(ops) && ops[hi].kind != ' ' {
				hi++
			}
			next := hi
			for next < len(ops) && ops[next].kind == ' ' {
				next++
			}
			if next < len(ops) && next-hi <= 2*context {
				hi = next
				continue
			}
			hi = min(len(ops), hi+context)
			break
		}
		hunk := ops[lo:hi]
		aStart, bStart, aLen, bLen := hunk[0].ai, hunk[0].bi, 0, 0
		for _, o := range hunk {
			if o.kind != '+' {
				aLen++
			}
			if o.kind != '-' {
				bLen++
			}
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(aStart, aLen), hunkRange(bStart, bLen))
		for _, o := range hunk {
			out.WriteByte(o.kind)
			out.WriteString(o.text)
			out.WriteByte('\n')
		}
		start = hi
	}
	return out.String()
}

// hunkRange is a hunk header's range, as diff -u writes it.
func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if n == 1 {
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}
