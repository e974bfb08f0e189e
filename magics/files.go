package magics

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/iot-kernel/iot-kernel/transport"
)

// boardFS is the part of *transport.Board the file magics use. The magics
// are written against it so their logic can be tested on an in-memory
// board.
type boardFS interface {
	ListDir(ctx context.Context, path string) ([]transport.FileInfo, error)
	Stat(ctx context.Context, path string) (transport.FileInfo, error)
	ReadFile(ctx context.Context, path string, p transport.Progress) ([]byte, error)
	ReadFileHead(ctx context.Context, path string, n int64, p transport.Progress) ([]byte, int64, error)
	WriteFile(ctx context.Context, path string, data []byte, p transport.Progress) error
	Remove(ctx context.Context, path string) error
	Mkdir(ctx context.Context, path string) error
	HasFolders(ctx context.Context) (bool, error)
	Sha256(ctx context.Context, path string) (string, error)
}

var _ boardFS = (*transport.Board)(nil)

// fileDeps is what the file magics need from outside: the current board
// and a clock for the progress bar. Tests replace both.
type fileDeps struct {
	board func(ctx context.Context, env *Env) (boardFS, error)
	now   func() time.Time
}

// currentBoard is the production fileDeps.board: the session's board.
func currentBoard(ctx context.Context, env *Env) (boardFS, error) {
	b, err := env.Boards.Current(ctx)
	if err != nil {
		return nil, err // never a typed nil inside the interface
	}
	return b, nil
}

// FileMagics returns the magics that move and inspect files: %cp, %cat,
// %rm, %mkdirs, %ls, %rlist, %rdiff, %rsync and %%writefile.
//
// Board paths are written with a leading ':' (":main.py", ":lib/" and ":"
// for the board's current folder); %cat, %rm, %mkdirs, %ls and %rlist only
// ever address the board, so the ':' is optional there.
func FileMagics() []*Magic {
	return fileMagics(fileDeps{board: currentBoard, now: time.Now})
}

func fileMagics(d fileDeps) []*Magic {
	return []*Magic{
		cpMagic(d), catMagic(d), rmMagic(d), mkdirsMagic(d), lsMagic(d),
		rlistMagic(d), rdiffMagic(d), rsyncMagic(d), writefileMagic(d),
	}
}

// boardSide opens the board as a side, for the magics that need one.
func (d fileDeps) boardSide(ctx context.Context, env *Env) (*boardSide, error) {
	b, err := d.board(ctx, env)
	if err != nil {
		return nil, err
	}
	return &boardSide{fs: b, out: env.Out, now: d.now}, nil
}

// isBoardArg reports whether a command-line path names a board path.
func isBoardArg(arg string) bool { return strings.HasPrefix(arg, ":") }

// boardPath turns a board argument (":lib/a.py", "lib/a.py", ":") into the
// path given to the engine. ":" and "" are the board's current folder,
// passed as "".
func boardPath(arg string) string {
	p := strings.TrimPrefix(arg, ":")
	if p == "" {
		return ""
	}
	p = path.Clean(p)
	if p == "." {
		return ""
	}
	return p
}

// ---- board path magics ----

// pathCount says how many board paths a magic takes.
type pathCount int

const (
	onePath      pathCount = iota // exactly one
	somePaths                     // one or more
	optionalPath                  // none or one; none is the board's current folder
)

// boardRunner runs a magic that acts on board paths, given the board and
// the paths as the engine takes them (see boardPath).
type boardRunner func(ctx context.Context, env *Env, b *boardSide, paths []string) error

// boardMagic builds a line magic on board paths (%cat, %rm, %mkdirs, %ls,
// %rlist): its runner checks the number of paths, opens the board and
// prefixes the errors of run with the magic's name. setup declares the
// magic's flags and returns run.
func boardMagic(d fileDeps, name, args, summary string, n pathCount, setup func(fs *flag.FlagSet) boardRunner) *Magic {
	m := &Magic{Name: name, Kind: Line, Args: args, Summary: summary}
	m.Setup = func(fs *flag.FlagSet) Runner {
		run := setup(fs)
		return func(ctx context.Context, env *Env, args []string, _ string) error {
			switch {
			case n == onePath && len(args) != 1:
				return Usagef(m, "want one board path, got %s", plural(len(args), "argument"))
			case n == somePaths && len(args) == 0:
				return Usagef(m, "missing board path")
			case n == optionalPath && len(args) > 1:
				return Usagef(m, "want at most one board path, got %d", len(args))
			}
			paths := []string{""}
			if len(args) > 0 {
				paths = make([]string, len(args))
				for i, a := range args {
					paths[i] = boardPath(a)
				}
			}
			b, err := d.boardSide(ctx, env)
			if err == nil {
				err = run(ctx, env, b, paths)
			}
			if err != nil {
				return fmt.Errorf("%%%s: %w", m.Name, err)
			}
			return nil
		}
	}
	return m
}

// noFlags is the setup of a board path magic without flags.
func noFlags(run boardRunner) func(*flag.FlagSet) boardRunner {
	return func(*flag.FlagSet) boardRunner { return run }
}

// ---- %cat ----

// What %cat reads: the start of a file is enough to tell text from binary
// and to show a binary file's hex preview; a text file is shown up to
// catTextMax bytes. A large file on a 115200-baud link takes seconds per
// 10 KB, so %cat reads no more than it shows.
const (
	catPreview = 256
	catTextMax = 16 << 10
)

func catMagic(d fileDeps) *Magic {
	const summary = "Print a file stored on the board (the ':' is optional), up to 16 KB of it. Binary files are shown as a hex dump of their start."
	return boardMagic(d, "cat", ":PATH", summary, onePath, noFlags(func(ctx context.Context, env *Env, b *boardSide, paths []string) error {
		p := paths[0]
		st, err := b.stat(ctx, p)
		if err != nil {
			return err
		}
		if st.isDir {
			return fmt.Errorf("%s is a folder (list it with %%ls %s)", b.label(p), b.label(p))
		}
		data, size, err := b.readHead(ctx, p, catPreview)
		if err != nil {
			return err
		}
		if int64(len(data)) < size && isText(wholeRunes(data)) {
			// text that goes on: read what will be shown
			if data, size, err = b.readHead(ctx, p, catTextMax); err != nil {
				return err
			}
		}
		env.Out.Stream("stdout", catText(b.label(p), data, size))
		return nil
	}))
}

// catText renders a file for %cat from its first bytes, data, and its
// size: text as it is (ending in a newline, and cut after a whole line when
// the file goes on, saying how much more there is), and binary data as a
// notice with its size plus a hex dump of its start.
func catText(label string, data []byte, size int64) string {
	more := size > int64(len(data))
	text := data
	if more {
		text = wholeRunes(data)
	}
	if isText(text) {
		s := string(text)
		if more {
			if i := strings.LastIndexByte(s, '\n'); i >= 0 {
				s = s[:i+1]
			}
		}
		shown := int64(len(s))
		if s != "" && !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		if more {
			s += fmt.Sprintf("[%%cat showed %d of %d bytes, %d more (%s in all); copy it all to the host with %%cp %s HOST_PATH]\n",
				shown, size, size-shown, formatSize(size), label)
		}
		return s
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s is binary (%s); copy it to the host with %%cp %s HOST_PATH\n", label, formatSize(size), label)
	if len(data) > catPreview {
		data = data[:catPreview]
	}
	if int64(len(data)) < size {
		fmt.Fprintf(&b, "first %d bytes:\n", len(data))
	}
	b.WriteString(hex.Dump(data))
	return b.String()
}

// wholeRunes is data without a UTF-8 sequence cut off at its end, for data
// that is the start of a longer file.
func wholeRunes(data []byte) []byte {
	for k := 1; k <= utf8.UTFMax && k <= len(data); k++ {
		if utf8.RuneStart(data[len(data)-k]) {
			if !utf8.FullRune(data[len(data)-k:]) {
				return data[:len(data)-k]
			}
			break
		}
	}
	return data
}

// isText reports whether data reads as text: valid UTF-8 without NULs or
// other control characters apart from whitespace.
func isText(data []byte) bool {
	if !utf8.Valid(data) {
		return false
	}
	for _, c := range data {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f' && c != 0x1b {
			return false
		}
	}
	return true
}

// ---- %rm ----

func rmMagic(d fileDeps) *Magic {
	const summary = "Remove files from the board (the ':' is optional); -r removes folders with their contents."
	return boardMagic(d, "rm", ":PATH...", summary, somePaths, func(fs *flag.FlagSet) boardRunner {
		recursive := fs.Bool("r", false, "remove folders and everything in them")
		force := fs.Bool("f", false, "no error for paths that do not exist")
		return func(ctx context.Context, _ *Env, b *boardSide, paths []string) error {
			// As rm does: a path that fails is reported, the others are
			// still removed.
			var errs []error
			for _, p := range paths {
				if err := rmOne(ctx, b, p, *recursive, *force); err != nil {
					if ctx.Err() != nil || errors.Is(err, transport.ErrNoResponse) || errors.Is(err, transport.ErrLinkLost) {
						// The board, not the path: the rest would fail
						// the same way, each after its own wait.
						return errors.Join(append(errs, err)...)
					}
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		}
	})
}

func rmOne(ctx context.Context, b *boardSide, p string, recursive, force bool) error {
	st, err := b.stat(ctx, p)
	if errors.Is(err, fs.ErrNotExist) {
		if force {
			return nil
		}
		return fmt.Errorf("cannot remove %s: no such file or folder on the board", b.label(p))
	}
	if err != nil {
		return err
	}
	if !st.isDir {
		return b.remove(ctx, p)
	}
	if !recursive {
		return fmt.Errorf("%s is a folder (use %%rm -r to remove it with its contents)", b.label(p))
	}
	return b.removeAll(ctx, p)
}

// ---- %mkdirs ----

func mkdirsMagic(d fileDeps) *Magic {
	const summary = "Create a folder on the board, with its parents as needed, like mkdir -p (the ':' is optional)."
	return boardMagic(d, "mkdirs", ":PATH", summary, onePath, noFlags(func(ctx context.Context, _ *Env, b *boardSide, paths []string) error {
		return b.mkdirAll(ctx, paths[0])
	}))
}

// ---- %ls and %rlist ----

func lsMagic(d fileDeps) *Magic {
	return listingMagic(d, "ls", "List a folder on the board with file sizes (default: the board's current folder; the ':' is optional).", listFolder)
}

func rlistMagic(d fileDeps) *Magic {
	return listingMagic(d, "rlist", "List the board's files recursively with sizes (default: the board's current folder; the ':' is optional).", listTree)
}

// listingMagic builds %ls and %rlist, which differ only in how a folder's
// contents are listed: list writes them to out.
func listingMagic(d fileDeps, name, summary string, list func(ctx context.Context, b *boardSide, p string, out *strings.Builder) error) *Magic {
	return boardMagic(d, name, "[:PATH]", summary, optionalPath, noFlags(func(ctx context.Context, env *Env, b *boardSide, paths []string) error {
		p := paths[0]
		st, err := b.stat(ctx, p)
		if err != nil {
			return err
		}
		if !st.isDir {
			env.Out.Stream("stdout", listLine(st.size, false, b.label(p)))
			return nil
		}
		var out strings.Builder
		if err := list(ctx, b, p, &out); err != nil {
			return err
		}
		env.Out.Stream("stdout", out.String())
		return nil
	}))
}

// listFolder lists one folder's entries (%ls).
func listFolder(ctx context.Context, b *boardSide, p string, out *strings.Builder) error {
	es, err := b.list(ctx, p)
	if err != nil {
		return err
	}
	for _, e := range es {
		out.WriteString(listLine(e.size, e.isDir, e.name))
	}
	switch {
	case len(es) > 0:
	case p == "":
		out.WriteString("no files on the board\n")
	default:
		fmt.Fprintf(out, "no files in %s\n", b.label(p))
	}
	return nil
}

// listTree lists everything below p with a summary line (%rlist).
func listTree(ctx context.Context, b *boardSide, root string, out *strings.Builder) error {
	var files, dirs int
	var total int64
	err := walkSide(ctx, b, root, nil, func(rel string, e entry) error {
		if e.isDir {
			dirs++
		} else {
			files++
			total += e.size
		}
		out.WriteString(listLine(e.size, e.isDir, rel))
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s, %s, %s in %s\n", plural(files, "file"), plural(dirs, "folder"), formatSize(total), b.label(root))
	return nil
}

// listLine is one line of %ls and %rlist: the size (or "-" for folders),
// then the name, folders marked with a trailing slash.
func listLine(size int64, isDir bool, name string) string {
	if isDir {
		return fmt.Sprintf("%10s  %s/\n", "-", strings.TrimSuffix(name, "/"))
	}
	return fmt.Sprintf("%10s  %s\n", formatSize(size), name)
}

// walkSide visits everything below root on s, parents before their
// contents, in name order. rel is the path relative to root with '/'
// separators. skip, when set, leaves out entries (and folders' contents).
func walkSide(ctx context.Context, s side, root string, skip func(e entry) bool, visit func(rel string, e entry) error) error {
	var walk func(dir, rel string) error
	walk = func(dir, rel string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		es, err := s.list(ctx, dir)
		if err != nil {
			return err
		}
		for _, e := range es {
			if skip != nil && skip(e) {
				continue
			}
			r := e.name
			if rel != "" {
				r = rel + "/" + e.name
			}
			if err := visit(r, e); err != nil {
				return err
			}
			if e.isDir {
				if err := walk(s.join(dir, e.name), r); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(root, "")
}

// ---- errors ----

// ErrBoardFull is wrapped by errors for writes that ran out of space on
// the board's filesystem.
var ErrBoardFull = errors.New("board filesystem full")

// isNoSpace and isNotExist ask the error's type, never its text: the
// engine turns a board's OSError into a typed *transport.OSError once,
// with the board's own errno numbers.
func isNoSpace(err error) bool {
	return errors.Is(err, transport.ErrNoSpace) || errors.Is(err, syscall.ENOSPC)
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// ---- formatting ----

// formatSize renders a byte count for people: 980 B, 12.3 KB, 1.2 MB.
func formatSize(n int64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1024*1024:
		return fmt.Sprintf("%.1f KB", float64(n)/1024)
	case n < 1024*1024*1024:
		return fmt.Sprintf("%.1f MB", float64(n)/(1024*1024))
	default:
		return fmt.Sprintf("%.1f GB", float64(n)/(1024*1024*1024))
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// sortEntries orders a listing by name, the same on both sides.
func sortEntries(es []entry) {
	sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
}
