package pagefile

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
	"pgregory.net/rapid"
)

// model is the database as a map of buckets of sorted maps.
type model map[string]map[string]string

func (m model) clone() model {
	c := model{}
	for b, kv := range m {
		c[b] = maps.Clone(kv)
	}
	return c
}

// dump reads the whole database, checking cursor order both ways.
func dump(t testing.TB, db *DB) model {
	t.Helper()
	var out model
	err := db.View(func(tx *Tx) error {
		var err error
		out, err = dumpTx(tx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dumpTx reads everything a transaction sees.
func dumpTx(tx *Tx) (model, error) {
	out := model{}
	names, err := tx.BucketNames()
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		kv := map[string]string{}
		c := tx.Bucket(name).Cursor()
		var fwd []string
		for k, v := c.First(); k != nil; k, v = c.Next() {
			kv[string(k)] = string(v)
			fwd = append(fwd, string(k))
		}
		if c.Err() != nil {
			return nil, c.Err()
		}
		if !slices.IsSorted(fwd) {
			return nil, fmt.Errorf("bucket %s: keys out of order", name)
		}
		var back []string
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			back = append(back, string(k))
		}
		slices.Reverse(back)
		if !slices.Equal(fwd, back) {
			return nil, fmt.Errorf("bucket %s: backward walk differs from forward", name)
		}
		out[string(name)] = kv
	}
	return out, nil
}

func equalModel(a, b model) bool {
	return maps.EqualFunc(a, b, func(x, y map[string]string) bool { return maps.Equal(x, y) })
}

func TestPutGetDeleteAcrossSplits(t *testing.T) {
	db, err := Open("/db", Options{FS: fsx.NewMem(), PageSize: 512, StrictMode: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	err = db.Update(func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		for i := range 2000 {
			k, v := fmt.Sprintf("key%05d", i*7%2000), fmt.Sprintf("value-%d", i)
			want[k] = v
			if err := b.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := dump(t, db)["b"]; !maps.Equal(got, want) {
		t.Fatalf("%d keys read back, want %d", len(got), len(want))
	}
	// Delete most keys: nodes merge, the tree shrinks.
	err = db.Update(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := range 1990 {
			k := fmt.Sprintf("key%05d", i)
			delete(want, k)
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := dump(t, db)["b"]; !maps.Equal(got, want) {
		t.Fatalf("after deletes: %v, want %v", got, want)
	}
	// Seek lands on the first key >= the target.
	_ = db.View(func(tx *Tx) error {
		c := tx.Bucket([]byte("b")).Cursor()
		if k, _ := c.Seek([]byte("key01995x")); string(k) != "key01996" {
			t.Errorf("seek: %q", k)
		}
		if k, _ := c.Seek([]byte("zzz")); k != nil {
			t.Errorf("seek past end: %q", k)
		}
		return nil
	})
}

func TestLargeValuesUseOverflowPages(t *testing.T) {
	disk := fsx.NewMem()
	db, _ := Open("/db", Options{FS: disk, PageSize: 512, StrictMode: true})
	big := bytes.Repeat([]byte("0123456789"), 1000) // 10 KB, 20 pages
	err := db.Update(func(tx *Tx) error {
		b, _ := tx.CreateBucketIfNotExists([]byte("b"))
		_ = b.Put([]byte("small"), []byte("x"))
		return b.Put([]byte("big"), big)
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	db, _ = Open("/db", Options{FS: disk, StrictMode: true})
	_ = db.View(func(tx *Tx) error {
		v, err := tx.Bucket([]byte("b")).Get([]byte("big"))
		if err != nil || !bytes.Equal(v, big) {
			t.Fatalf("big value: %d bytes, %v", len(v), err)
		}
		return nil
	})
}

func TestReadersSeeTheirSnapshotAndPagesAreNotReusedUnderThem(t *testing.T) {
	db, _ := Open("/db", Options{FS: fsx.NewMem(), PageSize: 512, StrictMode: true})
	putAll := func(v string) {
		if err := db.Update(func(tx *Tx) error {
			b, _ := tx.CreateBucketIfNotExists([]byte("b"))
			for i := range 100 {
				if err := b.Put([]byte(fmt.Sprintf("k%03d", i)), []byte(v)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(k, v string) {
		if err := db.Update(func(tx *Tx) error {
			b, _ := tx.CreateBucketIfNotExists([]byte("b"))
			return b.Put([]byte(k), []byte(v))
		}); err != nil {
			t.Fatal(err)
		}
	}
	putAll("old")
	reader, _ := db.Begin(false)
	for round := range 20 {
		putAll(fmt.Sprintf("new%d", round))
	}
	// The reader still sees exactly its snapshot: every page it can reach
	// was kept from reuse.
	c := reader.Bucket([]byte("b")).Cursor()
	n := 0
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if string(v) != "old" {
			t.Fatalf("reader sees %s=%s", k, v)
		}
		n++
	}
	if c.Err() != nil || n != 100 {
		t.Fatalf("reader saw %d keys, err %v", n, c.Err())
	}
	if db.Stats().PendingPages == 0 {
		t.Fatal("no pages pending while a reader holds an old tree")
	}
	reader.Rollback()
	put("x", "y")
	if p := db.Stats().PendingPages; p > 20 {
		t.Fatalf("%d pages still pending after the reader finished", p)
	}
}

func TestRollbackDiscards(t *testing.T) {
	db, _ := Open("/db", Options{FS: fsx.NewMem(), StrictMode: true})
	tx, _ := db.Begin(true)
	b, _ := tx.CreateBucketIfNotExists([]byte("b"))
	_ = b.Put([]byte("k"), []byte("v"))
	tx.Rollback()
	if got := dump(t, db); len(got) != 0 {
		t.Fatalf("rolled back changes visible: %v", got)
	}
	if err := b.Put([]byte("k"), []byte("v")); !errors.Is(err, ErrTxDone) {
		t.Fatalf("put after rollback: %v", err)
	}
	r, _ := db.Begin(false)
	if _, err := r.CreateBucketIfNotExists([]byte("x")); !errors.Is(err, ErrTxReadOnly) {
		t.Fatalf("write in read tx: %v", err)
	}
	r.Rollback()
}

// TestModel compares the page file with a map across random operations,
// commits, rollbacks, reopens and crashes (unsynced writes lost or torn).
func TestModel(t *testing.T) {
	dir, runs := t.TempDir(), 0
	rapid.Check(t, func(rt *rapid.T) {
		// In memory, or on the real file system, where reads go through
		// a mapping (mmap_mapped.go) mapped again every few pages.
		disk := fsx.NewMem()
		var fsys fsx.FS = disk
		path := "/db"
		onDisk := rapid.Bool().Draw(rt, "realFiles")
		if onDisk {
			runs++
			fsys, path = fsx.OS{}, filepath.Join(dir, fmt.Sprintf("db%d", runs))
		}
		ps := rapid.SampledFrom([]int{512, 1024, 4096}).Draw(rt, "pageSize")
		opts := Options{FS: fsys, PageSize: ps, StrictMode: true, mapStep: int64(4 * ps)}
		db, err := Open(path, opts)
		if err != nil {
			rt.Fatal(err)
		}
		committed := model{}
		// Readers opened along the way, with the state they must keep
		// seeing while later commits reuse freed pages.
		type reader struct {
			tx   *Tx
			want model
		}
		var readers []reader
		closeReader := func(i int) {
			r := readers[i]
			got, err := dumpTx(r.tx)
			if err != nil {
				rt.Fatalf("old reader: %v", err)
			}
			if !equalModel(got, r.want) {
				rt.Fatalf("reader of txid %d sees %v, began with %v", r.tx.meta.txid, summary(got), summary(r.want))
			}
			r.tx.Rollback()
			readers = slices.Delete(readers, i, i+1)
		}
		closeReaders := func() {
			for len(readers) > 0 {
				closeReader(0)
			}
		}
		for range rapid.IntRange(1, 25).Draw(rt, "txs") {
			switch rapid.IntRange(0, 11).Draw(rt, "what") {
			case 10: // open a reader
				tx, err := db.Begin(false)
				if err != nil {
					rt.Fatal(err)
				}
				readers = append(readers, reader{tx, committed.clone()})
			case 11: // check and close a reader
				if len(readers) > 0 {
					closeReader(rapid.IntRange(0, len(readers)-1).Draw(rt, "reader"))
				}
			case 0: // reopen
				closeReaders()
				_ = db.Close()
				if db, err = Open(path, opts); err != nil {
					rt.Fatal(err)
				}
			case 1: // crash and recover (a reopen on real files)
				closeReaders()
				if onDisk {
					_ = db.Close()
				} else {
					disk = disk.Crash(fsx.TearUnsynced, rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "tear"), 1)))
					opts.FS = disk
				}
				if db, err = Open(path, opts); err != nil {
					rt.Fatalf("recover: %v", err)
				}
			default:
				work := committed.clone()
				tx, _ := db.Begin(true)
				for range rapid.IntRange(1, 30).Draw(rt, "ops") {
					bname := rapid.SampledFrom([]string{"a", "b", "c"}).Draw(rt, "bucket")
					key := fmt.Sprintf("k%03d", rapid.IntRange(0, 150).Draw(rt, "key"))
					switch rapid.IntRange(0, 9).Draw(rt, "op") {
					case 0:
						if tx.Bucket([]byte(bname)) != nil {
							if err := tx.DeleteBucket([]byte(bname)); err != nil {
								rt.Fatal(err)
							}
							delete(work, bname)
						}
					case 1, 2, 3:
						if b := tx.Bucket([]byte(bname)); b != nil {
							if err := b.Delete([]byte(key)); err != nil {
								rt.Fatal(err)
							}
							delete(work[bname], key)
						}
					default:
						b, err := tx.CreateBucketIfNotExists([]byte(bname))
						if err != nil {
							rt.Fatal(err)
						}
						val := fmt.Sprintf("%s=%d", key, rapid.IntRange(0, 1<<16).Draw(rt, "val"))
						if rapid.IntRange(0, 20).Draw(rt, "big") == 0 {
							val += string(bytes.Repeat([]byte("x"), 3*ps))
						}
						if err := b.Put([]byte(key), []byte(val)); err != nil {
							rt.Fatal(err)
						}
						if work[bname] == nil {
							work[bname] = map[string]string{}
						}
						work[bname][key] = val
					}
				}
				if rapid.IntRange(0, 4).Draw(rt, "rollback") == 0 {
					tx.Rollback()
				} else {
					if err := tx.Commit(); err != nil {
						rt.Fatal(err)
					}
					committed = work
				}
			}
			if got := dump(t, db); !equalModel(got, committed) {
				rt.Fatalf("database differs from model:\n got %v\nwant %v", summary(got), summary(committed))
			}
			checkSeek(rt, db, committed)
			if err := db.Check(); err != nil {
				rt.Fatalf("check: %v", err)
			}
			st := db.Stats()
			if st.InUsePages > st.FilePages {
				rt.Fatalf("stats: %+v", st)
			}
		}
		closeReaders()
		_ = db.Close()
	})
}

func summary(m model) map[string]int {
	s := map[string]int{}
	for b, kv := range m {
		s[b] = len(kv)
	}
	return s
}

// TestConcurrentReadersAndWriter runs readers that check their snapshot
// is internally consistent (all values equal) while a writer rewrites
// every key in each transaction; run it with -race.
func TestConcurrentReadersAndWriter(t *testing.T) {
	db, _ := Open("/db", Options{FS: fsx.NewMem(), PageSize: 512, StrictMode: true})
	write := func(v int) error {
		return db.Update(func(tx *Tx) error {
			b, _ := tx.CreateBucketIfNotExists([]byte("b"))
			for i := range 200 {
				if err := b.Put([]byte(fmt.Sprintf("k%03d", i)), []byte(fmt.Sprint(v))); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := write(0); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	errs := make(chan error, 4)
	for range 3 {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				err := db.View(func(tx *Tx) error {
					c := tx.Bucket([]byte("b")).Cursor()
					first, _ := c.First()
					_, want := c.Seek(first)
					n := 0
					for k, v := c.First(); k != nil; k, v = c.Next() {
						if !bytes.Equal(v, want) {
							return fmt.Errorf("torn snapshot: %s=%s, expected %s", k, v, want)
						}
						n++
					}
					if n != 200 {
						return fmt.Errorf("saw %d keys", n)
					}
					return c.Err()
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for v := 1; v <= 30; v++ {
		if err := write(v); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestEmptyCommitWritesNothingAndPanicsReleaseTheWriter(t *testing.T) {
	disk := fsx.NewMem()
	db, _ := Open("/db", Options{FS: disk, PageSize: 512, StrictMode: true})
	_ = db.Update(func(tx *Tx) error { _, err := tx.CreateBucketIfNotExists([]byte("b")); return err })
	syncs, _ := disk.Syncs()
	txid := db.Stats().TxID
	err := db.Update(func(tx *Tx) error {
		_, err := tx.Bucket([]byte("b")).Get([]byte("k"))
		return err
	})
	if after, _ := disk.Syncs(); err != nil || after != syncs || db.Stats().TxID != txid {
		t.Fatalf("read-only update: err %v, %d syncs, txid %d -> %d", err, after-syncs, txid, db.Stats().TxID)
	}
	func() {
		defer func() { _ = recover() }()
		_ = db.Update(func(tx *Tx) error { panic("boom") })
	}()
	if err := db.Update(func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte("k"), []byte("v")) }); err != nil {
		t.Fatalf("write after a panicking update: %v", err)
	}
}

// checkSeek seeks a random key in each bucket and steps both ways from
// there, comparing with the model's sorted keys.
func checkSeek(t *rapid.T, db *DB, m model) {
	err := db.View(func(tx *Tx) error {
		for _, name := range slices.Sorted(maps.Keys(m)) { // in order: draws must replay
			kv := m[name]
			keys := slices.Sorted(maps.Keys(kv))
			target := fmt.Sprintf("k%03d", rapid.IntRange(0, 151).Draw(t, "seek"))
			if rapid.Bool().Draw(t, "between") {
				target += "x" // falls between two keys
			}
			i, _ := slices.BinarySearch(keys, target)
			c := tx.Bucket([]byte(name)).Cursor()
			k, v := c.Seek([]byte(target))
			if i == len(keys) {
				if k != nil {
					t.Fatalf("seek %s past the end gave %s", target, k)
				}
				continue
			}
			if string(k) != keys[i] || string(v) != kv[keys[i]] {
				t.Fatalf("seek %s: %q, want %q", target, k, keys[i])
			}
			k, _ = c.Prev()
			if (i == 0) != (k == nil) || (i > 0 && string(k) != keys[i-1]) {
				t.Fatalf("prev after seek %s: %q", target, k)
			}
			if i == 0 {
				continue // the cursor fell off the start
			}
			c.Next()
			if k, _ = c.Next(); (i+1 == len(keys)) != (k == nil) || (i+1 < len(keys) && string(k) != keys[i+1]) {
				t.Fatalf("next, next after seek %s and prev: %q", target, k)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
