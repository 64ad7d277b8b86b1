package mvcc

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
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

// openKeys is the key space of BenchmarkOpen: 10^6 keys, as in the
// restart comparison with etcd (bench/restart.sh).
const openKeys = 1_000_000

// BenchmarkOpen: reopening a store of 10^6 keys with 256 B values (8 B
// keys, one revision each), which rebuilds the in-memory index by
// scanning the page file. It also reports the Go heap the open store
// holds per key (the index, lease maps and page cache together). The
// store is built once per call of the function; run it with -benchtime
// 3x or so:
//
//	go test -run '^$' -bench Open -benchtime 3x ./btreekv/mvcc
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "db")
	s, err := Open(path, Options{FS: fsx.OS{}})
	if err != nil {
		b.Fatal(err)
	}
	val := make([]byte, 256)
	for i := range openKeys {
		if _, err := s.Put(uint64(i+1), 1, &api.PutRequest{Key: []byte(fmt.Sprintf("%08d", i)), Value: val}); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var heap uint64
	for i := 0; i < b.N; i++ {
		s, err := Open(path, Options{FS: fsx.OS{}})
		if err != nil {
			b.Fatal(err)
		}
		if i == b.N-1 {
			b.StopTimer()
			heap = liveHeap()
			b.StartTimer()
		}
		if got := s.Rev(); got != openKeys+1 { // revision 1 is the empty store
			b.Fatalf("reopened at revision %d, want %d", got, openKeys+1)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(heap)/openKeys, "heap-B/key")
}

// liveHeap is the Go heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkOpenLargeValues measures a restart's rebuild of the index of a
// store of 64 KiB values (256 MiB; 2 GiB with CAIRN_LONG=1): with the
// values out of line (the default) it reads the records alone, with them
// inline every value. It reports the bytes read per open (from the page
// file, counted by the file system).
func BenchmarkOpenLargeValues(b *testing.B) {
	n := 4096
	if os.Getenv("CAIRN_LONG") != "" {
		n = 32768
	}
	for _, tc := range []struct {
		name        string
		separateMin int
	}{{"out-of-line", separateValueMin}, {"inline", 1 << 30}} {
		b.Run(tc.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "db")
			s, err := Open(path, Options{FS: fsx.OS{}})
			if err != nil {
				b.Fatal(err)
			}
			s.separateMin = tc.separateMin
			val := make([]byte, 64<<10)
			for i := range n {
				if _, err := s.Put(uint64(i+1), 1, &api.PutRequest{Key: []byte(fmt.Sprintf("key%08d", i)), Value: val}); err != nil {
					b.Fatal(err)
				}
				if i%256 == 255 {
					if err := s.Commit(); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			disk := &readCounter{FS: fsx.OS{}}
			b.ResetTimer()
			for range b.N {
				s, err := Open(path, Options{FS: disk})
				if err != nil {
					b.Fatal(err)
				}
				if s.Keys() != int64(n) {
					b.Fatalf("%d keys after open, want %d", s.Keys(), n)
				}
				_ = s.Close()
			}
			b.ReportMetric(float64(disk.n.Load())/float64(b.N)/(1<<20), "MiB-read/open")
		})
	}
}

// readCounter counts the bytes read through its files.
type readCounter struct {
	fsx.FS
	n atomic.Int64
}

type countedFile struct {
	fsx.File
	n *atomic.Int64
}

func (f countedFile) ReadAt(p []byte, off int64) (int, error) {
	k, err := f.File.ReadAt(p, off)
	f.n.Add(int64(k))
	return k, err
}

func (c *readCounter) OpenFile(name string, flag int, perm fs.FileMode) (fsx.File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return countedFile{File: f, n: &c.n}, nil
}
