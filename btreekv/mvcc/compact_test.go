package mvcc

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/fsx"
)

// TestStartCompactLeavesRecordsToCommits: StartCompact compacts the index
// at once and leaves the records to the following Commits, a batch each,
// while writes go on. Throughout, the store answers every read at or
// above the compacted revision and hashes as a store compacted with
// Compact does; once enough Commits ran, its file holds the same records;
// a restart in between leaves the rest to the reopened store's Commits.
func TestStartCompactLeavesRecordsToCommits(t *testing.T) {
	const keys, rounds = 40, 6
	ref := openMem(t, fsx.NewMem(), 100000)
	disk := fsx.NewMem()
	s := openMem(t, disk, 100000)
	s.compactBatch = 50 // several commits' worth of records
	idx := uint64(0)
	putBoth := func(k, r int) {
		t.Helper()
		idx++
		for _, st := range []*Store{ref, s} {
			if _, err := st.Put(idx, 1, &api.PutRequest{Key: fmt.Appendf(nil, "k%03d", k), Value: fmt.Appendf(nil, "v%d", r)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for r := range rounds {
		for k := range keys {
			putBoth(k, r)
		}
	}
	for _, st := range []*Store{ref, s} {
		if err := st.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	rev := s.Rev() - 10
	if err := ref.Compact(rev); err != nil {
		t.Fatal(err)
	}
	if err := s.StartCompact(rev); err != nil {
		t.Fatal(err)
	}
	if err := s.StartCompact(rev); err == nil {
		t.Fatal("a second compaction at the same revision was accepted")
	}
	dropped := records(t, s) - records(t, ref)
	if dropped != keys*(rounds-1)-10 {
		t.Fatalf("%d records left after StartCompact, want %d", dropped, keys*(rounds-1)-10)
	}
	same := func(when string) {
		t.Helper()
		for r := rev; r <= ref.Rev(); r++ {
			a, err1 := ref.Range([]byte{0}, []byte{0}, RangeOptions{Rev: r})
			b, err2 := s.Range([]byte{0}, []byte{0}, RangeOptions{Rev: r})
			if err1 != nil || err2 != nil || !reflect.DeepEqual(a.KVs, b.KVs) {
				t.Fatalf("%s: range at %d differs: %v %v", when, r, err1, err2)
			}
		}
		if _, err := s.Range([]byte{0}, []byte{0}, RangeOptions{Rev: rev - 1}); err == nil {
			t.Fatalf("%s: a read below the compacted revision passed", when)
		}
		h1, c1, err1 := ref.Hash(0)
		h2, c2, err2 := s.Hash(0)
		if err1 != nil || err2 != nil || h1 != h2 || c1 != c2 {
			t.Fatalf("%s: hash %08x at %d (%v), want %08x at %d (%v)", when, h2, c2, err2, h1, c1, err1)
		}
	}
	same("after StartCompact")
	// Each commit removes a batch, and writes go on in between.
	for i := 0; ; i++ {
		before := records(t, s) - records(t, ref)
		if before == 0 {
			break
		}
		putBoth(i%keys, rounds+i)
		for _, st := range []*Store{ref, s} {
			if err := st.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		left := records(t, s) - records(t, ref)
		if want := max(before-s.compactBatch, 0); left != want {
			t.Fatalf("commit %d: %d records left, want %d", i, left, want)
		}
		same(fmt.Sprintf("after commit %d", i))
		if i == 1 {
			// Restart halfway: the reopened store finds the rest.
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openMem(t, disk, 100000)
			s.compactBatch = 50
			if got := records(t, s) - records(t, ref); got != left {
				t.Fatalf("%d records left after reopen, %d before", got, left)
			}
			same("after reopen")
		}
	}
}

// TestDefragmentFinishesCompaction: a defragmentation after StartCompact
// removes the records first, so the file it writes holds what a
// compaction done in full leaves.
func TestDefragmentFinishesCompaction(t *testing.T) {
	ref := openMem(t, fsx.NewMem(), 100000)
	s := openMem(t, fsx.NewMem(), 100000)
	for _, st := range []*Store{ref, s} {
		overwrite(t, st, 50, 4)
		if err := st.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	rev := s.Rev()
	if err := ref.Compact(rev); err != nil {
		t.Fatal(err)
	}
	if err := s.StartCompact(rev); err != nil {
		t.Fatal(err)
	}
	if err := s.Defragment(); err != nil {
		t.Fatal(err)
	}
	if got, want := records(t, s), records(t, ref); got != want {
		t.Fatalf("%d records after the defragmentation, %d after a compaction in full", got, want)
	}
}

// TestCompactionWorkWhileWriting: the commits of another goroutine do
// the work of several compactions while puts and more compactions go on
// (run with -race), and the store ends up answering reads and holding
// records as one compacted in full at the same revisions.
func TestCompactionWorkWhileWriting(t *testing.T) {
	ref := openMem(t, fsx.NewMem(), 100000)
	s := openMem(t, fsx.NewMem(), 100000)
	s.compactKeys, s.compactBatch = 7, 20
	stop := make(chan struct{})
	done := make(chan error)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if err := s.Commit(); err != nil {
				done <- err
				return
			}
		}
	}()
	idx := uint64(0)
	for round := range 12 {
		for k := range 30 {
			idx++
			for _, st := range []*Store{ref, s} {
				if _, err := st.Put(idx, 1, &api.PutRequest{Key: fmt.Appendf(nil, "k%02d", k), Value: fmt.Appendf(nil, "%d", round)}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if round%3 == 2 {
			rev := s.Rev() - 5
			if err := ref.Compact(rev); err != nil {
				t.Fatal(err)
			}
			if err := s.StartCompact(rev); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.FinishCompaction(); err != nil {
		t.Fatal(err)
	}
	if err := ref.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, want := records(t, s), records(t, ref); got != want {
		t.Fatalf("%d records, %d in the store compacted in full", got, want)
	}
	for r := ref.CompactRev(); r <= ref.Rev(); r++ {
		a, err1 := ref.Range([]byte{0}, []byte{0}, RangeOptions{Rev: r})
		b, err2 := s.Range([]byte{0}, []byte{0}, RangeOptions{Rev: r})
		if err1 != nil || err2 != nil || !reflect.DeepEqual(a.KVs, b.KVs) {
			t.Fatalf("range at %d differs: %v %v", r, err1, err2)
		}
	}
}
