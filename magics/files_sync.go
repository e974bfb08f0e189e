package magics

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/iot-kernel/iot-kernel/transport"
)

// Both %rdiff and %rsync leave out hidden names (starting with '.') and
// __pycache__ folders, on the host and on the board alike: editor and VCS
// droppings are not sent, and hidden board files are neither compared nor
// deleted. So are uploads' temporary files (NAME.iotpart): an error may
// have told the user that one holds their data.
func skipSynced(e entry) bool {
	return strings.HasPrefix(e.name, ".") || e.isDir && e.name == "__pycache__" ||
		!e.isDir && strings.HasSuffix(e.name, transport.PartSuffix)
}

const syncNote = "Hidden names (starting with '.'), __pycache__ folders and uploads' temporary files (NAME" + transport.PartSuffix + ") are ignored on both sides."

// diffKind classifies one path found on either side.
type diffKind int

const (
	onlyHost  diffKind = iota // to be sent
	onlyBoard                 // to be deleted
	differs                   // both files, contents differ
	kindDiff                  // a file on one side, a folder on the other
)

// diffItem is one difference between a host folder and a board folder.
type diffItem struct {
	kind  diffKind
	rel   string // '/'-separated, relative to both roots
	host  entry  // set unless onlyBoard
	board entry  // set unless onlyHost
}

// syncTree is the comparison of a host folder with a board folder.
type syncTree struct {
	host              hostSide
	board             *boardSide
	hostDir, boardDir string
	boardMissing      bool // the board folder does not exist yet
	diffs             []diffItem
}

// compare walks both trees and lists their differences in path order.
// Files of equal size are compared by SHA-256, computed on the board when
// it can (the engine falls back to reading the file).
func compare(ctx context.Context, host hostSide, hostDir string, board *boardSide, boardDir string) (*syncTree, error) {
	t := &syncTree{host: host, board: board, hostDir: hostDir, boardDir: boardDir}
	st, err := host.stat(ctx, hostDir)
	if err != nil {
		return nil, err
	}
	if !st.isDir {
		return nil, fmt.Errorf("%s is a file; name a host folder", host.label(hostDir))
	}
	hostFiles := map[string]entry{}
	var order []string
	err = walkSide(ctx, host, hostDir, skipSynced, func(rel string, e entry) error {
		hostFiles[rel] = e
		order = append(order, rel)
		return nil
	})
	if err != nil {
		return nil, err
	}
	boardFiles := map[string]entry{}
	bst, err := board.stat(ctx, boardDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		t.boardMissing = true
	case err != nil:
		return nil, err
	case !bst.isDir:
		return nil, fmt.Errorf("%s is a file; name a board folder", board.label(boardDir))
	default:
		err = walkSide(ctx, board, boardDir, skipSynced, func(rel string, e entry) error {
			boardFiles[rel] = e
			if _, ok := hostFiles[rel]; !ok {
				order = append(order, rel)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(order)
	for _, rel := range order {
		h, onHost := hostFiles[rel]
		b, onBoard := boardFiles[rel]
		switch {
		case !onBoard:
			t.diffs = append(t.diffs, diffItem{kind: onlyHost, rel: rel, host: h})
		case !onHost:
			t.diffs = append(t.diffs, diffItem{kind: onlyBoard, rel: rel, board: b})
		case h.isDir != b.isDir:
			t.diffs = append(t.diffs, diffItem{kind: kindDiff, rel: rel, host: h, board: b})
		case h.isDir:
			// same folder on both sides
		default:
			same, err := t.sameFile(ctx, rel, h, b)
			if err != nil {
				return nil, err
			}
			if !same {
				t.diffs = append(t.diffs, diffItem{kind: differs, rel: rel, host: h, board: b})
			}
		}
	}
	return t, nil
}

func (t *syncTree) hostPath(rel string) string {
	return t.host.join(t.hostDir, filepath.FromSlash(rel))
}
func (t *syncTree) boardPath(rel string) string { return t.board.join(t.boardDir, rel) }

func (t *syncTree) sameFile(ctx context.Context, rel string, h, b entry) (bool, error) {
	if h.size != b.size {
		return false, nil
	}
	hs, err := t.host.sha256(t.hostPath(rel))
	if err != nil {
		return false, err
	}
	bs, err := t.board.sha256(ctx, t.boardPath(rel))
	if err != nil {
		return false, err
	}
	return hs == bs, nil
}

// under reports whether rel lies inside one of the folders in dirs.
func under(rel string, dirs []string) bool {
	for _, d := range dirs {
		if strings.HasPrefix(rel, d+"/") {
			return true
		}
	}
	return false
}

// syncKind is one kind of change %rsync makes on the board.
type syncKind int

const (
	syncDelete syncKind = iota // remove a board file or folder (with contents)
	syncMkdir                  // create a board folder
	syncSend                   // write a host file to the board
)

type syncOp struct {
	kind  syncKind
	rel   string
	isDir bool  // delete: the board path is a folder
	size  int64 // send: bytes
	isNew bool  // send: the board had no such file
}

// plan turns the differences into changes. New folders come first, so a
// board without folders (micro:bit) fails before anything changed; then
// deletions (they free room on small boards); then folders that replace a
// deleted board file; then files. keepExtra leaves board files that the
// host lacks.
func (t *syncTree) plan(keepExtra bool) []syncOp {
	var early, dels, late, sends []syncOp
	var deletedDirs []string
	deleted := map[string]bool{}
	del := func(rel string, isDir bool) {
		if under(rel, deletedDirs) {
			return
		}
		dels = append(dels, syncOp{kind: syncDelete, rel: rel, isDir: isDir})
		deleted[rel] = true
		if isDir {
			deletedDirs = append(deletedDirs, rel)
		}
	}
	// replaces reports whether rel or a parent of it is a board file
	// to be deleted first.
	replaces := func(rel string) bool {
		for p := rel; ; {
			if deleted[p] {
				return true
			}
			i := strings.LastIndexByte(p, '/')
			if i < 0 {
				return false
			}
			p = p[:i]
		}
	}
	create := func(d diffItem, isNew bool) {
		switch {
		case !d.host.isDir:
			sends = append(sends, syncOp{kind: syncSend, rel: d.rel, size: d.host.size, isNew: isNew})
		case replaces(d.rel):
			late = append(late, syncOp{kind: syncMkdir, rel: d.rel})
		default:
			early = append(early, syncOp{kind: syncMkdir, rel: d.rel})
		}
	}
	for _, d := range t.diffs {
		switch d.kind {
		case onlyHost:
			create(d, true)
		case onlyBoard:
			if !keepExtra {
				del(d.rel, d.board.isDir)
			}
		case differs:
			create(d, false)
		case kindDiff:
			del(d.rel, d.board.isDir)
			create(d, true)
		}
	}
	ops := append(early, dels...)
	ops = append(ops, late...)
	return append(ops, sends...)
}

// describe renders one change as a line: "+ lib/a.py  (1.2 KB)".
func (op syncOp) describe() string {
	switch op.kind {
	case syncDelete:
		if op.isDir {
			return "- " + op.rel + "/  (with its contents)"
		}
		return "- " + op.rel
	case syncMkdir:
		return "+ " + op.rel + "/"
	}
	sign := "~"
	if op.isNew {
		sign = "+"
	}
	return fmt.Sprintf("%s %s  (%s)", sign, op.rel, formatSize(op.size))
}

// apply makes one change on the board.
func (t *syncTree) apply(ctx context.Context, op syncOp) error {
	bp := t.boardPath(op.rel)
	switch op.kind {
	case syncDelete:
		if op.isDir {
			return t.board.removeAll(ctx, bp)
		}
		return t.board.remove(ctx, bp)
	case syncMkdir:
		return t.board.mkdirAll(ctx, bp)
	}
	data, err := t.host.read(ctx, t.hostPath(op.rel))
	if err != nil {
		return err
	}
	return t.board.write(ctx, bp, data)
}

// syncArgs checks the HOST_DIR :BOARD_DIR arguments.
func syncArgs(m *Magic, args []string) (hostDir, boardDir string, err error) {
	if len(args) != 2 {
		return "", "", Usagef(m, "want HOST_DIR and :BOARD_DIR, got %s", plural(len(args), "argument"))
	}
	if isBoardArg(args[0]) || !isBoardArg(args[1]) {
		return "", "", Usagef(m, "the host folder comes first and the board folder, marked with ':', second (e.g. %%%s src :lib)", m.Name)
	}
	return args[0], boardPath(args[1]), nil
}

// syncSetup is the common start of %rdiff and %rsync: it reads the two
// folders from args, opens the board and compares the folders.
func syncSetup(ctx context.Context, m *Magic, d fileDeps, env *Env, args []string) (*syncTree, error) {
	hostDir, boardDir, err := syncArgs(m, args)
	if err != nil {
		return nil, err
	}
	b, err := d.boardSide(ctx, env)
	if err != nil {
		return nil, fmt.Errorf("%%%s: %w", m.Name, err)
	}
	t, err := compare(ctx, hostSide{env.Host}, hostDir, b, boardDir)
	if err != nil {
		return nil, fmt.Errorf("%%%s: %w", m.Name, err)
	}
	return t, nil
}

// ---- %rdiff ----

func rdiffMagic(d fileDeps) *Magic {
	m := &Magic{
		Name:    "rdiff",
		Kind:    Line,
		Args:    "HOST_DIR :BOARD_DIR",
		Summary: "Show how a board folder differs from a host folder (files compared by SHA-256).\n" + syncNote,
	}
	m.Setup = func(fs *flag.FlagSet) Runner {
		return func(ctx context.Context, env *Env, args []string, _ string) error {
			t, err := syncSetup(ctx, m, d, env, args)
			if err != nil {
				return err
			}
			h, hostDir, b, boardDir := t.host, t.hostDir, t.board, t.boardDir
			var out strings.Builder
			if t.boardMissing {
				fmt.Fprintf(&out, "%s does not exist on the board\n", b.label(boardDir))
			}
			for _, d := range t.diffs {
				switch d.kind {
				case onlyHost:
					fmt.Fprintf(&out, "only on host:   %s\n", diffName(d.rel, d.host))
				case onlyBoard:
					fmt.Fprintf(&out, "only on board:  %s\n", diffName(d.rel, d.board))
				case differs:
					fmt.Fprintf(&out, "differs:        %s  (host %s, board %s)\n", d.rel, formatSize(d.host.size), formatSize(d.board.size))
				case kindDiff:
					fmt.Fprintf(&out, "differs:        %s  (host %s, board %s)\n", d.rel, fileOrFolder(d.host), fileOrFolder(d.board))
				}
			}
			if len(t.diffs) == 0 && !t.boardMissing {
				fmt.Fprintf(&out, "no differences between %s and %s\n", h.label(hostDir), b.label(boardDir))
			}
			env.Out.Stream("stdout", out.String())
			return nil
		}
	}
	return m
}

func diffName(rel string, e entry) string {
	if e.isDir {
		return rel + "/"
	}
	return rel
}

func fileOrFolder(e entry) string {
	if e.isDir {
		return "folder"
	}
	return "file"
}

// ---- %rsync ----

func rsyncMagic(d fileDeps) *Magic {
	m := &Magic{
		Name: "rsync",
		Kind: Line,
		Args: "HOST_DIR :BOARD_DIR",
		Summary: "Make a board folder equal to a host folder: send new and changed files (compared by SHA-256)\n" +
			"and delete board files the host folder lacks.\n" + syncNote,
	}
	m.Setup = func(fs *flag.FlagSet) Runner {
		dryRun := fs.Bool("n", false, "dry run: show what would change, change nothing")
		keepExtra := fs.Bool("u", false, "upload only: keep board files that the host folder lacks")
		return func(ctx context.Context, env *Env, args []string, _ string) error {
			t, err := syncSetup(ctx, m, d, env, args)
			if err != nil {
				return err
			}
			h, hostDir, b, boardDir := t.host, t.hostDir, t.board, t.boardDir
			ops := t.plan(*keepExtra)
			if err := t.checkFolders(ctx, ops); err != nil {
				return fmt.Errorf("%%rsync: %w", err)
			}
			if len(ops) == 0 && !t.boardMissing {
				env.Out.Stream("stdout", fmt.Sprintf("%s is up to date with %s\n", b.label(boardDir), h.label(hostDir)))
				return nil
			}
			if *dryRun {
				var out strings.Builder
				out.WriteString("dry run, nothing changed; %rsync without -n would:\n")
				if t.boardMissing {
					fmt.Fprintf(&out, "+ %s  (create the board folder)\n", b.label(boardDir))
				}
				for _, op := range ops {
					out.WriteString(op.describe() + "\n")
				}
				out.WriteString(summary(ops, true) + "\n")
				env.Out.Stream("stdout", out.String())
				return nil
			}
			if t.boardMissing {
				if err := b.mkdirAll(ctx, boardDir); err != nil {
					return fmt.Errorf("%%rsync: %w", err)
				}
				env.Out.Stream("stdout", fmt.Sprintf("+ %s  (created the board folder)\n", b.label(boardDir)))
			}
			for i, op := range ops {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("%%rsync: stopped: %w", err)
				}
				if err := t.apply(ctx, op); err != nil {
					if i == 0 {
						return fmt.Errorf("%%rsync: %w (nothing changed)", err)
					}
					return fmt.Errorf("%%rsync: %w\nbefore that: %s", err, summary(ops[:i], false))
				}
				env.Out.Stream("stdout", op.describe()+"\n")
			}
			env.Out.Stream("stdout", summary(ops, false)+"\n")
			return nil
		}
	}
	return m
}

// checkFolders fails, before anything changed, when ops would create
// folders on a board whose filesystem has none (the micro:bit's), naming
// them; a dry run says so too instead of promising what cannot be done.
func (t *syncTree) checkFolders(ctx context.Context, ops []syncOp) error {
	var dirs []string
	if t.boardMissing {
		dirs = append(dirs, t.board.label(t.boardDir)+"/")
	}
	for _, op := range ops {
		if op.kind == syncMkdir {
			dirs = append(dirs, t.board.label(t.boardPath(op.rel))+"/")
		}
	}
	if len(dirs) == 0 {
		return nil
	}
	ok, err := t.board.fs.HasFolders(ctx)
	if err != nil || ok {
		return err
	}
	const most = 3
	list := strings.Join(dirs[:min(len(dirs), most)], ", ")
	if len(dirs) > most {
		list += fmt.Sprintf(" and %d more", len(dirs)-most)
	}
	return &fileError{
		what: fmt.Sprintf("this board's filesystem has no folders, so it cannot create %s; nothing changed (sync a folder of files only, to :)", list),
		errs: []error{errors.ErrUnsupported},
	}
}

// summary counts what ops do (or would do, when dry).
func summary(ops []syncOp, dry bool) string {
	var sent, deleted, made int
	var bytes int64
	for _, op := range ops {
		switch op.kind {
		case syncDelete:
			deleted++
		case syncMkdir:
			made++
		case syncSend:
			sent++
			bytes += op.size
		}
	}
	if dry {
		return fmt.Sprintf("would send %s (%s), delete %d, create %s", plural(sent, "file"), formatSize(bytes), deleted, plural(made, "folder"))
	}
	return fmt.Sprintf("sent %s (%s), deleted %d, created %s", plural(sent, "file"), formatSize(bytes), deleted, plural(made, "folder"))
}
