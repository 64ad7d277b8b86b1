package node

import (
	"io/fs"
	"time"

	"github.com/cairndb/cairn/internal/fsx"
	"github.com/prometheus/client_golang/prometheus"
)

// timedFS is a file system that records how long each fsync takes: the
// WAL's and the store's sync latencies are the numbers that bound a
// member's write latency, so they are exported as histograms.
type timedFS struct {
	fsx.FS
	syncs prometheus.Observer
}

func (t timedFS) OpenFile(name string, flag int, perm fs.FileMode) (fsx.File, error) {
	f, err := t.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return timedFile{File: f, syncs: t.syncs}, nil
}

func (t timedFS) SyncDir(dir string) error {
	start := time.Now()
	err := t.FS.SyncDir(dir)
	t.syncs.Observe(time.Since(start).Seconds())
	return err
}

type timedFile struct {
	fsx.File
	syncs prometheus.Observer
}

func (f timedFile) Sync() error {
	start := time.Now()
	err := f.File.Sync()
	f.syncs.Observe(time.Since(start).Seconds())
	return err
}

// Unwrap returns the file timed, whose descriptor the page file maps for
// its reads (fsx.Fd).
func (f timedFile) Unwrap() fsx.File { return f.File }
