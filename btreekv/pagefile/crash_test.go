package pagefile

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
	"pgregory.net/rapid"
)

// TestCrashAtEveryStepOfCommit cuts the power at each write and fsync of
// a commit: the database must come back as before or after the commit.
func TestCrashAtEveryStepOfCommit(t *testing.T) {
	for step := 0; ; step++ {
		disk := fsx.NewMem()
		db, _ := Open("/db", Options{FS: disk, PageSize: 512, StrictMode: true})
		fill := func(tx *Tx, from, n int) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for i := from; i < from+n; i++ {
				if err := b.Put([]byte(fmt.Sprintf("k%04d", i)), bytes.Repeat([]byte{byte(i)}, 40)); err != nil {
					return err
				}
			}
			return nil
		}
		if err := db.Update(func(tx *Tx) error { return fill(tx, 0, 200) }); err != nil {
			t.Fatal(err)
		}
		before := dump(t, db)
		// Count the I/O of the commit under test by failing the step-th.
		calls := 0
		crashed := false
		disk.OnSync = func(string) {}
		tx, _ := db.Begin(true)
		_ = fill(tx, 100, 200)
		_ = tx.Bucket([]byte("b")).Delete([]byte("k0001"))
		after := before.clone()
		for i := 100; i < 300; i++ {
			after["b"][fmt.Sprintf("k%04d", i)] = string(bytes.Repeat([]byte{byte(i)}, 40))
		}
		delete(after["b"], "k0001")
		failAt := func(op string) {
			calls++
			if calls == step+1 {
				disk.FailNext(op, errors.New("power cut"))
				crashed = true
			}
		}
		// Inject a failure into the step-th write or sync of Commit.
		committed := commitWithFailures(tx, disk, failAt)
		recovered := disk.Crash(fsx.TearUnsynced, rand.New(rand.NewPCG(uint64(step), 2)))
		db2, err := Open("/db", Options{FS: recovered, StrictMode: true})
		if err != nil {
			t.Fatalf("step %d: recover: %v", step, err)
		}
		if err := db2.Check(); err != nil {
			t.Fatalf("step %d: check after recovery: %v", step, err)
		}
		got := dump(t, db2)
		switch {
		case equalModel(got, after):
		case equalModel(got, before) && !committed:
		default:
			t.Fatalf("step %d (committed=%v): recovered state is neither before nor after", step, committed)
		}
		if !crashed {
			return // every step of the commit has been tried
		}
	}
}

// commitWithFailures runs tx.Commit with failAt called before each write
// and sync it performs (via the file system's hooks).
func commitWithFailures(tx *Tx, disk *fsx.MemFS, failAt func(op string)) bool {
	hook := &hookFS{MemFS: disk, before: failAt}
	tx.db.f = hookFile{File: tx.db.f, fs: hook}
	return tx.Commit() == nil
}

type hookFS struct {
	*fsx.MemFS
	before func(op string)
	// log, if set, records each write's offset and each sync (-1).
	log *[]int64
	// off is the offset of the write before is called for.
	off int64
}

type hookFile struct {
	fsx.File
	fs *hookFS
}

func (f hookFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.off = off
	f.fs.before("write")
	if f.fs.log != nil {
		*f.fs.log = append(*f.fs.log, off)
	}
	return f.File.WriteAt(p, off)
}

func (f hookFile) Sync() error {
	f.fs.before("sync")
	if f.fs.log != nil {
		*f.fs.log = append(*f.fs.log, -1)
	}
	return f.File.Sync()
}

// TestCommitOrdersWritesAndSyncs checks the commit protocol itself (the
// crash tests cannot see a missing barrier: the simulated disk keeps
// unsynced writes in order): node and freelist pages, then a sync, then
// the meta page of the slot the new transaction id selects, then a sync.
func TestCommitOrdersWritesAndSyncs(t *testing.T) {
	const ps = 512
	disk := fsx.NewMem()
	db, _ := Open("/db", Options{FS: disk, PageSize: ps, StrictMode: true})
	var log []int64
	db.f = hookFile{File: db.f, fs: &hookFS{MemFS: disk, before: func(string) {}, log: &log}}
	for round := range 4 {
		log = log[:0]
		txid := db.meta.txid + 1
		err := db.Update(func(tx *Tx) error {
			b, _ := tx.CreateBucketIfNotExists([]byte("b"))
			for i := range 50 {
				_ = b.Put([]byte(fmt.Sprintf("k%03d", i)), []byte(fmt.Sprint(round)))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		n := len(log)
		metaOff := int64(txid%2) * ps
		if n < 4 || log[n-1] != -1 || log[n-2] != metaOff || log[n-3] != -1 {
			t.Fatalf("commit %d: I/O %v does not end with sync, meta write at %d, sync", round, log, metaOff)
		}
		for _, off := range log[:n-3] {
			if off == -1 || off < 2*ps {
				t.Fatalf("commit %d: I/O %v: a sync or meta write before the data is complete", round, log)
			}
		}
	}
}

// TestFailedMetaSyncNeedsReopen: when the meta page's write or sync
// fails, the commit may or may not be on disk; further writes are refused
// (they could overwrite pages the maybe-committed tree uses) until the
// file is reopened, while reads go on (on the frozen tree, see Freeze).
func TestFailedMetaSyncNeedsReopen(t *testing.T) {
	for _, op := range []string{"write", "sync"} {
		t.Run(op, func(t *testing.T) {
			disk := fsx.NewMem()
			db, _ := Open("/db", Options{FS: disk, PageSize: 512, StrictMode: true})
			put := func(db *DB, k, v string) error {
				return db.Update(func(tx *Tx) error {
					b, err := tx.CreateBucketIfNotExists([]byte("b"))
					if err != nil {
						return err
					}
					return b.Put([]byte(k), []byte(v))
				})
			}
			if err := put(db, "k", "1"); err != nil {
				t.Fatal(err)
			}
			if err := put(db, "k", "2"); err != nil {
				t.Fatal(err)
			}
			// The meta page is the one written below page 2, and its
			// sync the second of a commit: fail that one.
			syncs := 0
			hook := &hookFS{MemFS: disk}
			hook.before = func(o string) {
				switch {
				case o != op:
				case o == "write" && hook.off < 2*512:
					disk.FailNext(op, errors.New("injected"))
				case o == "sync":
					if syncs++; syncs == 2 {
						disk.FailNext(op, errors.New("injected"))
					}
				}
			}
			db.f = hookFile{File: db.f, fs: hook}
			if err := put(db, "k", "3"); err == nil {
				t.Fatal("commit succeeded through a failed meta " + op)
			}
			if err := put(db, "x", "y"); !errors.Is(err, ErrNeedsReopen) {
				t.Fatalf("write after a failed meta %s: %v, want ErrNeedsReopen", op, err)
			}
			// Readers go on on the tree the failed commit froze, which
			// is still in memory.
			if got := dump(t, db)["b"]["k"]; got != "3" {
				t.Fatalf("readers see k=%q, want the failed commit's 3", got)
			}
			_ = db.Close()
			db, err := Open("/db", Options{FS: disk, StrictMode: true})
			if err != nil {
				t.Fatal(err)
			}
			// Whether the failed commit survived depends on what reached
			// the disk; either way the file is consistent and writable.
			if got := dump(t, db)["b"]["k"]; got != "2" && got != "3" {
				t.Fatalf("after reopen k=%q", got)
			}
			if err := put(db, "x", "y"); err != nil {
				t.Fatalf("write after reopen: %v", err)
			}
		})
	}
}

// TestCrashWhileCreating: a crash while a new file is being created
// leaves no file, or an empty one, or a complete empty database: Open
// always succeeds afterwards.
func TestCrashWhileCreating(t *testing.T) {
	for seed := range uint64(20) {
		for _, op := range []string{"write", "sync", "rename", "syncdir"} {
			disk := fsx.NewMem()
			// An empty file already at the path (created by an earlier
			// attempt, its directory entry durable).
			f, _ := fsx.Create(disk, "/db")
			_ = f.Close()
			_ = disk.SyncDir("/")
			disk.FailNext(op, errors.New("power cut"))
			if db, err := Open("/db", Options{FS: disk, PageSize: 512, StrictMode: true}); err == nil {
				_ = db.Close()
			}
			disk = disk.Crash(fsx.TearUnsynced, rand.New(rand.NewPCG(seed, 3)))
			db, err := Open("/db", Options{FS: disk, PageSize: 512, StrictMode: true})
			if err != nil {
				t.Fatalf("seed %d, crash at %s: open after crash: %v", seed, op, err)
			}
			if err := db.Update(func(tx *Tx) error { _, err := tx.CreateBucketIfNotExists([]byte("b")); return err }); err != nil {
				t.Fatalf("seed %d, crash at %s: write after crash: %v", seed, op, err)
			}
			_ = db.Close()
		}
	}
}

// TestCrashDuringRandomCommits: random histories where one commit is cut
// at a random write or sync (the failed call and everything after it
// never happen), then the power fails, tearing unsynced writes. The file
// reopens as the last acknowledged state, or as the failed commit's if
// enough of it reached the disk, never anything else; it passes Check and
// takes new writes.
func TestCrashDuringRandomCommits(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		disk := fsx.NewMem()
		db, err := Open("/db", Options{FS: disk, PageSize: rapid.SampledFrom([]int{512, 1024}).Draw(rt, "pageSize"), StrictMode: true})
		if err != nil {
			rt.Fatal(err)
		}
		randomTx := func(tx *Tx, m model) {
			for range rapid.IntRange(1, 40).Draw(rt, "ops") {
				key := fmt.Sprintf("k%03d", rapid.IntRange(0, 200).Draw(rt, "key"))
				b, _ := tx.CreateBucketIfNotExists([]byte("b"))
				if m["b"] == nil {
					m["b"] = map[string]string{}
				}
				if rapid.IntRange(0, 3).Draw(rt, "del") == 0 {
					_ = b.Delete([]byte(key))
					delete(m["b"], key)
					continue
				}
				val := key + strings.Repeat("v", rapid.IntRange(0, 2000).Draw(rt, "vlen"))
				_ = b.Put([]byte(key), []byte(val))
				m["b"][key] = val
			}
		}
		committed := model{}
		for range rapid.IntRange(0, 5).Draw(rt, "history") {
			work := committed.clone()
			tx, _ := db.Begin(true)
			randomTx(tx, work)
			if err := tx.Commit(); err != nil {
				rt.Fatal(err)
			}
			committed = work
		}
		after := committed.clone()
		tx, _ := db.Begin(true)
		randomTx(tx, after)
		cut := rapid.IntRange(0, 40).Draw(rt, "cut")
		calls := 0
		ok := commitWithFailures(tx, disk, func(op string) {
			if calls == cut {
				disk.FailNext(op, errors.New("power cut"))
			}
			calls++
		})
		disk = disk.Crash(fsx.TearUnsynced, rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "tear"), 7)))
		db, err = Open("/db", Options{FS: disk, StrictMode: true})
		if err != nil {
			rt.Fatalf("recover: %v", err)
		}
		if err := db.Check(); err != nil {
			rt.Fatalf("check after recovery: %v", err)
		}
		got := dump(t, db)
		if !equalModel(got, after) && (ok || !equalModel(got, committed)) {
			rt.Fatalf("recovered %v; acknowledged %v (commit ok=%v), attempted %v", summary(got), summary(committed), ok, summary(after))
		}
		if err := db.Update(func(tx *Tx) error { randomTx(tx, got); return nil }); err != nil {
			rt.Fatalf("write after recovery: %v", err)
		}
		if err := db.Check(); err != nil {
			rt.Fatalf("check after a write after recovery: %v", err)
		}
	})
}
