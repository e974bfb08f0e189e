package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/adler32"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/iot-kernel/iot-kernel/transport/webrepl"
)

// File operations are small Python snippets run through exec, like
// mpremote's, so every link supports them. Links that can move files
// themselves (WebREPL) implement fileTransferer and are used for the bulk.

// fileTransferer is a link with its own file transfer (the WebREPL conn).
type fileTransferer interface {
	PutFile(ctx context.Context, name string, data []byte, progress func(done, total int64)) error
	GetFile(ctx context.Context, name string, limit int64, progress func(done, total int64)) ([]byte, error)
}

// ownTransfer is the link's own file transfer for the board file name, if
// it has one that takes the name. WebREPL's takes names of at most
// webrepl.MaxNameLen bytes; longer ones go through the raw REPL, which the
// same link carries.
func (l *link) ownTransfer(name string) (fileTransferer, bool) {
	ft, ok := l.rwc.(fileTransferer)
	return ft, ok && len(name) <= webrepl.MaxNameLen
}

// getSlack is how many bytes more than its stat said a file read over a
// link's own transfer may have.
const getSlack = 64 << 10

// partSuffix names the temporary file an upload goes to before it is
// renamed, so an interrupted upload never leaves a half-written file under
// the real name.
const partSuffix = PartSuffix

// PartSuffix ends the name of an upload's temporary file on the board
// (NAME.iotpart). An error may tell the user that one holds their data, so
// tools that delete files the host does not have must leave it alone.
const PartSuffix = ".iotpart"

// fsCaps is what the board's os module offers, probed once per link.
type fsCaps struct {
	ilistdir, mkdir, rename, stat, sha256 bool
	chunk                                 int        // file bytes per exec
	errno                                 errnoTable // the board's errno numbers; nil: Linux's
}

// flat reports a filesystem without directories (the micro:bit's).
func (c *fsCaps) flat() bool { return !c.mkdir && !c.stat }

// fnSnippet wraps body (one-space indented lines) in a function so that its
// names do not leak into the user's globals.
func fnSnippet(body string) string {
	return "def _iotf():\n" + body + "try:_iotf()\nfinally:del _iotf\n"
}

// capsProbe prints the capabilities on one line and the board's errno
// numbers ("ENOENT=2 ...", empty without an errno module) on the next.
var capsProbe = ` import os,gc
 h=0
 for n in ('hashlib','uhashlib'):
  try:
   h=hasattr(__import__(n),'sha256');break
  except ImportError:pass
 e=''
 for n in ('errno','uerrno'):
  try:
   m=__import__(n)
   for k in '` + strings.Join(errnoNames, " ") + `'.split():
    if hasattr(m,k):e+=' %s=%d'%(k,getattr(m,k))
   break
  except ImportError:pass
 gc.collect()
 print(int(hasattr(os,'ilistdir')),int(hasattr(os,'mkdir')),int(hasattr(os,'rename')),int(hasattr(os,'stat')),int(h),gc.mem_free())
 print(e)
`

func (b *Board) capsFor(ctx context.Context, l *link) (*fsCaps, error) {
	if l.caps != nil {
		return l.caps, nil
	}
	out, err := l.capture(ctx, fnSnippet(capsProbe))
	if err != nil {
		return nil, fmt.Errorf("probing the board's filesystem: %w", err)
	}
	first, rest, _ := strings.Cut(strings.ReplaceAll(out, "\r\n", "\n"), "\n")
	f := strings.Fields(first)
	if len(f) != 6 {
		return nil, fmt.Errorf("probing the board's filesystem: unexpected answer %q", out)
	}
	c := &fsCaps{ilistdir: f[0] == "1", mkdir: f[1] == "1", rename: f[2] == "1", stat: f[3] == "1", sha256: f[4] == "1",
		errno: parseErrnoTable(rest)}
	memFree, _ := strconv.Atoi(f[5])
	// A chunk is held about four times over (source line, literal, bytes
	// object, parse); keep it well inside the free RAM.
	c.chunk = min(max(memFree/20, 128), 4096)
	l.caps = c
	return c, nil
}

// capture runs one of the kernel's own snippets and returns its output.
// They are valid Python, so a SyntaxError means the code was damaged on
// the way (a byte lost or doubled on the line) and that none of it ran:
// it is sent again, a bounded number of times.
func (l *link) capture(ctx context.Context, code string) (string, error) {
	for try := 1; ; try++ {
		out, err := l.captureOnce(ctx, code)
		var be *BoardError
		if try < chunkTries && ctx.Err() == nil && errors.As(err, &be) && be.Name == "SyntaxError" {
			continue
		}
		return out, err
	}
}

// captureOnce runs code once and returns its output.
func (l *link) captureOnce(ctx context.Context, code string) (string, error) {
	var out bytes.Buffer
	err := l.run(ctx, execReq{code: []byte(code), stdout: &out, idle: fileIdle(ctx, l)})
	return out.String(), err
}

// fileIdle bounds how long a file snippet's answer may pause: a board that
// goes silent, or whose answer another program reading the port took,
// must not hold %cp or %ls until a stop. Generous: a checksum of a large
// file prints only at its end. The steps of a commit have their own bound
// (see withCommitBound).
func fileIdle(ctx context.Context, l *link) time.Duration {
	if d, ok := ctx.Value(commitKey{}).(time.Duration); ok {
		return d
	}
	return 4 * l.timeout
}

type commitKey struct{}

// withCommitBound is ctx, which ends after d, for the steps of a commit:
// they go on after a stop until d, however long each pauses (a copy of a
// large file prints only at its end), and then are interrupted.
func withCommitBound(ctx context.Context, l *link, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, d)
	return context.WithValue(ctx, commitKey{}, d+l.timeout), cancel
}

// boardPath maps a path onto the board: on a flat filesystem "/x" is "x".
func (c *fsCaps) boardPath(p string) string {
	if c.flat() {
		return strings.TrimPrefix(p, "/")
	}
	return p
}

// fileOp runs fn with the link and the filesystem capabilities.
func (b *Board) fileOp(ctx context.Context, fn func(context.Context, *link, *fsCaps) error) error {
	return b.op(ctx, func(ctx context.Context, l *link) error {
		c, err := b.capsFor(ctx, l)
		if err != nil {
			return err
		}
		return fn(ctx, l, c)
	})
}

// ListDir lists a directory on the board ("" or "/" for the root).
func (b *Board) ListDir(ctx context.Context, dir string) ([]FileInfo, error) {
	var infos []FileInfo
	err := b.fileOp(ctx, func(ctx context.Context, l *link, c *fsCaps) error {
		var body string
		switch {
		case c.ilistdir:
			arg, pfx := "", ""
			if dir != "" {
				arg = PyStr(dir)
				pfx = strings.TrimSuffix(dir, "/") + "/"
			}
			body = fmt.Sprintf(` import os
 for e in os.ilistdir(%s):
  n=e[0];d=e[1]&0x4000
  s=e[3] if len(e)>3 else -1
  if s<0:s=0 if d else os.stat(%s+n)[6]
  print(1 if d else 0,s,repr(n))
`, arg, PyStr(pfx))
		case c.flat():
			if p := c.boardPath(dir); p != "" && p != "." {
				return &fs.PathError{Op: "listdir", Path: dir, Err: fmt.Errorf("this board has no directories: %w", fs.ErrNotExist)}
			}
			body = " import os\n for n in os.listdir():print(0,os.size(n),repr(n))\n"
		default:
			body = fmt.Sprintf(" import os\n for n in os.listdir(%s):\n  s=os.stat(%s+n);print(1 if s[0]&0x4000 else 0,s[6],repr(n))\n",
				PyStr(dir), PyStr(strings.TrimSuffix(dir, "/")+"/"))
		}
		out, err := l.capture(ctx, fnSnippet(body))
		if err != nil {
			return c.osError("listdir", dir, err)
		}
		for _, line := range strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n") {
			if line == "" {
				continue
			}
			f := strings.SplitN(line, " ", 3)
			if len(f) != 3 {
				return fmt.Errorf("listdir %s: unexpected line %q", dir, line)
			}
			name, err := parsePyLit(f[2])
			if err != nil {
				return fmt.Errorf("listdir %s: %w", dir, err)
			}
			size, _ := strconv.ParseInt(f[1], 10, 64)
			fi := FileInfo{Name: string(name), Size: size, IsDir: f[0] == "1"}
			if dir == "" {
				fi.Path = fi.Name
			} else {
				fi.Path = path.Join(dir, fi.Name)
			}
			infos = append(infos, fi)
		}
		return nil
	})
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	return infos, err
}

// Stat describes one file or directory; a missing one gives an error
// wrapping fs.ErrNotExist.
func (b *Board) Stat(ctx context.Context, p string) (FileInfo, error) {
	var fi FileInfo
	err := b.fileOp(ctx, func(ctx context.Context, l *link, c *fsCaps) error {
		var err error
		fi, err = stat(ctx, l, c, p)
		return err
	})
	return fi, err
}

func stat(ctx context.Context, l *link, c *fsCaps, p string) (FileInfo, error) {
	fi := FileInfo{Name: path.Base(p), Path: p}
	bp := c.boardPath(p)
	if c.flat() && (bp == "" || bp == ".") {
		fi.IsDir = true
		return fi, nil
	}
	body := fmt.Sprintf(" import os\n print(0,os.size(%s))\n", PyStr(bp))
	if c.stat {
		body = fmt.Sprintf(" import os\n s=os.stat(%s);print(1 if s[0]&0x4000 else 0,s[6])\n", PyStr(bp))
	}
	out, err := l.capture(ctx, fnSnippet(body))
	if err != nil {
		return fi, c.osError("stat", p, err)
	}
	f := strings.Fields(out)
	if len(f) != 2 {
		return fi, fmt.Errorf("stat %s: unexpected answer %q", p, out)
	}
	fi.IsDir = f[0] == "1"
	fi.Size, _ = strconv.ParseInt(f[1], 10, 64)
	return fi, nil
}

// Content checks. Every transfer is checked by content, on every board: by
// sha256 where the board has hashlib, else by an Adler-32 that board code
// computes. A damaged chunk or file is sent again, a bounded number of
// times.
const (
	chunkTries = 3 // sends of one damaged chunk of an exec upload
	fileTries  = 3 // transfers of a damaged file
)

// timesNote says how many times a damaged file was transferred, so that
// the chunk's own count ("arrived damaged 3 times") is not mistaken for it.
func timesNote(verb string, n int) string {
	if n == 1 {
		return "(the file was " + verb + " once)"
	}
	return fmt.Sprintf("(the file was %s %d times)", verb, n)
}

// damagedError reports a transfer whose content arrived changed.
type damagedError struct{ what string }

func (e *damagedError) Error() string { return e.what }

// damagedCode turns the board's SyntaxError for one of the kernel's own
// snippets, which are valid Python, into a damagedError: the code changed
// on the way to the board (a byte lost or doubled), so it is sent again
// rather than shown as the user's syntax error.
func damagedCode(err error) error {
	var be *BoardError
	if errors.As(err, &be) && be.Name == "SyntaxError" {
		return &damagedError{"the command arrived damaged at the board (it raised SyntaxError)"}
	}
	return err
}

// sumBody is function-body Python (see fnSnippet) that leaves in d the
// content checksum of board file bp: hex sha256 with hashlib, else
// Adler-32 as 8 hex digits (the sums stay small ints, reduced every 256
// bytes, so a micro:bit needs no long ints).
func (c *fsCaps) sumBody(bp string) string {
	if c.sha256 {
		return c.sha256Body(bp)
	}
	return fmt.Sprintf(` a=1;s=0;f=open(%s,'rb')
 while 1:
  b=f.read(256)
  if not b:break
  for x in b:
   a+=x;s+=a
  a%%=65521;s%%=65521
 f.close()
 d='%%04x%%04x'%%(s,a)
`, PyStr(bp))
}

// sumOf is what sumBody computes, for data on the host.
func (c *fsCaps) sumOf(data []byte) string {
	if c.sha256 {
		h := sha256.Sum256(data)
		return hex.EncodeToString(h[:])
	}
	return fmt.Sprintf("%08x", adler32.Checksum(data))
}

// byteSum is the sum of p's bytes, which the board computes in C (sum()).
func byteSum(p []byte) int {
	n := 0
	for _, b := range p {
		n += int(b)
	}
	return n
}

// ReadFile reads a file from the board, calling progress after every chunk.
func (b *Board) ReadFile(ctx context.Context, p string, progress Progress) ([]byte, error) {
	var data []byte
	err := b.fileOp(ctx, func(ctx context.Context, l *link, c *fsCaps) error {
		var err error
		data, err = readFile(ctx, l, c, p, progress)
		return err
	})
	return data, err
}

// readFile reads p, checked by content, again when it arrived damaged.
func readFile(ctx context.Context, l *link, c *fsCaps, p string, progress Progress) ([]byte, error) {
	for try := 1; ; try++ {
		data, err := readOnce(ctx, l, c, p, progress)
		var d *damagedError
		if !errors.As(err, &d) || try == fileTries || ctx.Err() != nil {
			var pe *fs.PathError
			switch {
			case d != nil:
				return nil, fmt.Errorf("read %s: %w %s", p, err, timesNote("read", try))
			case err != nil && !errors.As(err, &pe):
				// A lost link or a silent board: say what it stopped.
				return nil, fmt.Errorf("read %s: %w", p, err)
			}
			return data, err
		}
	}
}

func readOnce(ctx context.Context, l *link, c *fsCaps, p string, progress Progress) ([]byte, error) {
	bp := c.boardPath(p)
	if ft, ok := l.ownTransfer(bp); ok {
		// The size first: WebREPL announces none, and MicroPython's C
		// WebREPL ends the session on a GET of a missing file.
		fi, err := stat(ctx, l, c, p)
		if err != nil {
			return nil, err
		}
		prog := progress
		if prog != nil {
			prog = func(done, _ int64) { progress(done, fi.Size) }
		}
		var data []byte
		err = idleTransfer(ctx, l, "waiting for the board to send the file", prog, func(ctx context.Context, prog func(done, total int64)) error {
			// Bounded by the size, with room for a file that grows a
			// little meanwhile (its checksum then differs, and it is
			// read again): a board that sends on and on must not fill
			// the host's memory.
			var err error
			data, err = ft.GetFile(ctx, bp, fi.Size+getSlack, prog)
			return err
		})
		if err != nil {
			if err = l.transferError(err); l.dead() {
				return nil, err
			}
			// WebREPL's status says nothing of why: ask the board.
			if _, serr := stat(ctx, l, c, p); serr != nil {
				return nil, serr
			}
			return nil, err // readFile names the file
		}
		out, err := l.capture(ctx, fnSnippet(c.sumBody(bp)+" print(d)\n"))
		if err != nil {
			return nil, c.osError("read", p, err)
		}
		if strings.TrimSpace(out) != c.sumOf(data) {
			return nil, &damagedError{"the file arrived damaged (its checksum differs from the board's)"}
		}
		return data, nil
	}
	data, _, err := readStream(ctx, l, c, p, -1, progress)
	return data, err
}

// readStream reads p in one exec, at most limit bytes of it (all of it
// when limit < 0), and returns them with the file's size. The board sends
// the size, then one repr() of a chunk per line with the sum of its bytes
// (binary-safe, text stays near its size, and a changed byte shows).
func readStream(ctx context.Context, l *link, c *fsCaps, p string, limit int64, progress Progress) ([]byte, int64, error) {
	bp := c.boardPath(p)
	body := fmt.Sprintf(` import os
 f=open(%s,'rb')
 print(%s)
 n=%d
 while n:
  b=f.read(%d if n<0 else min(n,%d))
  if not b:break
  n-=len(b) if n>0 else 0
  print(repr(b),sum(b))
 f.close()
`, PyStr(bp), c.sizeExpr(bp), limit, c.chunk, c.chunk)
	w := &chunkLines{progress: progress, total: -1}
	err := l.run(ctx, execReq{code: []byte(fnSnippet(body)), stdout: w, idle: fileIdle(ctx, l)})
	if err == nil {
		err = w.err
	}
	if err != nil {
		return nil, 0, c.osError("read", p, damagedCode(err))
	}
	want := w.total
	if limit >= 0 && limit < want {
		want = limit
	}
	if w.total >= 0 && int64(len(w.data)) != want {
		return nil, 0, &damagedError{fmt.Sprintf("got %d bytes of %d", len(w.data), want)}
	}
	return w.data, w.total, nil
}

// ReadFileHead reads at most n bytes from the start of a file on the board,
// and returns them with the file's whole size: a preview that costs no
// more than it shows.
func (b *Board) ReadFileHead(ctx context.Context, p string, n int64, progress Progress) ([]byte, int64, error) {
	var data []byte
	var size int64
	n = max(n, 0)
	prog := progress
	if prog != nil {
		prog = func(done, total int64) { progress(done, min(total, n)) }
	}
	err := b.fileOp(ctx, func(ctx context.Context, l *link, c *fsCaps) error {
		for try := 1; ; try++ {
			var err error
			data, size, err = readStream(ctx, l, c, p, n, prog)
			var d *damagedError
			if !errors.As(err, &d) || try == fileTries || ctx.Err() != nil {
				if d != nil {
					return fmt.Errorf("read %s: %w %s", p, err, timesNote("read", try))
				}
				return err
			}
		}
	})
	return data, size, err
}

// chunkLines decodes readOnce's output as it streams in.
type chunkLines struct {
	buf      []byte
	data     []byte
	total    int64
	progress Progress
	err      error
}

func (w *chunkLines) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := strings.TrimSuffix(string(w.buf[:i]), "\r")
		w.buf = w.buf[i+1:]
		if w.err != nil {
			continue
		}
		if w.total < 0 {
			w.total, w.err = strconv.ParseInt(line, 10, 64)
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			w.err = &damagedError{fmt.Sprintf("a damaged line %q", line)}
			continue
		}
		chunk, err := parsePyLit(line[:sp])
		sum, serr := strconv.Atoi(line[sp+1:])
		if err != nil || serr != nil || sum != byteSum(chunk) {
			w.err = &damagedError{"a chunk arrived damaged"}
			continue
		}
		w.data = append(w.data, chunk...)
		if w.progress != nil {
			w.progress(int64(len(w.data)), w.total)
		}
	}
}

// WriteFile writes data to a file on the board without ever losing it: to
// path+".iotpart" first, in chunks (each checked; a damaged one is sent
// again), then checked by content (size, and sha256 or a checksum the
// board computes) and sent again if damaged, then renamed over path (or,
// without os.rename, copied over it and checked again). Once the data is
// verified on the board, putting it in place finishes even if ctx is
// cancelled, within a bound. An error says what is on the board: path is
// unchanged, or the verified data is kept under the temporary name, which
// is then never removed. progress is called after every chunk.
func (b *Board) WriteFile(ctx context.Context, p string, data []byte, progress Progress) error {
	return b.fileOp(ctx, func(ctx context.Context, l *link, c *fsCaps) error {
		return writeFile(ctx, l, c, p, data, progress)
	})
}

// placeError is a failure after the upload was verified: the new data is
// on the board under the temporary name, which is kept.
//
// When the link went or the board fell silent, what the board did with
// the code it was sent is unknown: the board runs on without the host,
// so the rename or copy happened in full or not at all, unless a later
// Ctrl-C stopped a copy. The message then says what each outcome leaves.
type placeError struct {
	p, tmp string
	err    error
	// maybePartial: the real file may have been half replaced (a copy
	// was under way), else it still holds the old data.
	maybePartial bool
	// unverified: the board had not yet said that the upload checked out.
	unverified bool
}

func (e *placeError) Error() string {
	state := "it still holds its old contents"
	// Whether the step happened is not known when the board stopped
	// answering, or ignored Ctrl-C and was restarted (Board.op says so).
	lead := ""
	switch {
	case errors.Is(e.err, errRestart):
		lead = "interrupted"
	case errors.Is(e.err, ErrLinkLost) || errors.Is(e.err, ErrNoResponse):
		lead = fmt.Sprintf("the board stopped answering (%v)", e.err)
	}
	if lead != "" {
		switch {
		case e.unverified:
			return fmt.Sprintf("write %s: %s while it checked the upload and renamed it into place: %s holds its old or the new contents; if %s is still there, copy the file again to finish",
				e.p, lead, e.p, e.tmp)
		case e.maybePartial:
			return fmt.Sprintf("write %s: %s while it copied the verified upload into place: if %s is still there, it holds the new data and %s may be incomplete: copy the file again to finish; else %s holds the new data",
				e.p, lead, e.tmp, e.p, e.p)
		}
		return fmt.Sprintf("write %s: %s while the verified upload was renamed into place: %s holds the old or the new contents; if %s is still there, it holds the new data",
			e.p, lead, e.p, e.tmp)
	}
	if e.maybePartial {
		state = "it may be incomplete"
	}
	return fmt.Sprintf("write %s: the new data is on the board, verified, as %s, but putting it in place failed (%v); %s: copy it again to finish",
		e.p, e.tmp, e.err, state)
}

// Left is the message without its "write path: " start: what is on the
// board, and what to do.
func (e *placeError) Left() string { return strings.TrimPrefix(e.Error(), "write "+e.p+": ") }

func (e *placeError) Unwrap() error { return e.err }

// commitBound bounds the steps of an upload that run on after a stop:
// the check and the rename or copy on the board.
func commitBound(l *link, n int) time.Duration {
	return min(4*l.timeout+time.Duration(n)*250*time.Microsecond, time.Minute)
}

func writeFile(ctx context.Context, l *link, c *fsCaps, p string, data []byte, progress Progress) error {
	bp := c.boardPath(p)
	if c.flat() && strings.Contains(bp, "/") {
		// The micro:bit would make a flat file named "lib/x.py", which
		// no folder listing could show.
		return fmt.Errorf("write %s: a folder in the path, and directories are not supported by this board: %w", p, errors.ErrUnsupported)
	}
	tmp := bp + partSuffix
	for try := 1; ; try++ {
		start := time.Now()
		err := sendTemp(ctx, l, c, p, tmp, data, progress)
		if err == nil {
			// All the data is on the board: finish, stop or not.
			sent := time.Since(start)
			cctx, cancel := withCommitBound(context.WithoutCancel(ctx), l, commitBound(l, len(data)))
			err = commitUpload(cctx, l, c, p, tmp, bp, data)
			if err == nil && !c.rename {
				err = placeByCopy(cctx, l, c, p, tmp, bp, data, sent)
			}
			cancel()
			var pe *placeError
			if err == nil || errors.As(err, &pe) || errors.Is(err, ErrIsDir) {
				return err // (onto a folder: the board removed tmp)
			}
		}
		var d *damagedError
		if errors.As(err, &d) && try < fileTries && ctx.Err() == nil && !l.dead() {
			continue
		}
		if d != nil {
			err = fmt.Errorf("%w %s", err, timesNote("sent", try))
		}
		return abandonTemp(ctx, l, c, p, tmp, bp, err)
	}
}

// abandonTemp ends an upload that failed before its data was verified:
// the temporary file, which holds nothing the user needs, is removed, and
// the error says the real file is unchanged.
func abandonTemp(ctx context.Context, l *link, c *fsCaps, p, tmp, bp string, err error) error {
	left, absent := "", false
	if l.dead() || errors.Is(err, errRestart) {
		left = fmt.Sprintf("; a partial %s may be left on the board (the next upload replaces it)", tmp)
	} else {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*l.timeout)
		var cerr error
		if !l.inRaw {
			// The board did not answer and may still hold code on its
			// raw line: clear it, or the cleanup would run after it.
			cerr = l.enterRaw(cctx)
		}
		if cerr == nil {
			// It also says whether the real file exists (open: the
			// micro:bit has no os.stat), so that the error is true of
			// a file that was new.
			cleanup := fmt.Sprintf("try:\n _iotw.close()\n del _iotw\nexcept:pass\ntry:__import__('os').remove(%s)\nexcept OSError:pass\n"+
				"try:\n open(%s,'rb').close();print(1)\nexcept OSError:print(0)\n", PyStr(tmp), PyStr(bp))
			var out string
			out, cerr = l.capture(cctx, cleanup)
			var be *BoardError
			if errors.As(cerr, &be) && be.Name == "KeyboardInterrupt" {
				// Left pending by the Ctrl-C of enterRaw (the micro:bit's
				// firmware raises it in the next exec): once more.
				out, cerr = l.capture(cctx, cleanup)
			}
			absent = cerr == nil && strings.TrimSpace(out) == "0"
		}
		cancel()
		if cerr != nil {
			left = fmt.Sprintf("; a partial %s may be left on the board (the next upload replaces it)", tmp)
		}
	}
	state := p + " is unchanged" + left
	if absent {
		state = p + " was not created" + left
	}
	cause := err
	if pe, ok := err.(*fs.PathError); ok && pe.Path == p {
		cause = pe.Err // the path is said once
	}
	return &fileWriteError{msg: fmt.Sprintf("write %s: %v: %s", p, cause, state), state: state, err: err}
}

// WriteFailure is an error of WriteFile: Left says, in words, what the
// failed write left on the board (the file unchanged, the new data under a
// temporary name, an incomplete file), so that a caller who words the
// failure its own way keeps that.
type WriteFailure interface {
	error
	Left() string
}

// fileWriteError is an upload that left the real file unchanged.
type fileWriteError struct {
	msg, state string
	err        error
}

func (e *fileWriteError) Error() string { return e.msg }
func (e *fileWriteError) Left() string  { return e.state }
func (e *fileWriteError) Unwrap() error { return e.err }

// transferError is the error of a failed transfer of the link's own
// (WebREPL's): when the link went with it, it is a lost link, as every
// other loss is, so that the error says so and the next operation
// connects again.
func (l *link) transferError(err error) error {
	l.discard() // reading what is there finds a link that is gone
	if l.dead() && !errors.Is(err, ErrNoResponse) {
		return &errLost{err: err}
	}
	return err
}

// errTransferIdle is the cause of a transfer's end by idleTransfer.
var errTransferIdle = errors.New("the transfer made no progress")

// idleTransfer runs op, a transfer of the link's own (WebREPL's), under a
// context that ends once fileIdle passes with no progress, as the raw
// REPL's file snippets are bounded: a board that stops mid-transfer with
// its connection up must not hold ReadFile or WriteFile until a stop.
// That end is an error wrapping ErrNoResponse; the link's transfer then
// closes the session, which the next operation opens again. op's progress
// calls are passed on to progress (nil: none).
func idleTransfer(ctx context.Context, l *link, what string, progress Progress, op func(ctx context.Context, progress func(done, total int64)) error) error {
	d := fileIdle(ctx, l)
	tctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(d, func() { cancel(errTransferIdle) })
	defer idle.Stop()
	err := op(tctx, func(done, total int64) {
		idle.Reset(d)
		if progress != nil {
			progress(done, total)
		}
	})
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(tctx), errTransferIdle) {
		// Not what the board printed last, as the raw REPL's say: that
		// is REPL output from before the transfer.
		return fmt.Errorf("%s: no answer within %v: %w (check that the board is on and its network up)", what, d, ErrNoResponse)
	}
	return err
}

// sendTemp sends data to the board file tmp: over the link's own file
// transfer, or in chunks through exec, each checked by its length and
// byte sum and sent again when damaged.
func sendTemp(ctx context.Context, l *link, c *fsCaps, p, tmp string, data []byte, progress Progress) error {
	total := int64(len(data))
	if ft, ok := l.ownTransfer(tmp); ok {
		err := idleTransfer(ctx, l, "waiting for the board to take the upload", progress, func(ctx context.Context, progress func(done, total int64)) error {
			return ft.PutFile(ctx, tmp, data, progress)
		})
		if err != nil {
			return l.transferError(err)
		}
		return nil
	}
	if _, err := l.capture(ctx, fmt.Sprintf("_iotw=open(%s,'wb')\n", PyStr(tmp))); err != nil {
		return c.osError("write", p, err)
	}
	if progress != nil {
		progress(0, total)
	}
	for off := 0; off < len(data); off += c.chunk {
		end := min(off+c.chunk, len(data))
		chunk := data[off:end]
		code := fmt.Sprintf("_iotb=%s\nif len(_iotb)==%d and sum(_iotb)==%d:_iotw.write(_iotb);print('W')\nelse:print('BAD')\ndel _iotb\n",
			pyBytes(chunk), len(chunk), byteSum(chunk))
		for try := 1; ; try++ {
			out, err := l.captureOnce(ctx, code) // checked here, and retried
			if err == nil && strings.TrimSpace(out) == "W" {
				break
			}
			var be *BoardError
			damaged := err == nil || errors.As(err, &be) && be.Name == "SyntaxError"
			if !damaged {
				return c.osError("write", p, err)
			}
			if try == chunkTries || ctx.Err() != nil {
				return &damagedError{fmt.Sprintf("a chunk at byte %d arrived damaged %d times", off, try)}
			}
		}
		if progress != nil {
			progress(int64(end), total)
		}
	}
	if _, err := l.capture(ctx, "_iotw.close()\ndel _iotw\n"); err != nil {
		return c.osError("write", p, err)
	}
	return nil
}

// commitUpload checks the uploaded temporary file's size and content and,
// on boards with os.rename, renames it into place, all in one exec: over
// WiFi every exec is a round trip of tens of milliseconds.
func commitUpload(ctx context.Context, l *link, c *fsCaps, p, tmp, bp string, data []byte) error {
	var body strings.Builder
	fmt.Fprintf(&body, " import os\n n=%s\n if n!=%d:\n  print('SIZE',n);return\n", c.sizeExpr(tmp), len(data))
	fmt.Fprintf(&body, "%s if d!=%s:\n  print('SUM',d);return\n", c.sumBody(tmp), PyStr(c.sumOf(data)))
	if c.rename {
		if c.stat {
			// A folder of that name: the rename would fail every time.
			fmt.Fprintf(&body, " try:\n  if os.stat(%s)[0]&0x4000:\n   os.remove(%s);print('ISDIR');return\n except OSError:pass\n", PyStr(bp), PyStr(tmp))
		}
		fmt.Fprintf(&body, " print('CHECKED')\n os.rename(%s,%s)\n", PyStr(tmp), PyStr(bp))
	}
	body.WriteString(" print('OK')\n")
	out, err := l.capture(ctx, fnSnippet(body.String()))
	f := strings.Fields(out)
	checked := len(f) > 0 && f[0] == "CHECKED"
	switch {
	case err != nil && checked:
		// Verified, but the rename failed or did not finish.
		return &placeError{p: p, tmp: tmp, err: c.osError("rename", p, err)}
	case errors.Is(err, ErrLinkLost) || errors.Is(err, ErrNoResponse):
		// The code may have reached the board, which then checks and
		// renames without us: the real file is not known to be unchanged.
		return &placeError{p: p, tmp: tmp, err: err, unverified: true}
	case err != nil:
		return c.osError("write", p, damagedCode(err))
	case len(f) > 0 && f[len(f)-1] == "OK":
		return nil
	case len(f) == 1 && f[0] == "ISDIR":
		return &fileWriteError{msg: fmt.Sprintf("write %s: it is a folder on the board: nothing was written (name a file in it)", p),
			state: "nothing was written (name a file in it)", err: ErrIsDir}
	case len(f) == 2 && f[0] == "SIZE":
		return &damagedError{fmt.Sprintf("upload damaged: the board has %s bytes, sent %d", f[1], len(data))}
	case len(f) == 2 && f[0] == "SUM":
		return &damagedError{"upload damaged: its checksum differs"}
	}
	return fmt.Errorf("write %s: unexpected answer %q", p, out)
}

// placeByCopy puts a verified upload in place on a board without
// os.rename: tmp is copied over dst, the copy checked, then tmp removed.
// Any failure leaves tmp, which still holds the data, except one: a
// filesystem with room for one more copy of the data but not two (the
// micro:bit's holds about 15 KB) has the copy fail for want of space once
// the old file is gone, so the data is written in place from the host
// instead (see placeDirect).
// sent is how long the upload took: writing the data again in place gets
// twice that, beyond ctx's bound.
func placeByCopy(ctx context.Context, l *link, c *fsCaps, p, tmp, bp string, data []byte, sent time.Duration) error {
	for try := 1; ; try++ {
		err := copyOnBoard(ctx, l, c, tmp, bp, c.sumOf(data))
		var d *damagedError
		if errors.As(err, &d) && try < chunkTries {
			continue // the copy's code arrived damaged, so nothing ran
		}
		if errors.Is(err, ErrNoSpace) {
			dctx, cancel := withCommitBound(context.WithoutCancel(ctx), l, 2*sent+commitBound(l, len(data)))
			defer cancel()
			return placeDirect(dctx, l, c, p, tmp, bp, data)
		}
		if err != nil {
			return &placeError{p: p, tmp: tmp, err: err, maybePartial: d == nil}
		}
		return nil
	}
}

// placeDirect writes data over bp from the host, after the copy of the
// verified upload tmp ran out of room: the old file is already gone, and
// tmp is removed to make room (the host still has the data), so what
// fails now leaves bp incomplete, and the error says so.
func placeDirect(ctx context.Context, l *link, c *fsCaps, p, tmp, bp string, data []byte) error {
	clear := fmt.Sprintf(" import os\n for f in(%s,%s):\n  try:os.remove(f)\n  except OSError:pass\n", PyStr(bp), PyStr(tmp))
	_, err := l.capture(ctx, fnSnippet(clear))
	if err != nil {
		return &inPlaceError{p: p, tmp: tmp, err: c.osError("remove", p, err)}
	}
	for try := 1; ; try++ {
		err = sendTemp(ctx, l, c, p, bp, data, nil)
		if err == nil {
			check := *c
			check.rename = false // so commitUpload only checks
			err = commitUpload(ctx, l, &check, p, bp, bp, data)
		}
		var d *damagedError
		if errors.As(err, &d) && try < fileTries && !l.dead() {
			continue
		}
		if err != nil {
			return &inPlaceError{p: p, err: err}
		}
		return nil
	}
}

// inPlaceError is a failed write in place (placeDirect): the old file is
// gone, and the new one may be incomplete. tmp is set when the failure
// came while room was being made, so the verified upload may be left.
type inPlaceError struct {
	p, tmp string
	err    error
}

func (e *inPlaceError) Error() string {
	if e.tmp != "" {
		return fmt.Sprintf("write %s: the board had room for one copy of the new data but not two (it has no os.rename); making room to write it in place failed (%v): %s",
			e.p, e.err, e.Left())
	}
	return fmt.Sprintf("write %s: the board had room for one copy of the new data but not two (it has no os.rename), so it was written over %s in place, which failed (%v): %s",
		e.p, e.p, e.err, e.Left())
}

func (e *inPlaceError) Left() string {
	if e.tmp != "" {
		return fmt.Sprintf("%s is incomplete or missing; if %s is still there, it holds the new data: copy the file again", e.p, e.tmp)
	}
	return e.p + " is incomplete or missing: copy the file again"
}

func (e *inPlaceError) Unwrap() error { return e.err }

var _ = []WriteFailure{(*fileWriteError)(nil), (*placeError)(nil), (*inPlaceError)(nil)}

// copyOnBoard replaces dst by a copy of src, checks the copy against sum
// (the content checksum of src, see sumBody) and removes src.
func copyOnBoard(ctx context.Context, l *link, c *fsCaps, src, dst, sum string) error {
	body := fmt.Sprintf(` import os
 try:os.remove(%[2]s)
 except OSError:pass
 s=open(%[1]s,'rb');d=open(%[2]s,'wb')
 try:
  while 1:
   b=s.read(%[3]d)
   if not b:break
   d.write(b)
 finally:
  s.close();d.close()
`, PyStr(src), PyStr(dst), c.chunk)
	body += c.sumBody(dst) + fmt.Sprintf(" if d!=%s:raise OSError(5)\n os.remove(%s)\n", PyStr(sum), PyStr(src))
	_, err := l.capture(ctx, fnSnippet(body))
	return c.osError("copy", dst, damagedCode(err))
}

// sizeExpr is Python for the size of board file bp (with os imported).
func (c *fsCaps) sizeExpr(bp string) string {
	if c.stat {
		return "os.stat(" + PyStr(bp) + ")[6]"
	}
	return "os.size(" + PyStr(bp) + ")"
}

// Remove removes a file or an empty directory.
func (b *Board) Remove(ctx context.Context, p string) error {
	return b.fileOp(ctx, func(ctx context.Context, l *link, c *fsCaps) error {
		bp := PyStr(c.boardPath(p))
		body := fmt.Sprintf(" import os\n os.remove(%s)\n", bp)
		if c.stat {
			body = fmt.Sprintf(" import os\n if os.stat(%[1]s)[0]&0x4000:os.rmdir(%[1]s)\n else:os.remove(%[1]s)\n", bp)
		}
		_, err := l.capture(ctx, fnSnippet(body))
		return c.osError("remove", p, err)
	})
}

// HasFolders reports whether folders can be made on the board's
// filesystem: the micro:bit's is flat.
func (b *Board) HasFolders(ctx context.Context) (bool, error) {
	var ok bool
	err := b.fileOp(ctx, func(ctx context.Context, l *link, c *fsCaps) error {
		ok = c.mkdir
		return nil
	})
	return ok, err
}

// Mkdir makes a directory. Boards with a flat filesystem (micro:bit) give
// an error wrapping errors.ErrUnsupported.
func (b *Board) Mkdir(ctx context.Context, p string) error {
	return b.fileOp(ctx, func(ctx context.Context, l *link, c *fsCaps) error {
		if !c.mkdir {
			return fmt.Errorf("mkdir %s: directories are not supported by this board: %w", p, errors.ErrUnsupported)
		}
		_, err := l.capture(ctx, fmt.Sprintf("__import__('os').mkdir(%s)", PyStr(p)))
		return c.osError("mkdir", p, err)
	})
}

// Rename renames a file or directory. On boards without os.rename
// (micro:bit) the file is copied and the original removed.
func (b *Board) Rename(ctx context.Context, from, to string) error {
	return b.fileOp(ctx, func(ctx context.Context, l *link, c *fsCaps) error {
		if c.rename {
			_, err := l.capture(ctx, fmt.Sprintf("__import__('os').rename(%s,%s)", PyStr(c.boardPath(from)), PyStr(c.boardPath(to))))
			return c.osError("rename", from, err)
		}
		if _, err := stat(ctx, l, c, from); err != nil {
			return err
		}
		// The copy finishes even if stopped: from is removed only once the
		// copy is checked, and a half copy is not left under to.
		out, err := l.capture(ctx, fnSnippet(c.sumBody(c.boardPath(from))+" print(d)\n"))
		if err != nil {
			return c.osError("rename", from, err)
		}
		cctx, cancel := withCommitBound(context.WithoutCancel(ctx), l, commitBound(l, 0))
		defer cancel()
		return copyOnBoard(cctx, l, c, c.boardPath(from), c.boardPath(to), strings.TrimSpace(out))
	})
}

// Sha256 returns the hex SHA-256 of a file, computed on the board when it
// has hashlib, else from the file's bytes read back to the host.
func (b *Board) Sha256(ctx context.Context, p string) (string, error) {
	var sum string
	err := b.fileOp(ctx, func(ctx context.Context, l *link, c *fsCaps) error {
		if c.sha256 {
			var err error
			sum, err = boardSha256(ctx, l, c, c.boardPath(p))
			return c.osError("sha256", p, err)
		}
		data, err := readFile(ctx, l, c, p, nil)
		if err != nil {
			return err
		}
		h := sha256.Sum256(data)
		sum = hex.EncodeToString(h[:])
		return nil
	})
	return sum, err
}

func boardSha256(ctx context.Context, l *link, c *fsCaps, bp string) (string, error) {
	out, err := l.capture(ctx, fnSnippet(c.sha256Body(bp)+" print(d)\n"))
	if err != nil {
		return "", err
	}
	sum := strings.TrimSpace(out)
	if len(sum) != 64 {
		return "", fmt.Errorf("sha256 %s: unexpected answer %q", bp, out)
	}
	return sum, nil
}

// sha256Body is function-body Python (see fnSnippet) that leaves the hex
// sha256 of board file bp in d.
func (c *fsCaps) sha256Body(bp string) string {
	return fmt.Sprintf(` try:import hashlib as h
 except ImportError:import uhashlib as h
 s=h.sha256();f=open(%s,'rb')
 while 1:
  b=f.read(%d)
  if not b:break
  s.update(b)
 f.close()
 d=''.join('%%02x'%%x for x in s.digest())
`, PyStr(bp), c.chunk)
}
