package logstore

import (
	"bytes"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/raftcore"
)

// tailFixture writes records 1..5 (one per Save) and returns the log's
// view, the last segment's bytes and the offset of each record.
func tailFixture(t *testing.T, dir string, size int) (storageView, string, []byte, []int64) {
	t.Helper()
	l := openTest(t, dir, 1<<16)
	var offsets []int64
	for i := uint64(1); i <= 5; i++ {
		offsets = append(offsets, l.seg.tail)
		if err := l.Save(raftcore.HardState{}, ents(i, 1, 1, size)); err != nil {
			t.Fatal(err)
		}
	}
	v := view(t, l)
	_ = l.Close()
	seg := lastSegment(t, dir)
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	return v, seg, b, offsets
}

// TestOutOfOrderTornTail: the disk may persist the pages of unsynced
// writes in any order, so a crash can leave a later record whole and an
// earlier one unwritten. Such a tail was never acknowledged (the fsync
// that would have covered the later record covers the earlier one too):
// recovery cuts it off at the damaged record, with a warning.
func TestOutOfOrderTornTail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(b []byte, rec, next int64)
	}{
		{"header never written", func(b []byte, rec, _ int64) { clear(b[rec : rec+recordHeaderSize]) }},
		{"sector never written", func(b []byte, rec, next int64) {
			s := (rec + 511) / 512 * 512
			clear(b[s : s+512])
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			all, seg, b, offsets := tailFixture(t, dir, 1500) // records span whole sectors
			tc.damage(b, offsets[3], offsets[4])
			if err := os.WriteFile(seg, b, 0o644); err != nil {
				t.Fatal(err)
			}
			var logged strings.Builder
			l, err := Open(Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer l.Close()
			got := view(t, l)
			if got.Last != 3 || !reflect.DeepEqual(got.Ents, all.Ents[:3]) {
				t.Fatalf("recovered entries up to %d, want the 3 before the damaged record", got.Last)
			}
			if !strings.Contains(logged.String(), "torn") || !strings.Contains(logged.String(), "unacknowledged_records_after=true") {
				t.Fatalf("cut not logged: %s", logged.String())
			}
			// The cut bytes are gone for good: appending and reopening
			// shows the new entry, not the old record 5.
			if err := l.Save(raftcore.HardState{}, ents(4, 1, 2, 10)); err != nil {
				t.Fatal(err)
			}
			_ = l.Close()
			l2 := openTest(t, dir, 1<<16)
			defer l2.Close()
			if v := view(t, l2); v.Last != 4 || v.Ents[3].Term != 2 {
				t.Fatalf("after append and reopen: last %d", v.Last)
			}
		})
	}
}

// TestDamageInOlderSegmentIsCorruption: a segment that newer segments
// follow was fsynced complete before they were created, so zeros or a
// bad record in it are corruption even where the last segment would
// have a torn tail.
func TestDamageInOlderSegmentIsCorruption(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(b []byte, at int)
	}{
		{"zeroed record", func(b []byte, at int) { clear(b[at : at+recordHeaderSize]) }},
		{"cut to zeros", func(b []byte, at int) { clear(b[at:]); b[len(b)-1] = 1 }},
		{"flipped bit", func(b []byte, at int) { b[at+recordHeaderSize+2] ^= 4 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openTest(t, dir, 1024)
			for i := uint64(1); i <= 40; i++ {
				if err := l.Save(raftcore.HardState{Term: 1, Commit: i - 1}, ents(i, 1, 1, 100)); err != nil {
					t.Fatal(err)
				}
			}
			_ = l.Close()
			names, _ := os.ReadDir(filepath.Join(dir, "wal"))
			if len(names) < 3 {
				t.Fatalf("%d segments, want several", len(names))
			}
			first := filepath.Join(dir, "wal", names[0].Name())
			b, _ := os.ReadFile(first)
			// The third record of the first segment (after the prologue).
			at := segmentHeaderSize
			for range 3 {
				_, _, n, err := readRecord(b[at:])
				if err != nil {
					t.Fatal(err)
				}
				at += n
			}
			tc.damage(b, at)
			_ = os.WriteFile(first, b, 0o644)
			_, err := Open(Options{Dir: dir})
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), names[0].Name()) {
				t.Fatalf("err = %v, want ErrCorrupt naming %s", err, names[0].Name())
			}
		})
	}
}

// TestInterruptedInstallIsFinished cuts the power inside ApplySnapshot at
// each of its syncs: before the WAL marker is durable the old log must
// come back; after it the snapshot must be installed, even if its file
// was not yet renamed into place.
func TestInterruptedInstallIsFinished(t *testing.T) {
	snap := raftcore.Snapshot{Metadata: raftcore.SnapshotMetadata{Index: 20, Term: 3, ConfState: raftcore.ConfState{Voters: []uint64{1}}}, Data: []byte("leader state")}
	installed := false
	for cutAt := 0; !installed || cutAt < 8; cutAt++ {
		mem := fsx.NewMem()
		disk := &powerCut{MemFS: mem, left: -1}
		opts := Options{FS: disk, Dir: "/d", Create: true, SegmentSize: 4096}
		l, err := Open(opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Save(raftcore.HardState{Term: 1, Vote: 1, Commit: 2}, ents(1, 5, 1, 10)); err != nil {
			t.Fatal(err)
		}
		old := durable(view(t, l))
		disk.arm(cutAt)
		err = l.ApplySnapshot(snap)
		if err == nil {
			if !installed {
				t.Fatal("ApplySnapshot succeeded but no cut point installed it")
			}
			break
		}
		var logged strings.Builder
		opts.FS = mem.Crash(fsx.LoseUnsynced, rand.New(rand.NewPCG(1, 2)))
		opts.Logger = slog.New(slog.NewTextHandler(&logged, nil))
		l2, err := Open(opts)
		if err != nil {
			t.Fatalf("cut at sync %d: recover: %v", cutAt, err)
		}
		got := durable(view(t, l2))
		switch {
		case reflect.DeepEqual(got, old):
			if installed {
				t.Fatalf("cut at sync %d: install undone after an earlier cut point kept it", cutAt)
			}
		case got.Snap.Index == 20 && got.Last == 20 && got.HS == (raftcore.HardState{Term: 3, Commit: 20}) && string(got.SnapData) == "leader state":
			installed = true
			if strings.Contains(logged.String(), "finished installing") {
				// The file is in place now: a second recovery finds it.
				_ = l2.Close()
				l3, err := Open(opts)
				if err != nil || view(t, l3).Snap.Index != 20 {
					t.Fatalf("second recovery after finishing the install: %v", err)
				}
			}
		default:
			t.Fatalf("cut at sync %d: recovered %+v", cutAt, got)
		}
	}
	if !installed {
		t.Fatal("no cut point left the snapshot installed")
	}
}

func TestSaveRefusesBadBatchesAndStaysUsable(t *testing.T) {
	l := openTest(t, t.TempDir(), 4096)
	defer l.Close()
	if err := l.Save(raftcore.HardState{Term: 1}, ents(1, 3, 1, 10)); err != nil {
		t.Fatal(err)
	}
	if err := l.Save(raftcore.HardState{}, ents(5, 1, 1, 10)); err == nil || !strings.Contains(err.Error(), "gap") {
		t.Fatalf("gap: err = %v", err)
	}
	bad := append(ents(4, 1, 1, 10), ents(6, 1, 1, 10)...)
	if err := l.Save(raftcore.HardState{}, bad); err == nil || !strings.Contains(err.Error(), "indexes contiguous") {
		t.Fatalf("non-consecutive: err = %v", err)
	}
	if err := l.Save(raftcore.HardState{}, ents(4, 1, 1, 10)); err != nil {
		t.Fatalf("log not usable after refused batches: %v", err)
	}
	if last, _ := l.LastIndex(); last != 4 {
		t.Fatalf("last index %d, want 4", last)
	}
}

// TestConcurrentSavesAcrossRollovers: one goroutine appends entries while
// others save hard states, with segments small enough that the log rolls
// over every few writes while fsyncs run. Run it with -race.
func TestConcurrentSavesAcrossRollovers(t *testing.T) {
	dir := t.TempDir()
	// Slow fsyncs hold the window open in which a rollover could close
	// the file a syncer is still fsyncing.
	var syncs atomic.Int64
	l, err := Open(Options{FS: slowFS{syncs: &syncs}, Dir: dir, Create: true, SegmentSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	rounds := 200
	if os.Getenv("CAIRN_SHORT") != "" {
		rounds = 60
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i <= rounds; i++ {
			if err := l.Save(raftcore.HardState{}, ents(uint64(i), 1, 1, 40)); err != nil {
				errs <- err
				return
			}
		}
	}()
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				if err := l.Save(raftcore.HardState{Term: 1, Vote: uint64(w + 1), Commit: uint64(i)}, nil); err != nil {
					errs <- err
					return
				}
				if _, err := l.Entries(1, 2, 0); err != nil && i > 0 && !errors.Is(err, raftcore.ErrUnavailable) {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := l.SegmentCount(); n < 5 {
		t.Fatalf("only %d segments: the test did not exercise rollover", n)
	}
	want := view(t, l)
	_ = l.Close()
	l2 := openTest(t, dir, 512)
	defer l2.Close()
	if got := view(t, l2); !reflect.DeepEqual(got, want) || got.Last != uint64(rounds) {
		t.Fatalf("after reopen: last %d hs %+v, want last %d hs %+v", got.Last, got.HS, rounds, want.HS)
	}
	if !bytes.Equal(want.Ents[rounds-1].Data, ents(uint64(rounds), 1, 1, 40)[0].Data) {
		t.Fatal("last entry's data differs")
	}
}
