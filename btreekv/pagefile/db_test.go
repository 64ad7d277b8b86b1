package pagefile

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
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
	db, err := Open("/db", Options{FS: fsx.NewMem(), PageSize: 512})
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
	db, _ := Open("/db", Options{FS: disk, PageSize: 512})
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
	db, _ = Open("/db", Options{FS: disk})
	_ = db.View(func(tx *Tx) error {
		v, err := tx.Bucket([]byte("b")).Get([]byte("big"))
		if err != nil || !bytes.Equal(v, big) {
			t.Fatalf("big value: %d bytes, %v", len(v), err)
		}
		return nil
	})
}

func TestReadersSeeTheirSnapshotAndPagesAreNotReusedUnderThem(t *testing.T) {
	db, _ := Open("/db", Options{FS: fsx.NewMem(), PageSize: 512})
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
	db, _ := Open("/db", Options{FS: fsx.NewMem()})
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
	rapid.Check(t, func(rt *rapid.T) {
		disk := fsx.NewMem()
		ps := rapid.SampledFrom([]int{512, 1024, 4096}).Draw(rt, "pageSize")
		db, err := Open("/db", Options{FS: disk, PageSize: ps})
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
				if db, err = Open("/db", Options{FS: disk}); err != nil {
					rt.Fatal(err)
				}
			case 1: // crash and recover
				closeReaders()
				disk = disk.Crash(fsx.TearUnsynced, rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "tear"), 1)))
				if db, err = Open("/db", Options{FS: disk}); err != nil {
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

// TestCrashAtEveryStepOfCommit cuts the power at each write and fsync of
// a commit: the database must come back as before or after the commit.
func TestCrashAtEveryStepOfCommit(t *testing.T) {
	for step := 0; ; step++ {
		disk := fsx.NewMem()
		db, _ := Open("/db", Options{FS: disk, PageSize: 512})
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
		db2, err := Open("/db", Options{FS: recovered})
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
}

type hookFile struct {
	fsx.File
	fs *hookFS
}

func (f hookFile) WriteAt(p []byte, off int64) (int, error) {
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
	db, _ := Open("/db", Options{FS: disk, PageSize: ps})
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

func TestCorruptionIsReported(t *testing.T) {
	disk := fsx.NewMem()
	db, _ := Open("/db", Options{FS: disk, PageSize: 512})
	_ = db.Update(func(tx *Tx) error {
		b, _ := tx.CreateBucketIfNotExists([]byte("b"))
		for i := range 300 {
			_ = b.Put([]byte(fmt.Sprintf("k%04d", i)), []byte("v"))
		}
		return nil
	})
	_ = db.Close()
	// Flip a bit in a data page (page 5): reading through it must fail
	// with ErrCorrupt naming the page.
	if err := disk.FlipBit("/db", 5*512+100, 3); err != nil {
		t.Fatal(err)
	}
	db, err := Open("/db", Options{FS: disk})
	if err != nil {
		t.Fatal(err)
	}
	var readErr error
	_ = db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		if b == nil {
			readErr = errors.New("bucket missing")
			return nil
		}
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
		}
		readErr = c.Err()
		return nil
	})
	if !errors.Is(readErr, ErrCorrupt) {
		t.Fatalf("walk over a flipped bit: %v, want ErrCorrupt", readErr)
	}
	// Both meta pages damaged: the file cannot be opened.
	_ = db.Close()
	_ = disk.FlipBit("/db", 30, 1)
	_ = disk.FlipBit("/db", 512+30, 1)
	if _, err := Open("/db", Options{FS: disk}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open with both metas damaged: %v", err)
	}
}

func TestNotAPageFile(t *testing.T) {
	disk := fsx.NewMem()
	f, _ := fsx.Create(disk, "/x")
	_, _ = f.Write(bytes.Repeat([]byte("not a database "), 100))
	_ = f.Close()
	if _, err := Open("/x", Options{FS: disk}); err == nil {
		t.Fatal("opened a file of another format")
	}
}

func TestDefragmentShrinksTheFile(t *testing.T) {
	db, _ := Open("/db", Options{FS: fsx.NewMem(), PageSize: 512})
	for round := range 5 {
		_ = db.Update(func(tx *Tx) error {
			b, _ := tx.CreateBucketIfNotExists([]byte("b"))
			for i := range 500 {
				_ = b.Put([]byte(fmt.Sprintf("k%04d", i)), []byte(fmt.Sprintf("v%d", round)))
			}
			return nil
		})
	}
	_ = db.Update(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := range 480 {
			_ = b.Delete([]byte(fmt.Sprintf("k%04d", i)))
		}
		return nil
	})
	before := dump(t, db)
	sizeBefore := db.Stats().FileSize
	if err := db.Defragment(); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, db); !equalModel(got, before) {
		t.Fatal("defragment changed the data")
	}
	if after := db.Stats().FileSize; after >= sizeBefore/2 {
		t.Fatalf("file %d bytes after defragment, %d before", after, sizeBefore)
	}
	// A reader open in another goroutine delays the swap until it ends;
	// it keeps reading its snapshot of the old file meanwhile.
	r, _ := db.Begin(false)
	done := make(chan error)
	go func() { done <- db.Defragment() }()
	c := r.Bucket([]byte("b")).Cursor()
	n := 0
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	if c.Err() != nil || n != 20 {
		t.Fatalf("reader during defragment: %d keys, %v", n, c.Err())
	}
	r.Rollback()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := dump(t, db); !equalModel(got, before) {
		t.Fatal("second defragment changed the data")
	}
}

func FuzzDecodePage(f *testing.F) {
	n := &node{leaf: true, keys: [][]byte{[]byte("a"), []byte("b")}, vals: [][]byte{[]byte("1"), []byte("2")}}
	buf := make([]byte, 512)
	n.encode(buf, 512)
	f.Add(buf)
	br := &node{level: 1, keys: [][]byte{[]byte("a"), []byte("m")}, children: []child{{id: 3}, {id: 4}}}
	buf2 := make([]byte, 512)
	br.encode(buf2, 512)
	f.Add(buf2)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := checkPage(b, 7, pageBranch)
		if err != nil {
			// Also decode unchecked bytes: the decoder alone must not
			// panic on anything.
			h = pageHeader{typ: pageLeaf, count: uint32(len(b))}
		}
		_, _ = decodeNode(b, 7, h, 100)
		_, _ = decodeFreelist(b, 7, h, 100)
		_, _ = decodeMeta(b, 0)
	})
}

// TestConcurrentReadersAndWriter runs readers that check their snapshot
// is internally consistent (all values equal) while a writer rewrites
// every key in each transaction; run it with -race.
func TestConcurrentReadersAndWriter(t *testing.T) {
	db, _ := Open("/db", Options{FS: fsx.NewMem(), PageSize: 512})
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

// TestFailedMetaSyncNeedsReopen: when the meta page's write or sync
// fails, the commit may or may not be on disk; further writes are refused
// (they could overwrite pages the maybe-committed tree uses) until the
// file is reopened, while reads go on.
func TestFailedMetaSyncNeedsReopen(t *testing.T) {
	for _, op := range []string{"write", "sync"} {
		t.Run(op, func(t *testing.T) {
			disk := fsx.NewMem()
			db, _ := Open("/db", Options{FS: disk, PageSize: 512})
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
			// The meta page is the last write and the last sync of a
			// commit: count the calls of a dry run, then fail the last.
			calls := 0
			hook := &hookFS{MemFS: disk, before: func(o string) {
				if o == op {
					calls++
				}
			}}
			db.f = hookFile{File: db.f, fs: hook}
			if err := put(db, "k", "2"); err != nil {
				t.Fatal(err)
			}
			last := calls
			calls = 0
			hook.before = func(o string) {
				if o == op {
					if calls++; calls == last {
						disk.FailNext(op, errors.New("injected"))
					}
				}
			}
			if err := put(db, "k", "3"); err == nil {
				t.Fatal("commit succeeded through a failed meta " + op)
			}
			if err := put(db, "x", "y"); !errors.Is(err, ErrNeedsReopen) {
				t.Fatalf("write after a failed meta %s: %v, want ErrNeedsReopen", op, err)
			}
			if got := dump(t, db)["b"]["k"]; got != "2" {
				t.Fatalf("readers see k=%q, want the last acknowledged commit's 2", got)
			}
			_ = db.Close()
			db, err := Open("/db", Options{FS: disk})
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

// TestDefragmentWhileReading runs readers during repeated defragments:
// every reader sees a whole snapshot, before or after a swap.
func TestDefragmentWhileReading(t *testing.T) {
	db, _ := Open("/db", Options{FS: fsx.NewMem(), PageSize: 512})
	_ = db.Update(func(tx *Tx) error {
		b, _ := tx.CreateBucketIfNotExists([]byte("b"))
		for i := range 300 {
			_ = b.Put([]byte(fmt.Sprintf("k%04d", i)), []byte("v"))
		}
		return nil
	})
	done := make(chan struct{})
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				err := db.View(func(tx *Tx) error {
					n := 0
					c := tx.Bucket([]byte("b")).Cursor()
					for k, _ := c.First(); k != nil; k, _ = c.Next() {
						n++
					}
					if c.Err() == nil && n != 300 {
						return fmt.Errorf("reader saw %d keys", n)
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
	for range 5 {
		if err := db.Defragment(); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
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
			if db, err := Open("/db", Options{FS: disk, PageSize: 512}); err == nil {
				_ = db.Close()
			}
			disk = disk.Crash(fsx.TearUnsynced, rand.New(rand.NewPCG(seed, 3)))
			db, err := Open("/db", Options{FS: disk, PageSize: 512})
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

// TestDamagedDirectoryIsNotAMissingBucket: when the bucket directory
// cannot be read, Bucket does not answer "no such bucket"; the bucket it
// returns reports the damage.
func TestDamagedDirectoryIsNotAMissingBucket(t *testing.T) {
	disk := fsx.NewMem()
	db, _ := Open("/db", Options{FS: disk, PageSize: 512})
	_ = db.Update(func(tx *Tx) error {
		b, _ := tx.CreateBucketIfNotExists([]byte("b"))
		return b.Put([]byte("k"), []byte("v"))
	})
	dir := db.meta.root
	_ = db.Close()
	if err := disk.FlipBit("/db", int64(dir)*512+20, 0); err != nil {
		t.Fatal(err)
	}
	db, err := Open("/db", Options{FS: disk})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		if b == nil {
			t.Fatal("damaged directory read as a missing bucket")
		}
		if _, err := b.Get([]byte("k")); !errors.Is(err, ErrCorrupt) {
			t.Errorf("get: %v, want ErrCorrupt", err)
		}
		c := b.Cursor()
		if k, _ := c.First(); k != nil || !errors.Is(c.Err(), ErrCorrupt) {
			t.Errorf("cursor: %q, %v", k, c.Err())
		}
		return nil
	})
}

// TestCorruptionKinds: each kind of damage the reader checks for is an
// ErrCorrupt naming what is wrong.
func TestCorruptionKinds(t *testing.T) {
	const ps = 512
	leaf := make([]byte, ps)
	(&node{leaf: true, keys: [][]byte{[]byte("a")}, vals: [][]byte{[]byte("1")}}).encode(leaf, ps)
	branchTo := func(second pgid) []byte {
		b := make([]byte, ps)
		(&node{level: 1, keys: [][]byte{[]byte("a"), []byte("m")}, children: []child{{id: 3}, {id: second}}}).encode(b, ps)
		return b
	}
	flipped := slices.Clone(leaf)
	flipped[40] ^= 1
	tests := []struct {
		name   string
		decode func() error
		want   string
	}{
		{"bad checksum", func() error { _, err := checkPage(flipped, 9, pageLeaf); return err }, "checksum"},
		{"leaf where a freelist is expected", func() error { _, err := checkPage(leaf, 9, pageFreelist); return err }, "leaf page where a freelist page was expected"},
		{"child page id past the end", func() error {
			b := branchTo(500)
			h, err := checkPage(b, 9, pageBranch)
			if err != nil {
				return err
			}
			_, err = decodeNode(b, 9, h, 100)
			return err
		}, "out of range"},
		{"child pointing at a meta page", func() error {
			b := branchTo(1)
			h, _ := checkPage(b, 9, pageBranch)
			_, err := decodeNode(b, 9, h, 100)
			return err
		}, "out of range"},
		{"short page", func() error { _, err := checkPage(leaf[:10], 9, pageLeaf); return err }, "short"},
		{"leaf above level 0", func() error {
			b := make([]byte, ps)
			(&node{leaf: true, level: 1, keys: [][]byte{[]byte("a")}, vals: [][]byte{nil}}).encode(b, ps)
			h, _ := checkPage(b, 9, pageBranch)
			_, err := decodeNode(b, 9, h, 100)
			return err
		}, "leaf page at level 1"},
	}
	for _, tt := range tests {
		err := tt.decode()
		if !errors.Is(err, ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte(tt.want)) {
			t.Errorf("%s: %v, want ErrCorrupt saying %q", tt.name, err, tt.want)
		}
	}
	// A page id outside the file, through the reader.
	db, _ := Open("/db", Options{FS: fsx.NewMem(), PageSize: ps})
	if _, err := db.readNode(1000, db.meta.hwm); !errors.Is(err, ErrCorrupt) {
		t.Errorf("read of page 1000 in a %d-page file: %v", db.meta.hwm, err)
	}
}

// TestCheckFindsLeaksAndSharedPages damages the freelist's bookkeeping
// and expects Check to notice.
func TestCheckFindsLeaksAndSharedPages(t *testing.T) {
	setup := func() *DB {
		db, _ := Open("/db", Options{FS: fsx.NewMem(), PageSize: 512})
		for round := range 3 {
			_ = db.Update(func(tx *Tx) error {
				b, _ := tx.CreateBucketIfNotExists([]byte("b"))
				for i := range 100 {
					_ = b.Put([]byte(fmt.Sprintf("k%03d", i)), []byte(fmt.Sprint(round)))
				}
				return nil
			})
		}
		if err := db.Check(); err != nil {
			t.Fatalf("healthy file: %v", err)
		}
		return db
	}
	// Touch one key so the commit writes the freelist, after tampering.
	commitWith := func(db *DB, tamper func(f *freelist)) {
		tx, _ := db.Begin(true)
		_ = tx.Bucket([]byte("b")).Put([]byte("k000"), []byte("x"))
		tamper(tx.freelist)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	db := setup()
	commitWith(db, func(f *freelist) { f.free = f.free[1:] })
	if err := db.Check(); !errors.Is(err, ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte("leaked")) {
		t.Errorf("page dropped from the freelist: %v", err)
	}
	db = setup()
	root := db.meta.root
	commitWith(db, func(f *freelist) { f.free = append(f.free, root); slices.Sort(f.free) })
	if err := db.Check(); !errors.Is(err, ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte("used by both")) {
		t.Errorf("page in use listed as free: %v", err)
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
		db, err := Open("/db", Options{FS: disk, PageSize: rapid.SampledFrom([]int{512, 1024}).Draw(rt, "pageSize")})
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
		db, err = Open("/db", Options{FS: disk})
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

func TestEmptyCommitWritesNothingAndPanicsReleaseTheWriter(t *testing.T) {
	disk := fsx.NewMem()
	db, _ := Open("/db", Options{FS: disk, PageSize: 512})
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
