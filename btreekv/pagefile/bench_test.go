package pagefile

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
)

// benchKeys is the key space: 10^5 keys (10^6 with CAIRN_LONG=1).
func benchKeys() int {
	if os.Getenv("CAIRN_LONG") != "" {
		return 1_000_000
	}
	return 100_000
}

func benchKey(i int) []byte { return []byte(fmt.Sprintf("key%08d", i)) }

// loaded opens a file on the real disk holding n keys of 256 B values.
func loaded(b *testing.B, n int) *DB {
	b.Helper()
	db, err := Open(filepath.Join(b.TempDir(), "db"), Options{FS: fsx.OS{}})
	if err != nil {
		b.Fatal(err)
	}
	val := make([]byte, 256)
	for start := 0; start < n; start += 10_000 {
		err := db.Update(func(tx *Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for i := start; i < min(n, start+10_000); i++ {
				if err := bk.Put(benchKey(i), val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return db
}

// BenchmarkPutCommit: random overwrites of 256 B values, committed (two
// fsyncs) every batch puts.
func BenchmarkPutCommit(b *testing.B) {
	for _, batch := range []int{1, 100, 10_000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			n := benchKeys()
			db := loaded(b, n)
			defer db.Close()
			rng := rand.New(rand.NewPCG(1, 2))
			val := make([]byte, 256)
			b.ResetTimer()
			putInBatches(b, db, batch, func() []byte { return benchKey(rng.IntN(n)) }, val)
		})
	}
}

// putInBatches puts b.N keys (the next from key) with val into bucket
// "b", made if missing, committing every batch puts, and reports the
// rate.
func putInBatches(b *testing.B, db *DB, batch int, key func() []byte, val []byte) {
	for done := 0; done < b.N; {
		err := db.Update(func(tx *Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for j := 0; j < batch && done < b.N; j++ {
				if err := bk.Put(key(), val); err != nil {
					return err
				}
				done++
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
}

// BenchmarkGet: random point reads, one read transaction each.
func BenchmarkGet(b *testing.B) {
	n := benchKeys()
	db := loaded(b, n)
	defer db.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	b.ResetTimer()
	for range b.N {
		if err := getOne(db, benchKey(rng.IntN(n))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "gets/s")
}

// getOne reads key's 256 B value in a read transaction of its own.
func getOne(db *DB, key []byte) error {
	return db.View(func(tx *Tx) error {
		v, err := tx.Bucket([]byte("b")).Get(key)
		if err == nil && len(v) != 256 {
			err = fmt.Errorf("value of %d bytes", len(v))
		}
		return err
	})
}

// BenchmarkGetParallel is BenchmarkGet from every core at once, as a
// member's readers look keys up: what they share (the cache's lock and
// map, the branches) shows.
func BenchmarkGetParallel(b *testing.B) {
	n := benchKeys()
	db := loaded(b, n)
	defer db.Close()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 2))
		for pb.Next() {
			if err := getOne(db, benchKey(rng.IntN(n))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "gets/s")
}

// BenchmarkScan: a cursor over every key.
func BenchmarkScan(b *testing.B) {
	n := benchKeys()
	db := loaded(b, n)
	defer db.Close()
	b.ResetTimer()
	for range b.N {
		_ = db.View(func(tx *Tx) error {
			c := tx.Bucket([]byte("b")).Cursor()
			seen := 0
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				seen++
			}
			if seen != n {
				b.Fatalf("scanned %d keys", seen)
			}
			return c.Err()
		})
	}
	b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "keys/s")
}

// BenchmarkPutAppend: puts of keys in increasing order (as the store
// writes its records, one per revision) of 16-byte keys and small
// values, committed every 10,000: the insert's path down the right edge
// of a tree whose branches are full.
func BenchmarkPutAppend(b *testing.B) {
	for _, size := range []int{16, 300} {
		b.Run(fmt.Sprintf("value=%d", size), func(b *testing.B) {
			db := loaded(b, 0)
			defer db.Close()
			val := make([]byte, size)
			next := uint64(0)
			b.ResetTimer()
			putInBatches(b, db, 10_000, func() []byte {
				next++
				return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, next), 0)
			}, val)
		})
	}
}
