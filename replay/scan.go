package replay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// cellSpan is where a cell sits in the notebook's bytes.
type cellSpan struct {
	start, end int // the cell object, braces included
	// outputs' value, or -1 when the cell has none
	outStart, outEnd int
	// keyIndent is the whitespace before the cell's keys on their line
	// ("" when the file is not indented).
	keyIndent string
	// lastEnd is the end of the cell's last member, for inserting one.
	lastEnd int
}

// scanner walks JSON bytes to find offsets; the bytes have already been
// checked to be valid JSON by encoding/json.
type scanner struct {
	b []byte
	i int
}

var errScan = errors.New("unexpected JSON")

func (s *scanner) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *scanner) expect(c byte) error {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != c {
		return fmt.Errorf("%w at byte %d: want %q", errScan, s.i, c)
	}
	s.i++
	return nil
}

// str reads a string and returns it decoded.
func (s *scanner) str() (string, error) {
	s.ws()
	start := s.i
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return "", fmt.Errorf("%w at byte %d: want a string", errScan, s.i)
	}
	s.i++
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
			continue
		case '"':
			s.i++
			var v string
			err := json.Unmarshal(s.b[start:s.i], &v)
			return v, err
		}
		s.i++
	}
	return "", fmt.Errorf("%w: unterminated string", errScan)
}

// skip passes over one value.
func (s *scanner) skip() error {
	s.ws()
	if s.i >= len(s.b) {
		return errScan
	}
	switch s.b[s.i] {
	case '"':
		_, err := s.str()
		return err
	case '{', '[':
		open, closing := s.b[s.i], byte('}')
		if open == '[' {
			closing = ']'
		}
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == closing {
			s.i++
			return nil
		}
		for {
			if open == '{' {
				if _, err := s.str(); err != nil {
					return err
				}
				if err := s.expect(':'); err != nil {
					return err
				}
			}
			if err := s.skip(); err != nil {
				return err
			}
			s.ws()
			if s.i < len(s.b) && s.b[s.i] == ',' {
				s.i++
				continue
			}
			return s.expect(closing)
		}
	default:
		for s.i < len(s.b) && !bytes.ContainsRune([]byte(",]}: \t\r\n"), rune(s.b[s.i])) {
			s.i++
		}
		return nil
	}
}

// members calls f at each member of the object at the cursor, with the
// cursor on the member's value; f must consume the value.
func (s *scanner) members(f func(key string, keyStart int) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	for {
		s.ws()
		keyStart := s.i
		key, err := s.str()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		s.ws()
		if err := f(key, keyStart); err != nil {
			return err
		}
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ',' {
			s.i++
			continue
		}
		return s.expect('}')
	}
}

// scanCells finds each cell of the notebook in b.
func scanCells(b []byte) ([]cellSpan, error) {
	s := &scanner{b: b}
	var spans []cellSpan
	err := s.members(func(key string, _ int) error {
		if key != "cells" {
			return s.skip()
		}
		if err := s.expect('['); err != nil {
			return err
		}
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return nil
		}
		for {
			s.ws()
			sp := cellSpan{start: s.i, outStart: -1, outEnd: -1}
			err := s.members(func(key string, keyStart int) error {
				if sp.keyIndent == "" {
					sp.keyIndent = indentBefore(b, keyStart)
				}
				if key == "outputs" {
					sp.outStart = s.i
					if err := s.skip(); err != nil {
						return err
					}
					sp.outEnd = s.i
				} else if err := s.skip(); err != nil {
					return err
				}
				sp.lastEnd = s.i
				return nil
			})
			if err != nil {
				return err
			}
			sp.end = s.i
			spans = append(spans, sp)
			s.ws()
			if s.i < len(s.b) && s.b[s.i] == ',' {
				s.i++
				continue
			}
			return s.expect(']')
		}
	})
	return spans, err
}

// indentBefore returns the spaces and tabs between the start of the line
// holding offset and offset, or "" when something else precedes it there.
func indentBefore(b []byte, offset int) string {
	i := offset
	for i > 0 && (b[i-1] == ' ' || b[i-1] == '\t') {
		i--
	}
	if i > 0 && b[i-1] != '\n' {
		return ""
	}
	return string(b[i:offset])
}

// indentUnit guesses the file's indent step from a cell's key indent: the
// cells are two levels down (top object, cells array, cell object).
func indentUnit(keyIndent string) string {
	if keyIndent == "" || len(keyIndent)%3 != 0 {
		return " "
	}
	return keyIndent[:len(keyIndent)/3]
}

// Update returns the notebook's bytes with the outputs of the cells in
// outs (by cell index) replaced, written as nbformat writes them (sorted
// keys, text split in lines); every other byte is kept.
func (nb *Notebook) Update(outs map[int][]Output) ([]byte, error) {
	idx := make([]int, 0, len(outs))
	for i := range outs {
		if i < 0 || i >= len(nb.Cells) || nb.Cells[i].Type != "code" {
			return nil, fmt.Errorf("cell %d is not a code cell", i+1)
		}
		idx = append(idx, i)
	}
	sort.Ints(idx)
	var buf bytes.Buffer
	pos := 0
	for _, i := range idx {
		sp := nb.Cells[i].span
		unit := indentUnit(sp.keyIndent)
		indented := sp.keyIndent != ""
		enc, err := encodeOutputs(outs[i], sp.keyIndent, unit, indented)
		if err != nil {
			return nil, fmt.Errorf("cell %d: %w", i+1, err)
		}
		if nb.eol != "\n" {
			// Only the indentation has raw newlines: JSON escapes those
			// in strings.
			enc = bytes.ReplaceAll(enc, []byte("\n"), []byte(nb.eol))
		}
		if sp.outStart >= 0 {
			buf.Write(nb.raw[pos:sp.outStart])
			buf.Write(enc)
			pos = sp.outEnd
			continue
		}
		// No outputs member (not valid nbformat, but seen): add one last.
		buf.Write(nb.raw[pos:sp.lastEnd])
		if indented {
			buf.WriteString("," + nb.eol + sp.keyIndent + `"outputs": `)
		} else {
			buf.WriteString(`,"outputs":`)
		}
		buf.Write(enc)
		pos = sp.lastEnd
	}
	buf.Write(nb.raw[pos:])
	return buf.Bytes(), nil
}

// splitMIME says which data are stored as lists of lines, as nbformat does.
func splitMIME(key string) bool {
	return strings.HasPrefix(key, "text/") || key == "application/javascript" || key == "image/svg+xml"
}

// lines splits text after each newline, as Python's splitlines(True) does
// for the newlines notebooks hold.
func lines(text string) []string {
	out := []string{}
	for text != "" {
		i := strings.IndexByte(text, '\n')
		if i < 0 {
			out = append(out, text)
			break
		}
		out = append(out, text[:i+1])
		text = text[i+1:]
	}
	return out
}

// jsonOutput is an output as nbformat stores it; maps sort their keys
// when encoded, as nbformat's sort_keys does.
func jsonOutput(o Output) map[string]any {
	m := map[string]any{"output_type": o.OutputType}
	switch o.OutputType {
	case "stream":
		m["name"] = o.Name
		m["text"] = lines(o.Text)
	case "error":
		m["ename"], m["evalue"] = o.Ename, o.Evalue
		tb := o.Traceback
		if tb == nil {
			tb = []string{}
		}
		m["traceback"] = tb
	case "execute_result", "display_data":
		data := map[string]any{}
		for k, v := range o.Data {
			if s, ok := v.(string); ok && splitMIME(k) {
				data[k] = lines(s)
			} else {
				data[k] = v
			}
		}
		md := o.Metadata
		if md == nil {
			md = map[string]any{}
		}
		m["data"], m["metadata"] = data, md
		if o.OutputType == "execute_result" {
			if o.ExecutionCount != nil {
				m["execution_count"] = *o.ExecutionCount
			} else {
				m["execution_count"] = nil
			}
		}
	}
	return m
}

// encodeOutputs writes outs as the value of an "outputs" member whose key
// is indented by keyIndent.
func encodeOutputs(outs []Output, keyIndent, unit string, indented bool) ([]byte, error) {
	list := make([]map[string]any, 0, len(outs))
	for _, o := range outs {
		list = append(list, jsonOutput(o))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // nbformat writes <, > and & as they are
	if indented {
		enc.SetIndent(keyIndent, unit)
	}
	if err := enc.Encode(list); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
