package pagefile

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
	"pgregory.net/rapid"
)

// beginWith begins a write transaction that puts kv and deletes del in
// bucket b.
func beginWith(t testing.TB, db *DB, kv map[string]string, del ...string) *Tx {
	t.Helper()
	tx, err := db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tx.CreateBucketIfNotExists([]byte("b"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range kv {
		if err := b.Put([]byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range del {
		if err := b.Delete([]byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	return tx
}

// TestFrozenTreeIsUsedBeforeItIsWritten: after Freeze, readers and the
// next writer see the frozen tree although nothing of it is on disk (a
// crash then leaves the last durable tree); the next Freeze writes it
// first; the pages the frozen commit frees are not reused before its
// meta page is durable.
func TestFrozenTreeIsUsedBeforeItIsWritten(t *testing.T) {
	disk := fsx.NewMem()
	db, err := Open("/db", Options{FS: disk, PageSize: 512, StrictMode: true})
	if err != nil {
		t.Fatal(err)
	}
	first := map[string]string{}
	for i := range 100 {
		first[fmt.Sprintf("k%03d", i)] = strings.Repeat("a", 60)
	}
	if err := beginWith(t, db, first).Commit(); err != nil {
		t.Fatal(err)
	}
	durable := db.DurableTxID()
	// Frozen, not written: every key changes, so every page of the
	// durable tree is freed.
	second := map[string]string{}
	for k := range first {
		second[k] = strings.Repeat("b", 60)
	}
	f1, err := beginWith(t, db, second).Freeze(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := db.DurableTxID(); got != durable {
		t.Fatalf("durable txid %d after a freeze, want %d", got, durable)
	}
	if got := dump(t, db)["b"]; !equalModel(model{"b": got}, model{"b": second}) {
		t.Fatal("a reader after Freeze does not see the frozen tree")
	}
	if got := dump(t, openCrashed(t, disk.Crash(fsx.LoseUnsynced, nil)))["b"]; !equalModel(model{"b": got}, model{"b": first}) {
		t.Fatal("a crash before Write does not leave the durable tree")
	}
	// The crash above made the old disk unusable: start again, the same
	// way, and go on writing on top of the frozen tree.
	disk = fsx.NewMem()
	db, _ = Open("/db", Options{FS: disk, PageSize: 512, StrictMode: true})
	if err := beginWith(t, db, first).Commit(); err != nil {
		t.Fatal(err)
	}
	durablePages := usedPages(t, db)
	f1, err = beginWith(t, db, second).Freeze(nil)
	if err != nil {
		t.Fatal(err)
	}
	tx := beginWith(t, db, map[string]string{"new": "x"}, "k000")
	if v, _ := tx.Bucket([]byte("b")).Get([]byte("k001")); string(v) != second["k001"] {
		t.Fatalf("the writer on top of the frozen tree reads %q", v)
	}
	f2, err := tx.Freeze(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !f1.done || f1.err != nil || db.DurableTxID() != f1.TxID() {
		t.Fatalf("the second Freeze did not write the first (done %v, err %v, durable %d)", f1.done, f1.err, db.DurableTxID())
	}
	// f2 took none of the durable tree's pages, though f1 freed them all.
	for _, w := range f2.writes {
		for p := w.id; p < w.id+pgid(w.pages); p++ {
			if durablePages[p] {
				t.Fatalf("the commit frozen on top of an unwritten one reuses page %d of the durable tree", p)
			}
		}
	}
	if err := f2.Write(); err != nil {
		t.Fatal(err)
	}
	want := model{"b": second}
	want["b"]["new"] = "x"
	delete(want["b"], "k000")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openCrashed(t, disk.Crash(fsx.LoseUnsynced, nil))
	if got := dump(t, db); !equalModel(got, want) {
		t.Fatalf("after both writes and a crash: %v, want %v", summary(got), summary(want))
	}
}

// usedPages returns the pages the current tree uses (not free, not
// pending).
func usedPages(t *testing.T, db *DB) map[pgid]bool {
	t.Helper()
	db.mu.Lock()
	defer db.mu.Unlock()
	used := map[pgid]bool{}
	free := map[pgid]bool{}
	for _, p := range db.freelist.all() {
		free[p] = true
	}
	for p := pgid(2); p < db.meta.hwm; p++ {
		if !free[p] {
			used[p] = true
		}
	}
	return used
}

// openCrashed opens the file a crash left, checks it and returns it.
func openCrashed(t testing.TB, disk *fsx.MemFS) *DB {
	t.Helper()
	db, err := Open("/db", Options{FS: disk, StrictMode: true})
	if err != nil {
		t.Fatalf("open after crash: %v", err)
	}
	if err := db.Check(); err != nil {
		t.Fatalf("check after crash: %v", err)
	}
	return db
}

// randomBatch applies n random puts and deletes of keys k000-k099 to tx
// and to m, checking on the way that tx reads what m holds.
func randomBatch(tx *Tx, m model, rng *rand.Rand, n int) error {
	b, err := tx.CreateBucketIfNotExists([]byte("b"))
	if err != nil {
		return err
	}
	if m["b"] == nil {
		m["b"] = map[string]string{}
	}
	for range n {
		key := fmt.Sprintf("k%03d", rng.IntN(100))
		got, err := b.Get([]byte(key))
		if err != nil {
			return err
		}
		if want, ok := m["b"][key]; string(got) != want || (got == nil) == ok {
			return fmt.Errorf("%s reads %q, the model holds %q", key, got, want)
		}
		if rng.IntN(4) == 0 {
			delete(m["b"], key)
			if err := b.Delete([]byte(key)); err != nil {
				return err
			}
			continue
		}
		val := key + strings.Repeat("v", rng.IntN(700))
		m["b"][key] = val
		if err := b.Put([]byte(key), []byte(val)); err != nil {
			return err
		}
	}
	return nil
}

// TestCrashAtEverySyncWhileWritesGoOn runs a pipeline as a member does:
// batches are frozen one after another, each written by a goroutine of
// its own while the next batch is built on top of it, and the power is
// cut at the k-th sync, for every k, losing or tearing what was not
// synced. The file always reopens, passes Check, and holds exactly the
// state after some frozen batch, not older than the last one reported
// durable.
func TestCrashAtEverySyncWhileWritesGoOn(t *testing.T) {
	const batches = 8
	for _, mode := range []fsx.CrashMode{fsx.LoseUnsynced, fsx.TearUnsynced} {
		for k := 1; ; k++ {
			disk := fsx.NewMem()
			db, err := Open("/db", Options{FS: disk, PageSize: 512, StrictMode: true})
			if err != nil {
				t.Fatal(err)
			}
			var (
				syncs          atomic.Int64
				durable        atomic.Int64 // the last batch reported durable
				durableAtCrash int64
				crashed        *fsx.MemFS
			)
			disk.OnSync = func(string) {
				// Syncs come one at a time: one commit is written at a time.
				if syncs.Add(1) == int64(k) {
					durableAtCrash = durable.Load()
					crashed = disk.Crash(mode, rand.New(rand.NewPCG(uint64(k), uint64(mode))))
				}
			}
			rng := rand.New(rand.NewPCG(uint64(k), 1))
			models := []model{{}} // models[i]: the state after batch i
			cur := model{}
			var wg sync.WaitGroup
			// A reader goes on beside the writes, through the frozen
			// trees' pinned nodes, the cache and the file.
			stop := make(chan struct{})
			var readerErr error
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					before := syncs.Load()
					err := db.View(func(tx *Tx) error { _, err := dumpTx(tx); return err })
					if err != nil && before < int64(k) && syncs.Load() < int64(k) {
						readerErr = err // no crash came meanwhile
						return
					}
				}
			}()
			for i := 1; i <= batches; i++ {
				tx, err := db.Begin(true)
				if err != nil {
					break // the crash broke the database
				}
				if err := randomBatch(tx, cur, rng, 40); err != nil {
					tx.Rollback()
					break // a read of a page the crash took away
				}
				f, err := tx.Freeze(func(err error) {
					if err == nil {
						durable.Store(int64(i))
					}
				})
				if err != nil {
					break
				}
				models = append(models, cur.clone())
				wg.Add(1)
				go func() { defer wg.Done(); _ = f.Write() }()
			}
			close(stop)
			wg.Wait()
			if readerErr != nil {
				t.Fatalf("crash at sync %d: a reader: %v", k, readerErr)
			}
			_ = db.Close()
			if crashed == nil {
				if k < 2*batches {
					t.Fatalf("%d syncs for %d batches", k-1, batches)
				}
				break // every sync has been tried
			}
			got := dump(t, openCrashed(t, crashed))
			found := -1
			for i, m := range models {
				if equalModel(got, m) {
					found = i // the last match: a batch may change nothing
				}
			}
			if found < 0 || int64(found) < durableAtCrash {
				t.Fatalf("mode %d, crash at sync %d: recovered %v is batch %d of %d, the last reported durable was %d",
					mode, k, summary(got), found, len(models)-1, durableAtCrash)
			}
		}
	}
}

// TestPipelinedCommitsModel: random histories of puts, deletes,
// rollbacks, freezes, writes of frozen commits and readers, checked
// against a model at every read, then a power cut at a random sync (or at
// the end) in a random mode. The file reopens to the state after some
// frozen batch, not older than the last one reported durable, and passes
// Check.
func TestPipelinedCommitsModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		disk := fsx.NewMem()
		db, err := Open("/db", Options{FS: disk, PageSize: rapid.SampledFrom([]int{512, 1024}).Draw(rt, "pageSize"), StrictMode: true})
		if err != nil {
			rt.Fatal(err)
		}
		mode := rapid.SampledFrom([]fsx.CrashMode{fsx.LoseUnsynced, fsx.TearUnsynced}).Draw(rt, "mode")
		crashAt := rapid.IntRange(1, 30).Draw(rt, "crashAt")
		var crashed *fsx.MemFS
		syncs, durable, durableAtCrash := 0, 0, 0
		disk.OnSync = func(string) {
			if syncs++; syncs == crashAt {
				durableAtCrash = durable
				crashed = disk.Crash(mode, rand.New(rand.NewPCG(uint64(crashAt), 9)))
			}
		}
		models := []model{{}} // the state after each frozen batch
		var (
			tx      *Tx
			cur     model
			pending []*Frozen
		)
		type reader struct {
			tx   *Tx
			want model
		}
		var readers []reader
		rng := rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "seed"), 3))
		for step := 0; step < 60 && crashed == nil; step++ {
			switch rapid.IntRange(0, 9).Draw(rt, "action") {
			case 0, 1, 2, 3: // write
				if tx == nil {
					if tx, err = db.Begin(true); err != nil {
						rt.Fatal(err)
					}
					cur = models[len(models)-1].clone()
				}
				if err := randomBatch(tx, cur, rng, rapid.IntRange(1, 20).Draw(rt, "ops")); err != nil {
					rt.Fatal(err)
				}
			case 4, 5: // freeze
				if tx == nil {
					continue
				}
				batch := len(models)
				f, err := tx.Freeze(func(err error) {
					if err == nil {
						durable = batch
					}
				})
				tx = nil
				if err != nil {
					if crashed != nil {
						break // it wrote the previous batch and crashed
					}
					rt.Fatal(err)
				}
				models = append(models, cur)
				pending = append(pending, f)
			case 6: // write the oldest frozen commit not written
				if len(pending) == 0 {
					continue
				}
				if err := pending[0].Write(); err != nil && crashed == nil {
					rt.Fatal(err)
				}
				pending = pending[1:]
			case 7: // roll back
				if tx != nil {
					tx.Rollback()
					tx = nil
				}
			case 8: // open a reader: it sees the last frozen tree
				r, err := db.Begin(false)
				if err != nil {
					rt.Fatal(err)
				}
				readers = append(readers, reader{r, models[len(models)-1]})
			case 9: // a reader still sees the tree it began on
				if len(readers) == 0 {
					continue
				}
				i := rapid.IntRange(0, len(readers)-1).Draw(rt, "reader")
				got, err := dumpTx(readers[i].tx)
				if err != nil && crashed == nil {
					rt.Fatal(err)
				}
				if err == nil && !equalModel(got, readers[i].want) {
					rt.Fatalf("a reader sees %v, began on %v", summary(got), summary(readers[i].want))
				}
				readers[i].tx.Rollback()
				readers = append(readers[:i], readers[i+1:]...)
			}
		}
		if crashed == nil {
			durableAtCrash = durable
			crashed = disk.Crash(mode, rand.New(rand.NewPCG(uint64(crashAt), 10)))
		}
		got := dump(t, openCrashed(t, crashed))
		found := -1
		for i, m := range models {
			if equalModel(got, m) {
				found = i
			}
		}
		if found < durableAtCrash {
			rt.Fatalf("recovered %v is batch %d of %d, the last reported durable was %d", summary(got), found, len(models)-1, durableAtCrash)
		}
	})
}

// TestDefragmentWritesTheFrozenCommit: a commit frozen but not written
// when Defragment runs is in the copy, and nothing is written to the old
// file after the swap: after a crash the file holds it.
func TestDefragmentWritesTheFrozenCommit(t *testing.T) {
	disk := fsx.NewMem()
	db, err := Open("/db", Options{FS: disk, PageSize: 512, StrictMode: true})
	if err != nil {
		t.Fatal(err)
	}
	kv := map[string]string{}
	for i := range 200 {
		kv[fmt.Sprintf("k%03d", i)] = strings.Repeat("a", 50)
	}
	if err := beginWith(t, db, kv).Commit(); err != nil {
		t.Fatal(err)
	}
	f, err := beginWith(t, db, map[string]string{"frozen": "yes"}, "k000").Freeze(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Defragment(); err != nil {
		t.Fatal(err)
	}
	if err := f.Write(); err != nil {
		t.Fatalf("the frozen commit's write after the defragmentation: %v", err)
	}
	want := model{"b": kv}
	want["b"]["frozen"] = "yes"
	delete(want["b"], "k000")
	if got := dump(t, openCrashed(t, disk.Crash(fsx.LoseUnsynced, nil))); !equalModel(got, want) {
		t.Fatalf("after the defragmentation and a crash: %v, want %v", summary(got), summary(want))
	}
}
