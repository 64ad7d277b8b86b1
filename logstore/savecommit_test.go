package logstore

import (
	"math/rand/v2"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/raftcore"
)

// SaveCommit records a commit index without an fsync; the next Save's
// fsync makes it durable. A term or vote change through it is synced.
func TestSaveCommitWaitsForNoFsync(t *testing.T) {
	for _, thenSave := range []bool{false, true} {
		mem := fsx.NewMem()
		l, err := Open(Options{FS: mem, Dir: "/data", Create: true, SegmentSize: 1 << 16})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Save(raftcore.HardState{Term: 1, Vote: 1, Commit: 0}, ents(1, 3, 1, 10)); err != nil {
			t.Fatal(err)
		}
		files, _ := mem.Syncs()
		hs := raftcore.HardState{Term: 1, Vote: 1, Commit: 2}
		if err := l.SaveCommit(hs); err != nil {
			t.Fatal(err)
		}
		if got, _ := mem.Syncs(); got != files {
			t.Fatalf("SaveCommit made %d fsyncs, want none", got-files)
		}
		if got := hardState(l); got != hs {
			t.Fatalf("hard state after SaveCommit = %+v, want %+v", got, hs)
		}
		want := raftcore.HardState{Term: 1, Vote: 1, Commit: 0} // a crash may lose it ...
		if thenSave {
			// ... unless the next Save's fsync covers it.
			if err := l.Save(raftcore.HardState{}, ents(4, 1, 1, 10)); err != nil {
				t.Fatal(err)
			}
			want = hs
		}
		crashed := mem.Crash(fsx.LoseUnsynced, rand.New(rand.NewPCG(1, 1)))
		l2, err := Open(Options{FS: crashed, Dir: "/data", SegmentSize: 1 << 16})
		if err != nil {
			t.Fatal(err)
		}
		if got := hardState(l2); got != want {
			t.Fatalf("Save after SaveCommit: %v; after a crash: hard state %+v, want %+v", thenSave, got, want)
		}
		_ = l2.Close()
	}
}

func TestSaveCommitSyncsATermOrVote(t *testing.T) {
	for _, hs := range []raftcore.HardState{
		{Term: 2, Vote: 1, Commit: 1}, // new term
		{Term: 1, Vote: 2, Commit: 1}, // new vote
	} {
		mem := fsx.NewMem()
		l, err := Open(Options{FS: mem, Dir: "/data", Create: true, SegmentSize: 1 << 16})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Save(raftcore.HardState{Term: 1, Vote: 1}, ents(1, 1, 1, 10)); err != nil {
			t.Fatal(err)
		}
		if err := l.SaveCommit(hs); err != nil {
			t.Fatal(err)
		}
		crashed := mem.Crash(fsx.LoseUnsynced, rand.New(rand.NewPCG(2, 1)))
		l2, err := Open(Options{FS: crashed, Dir: "/data", SegmentSize: 1 << 16})
		if err != nil {
			t.Fatal(err)
		}
		if got := hardState(l2); got != hs {
			t.Fatalf("SaveCommit(%+v) then a crash: hard state %+v", hs, got)
		}
		_ = l2.Close()
	}
}

// A crash after a rollover keeps the new, empty segment but loses the
// batch that started it (an overwrite from index 8 of entries 8 and 9).
// The old entries 8 and 9 stay live in the previous segment; when the log
// goes on appending from 10 into the new segment and snapshots later
// purge, the previous segment must not be taken for one holding only
// entries before 8, or entry 9 is lost and the log cannot be opened.
func TestEmptySegmentAfterCrashIsRenamed(t *testing.T) {
	mem := fsx.NewMem()
	disk := &powerCut{MemFS: mem, left: -1}
	opts := Options{FS: disk, Dir: "/data", Create: true, KeepSnapshots: 2, SegmentSize: 300}
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := raftcore.HardState{Term: 1, Vote: 1, Commit: 7}
	for i := uint64(1); i <= 9; i++ {
		if err := l.Save(hs, ents(i, 1, 1, 0)); err != nil {
			t.Fatal(err)
		}
	}
	segs := l.SegmentCount()
	// Overwrite from 8 with a batch that does not fit: a rollover (old
	// segment synced, new one written and synced, directory synced, old
	// one sealed and synced), then the power fails at the batch's own
	// fsync.
	disk.arm(4)
	if err := l.Save(hs, ents(8, 3, 1, 200)); err == nil {
		t.Fatal("the save survived the power cut")
	}
	if l.SegmentCount() != segs+1 {
		t.Fatalf("no rollover: %d segments, had %d", l.SegmentCount(), segs)
	}
	mem = mem.Crash(fsx.LoseUnsynced, rand.New(rand.NewPCG(3, 1)))
	opts.FS = mem
	if l, err = Open(opts); err != nil {
		t.Fatal(err)
	}
	if got := view(t, l).Last; got != 9 {
		t.Fatalf("recovered log ends at %d, want 9", got)
	}
	if err := l.Save(raftcore.HardState{Term: 1, Vote: 1, Commit: 8}, ents(10, 1, 1, 0)); err != nil {
		t.Fatal(err)
	}
	for _, at := range []uint64{7, 8} {
		if _, err := l.CreateSnapshot(at, raftcore.ConfState{Voters: []uint64{1}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	want := durable(view(t, l))
	_ = l.Close()
	l, err = Open(opts)
	if err != nil {
		t.Fatalf("reopen after the snapshots purged: %v", err)
	}
	defer l.Close()
	if got := durable(view(t, l)); got.Last != want.Last || len(got.Ents) != len(want.Ents) {
		t.Fatalf("reopened log holds %+v\nwant %+v", got, want)
	}
}

func hardState(l *Log) raftcore.HardState {
	hs, _, _ := l.InitialState()
	return hs
}
