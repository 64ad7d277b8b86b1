package logstore

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/raftcore"
	"pgregory.net/rapid"
)

var errPowerCut = errors.New("power cut")

// TestCrashKeepsAcknowledgedWrites runs random saves and snapshots on the
// simulated disk, cutting the power at a random fsync (writes not yet
// synced are lost or torn). After recovery the log must hold every save
// that returned, and the interrupted save either wholly or not at all.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		disk := fsx.NewMem()
		opts := Options{FS: disk, Dir: "/data", Create: true, SegmentSize: int64(rapid.SampledFrom([]int{300, 2048, 1 << 16}).Draw(rt, "segSize"))}
		l, err := Open(opts)
		if err != nil {
			rt.Fatal(err)
		}
		model := raftcore.NewMemoryStorage()
		term := uint64(1)
		for range rapid.IntRange(1, 30).Draw(rt, "ops") {
			first, _ := model.FirstIndex()
			last, _ := model.LastIndex()
			before := view(t, model)
			// A save writes its entries record, then its hard state
			// record: an interrupted one may leave the first alone.
			var middle *storageView
			crash := rapid.IntRange(0, 5).Draw(rt, "crash") == 0
			if crash {
				disk.FailNext("sync", errPowerCut)
			}
			var opErr error
			switch rapid.IntRange(0, 3).Draw(rt, "op") {
			case 0, 1, 2:
				// Raft never replaces entries a snapshot covers.
				snap, _ := model.Snapshot()
				lo := max(first, last/2+1, snap.Metadata.Index+1)
				from := uint64(rapid.IntRange(int(lo), int(last+1)).Draw(rt, "from"))
				if rapid.Bool().Draw(rt, "newTerm") {
					term++
				}
				es := ents(from, uint64(rapid.IntRange(1, 4).Draw(rt, "n")), term, rapid.IntRange(0, 200).Draw(rt, "size"))
				hs := raftcore.HardState{Term: term, Vote: 1, Commit: min(first, from-1)}
				if opErr = l.Save(hs, es); opErr == nil || errors.Is(opErr, errPowerCut) {
					_ = model.Append(es)
					v := view(t, model)
					middle = &v
					model.SetHardState(hs)
				}
			case 3:
				snap, _ := model.Snapshot()
				lo := max(first, snap.Metadata.Index+1)
				if last < lo {
					break
				}
				idx := uint64(rapid.IntRange(int(lo), int(last)).Draw(rt, "snapAt"))
				cs := raftcore.ConfState{Voters: []uint64{1}}
				if _, opErr = l.CreateSnapshot(idx, cs, []byte("s")); opErr == nil || errors.Is(opErr, errPowerCut) {
					_, _ = model.CreateSnapshot(idx, cs, []byte("s"))
				}
			}
			disk.FailNext("sync", nil) // the op may not have synced at all
			if opErr != nil && !errors.Is(opErr, errPowerCut) {
				rt.Fatalf("unexpected error: %v", opErr)
			}
			if crash && opErr == nil {
				// Nothing was interrupted: the op completed.
				before = view(t, model)
			}
			if !crash && !rapid.Bool().Draw(rt, "crashAnyway") {
				continue
			}
			// Power cut: recover from what the disk kept.
			disk = disk.Crash(fsx.TearUnsynced, rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "tear"), 0)))
			opts.FS = disk
			l, err = Open(opts)
			if err != nil {
				rt.Fatalf("recover: %v", err)
			}
			after := view(t, model)
			got := view(t, l)
			// Snapshots and restarts: compare what raft can read, with the
			// model compacted to the recovered snapshot.
			if !sameLog(got, after) && !(crash && (sameLog(got, before) || middle != nil && sameLog(got, *middle))) {
				rt.Fatalf("recovered log\n got %+v\nwant %+v\n(or %+v)", got, after, before)
			}
			// Continue from what was recovered.
			model = raftcore.NewMemoryStorage()
			if got.Snap.Index > 0 {
				_ = model.ApplySnapshot(raftcore.Snapshot{Metadata: got.Snap, Data: got.SnapData})
			}
			_ = model.Append(got.Ents)
			model.SetHardState(got.HS)
		}
	})
}

// sameLog compares two views, ignoring entries one side still keeps below
// the other's snapshot (restart drops the catch-up entries).
func sameLog(a, b storageView) bool {
	if a.HS != b.HS || a.Last != b.Last {
		return false
	}
	from := max(a.First, b.First, a.Snap.Index+1, b.Snap.Index+1)
	pick := func(v storageView) []raftcore.Entry {
		if from > v.Last {
			return nil
		}
		return v.Ents[from-v.First:]
	}
	return reflect.DeepEqual(pick(a), pick(b))
}
