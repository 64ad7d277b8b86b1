package pagefile

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/internal/invariant"
)

// invariantDB returns a strict database whose bucket "b" is a tree of two
// levels at least (200 keys on 512-byte pages).
func invariantDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open("/db", Options{FS: fsx.NewMem(), PageSize: 512, StrictMode: true})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		for i := range 200 {
			if err := b.Put(fmt.Appendf(nil, "k%03d", i), []byte("value")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// wantViolation fails unless err is a violation of the named invariant
// whose message contains detail.
func wantViolation(t *testing.T, err error, name, detail string) {
	t.Helper()
	got, ok := invariant.Name(err)
	if !ok || got != name || !strings.Contains(err.Error(), detail) {
		t.Fatalf("got %v, want a violation of %q mentioning %q", err, name, detail)
	}
	if !strings.HasPrefix(err.Error(), `pagefile: invariant "`+name+`" violated: `) {
		t.Fatalf("message %q does not start with the invariant's name", err)
	}
}

// mutate runs one write transaction that changes key k000, lets damage
// break it, and returns Commit's error.
func mutate(t *testing.T, db *DB, damage func(tx *Tx)) error {
	t.Helper()
	tx, err := db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Bucket([]byte("b")).Put([]byte("k000"), []byte("changed")); err != nil {
		t.Fatal(err)
	}
	damage(tx)
	return tx.Commit()
}

// leafOf returns the writable leaf holding key in tx's bucket "b", and
// its parent.
func leafOf(t *testing.T, tx *Tx, key string) (parent, leaf *node) {
	t.Helper()
	n := tx.Bucket([]byte("b")).t.root
	for !n.leaf {
		c := n.children[n.childIndex([]byte(key))].node
		if c == nil {
			t.Fatalf("the path to %q is not writable", key)
		}
		parent, n = n, c
	}
	return parent, n
}

func TestCommitRefusesAPageFreedTwice(t *testing.T) {
	db := invariantDB(t)
	err := mutate(t, db, func(tx *Tx) { tx.freed = append(tx.freed, tx.freed[0]) })
	wantViolation(t, err, invPageFreedOnce, "freed twice")
	// The refused commit wrote no meta page: the file is as before.
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestCommitRefusesOverlappingFrees(t *testing.T) {
	cases := []struct {
		name   string
		damage func(tx *Tx)
		detail string
	}{
		{"a run overlapping a freed page", func(tx *Tx) {
			// A run of two pages that ends on a page already freed.
			tx.freed = append(tx.freed, tx.freed[0]-1, tx.freed[0])
		}, "freed twice"},
		{"a page already pending", func(tx *Tx) {
			for _, ids := range tx.freelist.pending {
				tx.freed = append(tx.freed, ids[0])
			}
		}, "already pending"},
		{"a meta page", func(tx *Tx) { tx.freed = append(tx.freed, 1) }, "page 1 freed, but the file's node pages are"},
		{"a page past the end", func(tx *Tx) { tx.freed = append(tx.freed, tx.meta.hwm+100) }, "but the file's node pages are"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db := invariantDB(t)
			// Free many pages, then a few more kept pending by an open
			// reader.
			err := db.Update(func(tx *Tx) error {
				for i := 100; i < 200; i++ {
					if err := tx.Bucket([]byte("b")).Delete(fmt.Appendf(nil, "k%03d", i)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			reader, err := db.Begin(false)
			if err != nil {
				t.Fatal(err)
			}
			defer reader.Rollback()
			if err := mutate(t, db, func(*Tx) {}); err != nil {
				t.Fatal(err)
			}
			err = mutate(t, db, c.damage)
			wantViolation(t, err, invPageFreedOnce, c.detail)
		})
	}
}

func TestFreeLaterRefusesPagesFreedTwice(t *testing.T) {
	const hwm = 100
	fresh := func() *freelist {
		f := newFreelist()
		f.free = []span{{10, 3}}
		f.pending[7] = []pgid{20, 21}
		return f
	}
	cases := []struct {
		ids    []pgid
		detail string
	}{
		{[]pgid{30, 30}, "page 30 freed twice"},
		{[]pgid{30, 31, 31, 32}, "page 31 freed twice"}, // runs [30,32) and [31,33)
		{[]pgid{11}, "page 11 freed while it is already free"},
		{[]pgid{5, 21}, "page 21 freed while it is already pending (freed by commit 7)"},
		{[]pgid{0}, "page 0 freed, but the file's node pages are [2, 100)"},
		{[]pgid{hwm}, "page 100 freed, but the file's node pages are [2, 100)"},
	}
	for _, c := range cases {
		f := fresh()
		err := f.freeLater(8, c.ids, hwm)
		wantViolation(t, err, invPageFreedOnce, c.detail)
		if len(f.pending[8]) != 0 {
			t.Errorf("%v: refused pages were recorded", c.ids)
		}
	}
	f := fresh()
	if err := f.freeLater(8, []pgid{5, 30, 31}, hwm); err != nil {
		t.Fatalf("pages freed once: %v", err)
	}
}

func TestCommitRefusesAPageItWritesAndFrees(t *testing.T) {
	db := invariantDB(t)
	err := mutate(t, db, func(tx *Tx) {
		// Give the changed leaf a page the commit frees: the committed
		// page of its parent.
		parent, _ := leafOf(t, tx, "k000")
		tx.freelist.free = append([]span{{parent.id, 1}}, tx.freelist.free...)
	})
	// The parent's page is freed by the commit (the parent was copied)
	// and handed out as free: the first node written takes it.
	wantViolation(t, err, invPageFreedOnce, "freed by the commit that writes a node to it")
}

func TestBeginRefusesAPageFreeAndPending(t *testing.T) {
	db := invariantDB(t)
	if err := mutate(t, db, func(*Tx) {}); err != nil {
		t.Fatal(err)
	}
	db.mu.Lock()
	free := db.freelist.all()
	db.freelist.free = append(db.freelist.free, span{free[0], 1})
	db.mu.Unlock()
	_, err := db.Begin(true)
	wantViolation(t, err, invPageFreedOnce, fmt.Sprintf("page %d is on the free list twice", free[0]))
	if _, err := db.Begin(true); !errors.Is(err, ErrNeedsReopen) {
		t.Fatalf("a write after the violation: %v, want ErrNeedsReopen", err)
	}
}

// TestDeleteChangedBucketFreesEachPageOnce is the case that used to free
// pages twice (tolerated by removing duplicates): a bucket changed, then
// deleted in the same transaction.
func TestDeleteChangedBucketFreesEachPageOnce(t *testing.T) {
	for _, change := range []string{"put", "delete all", "none"} {
		t.Run(change, func(t *testing.T) {
			db := invariantDB(t)
			before := db.Stats()
			err := db.Update(func(tx *Tx) error {
				b := tx.Bucket([]byte("b"))
				for i := range 200 {
					k := fmt.Appendf(nil, "k%03d", i)
					switch {
					case change == "put" && i%50 == 0:
						if err := b.Put(k, []byte("new")); err != nil {
							return err
						}
					case change == "delete all":
						if err := b.Delete(k); err != nil {
							return err
						}
					}
				}
				return tx.DeleteBucket([]byte("b"))
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Check(); err != nil {
				t.Fatal(err)
			}
			// Everything but the meta pages, the directory and the
			// freelist is free or pending.
			after := db.Stats()
			if after.InUsePages > 4 || after.FilePages != before.FilePages {
				t.Fatalf("after deleting the bucket: %+v (before %+v)", after, before)
			}
		})
	}
}

func TestStrictModeRefusesLeaksAndSharedPages(t *testing.T) {
	db := invariantDB(t)
	err := mutate(t, db, func(tx *Tx) { tx.freelist.free = tx.freelist.free[1:] })
	wantViolation(t, err, invPageUsedOnce, "leaked")

	db = invariantDB(t)
	if err := mutate(t, db, func(*Tx) {}); err != nil {
		t.Fatal(err)
	}
	err = mutate(t, db, func(tx *Tx) {
		// List as free a leaf the commit does not touch.
		_, leaf := leafOf(t, tx, "k000")
		r := tx.Bucket([]byte("b")).t.root
		last := r.children[len(r.children)-1].id
		if leaf.id == last {
			t.Fatal("k000 is in the last leaf")
		}
		tx.freelist.free = append([]span{{last, 1}}, tx.freelist.free...)
	})
	if name, _ := invariant.Name(err); name != invPageUsedOnce && name != invTreeBalanced {
		t.Fatalf("a page both used and free: %v", err)
	}
}

func TestStrictModeRefusesUnsortedKeys(t *testing.T) {
	t.Run("within a page", func(t *testing.T) {
		db := invariantDB(t)
		err := mutate(t, db, func(tx *Tx) {
			_, leaf := leafOf(t, tx, "k000")
			leaf.keys[0], leaf.keys[1] = leaf.keys[1], leaf.keys[0]
		})
		wantViolation(t, err, invPagesDecode, "out of order")
	})
	t.Run("across pages", func(t *testing.T) {
		db := invariantDB(t)
		err := mutate(t, db, func(tx *Tx) {
			// The second leaf's last key, below its separator: sorted
			// within its page, out of order in the tree.
			parent, _ := leafOf(t, tx, "k000")
			c, err := tx.Bucket([]byte("b")).t.writableChild(parent, 1)
			if err != nil {
				t.Fatal(err)
			}
			c.keys[len(c.keys)-1] = []byte("k999")
			c.keys[0] = []byte("a")
			slices.SortFunc(c.keys, func(a, b []byte) int { return strings.Compare(string(a), string(b)) })
		})
		wantViolation(t, err, invKeysSorted, "outside its parent's bounds")
	})
}

func TestStrictModeRefusesAnUnbalancedTree(t *testing.T) {
	db := invariantDB(t)
	err := mutate(t, db, func(tx *Tx) {
		r := tx.Bucket([]byte("b")).t.root
		r.level++ // children now one level too low
	})
	wantViolation(t, err, invTreeBalanced, "where level")
}

func TestStrictModeChecksTheMeta(t *testing.T) {
	db := invariantDB(t)
	m := db.meta
	fl := db.freelist.all()
	if err := db.checkCommit(m, fl); err != nil {
		t.Fatalf("the committed file: %v", err)
	}
	wantViolation(t, db.checkCommit(m, append(fl, m.hwm+1)), invMetaConsistent, "freelist on disk")
	m.hwm += 5
	wantViolation(t, db.checkCommit(m, fl), invMetaConsistent, "the meta page counts")
}
