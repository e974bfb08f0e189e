package magics

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/iot-kernel/iot-kernel/internal/atomicfile"
	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/transport"
)

// entry is one file or folder on either side.
type entry struct {
	name  string
	size  int64
	isDir bool
}

// side is a filesystem %cp can copy from and to: the host or the board.
// Paths are in the side's own syntax (host paths relative to the notebook's
// folder, board paths without the ':').
type side interface {
	// label renders p for messages: host paths as given, board paths
	// with their ':'.
	label(p string) string
	// stat describes p; a missing p gives an error wrapping fs.ErrNotExist.
	stat(ctx context.Context, p string) (entry, error)
	// list returns a folder's entries sorted by name.
	list(ctx context.Context, p string) ([]entry, error)
	read(ctx context.Context, p string) ([]byte, error)
	// write replaces p atomically: either the old or the new content
	// survives a failure.
	write(ctx context.Context, p string, data []byte) error
	mkdirAll(ctx context.Context, p string) error
	join(dir, name string) string
	base(p string) string
}

// errNoSuch is what a missing file or folder becomes, on either side.
type errNoSuch struct{ where string }

func (e errNoSuch) Error() string        { return "no such file or folder on the " + e.where }
func (e errNoSuch) Is(target error) bool { return target == fs.ErrNotExist }

// ---- the host ----

// hostSide is the host computer's filesystem, relative paths resolved
// against the notebook's host folder.
type hostSide struct{ host *Host }

func (h hostSide) label(p string) string {
	if p == "" {
		return "."
	}
	return p
}

func (h hostSide) abs(p string) string { return h.host.Abs(p) }

// hostErr gives a host failure a message naming the path as the user
// wrote it.
func (h hostSide) err(op, p string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s %s: %w", op, h.label(p), errNoSuch{"host"})
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%s %s: %w", op, h.label(p), err)
}

func (h hostSide) stat(_ context.Context, p string) (entry, error) {
	st, err := os.Stat(h.abs(p))
	if err != nil {
		return entry{}, h.err("stat", p, err)
	}
	return entry{name: st.Name(), size: st.Size(), isDir: st.IsDir()}, nil
}

func (h hostSide) list(_ context.Context, p string) ([]entry, error) {
	abs := h.abs(p)
	des, err := os.ReadDir(abs)
	if err != nil {
		return nil, h.err("list", p, err)
	}
	es := make([]entry, 0, len(des))
	for _, de := range des {
		// Follow symlinks; skip what is neither a file nor a folder
		// (sockets, dangling links): the board cannot hold them.
		st, err := os.Stat(filepath.Join(abs, de.Name()))
		if err != nil || !(st.Mode().IsRegular() || st.IsDir()) {
			continue
		}
		es = append(es, entry{name: de.Name(), size: st.Size(), isDir: st.IsDir()})
	}
	sortEntries(es)
	return es, nil
}

func (h hostSide) read(_ context.Context, p string) ([]byte, error) {
	data, err := os.ReadFile(h.abs(p))
	if err != nil {
		return nil, h.err("read", p, err)
	}
	return data, nil
}

func (h hostSide) write(_ context.Context, p string, data []byte) error {
	if err := writeFileAtomic(h.abs(p), data); err != nil {
		return h.err("write", p, err)
	}
	return nil
}

func (h hostSide) mkdirAll(_ context.Context, p string) error {
	if err := os.MkdirAll(h.abs(p), 0o755); err != nil {
		return h.err("create folder", p, err)
	}
	return nil
}

func (h hostSide) join(dir, name string) string {
	if dir == "" {
		return name
	}
	return filepath.Join(dir, name)
}

func (h hostSide) base(p string) string { return filepath.Base(p) }

// sha256 is the hex SHA-256 of a host file.
func (h hostSide) sha256(p string) (string, error) {
	data, err := os.ReadFile(h.abs(p))
	if err != nil {
		return "", h.err("read", p, err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// writeFileAtomic writes data to a temporary file next to abs and renames
// it over abs, so a failure leaves the old file as it was. An existing
// file keeps its permissions.
func writeFileAtomic(abs string, data []byte) error {
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(abs); err == nil {
		if st.IsDir() {
			return &fs.PathError{Op: "write", Path: abs, Err: errors.New("is a folder")}
		}
		mode = st.Mode().Perm() // keep an existing file's permissions
	}
	return atomicfile.Write(abs, data, mode)
}

// ---- the board ----

// boardSide is the current board's filesystem. Reads and writes show a
// progress bar when they take long.
type boardSide struct {
	fs  boardFS
	out kernel.Output
	now func() time.Time
}

func (b *boardSide) label(p string) string { return ":" + p }

// isRoot reports whether p is the board's top or current folder, which
// always exists and cannot be removed.
func isRoot(p string) bool { return p == "" || p == "/" }

// err gives a board failure a clear message: missing files, a full
// filesystem and a board without folders are recognised whether the engine
// wraps the Go error or passes the board's OSError through. The engine's
// error stays reachable with errors.Is and errors.As.
func (b *boardSide) err(op, p string, err error) error {
	what := op + " " + b.label(p)
	var le *transport.LinkError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &le):
		// The board could not be reached (its port is gone, say): that
		// the port does not exist says nothing of the files on the board.
		return fmt.Errorf("%s: %w", what, err)
	case isNoSpace(err):
		left := ""
		if wf, ok := errors.AsType[transport.WriteFailure](err); ok {
			left = ": " + wf.Left() // the engine's words for what is on the board
		}
		return &fileError{what: ErrBoardFull.Error() + ": " + what + left + " (make room with %rm)", errs: []error{ErrBoardFull, err}}
	case isNotExist(err):
		return &fileError{what: what + ": " + errNoSuch{"board"}.Error(), errs: []error{errNoSuch{"board"}, err}}
	case errors.Is(err, errors.ErrUnsupported):
		return &fileError{what: what + ": this board's filesystem has no folders", errs: []error{err}}
	}
	return &fileError{what: what + ": " + withoutPath(err.Error(), p), errs: []error{err}}
}

// withoutPath is an engine's message without its own "op path: " starts:
// what the magic says first names the operation and the file already.
func withoutPath(msg, p string) string {
	for {
		op, rest, ok := strings.Cut(msg, " ")
		if !ok || op == "" || strings.ContainsAny(op, ":") || !strings.HasPrefix(rest, p+": ") {
			return msg
		}
		msg = rest[len(p)+2:]
	}
}

// fileError is a message written for people over the errors it stands for.
type fileError struct {
	what string
	errs []error
}

func (e *fileError) Error() string   { return e.what }
func (e *fileError) Unwrap() []error { return e.errs }

func (b *boardSide) stat(ctx context.Context, p string) (entry, error) {
	if isRoot(p) {
		return entry{name: p, isDir: true}, nil
	}
	fi, err := b.fs.Stat(ctx, p)
	if err != nil {
		return entry{}, b.err("stat", p, err)
	}
	return entry{name: path.Base(p), size: fi.Size, isDir: fi.IsDir}, nil
}

func (b *boardSide) list(ctx context.Context, p string) ([]entry, error) {
	fis, err := b.fs.ListDir(ctx, p)
	if err != nil {
		return nil, b.err("list", p, err)
	}
	es := make([]entry, 0, len(fis))
	for _, fi := range fis {
		es = append(es, entry{name: fi.Name, size: fi.Size, isDir: fi.IsDir})
	}
	sortEntries(es)
	return es, nil
}

func (b *boardSide) read(ctx context.Context, p string) ([]byte, error) {
	bar := newProgress(b.out, b.now, "read "+b.base(p))
	data, err := b.fs.ReadFile(ctx, p, bar.update)
	bar.finish(err)
	if err != nil {
		return nil, b.err("read", p, err)
	}
	return data, nil
}

// readHead reads at most n bytes from the start of p and returns them with
// p's size.
func (b *boardSide) readHead(ctx context.Context, p string, n int64) ([]byte, int64, error) {
	bar := newProgress(b.out, b.now, "read "+b.base(p))
	data, size, err := b.fs.ReadFileHead(ctx, p, n, bar.update)
	bar.finish(err)
	if err != nil {
		return nil, 0, b.err("read", p, err)
	}
	return data, size, nil
}

func (b *boardSide) write(ctx context.Context, p string, data []byte) error {
	bar := newProgress(b.out, b.now, "write "+b.base(p))
	err := b.fs.WriteFile(ctx, p, data, bar.update)
	bar.finish(err)
	return b.err("write", p, err)
}

func (b *boardSide) remove(ctx context.Context, p string) error {
	return b.err("remove", p, b.fs.Remove(ctx, p))
}

// removeAll removes p and everything in it; the board's top folder is
// emptied but kept.
func (b *boardSide) removeAll(ctx context.Context, p string) error {
	es, err := b.list(ctx, p)
	if err != nil {
		return err
	}
	for _, e := range es {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := b.join(p, e.name)
		if e.isDir {
			err = b.removeAll(ctx, c)
		} else {
			err = b.remove(ctx, c)
		}
		if err != nil {
			return err
		}
	}
	if isRoot(p) {
		return nil
	}
	return b.remove(ctx, p)
}

// mkdirAll creates p and its missing parents.
func (b *boardSide) mkdirAll(ctx context.Context, p string) error {
	if isRoot(p) {
		return nil
	}
	prefix := ""
	if strings.HasPrefix(p, "/") {
		prefix = "/"
	}
	cur := ""
	for _, part := range strings.Split(strings.Trim(p, "/"), "/") {
		if cur == "" {
			cur = prefix + part
		} else {
			cur += "/" + part
		}
		st, err := b.stat(ctx, cur)
		switch {
		case err == nil && st.isDir:
			continue
		case err == nil:
			return fmt.Errorf("create folder %s: %s is a file", b.label(p), b.label(cur))
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
		if err := b.fs.Mkdir(ctx, cur); err != nil {
			return b.err("create folder", cur, err)
		}
	}
	return nil
}

func (b *boardSide) sha256(ctx context.Context, p string) (string, error) {
	sum, err := b.fs.Sha256(ctx, p)
	if err != nil {
		return "", b.err("hash", p, err)
	}
	return strings.ToLower(strings.TrimSpace(sum)), nil
}

func (b *boardSide) join(dir, name string) string {
	switch {
	case dir == "":
		return name
	case strings.HasSuffix(dir, "/"):
		return dir + name
	}
	return dir + "/" + name
}

func (b *boardSide) base(p string) string {
	if isRoot(p) {
		return ""
	}
	return path.Base(p)
}
