package replay

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// cellLabel names a cell in reports: its number among all the notebook's
// cells and its first line.
func cellLabel(c *Cell) string {
	return fmt.Sprintf("cell %d: %s", c.Index+1, shorten(c.FirstLine(), 60))
}

// shorten cuts s to at most n characters, the last three "..." when it
// cuts; it counts runes, so that no character is cut in two.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return truncateRunes(s, n-3) + "..."
}

// truncateRunes returns the first n runes of s.
func truncateRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// WriteReport writes what a person reads after a replay: a line per
// notebook and, for each cell that failed, why, with the diff of its
// outputs (coloured when color is set).
func WriteReport(w io.Writer, results []*Result, color bool) {
	var tp, tf, ts, broken int
	defer func() {
		// The closing line CI log readers look for.
		fmt.Fprintf(w, "replay: %d passed, %d failed, %d skipped", tp, tf, ts)
		if broken > 0 {
			noun := "notebooks"
			if broken == 1 {
				noun = "notebook"
			}
			fmt.Fprintf(w, "; %d %s could not be replayed to the end", broken, noun)
		}
		fmt.Fprintln(w)
	}()
	for _, r := range results {
		p, f, s := r.Counts()
		tp, tf, ts = tp+p, tf+f, ts+s
		if r.Err != nil {
			broken++
		}
		verdict := "ok  "
		if !r.OK() {
			verdict = "FAIL"
		}
		if color {
			if r.OK() {
				verdict = "\x1b[32m" + verdict + "\x1b[0m"
			} else {
				verdict = "\x1b[1;31m" + verdict + "\x1b[0m"
			}
		}
		fmt.Fprintf(w, "%s %s on %s: %d passed, %d failed, %d skipped (%.1fs)", verdict, r.Path, r.Board, p, f, s, r.Duration.Seconds())
		if r.Updated > 0 {
			fmt.Fprintf(w, "; %d cells' outputs updated", r.Updated)
		}
		fmt.Fprintln(w)
		for _, c := range r.Cells {
			switch c.Status {
			case Failed:
				fmt.Fprintf(w, "  %s (%s, line %d)\n    %s\n", cellLabel(c.Cell), r.Path, c.Cell.Line, c.Reason)
				if c.Diff != "" {
					writeDiff(w, c.Diff, "    ", color)
				}
			case Skipped:
				// Cells not run are told of once, by the notebook's error.
				if c.Reason != "skipped by its tag" && c.Reason != reasonNotRun {
					fmt.Fprintf(w, "  %s: skipped: %s\n", cellLabel(c.Cell), c.Reason)
				}
			}
		}
		if r.Err != nil {
			fmt.Fprintf(w, "  %v\n", r.Err)
		}
	}
}

func writeDiff(w io.Writer, diff, indent string, color bool) {
	for _, l := range strings.Split(strings.TrimRight(diff, "\n"), "\n") {
		if color {
			switch {
			case strings.HasPrefix(l, "---"), strings.HasPrefix(l, "+++"):
				l = "\x1b[1m" + l + "\x1b[0m"
			case strings.HasPrefix(l, "@@"):
				l = "\x1b[36m" + l + "\x1b[0m"
			case strings.HasPrefix(l, "-"):
				l = "\x1b[31m" + l + "\x1b[0m"
			case strings.HasPrefix(l, "+"):
				l = "\x1b[32m" + l + "\x1b[0m"
			}
		}
		fmt.Fprintf(w, "%s%s\n", indent, l)
	}
}

// WriteAnnotations writes a GitHub Actions error annotation for each failed
// cell (and each notebook that could not be replayed), pointing at the
// cell's line in the notebook file.
func WriteAnnotations(w io.Writer, results []*Result) {
	for _, r := range results {
		for _, c := range r.Cells {
			if c.Status != Failed {
				continue
			}
			msg := c.Reason
			if c.Diff != "" {
				msg += "\n" + c.Diff
			}
			fmt.Fprintf(w, "::error file=%s,line=%d,title=%s::%s\n",
				escapeProperty(r.Path), c.Cell.Line, escapeProperty(cellLabel(c.Cell)+" on "+r.Board), escapeData(msg))
		}
		if r.Err != nil {
			fmt.Fprintf(w, "::error file=%s,title=%s::%s\n", escapeProperty(r.Path), escapeProperty("replay on "+r.Board), escapeData(r.Err.Error()))
		}
	}
}

// escapeData and escapeProperty escape as the workflow commands require.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// JUnit XML, in the shape CI systems read (Jenkins, GitLab, GitHub
// actions that publish test results): a suite per notebook, a case per
// code cell.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr,omitempty"`
	Hostname  string      `xml:"hostname,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr"`
	Line      int           `xml:"line,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure"`
	Error     *junitMessage `xml:"error"`
	Skipped   *junitMessage `xml:"skipped"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",cdata"`
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes the results as JUnit XML.
func WriteJUnit(w io.Writer, results []*Result) error {
	all := junitSuites{Name: "iot-kernel replay"}
	var total time.Duration
	for _, r := range results {
		s := junitSuite{Name: r.Path, Hostname: r.Board, Time: secs(r.Duration)}
		for _, c := range r.Cells {
			jc := junitCase{
				Name: cellLabel(c.Cell), Classname: r.Path, File: r.Path, Line: c.Cell.Line,
				Time: secs(c.Duration),
			}
			switch c.Status {
			case Failed:
				jc.Failure = &junitMessage{Message: c.Reason, Type: "mismatch", Body: c.Diff}
				s.Failures++
			case Skipped:
				jc.Skipped = &junitMessage{Message: c.Reason}
				s.Skipped++
			}
			s.Cases = append(s.Cases, jc)
		}
		if r.Err != nil {
			s.Cases = append(s.Cases, junitCase{
				Name: "replay", Classname: r.Path, File: r.Path,
				Time: "0", Error: &junitMessage{Message: r.Err.Error(), Type: "error"},
			})
			s.Errors++
		}
		s.Tests = len(s.Cases)
		all.Tests += s.Tests
		all.Failures += s.Failures
		all.Errors += s.Errors
		all.Skipped += s.Skipped
		total += r.Duration
		all.Suites = append(all.Suites, s)
	}
	all.Time = secs(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
