package mvcc

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/pagefile"
	"github.com/cairndb/cairn/internal/fsx"
)

// records counts the records in the page file's key bucket.
func records(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	err := s.DB().View(func(tx *pagefile.Tx) error {
		c := tx.Bucket(bucketKey).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
		}
		return c.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// overwrite puts every key of keys rounds times, then deletes the odd
// ones: many superseded revisions and some tombstones.
func overwrite(t *testing.T, s *Store, keys, rounds int) {
	t.Helper()
	idx := s.AppliedIndex()
	for r := range rounds {
		for k := range keys {
			idx++
			if _, err := s.Put(idx, 1, &api.PutRequest{Key: []byte(fmt.Sprintf("k%04d", k)), Value: []byte(fmt.Sprint(r))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for k := 1; k < keys; k += 2 {
		idx++
		if _, err := s.DeleteRange(idx, 1, &api.DeleteRangeRequest{Key: []byte(fmt.Sprintf("k%04d", k))}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestInterruptedCompactionIsFinishedOnOpen crashes a compaction between
// its batches; the reopened store finishes it: the file ends up holding
// exactly what an uninterrupted compaction leaves.
func TestInterruptedCompactionIsFinishedOnOpen(t *testing.T) {
	const keys, rounds = 300, 8 // 2,100 superseded revisions and 150 tombstones
	ref := openMem(t, fsx.NewMem(), 100000)
	overwrite(t, ref, keys, rounds)
	if err := ref.Compact(ref.Rev() - 50); err != nil {
		t.Fatal(err)
	}
	want := records(t, ref)

	disk := fsx.NewMem()
	s := openMem(t, disk, 100000)
	s.compactKeys = 70 // several index steps, each with several batches
	overwrite(t, s, keys, rounds)
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	// Each batch of the compaction is one commit of two syncs: fail the
	// second batch's first sync.
	syncs := 0
	disk.OnSync = func(string) {
		if syncs++; syncs == 3 {
			disk.FailNext("sync", errors.New("power cut"))
		}
	}
	rev := s.Rev() - 50
	if err := s.Compact(rev); err == nil {
		t.Fatal("compaction survived a failed sync")
	}
	if _, err := s.Put(1e6, 1, &api.PutRequest{Key: []byte("x")}); !errors.Is(err, ErrStoreFailed) {
		t.Fatalf("write after a failed commit: %v, want ErrStoreFailed", err)
	}
	disk = disk.Crash(fsx.LoseUnsynced, nil)
	s = openMem(t, disk, 100000)
	if s.CompactRev() != rev {
		t.Fatalf("compacted revision %d after reopen, want %d", s.CompactRev(), rev)
	}
	// The reopened store leaves the records to its commits: a few go with
	// each, and FinishCompaction removes the rest.
	before := records(t, s)
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := records(t, s); got >= before {
		t.Fatalf("%d records after a commit of the reopened store, %d before: the commit removed none", got, before)
	}
	if err := s.FinishCompaction(); err != nil {
		t.Fatal(err)
	}
	if got := records(t, s); got != want {
		t.Fatalf("%d records after the interrupted compaction was finished, %d after an uninterrupted one", got, want)
	}
	for r := rev; r <= ref.Rev(); r++ {
		a, err1 := ref.Range([]byte{0}, []byte{0}, RangeOptions{Rev: r})
		b, err2 := s.Range([]byte{0}, []byte{0}, RangeOptions{Rev: r})
		if err1 != nil || err2 != nil || !reflect.DeepEqual(a.KVs, b.KVs) {
			t.Fatalf("range at %d differs: %v %v", r, err1, err2)
		}
	}
}

// TestFailedCommitStopsWrites: after a page-file commit fails, the store
// refuses writes (its memory holds changes the file may not), and a
// reopen brings back the last durable state with its consistent index.
func TestFailedCommitStopsWrites(t *testing.T) {
	disk := fsx.NewMem()
	s := openMem(t, disk, 1000)
	for i := range 10 {
		_, _ = s.Put(uint64(i+1), 1, &api.PutRequest{Key: []byte(fmt.Sprint(i)), Value: []byte("v")})
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	_, _ = s.Put(11, 1, &api.PutRequest{Key: []byte("lost"), Value: []byte("v")})
	disk.FailNext("write", errors.New("disk full"))
	if err := s.Commit(); err == nil {
		t.Fatal("commit succeeded through a failed write")
	}
	if _, err := s.Put(12, 1, &api.PutRequest{Key: []byte("y")}); !errors.Is(err, ErrStoreFailed) {
		t.Fatalf("put after a failed commit: %v", err)
	}
	if _, err := s.Txn(12, 1, &api.TxnRequest{Success: []api.RequestOp{put("y", "")}}); !errors.Is(err, ErrStoreFailed) {
		t.Fatalf("txn after a failed commit: %v", err)
	}
	if err := s.Compact(2); !errors.Is(err, ErrStoreFailed) {
		t.Fatalf("compact after a failed commit: %v", err)
	}
	_ = s.Close()
	s = openMem(t, disk, 1000)
	if s.ConsistentIndex() != 10 || s.Rev() != 11 {
		t.Fatalf("after reopen: index %d, revision %d; want 10, 11", s.ConsistentIndex(), s.Rev())
	}
	if _, err := s.Put(11, 1, &api.PutRequest{Key: []byte("lost"), Value: []byte("v")}); err != nil {
		t.Fatalf("replayed put: %v", err)
	}
}

// TestReadsDuringWritesSeeWholeRevisions runs readers while a writer
// rewrites every key in one transaction per revision, compacts, commits
// and defragments: every read sees all keys at one revision. Run with
// -race.
func TestReadsDuringWritesSeeWholeRevisions(t *testing.T) {
	s := openMem(t, fsx.NewMem(), 7)
	s.compactKeys, s.compactBatch = 3, 4
	const keys = 20
	writeAll := func(i int) {
		var ops []api.RequestOp
		for k := range keys {
			ops = append(ops, put(fmt.Sprintf("k%02d", k), fmt.Sprint(i)))
		}
		if _, err := s.Txn(uint64(i), 1, &api.TxnRequest{Success: ops}); err != nil {
			t.Error(err)
		}
	}
	writeAll(1)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := s.RangeRequest(&api.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l")}, 0)
				if err != nil {
					errs <- err
					return
				}
				if len(res.Kvs) != keys {
					errs <- fmt.Errorf("read %d keys", len(res.Kvs))
					return
				}
				for _, kv := range res.Kvs {
					if kv.ModRevision != res.Header.Revision || string(kv.Value) != string(res.Kvs[0].Value) {
						errs <- fmt.Errorf("read mixes revisions: %s@%d in a read at %d", kv.Key, kv.ModRevision, res.Header.Revision)
						return
					}
				}
			}
		}()
	}
	// A compactor steps through the keys while writes go on.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if rev := s.Rev() - 5; rev > s.CompactRev() {
				if err := s.Compact(rev); err != nil && !errors.Is(err, ErrCompacted) {
					errs <- err
					return
				}
			}
		}
	}()
	for i := 2; i <= 200; i++ {
		writeAll(i)
		switch i % 50 {
		case 20:
			if err := s.Commit(); err != nil {
				t.Error(err)
			}
		case 30:
			if err := s.Defragment(); err != nil {
				t.Error(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := s.DB().Check(); err != nil {
		t.Fatal(err)
	}
}

func TestDefragmentAfterCompactionShrinksTheFile(t *testing.T) {
	disk := fsx.NewMem()
	s := openMem(t, disk, 1000)
	overwrite(t, s, 200, 10)
	before, _ := s.Range([]byte{0}, []byte{0}, RangeOptions{})
	if err := s.Compact(s.Rev()); err != nil {
		t.Fatal(err)
	}
	size := s.DB().Stats().FileSize
	if err := s.Defragment(); err != nil {
		t.Fatal(err)
	}
	if after := s.DB().Stats().FileSize; after >= size/2 {
		t.Fatalf("file of %d bytes after compaction and defragment, %d before defragment", after, size)
	}
	check := func(s *Store) {
		after, err := s.Range([]byte{0}, []byte{0}, RangeOptions{})
		if err != nil || !reflect.DeepEqual(before.KVs, after.KVs) {
			t.Fatalf("data changed by defragment: %v", err)
		}
	}
	check(s)
	_, _ = s.Put(1e6, 1, &api.PutRequest{Key: []byte("k0001"), Value: []byte("back")})
	_ = s.Close()
	s = openMem(t, disk.Crash(fsx.LoseUnsynced, rand.New(rand.NewPCG(1, 1))), 1000)
	if s.ConsistentIndex() != 1e6 {
		t.Fatalf("consistent index %d after close and crash", s.ConsistentIndex())
	}
}

// TestCompactReportsSteps: OnCompactStep hears of a compaction's start,
// each step, and its end, with the keys done rising to all of them and
// the records removed counted.
func TestCompactReportsSteps(t *testing.T) {
	var steps []CompactStep
	s, err := Open("/db", Options{FS: fsx.NewMem(), PageSize: 1024, StrictPages: true, OnCompactStep: func(st CompactStep) { steps = append(steps, st) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.compactKeys = 3
	const keys, writes = 10, 3
	idx := uint64(0)
	for w := range writes {
		for k := range keys {
			idx++
			if _, err := s.Txn(idx, 1, &api.TxnRequest{Success: []api.RequestOp{put(fmt.Sprintf("k%02d", k), fmt.Sprint(w))}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Compact(s.Rev()); err != nil {
		t.Fatal(err)
	}
	// Start, then ceil(10/3) = 4 steps, the last one Done.
	want := []CompactStep{
		{Revision: s.Rev(), Keys: keys},
		{Revision: s.Rev(), Keys: keys, KeysDone: 3},
		{Revision: s.Rev(), Keys: keys, KeysDone: 6},
		{Revision: s.Rev(), Keys: keys, KeysDone: 9},
		{Revision: s.Rev(), Keys: keys, KeysDone: 10, Done: true},
	}
	if len(steps) != len(want) {
		t.Fatalf("steps %+v; want %d of them", steps, len(want))
	}
	removed := 0
	for i, st := range steps {
		if st.RecordsRemoved < removed {
			t.Fatalf("records removed fell: %+v", steps)
		}
		removed = st.RecordsRemoved
		st.RecordsRemoved = 0
		if st != want[i] {
			t.Fatalf("step %d: %+v; want %+v", i, st, want[i])
		}
	}
	if removed != keys*(writes-1) {
		t.Fatalf("removed %d records; want %d (all but each key's last)", removed, keys*(writes-1))
	}
}
