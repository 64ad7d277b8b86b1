package pagefile

import (
	"fmt"
	"maps"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
)

// cachedLeaves returns the ids of the leaves in db's cache.
func cachedLeaves(db *DB) map[pgid]bool {
	db.cache.mu.RLock()
	defer db.cache.mu.RUnlock()
	out := map[pgid]bool{}
	for id, e := range db.cache.entries {
		if e.n.leaf {
			out[id] = true
		}
	}
	return out
}

// TestCacheHoldsWhatIsReadNotWhatIsWritten: with a budget far larger
// than the file, the cache holds no leaf a commit wrote (only what is
// read enters), none of the pages a commit freed, and never a stale node
// for a page a commit reused — even one that a reader of an older tree
// read back into the cache after it was freed.
func TestCacheHoldsWhatIsReadNotWhatIsWritten(t *testing.T) {
	db, err := Open("/db", Options{FS: fsx.NewMem(), CacheBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := map[string]string{}
	write := func(round int) {
		t.Helper()
		err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for i := range 2000 {
				k := fmt.Sprintf("key%06d", i)
				v := fmt.Sprintf("%d-%0200d", round, i)
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
	}
	check := func(when string) {
		t.Helper()
		if got := dump(t, db)["b"]; !maps.Equal(got, want) {
			t.Fatalf("%s: %d keys read back differ from the %d written", when, len(got), len(want))
		}
	}

	write(0)
	if leaves := cachedLeaves(db); len(leaves) != 0 {
		t.Fatalf("after a commit of 2000 keys the cache holds %d leaves it wrote; want none", len(leaves))
	}
	if st := db.Stats().Cache; st.Bytes > 64<<10 {
		t.Fatalf("after a commit of about 400 KiB the cache holds %d bytes; want its branches alone", st.Bytes)
	}
	check("after the first commit") // reads every leaf: the cache takes them
	read := cachedLeaves(db)
	if len(read) == 0 {
		t.Fatal("a scan of the whole bucket left no leaf in the cache")
	}

	// A reader of the old tree stays open across the overwrite, so the
	// old leaves stay pending, and reads them again after the commit
	// freed them: they come back into the cache.
	old, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	write(1)
	for id := range cachedLeaves(db) {
		if read[id] {
			t.Fatalf("page %d, a leaf the overwrite freed, is still cached after its commit", id)
		}
	}
	if _, err := dumpTx(old); err != nil {
		t.Fatal(err)
	}
	old.Rollback()
	// Now the old leaves are released; the next commits reuse them.
	for round := 2; round < 5; round++ {
		write(round)
		check(fmt.Sprintf("after commit %d", round))
	}
}

// TestReadOnceLeavesTheCacheAlone: a scan in a ReadOnce transaction
// reads everything back without caching the leaves it reads from the
// file; the same scan in an ordinary transaction caches them.
func TestReadOnceLeavesTheCacheAlone(t *testing.T) {
	db, err := Open("/db", Options{FS: fsx.NewMem(), CacheBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := map[string]string{}
	err = db.Update(func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		for i := range 2000 {
			k, v := fmt.Sprintf("key%06d", i), fmt.Sprintf("%0200d", i)
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
	// The bucket directory, a leaf every transaction reads first, is
	// cached as usual: count the leaves beyond it.
	if err := db.View(func(tx *Tx) error { return tx.Bucket([]byte("b")).Cursor().Err() }); err != nil {
		t.Fatal(err)
	}
	before := len(cachedLeaves(db))
	for _, once := range []bool{true, false} {
		var got model
		err := db.View(func(tx *Tx) error {
			if once {
				tx.ReadOnce()
			}
			var err error
			got, err = dumpTx(tx)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got["b"], want) {
			t.Fatalf("ReadOnce %v: %d keys read back differ from the %d written", once, len(got["b"]), len(want))
		}
		if n := len(cachedLeaves(db)) - before; once != (n == 0) {
			t.Fatalf("ReadOnce %v: a scan of the whole bucket left %d more leaves in the cache", once, n)
		}
	}
}
