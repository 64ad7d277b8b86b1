package mvcc

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/fsx"
)

// BenchmarkApplyLatencyWhileCommitting measures what the member's apply
// loop sees: puts of 64 KiB values at a steady 1000 a second (64 MB/s,
// about what a member takes from its clients), while another goroutine
// commits the store every 100 ms as the member's background loop does,
// on the real disk. It reports the time one put takes (p50, p99, p99.9,
// max): a put that has to wait for a commit's page writes and fsyncs
// shows in the tail. Run it with a count of puts: -benchtime 5000x.
func BenchmarkApplyLatencyWhileCommitting(b *testing.B) {
	const keys, valueSize = 1000, 64 << 10
	s, err := Open(filepath.Join(b.TempDir(), "db"), Options{FS: fsx.OS{}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	val := make([]byte, valueSize)
	for i := range keys {
		if _, err := s.Put(uint64(i+1), 1, &api.PutRequest{Key: fmt.Appendf(nil, "key%04d", i), Value: val}); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Commit(); err != nil {
		b.Fatal(err)
	}
	stopCommitting := commitEvery(b, s, 100*time.Millisecond)
	const interval = time.Millisecond
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	begin := time.Now()
	for i := 0; i < b.N; i++ {
		if wait := time.Until(begin.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		start := time.Now()
		if _, err := s.Put(uint64(keys+i+1), 1, &api.PutRequest{Key: fmt.Appendf(nil, "key%04d", i%keys), Value: val}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	stopCommitting()
	slices.Sort(lat)
	at := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(at(0.5), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
	b.ReportMetric(at(0.999), "p99.9-µs")
	b.ReportMetric(at(1), "max-µs")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
}

// commitEvery commits s every period on a goroutine of its own, as a
// member's store commits, until the returned function is called (it
// waits for the goroutine).
func commitEvery(b *testing.B, s *Store, period time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := s.Commit(); err != nil {
					b.Error(err)
					return
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
