package mvcc

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/fsx"
)

// BenchmarkPutAfterCompaction measures puts of large values right after
// a compaction of their history, which leaves the page file's free list
// long: a store of 1,024 keys, each written once and then overwritten
// history-1 times, compacted at its last revision; then puts over the
// same keys, committed every 100 (what a member's 100 ms commit carries
// at 1,000 puts a second), reusing the freed pages. It reports the
// process's CPU time per put (cpu-ns/op, steadier than the wall time,
// which the fsyncs set) and the free pages when the timed puts began.
//
// To keep the file small, pages are 1 KiB and values 16 KiB: each value
// takes a run of 17 pages, as a 64 KiB value does with the default 4 KiB
// pages, so history=24 frees about 400,000 pages in a file of 400 MiB.
// The cost per put must not grow with the free pages. When the free
// list was one id per page, sorted at each write transaction and shifted
// at each allocation, it did (bench/README.md, issue 19: a member's puts
// ran at a tenth of their rate after a compaction). Run it with a fixed
// count, so that the puts stay within the free pages:
//
//	go test ./btreekv/mvcc -run '^$' -bench PutAfterCompaction -benchtime 2000x
func BenchmarkPutAfterCompaction(b *testing.B) {
	const keys, perCommit, pageSize = 1024, 100, 1024
	val := make([]byte, 16<<10)
	key := func(i int) []byte { return fmt.Appendf(nil, "key%06d", i%keys) }
	for _, history := range []int{1, 6, 24} {
		// The store is built here, once: the framework runs the
		// sub-benchmark's function more than once.
		s, err := Open(filepath.Join(b.TempDir(), fmt.Sprintf("db-%d", history)), Options{FS: fsx.OS{}, PageSize: pageSize})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		for i := range keys * history {
			if _, err := s.Put(uint64(i+1), 1, &api.PutRequest{Key: key(i), Value: val}); err != nil {
				b.Fatal(err)
			}
			if i%perCommit == perCommit-1 {
				if err := s.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := s.Commit(); err != nil {
			b.Fatal(err)
		}
		if err := s.Compact(s.Rev()); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("history=%d", history), func(b *testing.B) {
			// Pages freed by the last commits are released by the next
			// write transaction: count them with the rest.
			st := s.DB().Stats()
			free := st.FreePages + st.PendingPages
			index := s.AppliedIndex()
			b.ResetTimer()
			start := cpuNow()
			for i := range b.N {
				index++
				if _, err := s.Put(index, 1, &api.PutRequest{Key: key(i), Value: val}); err != nil {
					b.Fatal(err)
				}
				if i%perCommit == perCommit-1 {
					if err := s.Commit(); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := s.Commit(); err != nil {
				b.Fatal(err)
			}
			reportCPU(b, start)
			b.ReportMetric(float64(free), "free-pages")
		})
	}
}
