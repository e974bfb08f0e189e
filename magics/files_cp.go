package magics

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ---- %cp ----

func cpMagic(d fileDeps) *Magic {
	m := &Magic{
		Name: "cp",
		Kind: Line,
		Args: "SRC... DST",
		Summary: "Copy files between the host and the board; board paths start with ':'.\n" +
			"A DST that is a folder (or ends in '/', or is ':' for the board's current folder) keeps the\n" +
			"sources' names; several SRC need such a DST. Examples: %cp main.py :  %cp a.py b.py :lib/\n" +
			"%cp :data.csv .  %cp -r src :lib",
	}
	m.Setup = func(fs *flag.FlagSet) Runner {
		recursive := fs.Bool("r", false, "copy folders with everything in them")
		return func(ctx context.Context, env *Env, args []string, _ string) error {
			if len(args) < 2 {
				return Usagef(m, "want at least one SRC and a DST")
			}
			srcs, dst := args[:len(args)-1], args[len(args)-1]
			c := copier{env: env, recursive: *recursive}
			if err := c.run(ctx, d, srcs, dst); err != nil {
				return fmt.Errorf("%%cp: %w", err)
			}
			return nil
		}
	}
	return m
}

// copier runs one %cp.
type copier struct {
	env       *Env
	recursive bool
	from, to  side
}

// sideFor returns the side an argument names and the path on it.
func sideFor(arg string, host, board side) (side, string) {
	if isBoardArg(arg) {
		return board, boardPath(arg)
	}
	return host, arg
}

func (c *copier) run(ctx context.Context, d fileDeps, srcs []string, dstArg string) error {
	fromBoard := isBoardArg(srcs[0])
	for _, s := range srcs[1:] {
		if isBoardArg(s) != fromBoard {
			return errors.New("the sources mix host and board paths; copy them in separate %cp commands")
		}
	}
	toBoard := isBoardArg(dstArg)
	var host, board side = hostSide{c.env.Host}, nil
	if fromBoard || toBoard {
		b, err := d.boardSide(ctx, c.env)
		if err != nil {
			return err
		}
		board = b
	}
	if fromBoard == toBoard && c.recursive {
		// A folder copied into itself would never end; keep it simple.
		return errors.New("-r copies between the host and the board only (mark board paths with ':')")
	}
	c.from, _ = sideFor(srcs[0], host, board)
	to, dst := sideFor(dstArg, host, board)
	c.to = to

	// Every source is checked before DST is created: a %cp that cannot
	// start changes nothing.
	for _, s := range srcs {
		_, src := sideFor(s, host, board)
		if _, err := c.source(ctx, src); err != nil {
			return err
		}
	}
	dstIsDir, err := c.dstIsDir(ctx, dstArg, dst, len(srcs) > 1)
	if err != nil {
		return err
	}
	for _, s := range srcs {
		_, src := sideFor(s, host, board)
		if err := c.copyArg(ctx, src, dst, dstIsDir); err != nil {
			return err
		}
	}
	return nil
}

// dstIsDir decides whether DST is a folder to copy into, creating it when
// the user marked it as one with a trailing '/'.
func (c *copier) dstIsDir(ctx context.Context, arg, dst string, several bool) (bool, error) {
	marked := strings.HasSuffix(arg, "/") || arg == ":" || arg == "." || arg == ".."
	st, err := c.to.stat(ctx, dst)
	switch {
	case err == nil && st.isDir:
		return true, nil
	case err == nil && marked:
		return false, fmt.Errorf("%s is a file, not a folder", c.to.label(dst))
	case err == nil && several:
		return false, fmt.Errorf("copying several sources needs a folder as DST, and %s is a file", c.to.label(dst))
	case err == nil:
		return false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return false, err
	case marked:
		return true, c.to.mkdirAll(ctx, dst)
	case several:
		return false, fmt.Errorf("copying several sources needs a folder as DST: %s does not exist (end it with '/' to create it)", c.to.label(dst))
	}
	return false, nil
}

// source stats one SRC, which must exist, and be a folder only with -r.
func (c *copier) source(ctx context.Context, src string) (entry, error) {
	st, err := c.from.stat(ctx, src)
	if err != nil {
		return st, err
	}
	if st.isDir && !c.recursive {
		return st, fmt.Errorf("%s is a folder (use %%cp -r to copy it with its contents)", c.from.label(src))
	}
	return st, nil
}

// copyArg copies one SRC argument.
func (c *copier) copyArg(ctx context.Context, src, dst string, dstIsDir bool) error {
	st, err := c.source(ctx, src)
	if err != nil {
		return err
	}
	target := dst
	if dstIsDir {
		target = c.to.join(dst, c.from.base(src))
	}
	if !st.isDir {
		return c.copyFile(ctx, src, target)
	}
	if tst, err := c.to.stat(ctx, target); err == nil && !tst.isDir {
		return fmt.Errorf("cannot copy folder %s onto file %s", c.from.label(src), c.to.label(target))
	}
	return c.copyTree(ctx, src, target)
}

func (c *copier) copyTree(ctx context.Context, src, target string) error {
	if err := c.to.mkdirAll(ctx, target); err != nil {
		return err
	}
	es, err := c.from.list(ctx, src)
	if err != nil {
		return err
	}
	for _, e := range es {
		if err := ctx.Err(); err != nil {
			return err
		}
		s, t := c.from.join(src, e.name), c.to.join(target, e.name)
		if e.isDir {
			err = c.copyTree(ctx, s, t)
		} else {
			err = c.copyFile(ctx, s, t)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *copier) copyFile(ctx context.Context, src, target string) error {
	data, err := c.from.read(ctx, src)
	if err != nil {
		return err
	}
	if err := c.to.write(ctx, target, data); err != nil {
		return err
	}
	c.env.Out.Stream("stdout", fmt.Sprintf("%s -> %s  (%s)\n", c.from.label(src), c.to.label(target), formatSize(int64(len(data)))))
	return nil
}

// ---- %%writefile ----

func writefileMagic(d fileDeps) *Magic {
	m := &Magic{
		Name: "writefile",
		Kind: Cell,
		Args: "PATH",
		Summary: "Write the cell's body to a host file (relative to the host working directory, see %cd), or to a board file\n" +
			"when PATH starts with ':'. A final newline is added when the body lacks one.",
	}
	m.Setup = func(fs *flag.FlagSet) Runner {
		appendTo := fs.Bool("a", false, "append to the file instead of replacing it")
		return func(ctx context.Context, env *Env, args []string, body string) error {
			if len(args) != 1 {
				return Usagef(m, "want one PATH, got %s", plural(len(args), "argument"))
			}
			if body != "" && !strings.HasSuffix(body, "\n") {
				body += "\n"
			}
			var err error
			if isBoardArg(args[0]) {
				err = writeBoardFile(ctx, d, env, boardPath(args[0]), body, *appendTo)
			} else {
				err = writeHostFile(ctx, env, args[0], body, *appendTo)
			}
			if err != nil {
				return fmt.Errorf("%%%%writefile: %w", err)
			}
			verb := "Wrote"
			if *appendTo {
				verb = "Appended"
			}
			env.Out.Stream("stdout", fmt.Sprintf("%s %s to %s\n", verb, formatSize(int64(len(body))), args[0]))
			return nil
		}
	}
	return m
}

func writeHostFile(ctx context.Context, env *Env, p, body string, appendTo bool) error {
	h := hostSide{env.Host}
	abs := h.abs(p)
	data := []byte(body)
	if appendTo {
		old, err := os.ReadFile(abs)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return h.err("read", p, err)
		}
		data = append(old, data...)
	}
	if st, err := os.Stat(filepath.Dir(abs)); err != nil || !st.IsDir() {
		return fmt.Errorf("write %s: folder %s does not exist on the host", p, filepath.Dir(abs))
	}
	return h.write(ctx, p, data)
}

func writeBoardFile(ctx context.Context, d fileDeps, env *Env, p, body string, appendTo bool) error {
	b, err := d.boardSide(ctx, env)
	if err != nil {
		return err
	}
	if isRoot(p) {
		return fmt.Errorf("%s is a folder; name a file", b.label(p))
	}
	data := []byte(body)
	if appendTo {
		old, err := b.read(ctx, p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		data = append(old, data...)
	}
	return b.write(ctx, p, data)
}
