package sim

import (
	"io/fs"

	"github.com/cairndb/cairn/internal/fsx"
)

// lyingFS is a disk whose fsyncs return success without making anything
// durable (the LyingDisk mutation): after a crash a member has forgotten
// writes it acknowledged, which Raft's safety argument does not allow.
type lyingFS struct{ *fsx.MemFS }

// OpenFile implements fsx.FS with files whose Sync does nothing.
func (l lyingFS) OpenFile(name string, flag int, perm fs.FileMode) (fsx.File, error) {
	f, err := l.MemFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return lyingFile{f}, nil
}

// SyncDir implements fsx.FS, doing nothing.
func (l lyingFS) SyncDir(string) error { return nil }

type lyingFile struct{ fsx.File }

// Sync pretends.
func (lyingFile) Sync() error { return nil }

// fs is the file system member m's storage uses.
func (w *World) fs(m *member) fsx.FS {
	if w.cfg.Mutation == LyingDisk {
		return lyingFS{m.disk}
	}
	return m.disk
}
