package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// File operations are small Python snippets run through exec, like
// mpremote's, so every link supports them. Links that can move files
// themselves (WebREPL) implement fileTransferer and are used for the bulk.

// fileTransferer is a link with its own file transfer (the WebREPL conn).
type fileTransferer interface {
	PutFile(ctx context.Context, name string, data []byte, progress func(done, total int64)) error
	GetFile(ctx context.Context, name string, progress func(done, total int64)) ([]byte, error)
}

// partSuffix names the temporary file an upload goes to before it is
// renamed, so an interrupted upload never leaves a half-written file under
// the real name.
const partSuffix = ".iotpart"

// fsCaps is what the board's os module offers, probed once per link.
type fsCaps struct {
	ilistdir, mkdir, rename, stat, sha256 bool
	chunk                                 int // file bytes per exec
}

// flat reports a filesystem without directories (the micro:bit's).
func (c *fsCaps) flat() bool { return !c.mkdir && !c.stat }

// fnSnippet wraps body (one-space indented lines) in a function so that its
// names do not leak into the user's globals.
func fnSnippet(body string) string {
	return "def _iotf():\n" + body + "try:_iotf()\nfinally:del _iotf\n"
}

const capsProbe = ` import os,gc
 h=0
 for n in ('hashlib','uhashlib'):
  try:
   h=hasattr(__import__(n),'sha256');break
  except ImportError:pass
 gc.collect()
 print(int(hasattr(os,'ilistdir')),int(hasattr(os,'mkdir')),int(hasattr(os,'rename')),int(hasattr(os,'stat')),int(h),gc.mem_free())
`

func (b *Board) capsFor(ctx context.Context, l *link) (*fsCaps, error) {
	if l.caps != nil {
		return l.caps, nil
	}
	out, err := l.capture(ctx, fnSnippet(capsProbe))
	if err != nil {
		return nil, fmt.Errorf("probing the board's filesystem: %w", err)
	}
	f := strings.Fields(out)
	if len(f) != 6 {
		return nil, fmt.Errorf("probing the board's filesystem: unexpected answer %q", out)
	}
	c := &fsCaps{ilistdir: f[0] == "1", mkdir: f[1] == "1", rename: f[2] == "1", stat: f[3] == "1", sha256: f[4] == "1"}
	memFree, _ := strconv.Atoi(f[5])
	// A chunk is held about four times over (source line, literal, bytes
	// object, parse); keep it well inside the free RAM.
	c.chunk = min(max(memFree/20, 128), 4096)
	l.caps = c
	return c, nil
}

// capture runs code and returns its output.
func (l *link) capture(ctx context.Context, code string) (string, error) {
	var out bytes.Buffer
	err := l.run(ctx, execReq{code: []byte(code), stdout: &out})
	return out.String(), err
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
			return osError("listdir", dir, err)
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
		return fi, osError("stat", p, err)
	}
	f := strings.Fields(out)
	if len(f) != 2 {
		return fi, fmt.Errorf("stat %s: unexpected answer %q", p, out)
	}
	fi.IsDir = f[0] == "1"
	fi.Size, _ = strconv.ParseInt(f[1], 10, 64)
	return fi, nil
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

func readFile(ctx context.Context, l *link, c *fsCaps, p string, progress Progress) ([]byte, error) {
	if ft, ok := l.rwc.(fileTransferer); ok {
		data, err := ft.GetFile(ctx, c.boardPath(p), progress)
		if err != nil {
			// WebREPL's status says nothing of why: ask the board.
			if _, serr := stat(ctx, l, c, p); serr != nil {
				return nil, serr
			}
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		return data, nil
	}
	bp := PyStr(c.boardPath(p))
	size := c.sizeExpr(c.boardPath(p))
	// One exec streams the whole file: the size, then one repr() of a
	// chunk per line (binary-safe, and text stays near its size).
	body := fmt.Sprintf(` import os
 f=open(%s,'rb')
 print(%s)
 while 1:
  b=f.read(%d)
  if not b:break
  print(repr(b))
 f.close()
`, bp, size, c.chunk)
	w := &chunkLines{progress: progress, total: -1}
	err := l.run(ctx, execReq{code: []byte(fnSnippet(body)), stdout: w})
	if err == nil {
		err = w.err
	}
	if err != nil {
		return nil, osError("read", p, err)
	}
	if w.total >= 0 && int64(len(w.data)) != w.total {
		return nil, fmt.Errorf("read %s: got %d bytes of %d", p, len(w.data), w.total)
	}
	return w.data, nil
}

// chunkLines decodes readFile's output as it streams in.
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
		chunk, err := parsePyLit(line)
		if err != nil {
			w.err = err
			continue
		}
		w.data = append(w.data, chunk...)
		if w.progress != nil {
			w.progress(int64(len(w.data)), w.total)
		}
	}
}

// WriteFile writes data to a file on the board: to path+".iotpart" first,
// in chunks, checked (size, and sha256 where the board has hashlib), then
// renamed over path. progress is called after every chunk.
func (b *Board) WriteFile(ctx context.Context, p string, data []byte, progress Progress) error {
	return b.fileOp(ctx, func(ctx context.Context, l *link, c *fsCaps) error {
		err := writeFile(ctx, l, c, p, data, progress)
		if err != nil && !l.dead() {
			// Best effort: close and remove the temporary file; the real
			// file is untouched.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*l.timeout)
			_, _ = l.capture(cctx, fmt.Sprintf("try:\n _iotw.close()\n del _iotw\nexcept:pass\ntry:__import__('os').remove(%s)\nexcept:pass\n",
				PyStr(c.boardPath(p)+partSuffix)))
			cancel()
		}
		return err
	})
}

func writeFile(ctx context.Context, l *link, c *fsCaps, p string, data []byte, progress Progress) error {
	bp := c.boardPath(p)
	tmp := bp + partSuffix
	total := int64(len(data))
	if ft, ok := l.rwc.(fileTransferer); ok {
		if err := ft.PutFile(ctx, tmp, data, progress); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	} else {
		if _, err := l.capture(ctx, fmt.Sprintf("_iotw=open(%s,'wb')\n", PyStr(tmp))); err != nil {
			return osError("write", p, err)
		}
		if progress != nil {
			progress(0, total)
		}
		for off := 0; off < len(data); off += c.chunk {
			end := min(off+c.chunk, len(data))
			if _, err := l.capture(ctx, "_iotw.write("+pyBytes(data[off:end])+")"); err != nil {
				return osError("write", p, err)
			}
			if progress != nil {
				progress(int64(end), total)
			}
		}
		if _, err := l.capture(ctx, "_iotw.close()\ndel _iotw\n"); err != nil {
			return osError("write", p, err)
		}
	}
	if err := commitUpload(ctx, l, c, p, tmp, bp, data); err != nil || c.rename {
		return err
	}
	// No os.rename (micro:bit): copy on the board, then drop the
	// temporary file. If this fails, the data is still in tmp.
	if err := copyOnBoard(ctx, l, c, tmp, bp); err != nil {
		return fmt.Errorf("write %s: the data is on the board as %s but could not be put in place: %w", p, tmp, err)
	}
	return nil
}

// commitUpload checks the uploaded temporary file's size (and sha256, when
// the board can) and, on boards with os.rename, renames it into place, all
// in one exec: over WiFi every exec is a round trip of tens of milliseconds.
func commitUpload(ctx context.Context, l *link, c *fsCaps, p, tmp, bp string, data []byte) error {
	var body strings.Builder
	fmt.Fprintf(&body, " import os\n n=%s\n if n!=%d:\n  print('SIZE',n);return\n", c.sizeExpr(tmp), len(data))
	if c.sha256 {
		want := sha256.Sum256(data)
		fmt.Fprintf(&body, "%s if d!=%s:\n  print('SHA',d);return\n", c.sha256Body(tmp), PyStr(hex.EncodeToString(want[:])))
	}
	if c.rename {
		fmt.Fprintf(&body, " os.rename(%s,%s)\n", PyStr(tmp), PyStr(bp))
	}
	body.WriteString(" print('OK')\n")
	out, err := l.capture(ctx, fnSnippet(body.String()))
	if err != nil {
		return osError("write", p, err)
	}
	switch f := strings.Fields(out); {
	case len(f) == 1 && f[0] == "OK":
		return nil
	case len(f) == 2 && f[0] == "SIZE":
		return fmt.Errorf("write %s: upload damaged: the board has %s bytes, sent %d (kept as %s)", p, f[1], len(data), tmp)
	case len(f) == 2 && f[0] == "SHA":
		return fmt.Errorf("write %s: upload damaged: sha256 differs (kept as %s)", p, tmp)
	}
	return fmt.Errorf("write %s: unexpected answer %q", p, out)
}

// copyOnBoard replaces dst by a copy of src and removes src.
func copyOnBoard(ctx context.Context, l *link, c *fsCaps, src, dst string) error {
	body := fmt.Sprintf(` import os
 try:os.remove(%[2]s)
 except OSError:pass
 s=open(%[1]s,'rb');d=open(%[2]s,'wb')
 while 1:
  b=s.read(%[3]d)
  if not b:break
  d.write(b)
 s.close();d.close()
 if %[4]s!=%[5]s:raise OSError(5)
 os.remove(%[1]s)
`, PyStr(src), PyStr(dst), c.chunk, c.sizeExpr(src), c.sizeExpr(dst))
	_, err := l.capture(ctx, fnSnippet(body))
	return osError("copy", dst, err)
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
		return osError("remove", p, err)
	})
}

// Mkdir makes a directory. Boards with a flat filesystem (micro:bit) give
// an error wrapping errors.ErrUnsupported.
func (b *Board) Mkdir(ctx context.Context, p string) error {
	return b.fileOp(ctx, func(ctx context.Context, l *link, c *fsCaps) error {
		if !c.mkdir {
			return fmt.Errorf("mkdir %s: directories are not supported by this board: %w", p, errors.ErrUnsupported)
		}
		_, err := l.capture(ctx, fmt.Sprintf("__import__('os').mkdir(%s)", PyStr(p)))
		return osError("mkdir", p, err)
	})
}

// Rename renames a file or directory. On boards without os.rename
// (micro:bit) the file is copied and the original removed.
func (b *Board) Rename(ctx context.Context, from, to string) error {
	return b.fileOp(ctx, func(ctx context.Context, l *link, c *fsCaps) error {
		if c.rename {
			_, err := l.capture(ctx, fmt.Sprintf("__import__('os').rename(%s,%s)", PyStr(c.boardPath(from)), PyStr(c.boardPath(to))))
			return osError("rename", from, err)
		}
		if _, err := stat(ctx, l, c, from); err != nil {
			return err
		}
		return copyOnBoard(ctx, l, c, c.boardPath(from), c.boardPath(to))
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
			return osError("sha256", p, err)
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
