package logstore

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/raftcore"
	"pgregory.net/rapid"
)

var errPowerCut = errors.New("power cut")

// powerCut wraps the simulated disk and cuts the power at a chosen sync
// (file or directory): that sync and every change after it fail without
// reaching the disk, as if the machine had stopped there.
type powerCut struct {
	*fsx.MemFS
	mu   sync.Mutex
	left int // syncs that still succeed; negative: no cut planned
	cut  bool
}

// arm plans the cut at the (n+1)th sync from now; disarm cancels it.
func (p *powerCut) arm(n int) { p.mu.Lock(); p.left = n; p.mu.Unlock() }
func (p *powerCut) disarm()   { p.mu.Lock(); p.left = -1; p.mu.Unlock() }

func (p *powerCut) isCut() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.cut }

// alive fails once the power is cut.
func (p *powerCut) alive() error {
	if p.isCut() {
		return errPowerCut
	}
	return nil
}

// sync counts a sync, cutting the power when it is the planned one.
func (p *powerCut) sync() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.cut && p.left == 0 {
		p.cut = true
	}
	if p.cut {
		return errPowerCut
	}
	if p.left > 0 {
		p.left--
	}
	return nil
}

func (p *powerCut) OpenFile(name string, flag int, perm fs.FileMode) (fsx.File, error) {
	if err := p.alive(); err != nil {
		return nil, err
	}
	f, err := p.MemFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &powerCutFile{File: f, p: p}, nil
}

func (p *powerCut) Remove(name string) error {
	if err := p.alive(); err != nil {
		return err
	}
	return p.MemFS.Remove(name)
}

func (p *powerCut) Rename(oldName, newName string) error {
	if err := p.alive(); err != nil {
		return err
	}
	return p.MemFS.Rename(oldName, newName)
}

func (p *powerCut) SyncDir(dir string) error {
	if err := p.sync(); err != nil {
		return err
	}
	return p.MemFS.SyncDir(dir)
}

type powerCutFile struct {
	fsx.File
	p *powerCut
}

func (f *powerCutFile) Write(b []byte) (int, error) {
	if err := f.p.alive(); err != nil {
		return 0, err
	}
	return f.File.Write(b)
}

func (f *powerCutFile) WriteAt(b []byte, off int64) (int, error) {
	if err := f.p.alive(); err != nil {
		return 0, err
	}
	return f.File.WriteAt(b, off)
}

func (f *powerCutFile) Truncate(size int64) error {
	if err := f.p.alive(); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f *powerCutFile) Sync() error {
	if err := f.p.sync(); err != nil {
		return err
	}
	return f.File.Sync()
}

// durable is what a restart keeps of a log's view: the hard state, the
// newest snapshot and the entries after it (the catch-up entries kept
// below the snapshot until Compact are not part of it).
func durable(v storageView) storageView {
	out := storageView{HS: v.HS, Snap: v.Snap, SnapData: v.SnapData, First: v.Snap.Index + 1, Last: v.Last}
	for _, e := range v.Ents {
		if e.Index > v.Snap.Index {
			out.Ents = append(out.Ents, e)
		}
	}
	if len(out.Snap.ConfState.Voters) == 0 {
		out.Snap.ConfState.Voters = nil
	}
	if len(out.Snap.ConfState.Learners) == 0 {
		out.Snap.ConfState.Learners = nil
	}
	return out
}

// TestCrashKeepsAcknowledgedWrites runs random saves (with overwrites of
// uncommitted suffixes), local snapshots with compaction and snapshots
// from a leader on the simulated disk, and cuts the power at a random
// sync inside an operation, or between operations; writes not yet synced
// are lost or torn. After recovery the log must hold everything whose
// operation returned, and an interrupted operation either wholly or not
// at all — except that a Save may keep its entries and lose its hard
// state (two records; raft re-sends either), and that a commit index
// recorded by SaveCommit since the last sync may be lost (the log may come
// back with any commit index from the last synced one on).
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		mem := fsx.NewMem()
		disk := &powerCut{MemFS: mem, left: -1}
		opts := Options{FS: disk, Dir: "/data", Create: true, KeepSnapshots: 2,
			SegmentSize: int64(rapid.SampledFrom([]int{300, 2048, 1 << 16}).Draw(rt, "segSize"))}
		l, err := Open(opts)
		if err != nil {
			rt.Fatal(err)
		}
		model := raftcore.NewMemoryStorage()
		term, commit := uint64(1), uint64(0)
		synced := commit // the commit index the last sync covered
		cs := raftcore.ConfState{Voters: []uint64{1}}
		for range rapid.IntRange(1, 30).Draw(rt, "ops") {
			first, _ := model.FirstIndex()
			last, _ := model.LastIndex()
			before := durable(view(t, model))
			var middle *storageView
			if rapid.IntRange(0, 2).Draw(rt, "arm") == 0 {
				disk.arm(rapid.IntRange(0, 4).Draw(rt, "cutAtSync"))
			}
			var opErr error
			syncs := true // whether the operation ends with an fsync
			switch op := rapid.IntRange(0, 6).Draw(rt, "op"); {
			case op <= 2: // save, maybe overwriting an uncommitted suffix
				from := uint64(rapid.IntRange(int(max(first, commit+1)), int(last+1)).Draw(rt, "from"))
				if rapid.Bool().Draw(rt, "newTerm") {
					term++
				}
				es := ents(from, uint64(rapid.IntRange(1, 4).Draw(rt, "n")), term, rapid.IntRange(0, 200).Draw(rt, "size"))
				commit = uint64(rapid.IntRange(int(commit), int(es[len(es)-1].Index)).Draw(rt, "commit"))
				hs := raftcore.HardState{Term: term, Vote: 1, Commit: commit}
				opErr = l.Save(hs, es)
				_ = model.Append(es)
				m := durable(view(t, model))
				middle = &m
				model.SetHardState(hs)
			case op == 3 || op == 4: // local snapshot of committed entries, compaction
				syncs = false // a snapshot file, not the WAL
				snap, _ := model.Snapshot()
				lo := max(first, snap.Metadata.Index+1)
				if commit < lo {
					break
				}
				idx := uint64(rapid.IntRange(int(lo), int(commit)).Draw(rt, "snapAt"))
				if _, opErr = l.CreateSnapshot(idx, cs, []byte{byte(idx)}); opErr == nil {
					opErr = l.Compact(idx)
				}
				_, _ = model.CreateSnapshot(idx, cs, []byte{byte(idx)})
				_ = model.Compact(idx)
			case op == 6: // a commit index alone: no fsync (unless the term or vote moved)
				commit = uint64(rapid.IntRange(int(commit), int(last)).Draw(rt, "commitOnly"))
				hs := raftcore.HardState{Term: term, Vote: 1, Commit: commit}
				prev := model.HardState()
				syncs = hs.Term != prev.Term || hs.Vote != prev.Vote
				opErr = l.SaveCommit(hs)
				model.SetHardState(hs)
			default: // snapshot from a leader
				idx := last + uint64(rapid.IntRange(1, 5).Draw(rt, "ahead"))
				term++
				commit = idx
				snap := raftcore.Snapshot{Metadata: raftcore.SnapshotMetadata{Index: idx, Term: term, ConfState: cs}, Data: []byte("leader")}
				opErr = l.ApplySnapshot(snap)
				_ = model.ApplySnapshot(snap)
				model.SetHardState(raiseToSnapshot(model.HardState(), snap.Metadata))
			}
			disk.disarm()
			after := durable(view(t, model))
			cut := disk.isCut()
			if syncs && opErr == nil {
				synced = commit
			}
			if opErr != nil && !cut {
				rt.Fatalf("unexpected error: %v", opErr)
			}
			if !cut && !rapid.Bool().Draw(rt, "crashAnyway") {
				continue
			}
			// Power off: recover from what the disk kept.
			mem = mem.Crash(fsx.TearUnsynced, rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "tear"), 0)))
			disk = &powerCut{MemFS: mem, left: -1}
			opts.FS = disk
			if l, err = Open(opts); err != nil {
				rt.Fatalf("recover: %v", err)
			}
			got := durable(view(t, l))
			// A commit index the crash took back is no loss, if it is at
			// least the last one synced.
			same := func(want storageView) bool {
				g := got
				if g.HS.Term == want.HS.Term && g.HS.Vote == want.HS.Vote &&
					g.HS.Commit >= min(synced, want.HS.Commit) && g.HS.Commit <= want.HS.Commit {
					g.HS.Commit = want.HS.Commit
				}
				return reflect.DeepEqual(g, want)
			}
			switch {
			case same(after):
			case opErr != nil && same(before):
			case opErr != nil && middle != nil && same(*middle):
			default:
				rt.Fatalf("recovered log (operation error: %v)\n got %+v\nwant %+v\n  or %+v", opErr, got, after, before)
			}
			// Continue from what was recovered.
			model = raftcore.NewMemoryStorage()
			if got.Snap.Index > 0 {
				_ = model.ApplySnapshot(raftcore.Snapshot{Metadata: got.Snap, Data: got.SnapData})
			}
			_ = model.Append(got.Ents)
			model.SetHardState(got.HS)
			commit = got.HS.Commit
			synced = commit
			term = max(term, got.HS.Term)
		}
		_ = l.Close()
	})
}
