package testboard

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// rawREPL drives a board's raw REPL, for the WebREPL server's file
// operations. It reads board output from next and writes code to w.
type rawREPL struct {
	w    io.Writer
	next func(ctx context.Context) ([]byte, error)
	buf  []byte
}

// readUntil returns the output up to and including marker.
func (r *rawREPL) readUntil(ctx context.Context, marker string) (string, error) {
	for {
		if i := bytes.Index(r.buf, []byte(marker)); i >= 0 {
			got := string(r.buf[:i+len(marker)])
			r.buf = r.buf[i+len(marker):]
			return got, nil
		}
		chunk, err := r.next(ctx)
		if err != nil {
			return string(r.buf), fmt.Errorf("waiting for %q: %w", marker, err)
		}
		r.buf = append(r.buf, chunk...)
	}
}

// enter stops what runs and enters the raw REPL from either REPL mode.
func (r *rawREPL) enter(ctx context.Context) error {
	if _, err := r.w.Write([]byte("\r\x03\x03\x01")); err != nil {
		return fmt.Errorf("enter raw REPL: %w", err)
	}
	if _, err := r.readUntil(ctx, "raw REPL; CTRL-B to exit\r\n>"); err != nil {
		return fmt.Errorf("enter raw REPL: %w", err)
	}
	return nil
}

// leave returns to the friendly REPL and swallows its banner.
func (r *rawREPL) leave(ctx context.Context) error {
	if _, err := r.w.Write([]byte("\x02")); err != nil {
		return fmt.Errorf("leave raw REPL: %w", err)
	}
	if _, err := r.readUntil(ctx, ">>> "); err != nil {
		return fmt.Errorf("leave raw REPL: %w", err)
	}
	r.buf = nil
	return nil
}

// exec runs code and returns its output; a Python exception is an error.
func (r *rawREPL) exec(ctx context.Context, code string) (string, error) {
	if _, err := r.w.Write([]byte(code + "\x04")); err != nil {
		return "", fmt.Errorf("exec: %w", err)
	}
	if _, err := r.readUntil(ctx, "OK"); err != nil {
		return "", err
	}
	out, err := r.readUntil(ctx, "\x04")
	if err != nil {
		return "", err
	}
	errOut, err := r.readUntil(ctx, "\x04")
	if err != nil {
		return "", err
	}
	if _, err := r.readUntil(ctx, ">"); err != nil {
		return "", err
	}
	if errOut = strings.TrimSuffix(errOut, "\x04"); errOut != "" {
		return "", fmt.Errorf("board: %s", strings.TrimSpace(errOut))
	}
	return strings.TrimSuffix(out, "\x04"), nil
}

// pyBytes writes b as a Python bytes literal that every MicroPython parses.
func pyBytes(b []byte) string {
	var s strings.Builder
	s.WriteString("b'")
	for _, c := range b {
		switch {
		case c == '\\' || c == '\'':
			s.WriteByte('\\')
			s.WriteByte(c)
		case c >= 0x20 && c < 0x7f:
			s.WriteByte(c)
		default:
			fmt.Fprintf(&s, "\\x%02x", c)
		}
	}
	s.WriteByte('\'')
	return s.String()
}

// pyStr writes s as a Python str literal; non-ASCII text stays UTF-8.
func pyStr(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' || c == '\'':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, "\\x%02x", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// parseByteLists decodes lines printed by print(list(b)): "[1, 2, 3]".
func parseByteLists(out string) ([]byte, error) {
	var data []byte
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "[") || !strings.HasSuffix(line, "]") {
			return nil, fmt.Errorf("unexpected board output %q", line)
		}
		line = strings.TrimSuffix(strings.TrimPrefix(line, "["), "]")
		if line == "" {
			continue
		}
		for _, f := range strings.Split(line, ",") {
			v, err := strconv.ParseUint(strings.TrimSpace(f), 10, 8)
			if err != nil {
				return nil, fmt.Errorf("unexpected board output %q: %w", line, err)
			}
			data = append(data, byte(v))
		}
	}
	return data, nil
}
