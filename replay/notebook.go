package replay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"unicode/utf8"
)

// Notebook is a notebook file as replay needs it: its code cells with their
// stored outputs, and the raw bytes, so that an update can rewrite the
// outputs and leave everything else as it was written.
type Notebook struct {
	Path  string
	Cells []Cell
	// Meta is the notebook's metadata.iot.
	Meta NotebookMeta

	raw []byte
	eol string // the file's line end, "\n" or "\r\n", for what Update writes
}

// NotebookMeta is the project's part of a notebook's metadata (metadata.iot).
type NotebookMeta struct {
	// Board is the board the notebook runs on when --board is not given.
	Board string `json:"board"`
}

// Cell is one cell of a notebook.
type Cell struct {
	Index   int // position among all cells, from 0
	Type    string
	Source  string
	Tags    []string
	Meta    CellMeta
	Outputs []Output
	// Line is the line of the notebook file where the cell starts, for
	// annotations.
	Line int

	span cellSpan
}

// CellMeta is the project's part of a cell's metadata (metadata.iot).
type CellMeta struct {
	// Varies lists regular expressions (multiline) for what legitimately
	// differs between boards: each match, or each group of a match, is
	// masked in stored and new outputs alike.
	Varies []string `json:"varies"`
	// InterruptAfter, in seconds, presses stop on the cell as a person
	// would on a loop that runs forever.
	InterruptAfter float64 `json:"interrupt_after"`
	// Timeout, in seconds, bounds the cell (instead of --timeout).
	Timeout float64 `json:"timeout"`
	// Serve says the cell runs a web server: replay sends it requests, then
	// presses stop.
	Serve *Serve `json:"serve"`
}

// Serve is a cell's metadata.iot.serve: once Port accepts connections on
// Host (default 127.0.0.1), one HTTP GET of each of Paths in turn; the
// answer to the i-th must contain Expect[i] when given. Then the cell is
// interrupted.
type Serve struct {
	Host   string   `json:"host"`
	Port   int      `json:"port"`
	Paths  []string `json:"paths"`
	Expect []string `json:"expect"`
}

// Output is one output of a code cell, in nbformat 4's terms.
type Output struct {
	OutputType string         `json:"output_type"`
	Name       string         `json:"name,omitempty"`
	Text       string         `json:"-"`
	Data       map[string]any `json:"-"`
	Metadata   map[string]any `json:"-"`
	Ename      string         `json:"ename,omitempty"`
	Evalue     string         `json:"evalue,omitempty"`
	Traceback  []string       `json:"traceback,omitempty"`
	// ExecutionCount of an execute_result.
	ExecutionCount *int `json:"-"`

	displayID string // of a display_data, for update_display_data
}

// multiline is nbformat's text: a string or a list of lines.
type multiline string

func (m *multiline) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*m = multiline(s)
		return nil
	}
	var lines []string
	if err := json.Unmarshal(b, &lines); err != nil {
		// As encoding/json's own, so that it adds the field's name.
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[multiline]()}
	}
	*m = multiline(strings.Join(lines, ""))
	return nil
}

// jsonKind says in words what kind of JSON value b is, for messages; a
// list is named by the first of its items that is not a string.
func jsonKind(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(b, &items) == nil {
			for _, it := range items {
				if k := jsonKind(it); k != "a string" {
					return "a list holding " + k
				}
			}
		}
		return "a list"
	case 't', 'f':
		return string(b)
	case 'n':
		return "null"
	}
	return "a number"
}

// typeWords says in words what a Go type wants of JSON, for messages.
func typeWords(t reflect.Type) string {
	if t == nil {
		return "something else"
	}
	if t == reflect.TypeFor[multiline]() {
		return "a string or a list of strings"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.String {
			return "a list of strings"
		}
		return "a list"
	case reflect.Map, reflect.Struct, reflect.Interface:
		return "an object"
	case reflect.Pointer:
		return typeWords(t.Elem())
	}
	return t.String()
}

// valueWords turns encoding/json's name of a value's kind ("number -5",
// "array") into the words jsonKind uses.
func valueWords(v string) string {
	switch {
	case v == "array":
		return "a list"
	case v == "object":
		return "an object"
	case v == "string":
		return "a string"
	case v == "bool":
		return "true or false"
	case v == "number" || strings.HasPrefix(v, "number "):
		return "a number"
	}
	return v
}

// jsonProblem says in plain words what is wrong in JSON: where a syntax
// error is (line and column of b), which field has the wrong kind of
// value. what names the value that was decoded ("the notebook").
func jsonProblem(err error, b []byte, what string) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := position(b, int(se.Offset))
		return fmt.Errorf("not valid JSON at line %d, column %d: %v", line, col, se)
	case errors.As(err, &te):
		where := what
		if te.Field != "" {
			where = te.Field
		}
		return fmt.Errorf("%s: want %s, not %s", where, typeWords(te.Type), valueWords(te.Value))
	}
	return err
}

// position is the line and column (both from 1, the column in characters)
// of the byte at offset in b.
func position(b []byte, offset int) (line, col int) {
	offset = min(max(offset, 0), len(b))
	start := bytes.LastIndexByte(b[:offset], '\n') + 1
	return 1 + bytes.Count(b[:start], []byte("\n")), max(1, utf8.RuneCount(b[start:offset]))
}

type rawOutput struct {
	OutputType     string                     `json:"output_type"`
	Name           string                     `json:"name"`
	Text           multiline                  `json:"text"`
	Data           map[string]json.RawMessage `json:"data"`
	Metadata       map[string]any             `json:"metadata"`
	Ename          string                     `json:"ename"`
	Evalue         string                     `json:"evalue"`
	Traceback      []string                   `json:"traceback"`
	ExecutionCount *int                       `json:"execution_count"`
}

type rawCell struct {
	CellType string    `json:"cell_type"`
	Source   multiline `json:"source"`
	Metadata struct {
		Tags []string `json:"tags"`
		IoT  CellMeta `json:"iot"`
	} `json:"metadata"`
	// Outputs are decoded one by one, so that a message names the one at
	// fault.
	Outputs []json.RawMessage `json:"outputs"`
}

type rawNotebook struct {
	// Cells are decoded one by one, so that a message names the one at
	// fault.
	Cells    []json.RawMessage `json:"cells"`
	Metadata struct {
		IoT NotebookMeta `json:"iot"`
	} `json:"metadata"`
	NBFormat int `json:"nbformat"`
}

// Load reads a notebook (nbformat 4).
func Load(path string) (*Notebook, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	nb, err := Parse(path, b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return nb, nil
}

// Parse reads a notebook from its bytes; path names it in messages.
func Parse(path string, b []byte) (*Notebook, error) {
	var raw rawNotebook
	if bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) {
		// Jupyter does not read these either.
		return nil, errors.New("not a notebook: it starts with a UTF-8 byte order mark (save it as UTF-8 without one)")
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("not a notebook: %w", jsonProblem(err, b, "the file"))
	}
	if raw.NBFormat != 4 {
		return nil, fmt.Errorf("nbformat %d: only nbformat 4 notebooks can be replayed (jupyter nbconvert --to notebook converts)", raw.NBFormat)
	}
	spans, err := scanCells(b)
	if err != nil {
		return nil, fmt.Errorf("not a notebook: %w", err)
	}
	if len(spans) != len(raw.Cells) {
		return nil, errors.New("not a notebook: cells could not be located")
	}
	nb := &Notebook{Path: path, Meta: raw.Metadata.IoT, raw: b, eol: lineEnd(b)}
	// Lines are counted on from the previous cell, not from the top for
	// each: that was quadratic in the notebook's size.
	line, counted := 1, 0
	for i, cb := range raw.Cells {
		line += bytes.Count(b[counted:spans[i].start], []byte("\n"))
		counted = spans[i].start
		var rc rawCell
		if err := json.Unmarshal(cb, &rc); err != nil {
			return nil, fmt.Errorf("cell %d (line %d): %w", i+1, line, jsonProblem(err, cb, "the cell"))
		}
		c := Cell{
			Index:  i,
			Type:   rc.CellType,
			Source: string(rc.Source),
			Tags:   rc.Metadata.Tags,
			Meta:   rc.Metadata.IoT,
			Line:   line,
			span:   spans[i],
		}
		for j, ob := range rc.Outputs {
			var ro rawOutput
			if err := json.Unmarshal(ob, &ro); err != nil {
				return nil, fmt.Errorf("cell %d (line %d), output %d: %w", i+1, line, j+1, jsonProblem(err, ob, "the output"))
			}
			o := Output{
				OutputType: ro.OutputType, Name: ro.Name, Text: string(ro.Text),
				Metadata: ro.Metadata, Ename: ro.Ename, Evalue: ro.Evalue, Traceback: ro.Traceback,
				ExecutionCount: ro.ExecutionCount,
			}
			if ro.Data != nil {
				o.Data = map[string]any{}
				for k, v := range ro.Data {
					var s multiline
					if err := json.Unmarshal(v, &s); err == nil {
						o.Data[k] = string(s)
						continue
					}
					var anyv any
					if err := json.Unmarshal(v, &anyv); err != nil {
						return nil, fmt.Errorf("cell %d: output data %s: %w", i+1, k, err)
					}
					o.Data[k] = anyv
				}
			}
			c.Outputs = append(c.Outputs, o)
		}
		nb.Cells = append(nb.Cells, c)
	}
	return nb, nil
}

// lineEnd is the line end of b's first line: "\r\n" for a notebook saved
// with Windows line ends, else "\n".
func lineEnd(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i > 0 && b[i-1] == '\r' {
		return "\r\n"
	}
	return "\n"
}

// HasTag reports whether the cell carries tag.
func (c *Cell) HasTag(tag string) bool {
	for _, t := range c.Tags {
		if t == tag {
			return true
		}
	}
	return false
}

// FirstLine is the cell's first non-blank source line, for reports.
func (c *Cell) FirstLine() string {
	for _, l := range strings.Split(c.Source, "\n") {
		if strings.TrimSpace(l) != "" {
			return strings.TrimRight(l, " \t\r")
		}
	}
	return ""
}
