package mvcc

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/fsx"
)

// benchKeys is the key space: 10^5 keys (10^6 with CAIRN_LONG=1).
func benchKeys() int {
	if os.Getenv("CAIRN_LONG") != "" {
		return 1_000_000
	}
	return 100_000
}

func loadedStore(b *testing.B, n int) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "db"), Options{FS: fsx.OS{}})
	if err != nil {
		b.Fatal(err)
	}
	val := make([]byte, 256)
	for i := range n {
		if _, err := s.Put(uint64(i+1), 1, &api.PutRequest{Key: []byte(fmt.Sprintf("key%08d", i)), Value: val}); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Commit(); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkPut: puts of 256 B values over the key space, committed to the
// page file every 10,000 (the store's batch), on the real disk.
func BenchmarkPut(b *testing.B) {
	n := benchKeys()
	s := loadedStore(b, n)
	defer s.Close()
	val := make([]byte, 256)
	rng := rand.New(rand.NewPCG(1, 2))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Put(uint64(n+i+1), 1, &api.PutRequest{Key: []byte(fmt.Sprintf("key%08d", rng.IntN(n))), Value: val}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
}

// BenchmarkRange: single-key reads at the current revision.
func BenchmarkRange(b *testing.B) {
	n := benchKeys()
	s := loadedStore(b, n)
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := s.Range([]byte(fmt.Sprintf("key%08d", rng.IntN(n))), nil, RangeOptions{})
		if err != nil || len(res.KVs) != 1 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ranges/s")
}

// BenchmarkTxn: compare-and-swap transactions.
func BenchmarkTxn(b *testing.B) {
	n := benchKeys()
	s := loadedStore(b, n)
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	val := make([]byte, 256)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := []byte(fmt.Sprintf("key%08d", rng.IntN(n)))
		req := &api.TxnRequest{
			Compare: []api.Compare{{Key: k, Target: api.CompareVersion, Result: api.CompareGreater, Version: 0}},
			Success: []api.RequestOp{{Put: &api.PutRequest{Key: k, Value: val}}},
		}
		if _, err := s.Txn(uint64(n+i+1), 1, req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "txns/s")
}

// BenchmarkFileSize reports the page file's size after loading the key
// space, after overwriting every key once more, and after compaction and
// defragmentation. It measures once, whatever b.N is (run it with
// -benchtime 1x).
func BenchmarkFileSize(b *testing.B) {
	for range b.N {
	}
	{
		n := benchKeys()
		s := loadedStore(b, n)
		loaded := s.DB().Stats().FileSize
		val := make([]byte, 256)
		for j := range n {
			_, _ = s.Put(uint64(n+j+1), 1, &api.PutRequest{Key: []byte(fmt.Sprintf("key%08d", j)), Value: val})
		}
		_ = s.Commit()
		overwritten := s.DB().Stats().FileSize
		if err := s.Compact(s.Rev()); err != nil {
			b.Fatal(err)
		}
		if err := s.Defragment(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(loaded)/(1<<20), "MiB-loaded")
		b.ReportMetric(float64(overwritten)/(1<<20), "MiB-overwritten")
		b.ReportMetric(float64(s.DB().Stats().FileSize)/(1<<20), "MiB-defragmented")
		_ = s.Close()
	}
}
