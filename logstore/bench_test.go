package logstore

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/raftcore"
)

// BenchmarkSave measures durable appends on the real disk: batches of 1,
// 16 and 256 entries of 256 B, one fsync per Save.
func BenchmarkSave(b *testing.B) {
	for _, batch := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			l := openTest(b, b.TempDir(), DefaultSegmentSize)
			defer l.Close()
			next, snapped := uint64(1), uint64(0)
			b.SetBytes(int64(batch * 256))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				es := ents(next, uint64(batch), 1, 256)
				if err := l.Save(raftcore.HardState{Term: 1, Commit: next - 1}, es); err != nil {
					b.Fatal(err)
				}
				next += uint64(batch)
				if next-snapped > 100_000 { // bound memory, as the server's snapshot count does
					snapped = next - 1
					if _, err := l.CreateSnapshot(snapped, raftcore.ConfState{Voters: []uint64{1}}, nil); err != nil {
						b.Fatal(err)
					}
					if err := l.Compact(snapped); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkSaveConcurrent measures group commit: 16 concurrent writers
// (8 per core on this 2-core machine), each saving a hard state and
// waiting for it to be durable; they share fsyncs. saves/fsync is how
// many Saves one fsync covered on average.
func BenchmarkSaveConcurrent(b *testing.B) {
	var syncs atomic.Int64
	l, err := Open(Options{FS: countFS{syncs: &syncs}, Dir: b.TempDir(), Create: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	var commit atomic.Uint64
	syncs.Store(0)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Save(raftcore.HardState{Term: 1, Commit: commit.Add(1)}, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "saves/s")
	b.ReportMetric(float64(b.N)/float64(max(1, syncs.Load())), "saves/fsync")
}

// countFS is the real disk, counting fsyncs.
type countFS struct {
	fsx.OS
	syncs *atomic.Int64
}

type countFile struct {
	fsx.File
	syncs *atomic.Int64
}

func (c countFS) OpenFile(name string, flag int, perm fs.FileMode) (fsx.File, error) {
	f, err := c.OS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return countFile{f, c.syncs}, nil
}

func (f countFile) Sync() error {
	f.syncs.Add(1)
	return f.File.Sync()
}

// BenchmarkRawFsync is the physical limit for the log, which fsyncs
// through fsx: write 256 B and fsync, in a loop, with no log format at
// all. (BenchmarkRawFdatasync, on Linux, is the same with fdatasync.)
func BenchmarkRawFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	_ = f.Truncate(64 << 20)
	buf := make([]byte, 256)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.WriteAt(buf, int64(i%100000)*256); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fsyncs/s")
}
