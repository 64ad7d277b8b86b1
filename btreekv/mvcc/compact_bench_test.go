package mvcc

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

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

// BenchmarkApplyDuringCompaction measures what a member's apply loop
// waits for when it applies a compaction of a large history: a store of
// 1,024 keys of 64 KiB values, each written 8 times (560 MB), committed
// every 100 ms by another goroutine as the member's background loop
// does; the apply loop compacts at the last revision, then puts at a
// steady 500 a second until the compaction's work is done (and for a
// second at least). With apply=Compact the loop does all the work
// itself, as members did before StartCompact: reading and deleting 7,168
// values; with apply=StartCompact it leaves the work to the commits. It
// reports the time the compaction call took (compact-ms) and the puts'
// latency (p99-µs, max-µs). One op is the whole sequence: run it with
// -benchtime 1x.
//
//	go test ./btreekv/mvcc -run '^$' -bench ApplyDuringCompaction -benchtime 1x
func BenchmarkApplyDuringCompaction(b *testing.B) {
	const keys, history, interval = 1024, 8, 2 * time.Millisecond
	val := make([]byte, 64<<10)
	key := func(i int) []byte { return fmt.Appendf(nil, "key%06d", i%keys) }
	for _, apply := range []string{"Compact", "StartCompact"} {
		b.Run("apply="+apply, func(b *testing.B) {
			var compactMs, p99, maxLat float64
			for range b.N {
				b.StopTimer()
				s, err := Open(filepath.Join(b.TempDir(), "db"), Options{FS: fsx.OS{}})
				if err != nil {
					b.Fatal(err)
				}
				index := uint64(0)
				for i := range keys * history {
					index++
					if _, err := s.Put(index, 1, &api.PutRequest{Key: key(i), Value: val}); err != nil {
						b.Fatal(err)
					}
					if i%100 == 99 {
						if err := s.Commit(); err != nil {
							b.Fatal(err)
						}
					}
				}
				if err := s.Commit(); err != nil {
					b.Fatal(err)
				}
				stopCommitting := commitEvery(b, s, 100*time.Millisecond)
				b.StartTimer()
				start := time.Now()
				compact := s.Compact
				if apply == "StartCompact" {
					compact = s.StartCompact
				}
				if err := compact(s.Rev()); err != nil {
					b.Fatal(err)
				}
				compactMs += float64(time.Since(start).Microseconds()) / 1000
				// Puts until the work is done (and for at least a second).
				var lat []time.Duration
				begin := time.Now()
				for i := 0; time.Since(begin) < time.Second || s.pendingCompaction(); i++ {
					if wait := time.Until(begin.Add(time.Duration(i) * interval)); wait > 0 {
						time.Sleep(wait)
					}
					t0 := time.Now()
					index++
					if _, err := s.Put(index, 1, &api.PutRequest{Key: key(i), Value: val}); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t0))
				}
				b.StopTimer()
				stopCommitting()
				_ = s.Close()
				slices.Sort(lat)
				p99 += float64(lat[len(lat)*99/100].Microseconds())
				maxLat += float64(lat[len(lat)-1].Microseconds())
			}
			n := float64(b.N)
			b.ReportMetric(compactMs/n, "compact-ms")
			b.ReportMetric(p99/n, "p99-µs")
			b.ReportMetric(maxLat/n, "max-µs")
		})
	}
}
