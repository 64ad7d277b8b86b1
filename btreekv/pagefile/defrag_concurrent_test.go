package pagefile

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
	"pgregory.net/rapid"
)

// applyOps applies random puts, deletes and bucket changes to db and to m,
// in one transaction.
func applyOps(t *rapid.T, db *DB, m model, label string) {
	ops := rapid.IntRange(0, 80).Draw(t, label+"-ops")
	err := db.Update(func(tx *Tx) error {
		for i := range ops {
			bucket := fmt.Sprintf("b%d", rapid.IntRange(0, 2).Draw(t, fmt.Sprintf("%s-bucket-%d", label, i)))
			key := fmt.Sprintf("k%03d", rapid.IntRange(0, 300).Draw(t, fmt.Sprintf("%s-key-%d", label, i)))
			switch rapid.IntRange(0, 20).Draw(t, fmt.Sprintf("%s-op-%d", label, i)) {
			case 0:
				if m[bucket] != nil {
					if err := tx.DeleteBucket([]byte(bucket)); err != nil {
						return err
					}
					delete(m, bucket)
				}
			case 1, 2, 3, 4:
				if b := tx.Bucket([]byte(bucket)); b != nil {
					if err := b.Delete([]byte(key)); err != nil {
						return err
					}
					delete(m[bucket], key)
				}
			default:
				b, err := tx.CreateBucketIfNotExists([]byte(bucket))
				if err != nil {
					return err
				}
				// Some values span several pages.
				val := bytes.Repeat([]byte{byte(i)}, rapid.SampledFrom([]int{1, 30, 700, 1500}).Draw(t, fmt.Sprintf("%s-len-%d", label, i)))
				if err := b.Put([]byte(key), val); err != nil {
					return err
				}
				if m[bucket] == nil {
					m[bucket] = map[string]string{}
				}
				m[bucket][key] = string(val)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDiffDatabasesGivesTheChanges: the changes diffDatabases finds
// between two read transactions, applied to a copy of the older one's
// data, give the newer one's data — whatever happened in between, and
// with other readers pinning pages or not.
func TestDiffDatabasesGivesTheChanges(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		db, err := Open("/db", Options{FS: fsx.NewMem(), PageSize: 512, StrictMode: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		m := model{}
		for i := range rapid.IntRange(0, 4).Draw(t, "before") {
			applyOps(t, db, m, fmt.Sprintf("before%d", i))
		}
		older, _ := db.Begin(false)
		defer older.Rollback()
		copyDB, _ := Open("/copy", Options{FS: fsx.NewMem(), PageSize: 512, StrictMode: true})
		defer copyDB.Close()
		d := &defrag{db: db, dst: copyDB, base: older}
		if err := d.copyAll(); err != nil {
			t.Fatal(err)
		}
		if got := dumpDB(t, copyDB); !equalModel(got, dumpOf(t, older)) {
			t.Fatal("the copy differs from what it copied")
		}
		w := d.newWriter()
		for i := range rapid.IntRange(0, 4).Draw(t, "between") {
			applyOps(t, db, m, fmt.Sprintf("between%d", i))
		}
		newer, _ := db.Begin(false)
		defer newer.Rollback()
		if err := diffDatabases(older, newer, w); err != nil {
			t.Fatal(err)
		}
		if err := w.flush(); err != nil {
			t.Fatal(err)
		}
		if got := dumpDB(t, copyDB); !equalModel(got, m) {
			t.Fatalf("copy after the diff:\n%v\nwant\n%v", got, m)
		}
		if err := copyDB.Check(); err != nil {
			t.Fatal(err)
		}
	})
}

func dumpDB(t *rapid.T, db *DB) model {
	tx, _ := db.Begin(false)
	defer tx.Rollback()
	return dumpOf(t, tx)
}

func dumpOf(t *rapid.T, tx *Tx) model {
	m, err := dumpTx(tx)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fillKeys writes n keys of 100-byte values into bucket "b", 500 per
// transaction.
func fillKeys(t *testing.T, db *DB, n int, round byte) {
	t.Helper()
	for from := 0; from < n; from += 500 {
		err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for i := from; i < min(from+500, n); i++ {
				if err := b.Put([]byte(fmt.Sprintf("k%06d", i)), bytes.Repeat([]byte{round}, 100)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestWritesGoOnDuringDefragment: a writer keeps committing while a
// defragmentation runs (the old Defragment held the writers for all of
// it), and the result holds every commit.
func TestWritesGoOnDuringDefragment(t *testing.T) {
	db, _ := Open("/db", Options{FS: fsx.NewMem(), PageSize: 512})
	defer db.Close()
	fillKeys(t, db, 20000, 1)
	var running atomic.Bool
	var during atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	want := map[string]string{}
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			key, val := fmt.Sprintf("w%06d", i%3000), fmt.Sprintf("v%d", i)
			err := db.Update(func(tx *Tx) error {
				b, err := tx.CreateBucketIfNotExists([]byte("w"))
				if err != nil {
					return err
				}
				return b.Put([]byte(key), []byte(val))
			})
			if err != nil {
				t.Error(err)
				return
			}
			want[key] = val
			if running.Load() {
				during.Add(1)
			}
		}
	}()
	running.Store(true)
	err := db.Defragment()
	running.Store(false)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if during.Load() < 2 {
		t.Fatalf("%d commits during the defragmentation: the writer was held", during.Load())
	}
	got := dump(t, db)
	if len(got["b"]) != 20000 || !equalModelBucket(got["w"], want) {
		t.Fatalf("after defragment: %d keys in b, w differs: %v", len(got["b"]), !equalModelBucket(got["w"], want))
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d commits during the defragmentation", during.Load())
}

func equalModelBucket(a, b map[string]string) bool {
	return equalModel(model{"x": a}, model{"x": b})
}

// crashingFS crashes the file system (fsx.MemFS.Crash) at its at-th sync,
// directory sync, rename or remove once armed, and keeps the image.
type crashingFS struct {
	*fsx.MemFS
	mu    sync.Mutex
	armed bool
	n, at int
	rng   *rand.Rand
	after *fsx.MemFS
}

func newCrashingFS(at int, seed uint64) *crashingFS {
	c := &crashingFS{MemFS: fsx.NewMem(), at: at, rng: rand.New(rand.NewPCG(seed, 7))}
	c.OnSync = func(string) { c.point() }
	return c
}

func (c *crashingFS) point() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.armed || c.after != nil {
		return
	}
	c.n++
	if c.n == c.at {
		c.after = c.MemFS.Crash(fsx.TearUnsynced, c.rng)
	}
}

func (c *crashingFS) Rename(from, to string) error { c.point(); return c.MemFS.Rename(from, to) }
func (c *crashingFS) SyncDir(dir string) error     { c.point(); return c.MemFS.SyncDir(dir) }
func (c *crashingFS) Remove(name string) error     { c.point(); return c.MemFS.Remove(name) }

// TestCrashAtEveryStepOfDefragment crashes at each sync point of a
// defragmentation while a writer commits: the database opened after the
// crash is whole (Check) and holds the last commit the writer saw
// succeed, or the one in flight.
func TestCrashAtEveryStepOfDefragment(t *testing.T) {
	for at := 1; ; at++ {
		disk := newCrashingFS(at, uint64(at))
		db, _ := Open("/db", Options{FS: disk, PageSize: 512, StrictMode: true})
		fillKeys(t, db, 3000, 1)
		// Delete most keys, so that the copy is smaller.
		_ = db.Update(func(tx *Tx) error {
			b := tx.Bucket([]byte("b"))
			for i := 0; i < 3000; i += 3 {
				_ = b.Delete([]byte(fmt.Sprintf("k%06d", i)))
			}
			return nil
		})
		acked := dump(t, db)
		var mu sync.Mutex
		inflight := acked
		disk.mu.Lock()
		disk.armed = true
		disk.mu.Unlock()
		stop := make(chan struct{})
		started := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				select {
				case <-started:
				default:
					close(started)
				}
			}()
			for i := range 20 { // a bounded number of sync points
				if i == 3 {
					close(started) // the defragmentation starts among the writes
				}
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("k%06d", (i*7)%3000)
				mu.Lock()
				next := acked.clone()
				next["b"][key] = fmt.Sprint(i)
				inflight = next
				mu.Unlock()
				err := db.Update(func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte(key), []byte(fmt.Sprint(i))) })
				if err != nil {
					return // crashed
				}
				mu.Lock()
				acked = next
				mu.Unlock()
			}
		}()
		<-started
		err := db.Defragment()
		close(stop)
		wg.Wait()
		disk.mu.Lock()
		after := disk.after
		disk.mu.Unlock()
		if after == nil {
			if err != nil {
				t.Fatalf("defragment without a crash: %v", err)
			}
			if got := dump(t, db); !equalModel(got, acked) {
				t.Fatal("defragment without a crash lost a commit")
			}
			t.Logf("crashed at each of %d sync points (%d seen in the last run)", at-1, disk.n)
			return
		}
		db2, err := Open("/db", Options{FS: after, StrictMode: true})
		if err != nil {
			t.Fatalf("crash at point %d: open: %v", at, err)
		}
		if err := db2.Check(); err != nil {
			t.Fatalf("crash at point %d: check: %v", at, err)
		}
		got := dump(t, db2)
		if !equalModel(got, acked) && !equalModel(got, inflight) {
			t.Fatalf("crash at point %d: the database holds neither the last acknowledged commit nor the one in flight", at)
		}
		// The next defragmentation starts over from a leftover copy.
		if err := db2.Defragment(); err != nil && !errors.Is(err, ErrClosed) {
			t.Fatalf("crash at point %d: defragment after recovery: %v", at, err)
		}
		if got2 := dump(t, db2); !equalModel(got2, got) {
			t.Fatalf("crash at point %d: defragment after recovery changed the data", at)
		}
		_ = db2.Close()
	}
}
