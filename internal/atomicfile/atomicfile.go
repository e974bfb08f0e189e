// Package atomicfile writes a file so that readers see either the old
// contents or the new, never a part: the data goes to a uniquely named
// temporary file in the same folder, which is synced and renamed over the
// target. Two writers never share a temporary file.
package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
)

// Write replaces path with data, with permissions perm. On failure the
// target is untouched and no temporary file is left behind.
func Write(path string, data []byte, perm fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, perm)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// File is a file being written in pieces that appears at its path, whole,
// only on Commit; until then it lives under a temporary name in the same
// folder. It is not safe for concurrent use.
type File struct {
	f    *os.File
	path string
	perm fs.FileMode
	done bool
}

// Create starts writing path, with permissions perm on Commit.
func Create(path string, perm fs.FileMode) (*File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	return &File{f: f, path: path, perm: perm}, nil
}

// Write implements io.Writer.
func (f *File) Write(p []byte) (int, error) { return f.f.Write(p) }

// Commit syncs what was written and renames it over the path. On failure
// the target is untouched and the temporary file is removed.
func (f *File) Commit() error {
	if f.done {
		return os.ErrClosed
	}
	f.done = true
	tmp := f.f.Name()
	err := f.f.Sync()
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, f.perm)
	}
	if err == nil {
		err = os.Rename(tmp, f.path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// Abort drops what was written, leaving the target untouched. After
// Commit it does nothing.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	_ = f.f.Close()
	_ = os.Remove(f.f.Name())
}
