package pagefile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
	"pgregory.net/rapid"
)

// duringWrites is an io.Writer that collects a copy and runs a callback
// every few writes: the writers that go on while the copy streams.
type duringWrites struct {
	buf   bytes.Buffer
	every int
	calls int
	fn    func()
}

func (w *duringWrites) Write(p []byte) (int, error) {
	w.calls++
	if w.every > 0 && w.calls%w.every == 0 {
		w.fn()
	}
	return w.buf.Write(p)
}

// openCopy writes a copy to its own disk and opens it.
func openCopy(t testing.TB, data []byte) *DB {
	t.Helper()
	disk := fsx.NewMem()
	f, err := fsx.Create(disk, "/copy")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	db, err := Open("/copy", Options{FS: disk, StrictMode: true})
	if err != nil {
		t.Fatalf("open copy: %v", err)
	}
	return db
}

// A copy taken through a read transaction is the database as that
// transaction saw it, even while commits free and reuse pages during the
// copy: it opens, passes Check, holds exactly the transaction's data, and
// takes new writes.
func TestCopyIsTheReadersSnapshotWhileWritesGoOn(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		disk := fsx.NewMem()
		ps := rapid.SampledFrom([]int{512, 1024}).Draw(rt, "pageSize")
		db, err := Open("/db", Options{FS: disk, PageSize: ps, StrictMode: true})
		if err != nil {
			rt.Fatal(err)
		}
		live := model{}
		commit := func() {
			err := db.Update(func(tx *Tx) error {
				for range rapid.IntRange(1, 30).Draw(rt, "ops") {
					name := rapid.SampledFrom([]string{"a", "b"}).Draw(rt, "bucket")
					b, err := tx.CreateBucketIfNotExists([]byte(name))
					if err != nil {
						return err
					}
					if live[name] == nil {
						live[name] = map[string]string{}
					}
					key := fmt.Sprintf("k%03d", rapid.IntRange(0, 150).Draw(rt, "key"))
					if rapid.IntRange(0, 3).Draw(rt, "del") == 0 {
						if err := b.Delete([]byte(key)); err != nil {
							return err
						}
						delete(live[name], key)
						continue
					}
					val := key + strings.Repeat("v", rapid.IntRange(0, 3*ps).Draw(rt, "vlen"))
					if err := b.Put([]byte(key), []byte(val)); err != nil {
						return err
					}
					live[name][key] = val
				}
				return nil
			})
			if err != nil {
				rt.Fatal(err)
			}
		}
		for range rapid.IntRange(0, 6).Draw(rt, "before") {
			commit()
		}
		tx, err := db.Begin(false)
		if err != nil {
			rt.Fatal(err)
		}
		want := live.clone()
		// Commits before the copy starts, and during it.
		for range rapid.IntRange(0, 4).Draw(rt, "between") {
			commit()
		}
		w := &duringWrites{every: rapid.IntRange(1, 3).Draw(rt, "every"), fn: commit}
		n, err := tx.WriteTo(w)
		if err != nil || n != tx.Size() || int64(w.buf.Len()) != n {
			rt.Fatalf("copy: %d bytes (size %d, buffered %d): %v", n, tx.Size(), w.buf.Len(), err)
		}
		tx.Rollback()
		cp := openCopy(t, w.buf.Bytes())
		if err := cp.Check(); err != nil {
			rt.Fatalf("check copy: %v", err)
		}
		if got := dump(t, cp); !equalModel(got, want) {
			rt.Fatalf("copy holds %v, the reader saw %v", summary(got), summary(want))
		}
		if err := cp.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("new"))
			if err != nil {
				return err
			}
			return b.Put([]byte("k"), []byte("v"))
		}); err != nil {
			rt.Fatalf("write to copy: %v", err)
		}
		if err := cp.Check(); err != nil {
			rt.Fatalf("check copy after a write: %v", err)
		}
		if err := db.Check(); err != nil {
			rt.Fatalf("check source: %v", err)
		}
		if got := dump(t, db); !equalModel(got, live) {
			rt.Fatalf("source holds %v, want %v", summary(got), summary(live))
		}
	})
}

func TestCopyRefusesWriteAndFinishedTransactions(t *testing.T) {
	db, err := Open("/db", Options{FS: fsx.NewMem(), StrictMode: true})
	if err != nil {
		t.Fatal(err)
	}
	tx, _ := db.Begin(true)
	if _, err := tx.WriteTo(io.Discard); !errors.Is(err, ErrTxWritable) {
		t.Fatalf("copy of a write transaction: %v", err)
	}
	tx.Rollback()
	tx, _ = db.Begin(false)
	tx.Rollback()
	if _, err := tx.WriteTo(io.Discard); !errors.Is(err, ErrTxDone) {
		t.Fatalf("copy of a finished transaction: %v", err)
	}
}

// failAfter fails every write after the first n bytes.
type failAfter struct{ n int }

func (w *failAfter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errors.New("peer went away")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestCopyReportsWriteErrors(t *testing.T) {
	db := filledDB(t, 200)
	tx, _ := db.Begin(false)
	defer tx.Rollback()
	n, err := tx.WriteTo(&failAfter{n: 3 * 4096})
	if err == nil || !strings.Contains(err.Error(), "peer went away") || n != 3*4096 {
		t.Fatalf("copy to a failing writer: %d bytes, %v", n, err)
	}
}

// filledDB is a database of n keys with 4000-byte values (n pages or so).
func filledDB(t testing.TB, n int) *DB {
	t.Helper()
	db, err := Open("/db", Options{FS: fsx.NewMem(), StrictMode: true})
	if err != nil {
		t.Fatal(err)
	}
	val := bytes.Repeat([]byte("x"), 4000)
	for start := 0; start < n; start += 2000 {
		err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for i := start; i < min(n, start+2000); i++ {
				if err := b.Put([]byte(fmt.Sprintf("k%08d", i)), val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// Copying takes one chunk of memory, whatever the size of the database:
// less than 2 MB allocated to copy 32 MB (8 MB with CAIRN_SHORT). This
// bounds bytes allocated, not time.
func TestCopyMemoryIsBounded(t *testing.T) {
	keys := 8000
	if os.Getenv("CAIRN_SHORT") != "" {
		keys = 2000
	}
	db := filledDB(t, keys)
	tx, _ := db.Begin(false)
	defer tx.Rollback()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n, err := tx.WriteTo(io.Discard)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if n < int64(keys)*4000 {
		t.Fatalf("copied %d bytes of a database of %d 4000-byte values", n, keys)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2<<20 {
		t.Fatalf("copying %d MB allocated %d bytes, want O(one chunk)", n>>20, alloc)
	}
}
