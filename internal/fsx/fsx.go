// Package fsx is the file-system abstraction every package that touches the
// disk goes through (logstore, btreekv, node). The production code uses OS,
// the real disk; tests and the simulator use an in-memory disk that can lose
// what was not fsynced, tear the last write, fill up or flip a bit, so that
// crash recovery is tested on the same code that runs in production.
package fsx

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// File is an open file. Writes are durable only after Sync returns nil.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Seeker
	io.Closer
	// Sync makes the file's contents and size durable (fsync).
	Sync() error
	// Truncate changes the file's size; growing fills with zeros.
	Truncate(size int64) error
	// Size returns the current size of the file.
	Size() (int64, error)
	// Name returns the path the file was opened with.
	Name() string
}

// FS is a file system. Names are slash- or OS-separated paths; a directory
// entry (a create, rename or remove) is durable only after SyncDir of its
// parent directory returns nil.
type FS interface {
	// OpenFile opens name with os.O_* flags, as os.OpenFile does.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// Rename atomically replaces newName with oldName.
	Rename(oldName, newName string) error
	// ReadDir returns the names of the entries of dir, sorted.
	ReadDir(dir string) ([]string, error)
	// MkdirAll creates dir and any missing parents.
	MkdirAll(dir string, perm fs.FileMode) error
	// Stat describes a file or directory.
	Stat(name string) (fs.FileInfo, error)
	// SyncDir makes the directory's entries durable.
	SyncDir(dir string) error
}

// Open opens name read-only.
func Open(fsys FS, name string) (File, error) { return fsys.OpenFile(name, os.O_RDONLY, 0) }

// A member's data is for its owner only: files are created FilePerm
// (read and write by the owner) and directories DirPerm.
const (
	FilePerm fs.FileMode = 0o600
	DirPerm  fs.FileMode = 0o700
)

// Create creates (FilePerm) or truncates name for reading and writing.
func Create(fsys FS, name string) (File, error) {
	return fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, FilePerm)
}

// OS is the real file system.
type OS struct{}

var _ FS = OS{}

type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	st, err := f.File.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// OpenFile implements FS.
func (OS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// Remove implements FS.
func (OS) Remove(name string) error { return os.Remove(name) }

// Rename implements FS.
func (OS) Rename(oldName, newName string) error { return os.Rename(oldName, newName) }

// ReadDir implements FS.
func (OS) ReadDir(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	sort.Strings(names)
	return names, nil
}

// MkdirAll implements FS.
func (OS) MkdirAll(dir string, perm fs.FileMode) error { return os.MkdirAll(dir, perm) }

// Stat implements FS.
func (OS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// SyncDir implements FS.
func (OS) SyncDir(dir string) error {
	d, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Fd returns the operating system's descriptor of f: an OS file's, or the
// one of the file a wrapper holds (a wrapper says which by an Unwrap
// method returning it); false for a file of another FS, such as Mem's.
func Fd(f File) (uintptr, bool) {
	for {
		switch v := f.(type) {
		case interface{ Fd() uintptr }:
			return v.Fd(), true
		case interface{ Unwrap() File }:
			f = v.Unwrap()
		default:
			return 0, false
		}
	}
}
