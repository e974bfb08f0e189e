package replay

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Shown is one output as a reader sees it, reduced to what is compared:
// stream text by stream, the text/plain of results and displays (images
// and other rich data by their presence), errors by name and value.
type Shown struct {
	Kind string // "stdout", "stderr", "result", "display" or "error"
	Text string
}

// shown merges a cell's outputs into what is compared, normalised. How
// stream text was chunked is not meaningful, so consecutive writes to one
// stream are one output.
func shown(outs []Output, n Normalizer) []Shown {
	var got []Shown
	for _, o := range outs {
		var s Shown
		switch o.OutputType {
		case "stream":
			s = Shown{Kind: o.Name, Text: o.Text}
			if len(got) > 0 && got[len(got)-1].Kind == o.Name {
				got[len(got)-1].Text += o.Text
				continue
			}
		case "error":
			s = Shown{Kind: "error", Text: o.Ename + ": " + o.Evalue}
		case "execute_result", "display_data":
			kind := "result"
			if o.OutputType == "display_data" {
				kind = "display"
			}
			s = Shown{Kind: kind, Text: bundleText(o.Data)}
		default:
			continue
		}
		got = append(got, s)
	}
	for i := range got {
		got[i].Text = n.Text(got[i].Text)
	}
	return got
}

// bundleText is a MIME bundle as compared: a line per rich type present
// (images are compared by presence only), then the text/plain.
func bundleText(data map[string]any) string {
	var kinds []string
	for k := range data {
		if k != "text/plain" {
			kinds = append(kinds, "<"+k+">")
		}
	}
	sort.Strings(kinds)
	text, _ := data["text/plain"].(string)
	if len(kinds) == 0 {
		return text
	}
	return strings.Join(kinds, "\n") + "\n" + text
}

// render is the compared form of a cell's outputs as lines, for the diff.
func render(s []Shown) []string {
	var out []string
	for _, o := range s {
		out = append(out, "["+o.Kind+"]")
		if o.Text != "" {
			out = append(out, strings.Split(o.Text, "\n")...)
		}
	}
	return out
}

// Comparison is the verdict on one cell's outputs.
type Comparison struct {
	Match bool
	// Diff is a unified diff of the stored against the new outputs, in
	// their compared form; empty when they match.
	Diff string
	// Problem is why the cell could not be compared (a bad iot.varies
	// pattern, or one that matches no stored output); the cell fails.
	Problem string
	// VariesFitNew says every iot.varies pattern compiles and matches the
	// new outputs: stored by --update, they would pass the check that a
	// stale pattern fails.
	VariesFitNew bool
}

// Compare compares a cell's stored outputs with its new ones after
// normalisation and the cell's iot.varies masks.
func Compare(c *Cell, got []Output, n Normalizer, label string) Comparison {
	want, have := shown(c.Outputs, n), shown(got, n)
	var pats []*regexp.Regexp
	cmp := Comparison{VariesFitNew: true}
	for _, p := range c.Meta.Varies {
		re, err := CompilePython(p, true)
		if err != nil {
			return Comparison{Problem: "iot.varies: " + err.Error()}
		}
		// A pattern must match the stored outputs, so that a stale one
		// fails instead of quietly masking nothing. The diff is made all
		// the same: --update may store new outputs that it does match
		// (a new cell has no stored outputs yet).
		if !matchesAny(want, re) && cmp.Problem == "" {
			cmp.Problem = fmt.Sprintf("iot.varies pattern %q matches no stored output", p)
		}
		cmp.VariesFitNew = cmp.VariesFitNew && matchesAny(have, re)
		pats = append(pats, re)
	}
	for i := range want {
		want[i].Text = mask(want[i].Text, pats)
	}
	for i := range have {
		have[i].Text = mask(have[i].Text, pats)
	}
	a, b := render(want), render(have)
	if !equal(a, b) {
		cmp.Diff = UnifiedDiff(a, b, "stored "+label, "new "+label, 3)
	}
	cmp.Match = cmp.Diff == "" && cmp.Problem == ""
	return cmp
}

func matchesAny(s []Shown, re *regexp.Regexp) bool {
	for _, o := range s {
		if re.MatchString(o.Text) {
			return true
		}
	}
	return false
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
