package logstore

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cairndb/cairn/raftcore"
)

// BenchmarkSave measures durable appends on the real disk: batches of 1,
// 16 and 256 entries of 256 B, one fsync per Save.
func BenchmarkSave(b *testing.B) {
	for _, batch := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			l := openTest(b, b.TempDir(), DefaultSegmentSize)
			defer l.Close()
			next := uint64(1)
			b.SetBytes(int64(batch * 256))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				es := ents(next, uint64(batch), 1, 256)
				if err := l.Save(raftcore.HardState{Term: 1, Commit: next - 1}, es); err != nil {
					b.Fatal(err)
				}
				next += uint64(batch)
				if next > 200_000 { // keep memory bounded: snapshot and compact
					_, _ = l.CreateSnapshot(next-1, raftcore.ConfState{Voters: []uint64{1}}, nil)
					_ = l.Compact(next - 1)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkSaveConcurrent measures group commit: 16 writers, each saving
// hard states, sharing fsyncs.
func BenchmarkSaveConcurrent(b *testing.B) {
	l := openTest(b, b.TempDir(), DefaultSegmentSize)
	defer l.Close()
	var mu sync.Mutex
	var commit uint64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			commit++
			c := commit
			mu.Unlock()
			if err := l.Save(raftcore.HardState{Term: 1, Commit: c}, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "saves/s")
}

// BenchmarkRawFsync is the physical limit: write 256 B and fdatasync, in a
// loop, with no log format at all.
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
