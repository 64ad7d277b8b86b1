package sim

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"slices"

	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/logstore"
)

// Disks that lose data a member acknowledged — what a crash never does,
// and what Raft's safety argument does not allow. The member must notice
// at its restart (logstore.Damage, or a store ahead of its log) and repair
// itself from the quorum (node/repair.go) without breaking a check; the
// NoRepair mutation, which starts it as if it had lost nothing, must be
// caught. Only a minority of the voters may have lost state at a time:
// beyond that, what they promised is gone for good.
//
// The faults draw from a random source of their own, so that seeds whose
// runs were checked before these faults existed replay those runs up to
// the first loss.

// lossFault is one way a disk loses acknowledged data.
type lossFault uint8

const (
	lossTail    lossFault = iota // the newest WAL segment loses its tail
	lossSegment                  // a WAL segment disappears
	lossVote                     // the record of the member's current term and vote is lost
	numLossFaults
)

var lossNames = [numLossFaults]string{"lose-log-tail", "lose-segment", "lose-vote"}

// losses is the seed's choice of loss faults.
type losses struct {
	rng     *rand.Rand
	enabled []lossFault
}

func (l *losses) init(w *World) {
	l.rng = rand.New(rand.NewPCG(w.cfg.Seed, 0x1055))
	for f := range numLossFaults {
		if l.rng.IntN(3) == 0 {
			l.enabled = append(l.enabled, f)
		}
	}
	if len(l.enabled) > 0 {
		w.schedule(1000+l.rng.Int64N(3000), event{kind: evLoss})
	}
}

func (l *losses) describe() []string {
	var names []string
	for _, f := range l.enabled {
		names = append(names, lossNames[f])
	}
	return names
}

// act injects one loss, if a member may lose state now.
func (l *losses) act(w *World) {
	w.schedule(1000+l.rng.Int64N(4000), event{kind: evLoss})
	var candidates []*member
	for _, m := range w.members {
		if m.state == stateUp && w.canLoseState(m) && w.canLose(m) {
			candidates = append(candidates, m)
		}
	}
	if len(candidates) == 0 {
		return
	}
	m := candidates[l.rng.IntN(len(candidates))]
	f := l.enabled[l.rng.IntN(len(l.enabled))]
	defer w.countFault(lossNames[f], len(w.faultLog))
	segs := walSegments(m.disk)
	if len(segs) == 0 {
		return
	}
	newest := segs[len(segs)-1]
	var what string
	var damage func(disk *fsx.MemFS) error
	switch f {
	case lossTail:
		b, err := m.disk.ReadFile(newest)
		if err != nil {
			return
		}
		recs, _ := logstore.SegmentRecords(b)
		if len(recs) < 2 {
			return
		}
		// Anywhere from its second record (its hard state) on.
		end := int64(len(b))
		for end > 0 && b[end-1] == 0 {
			end--
		}
		at := recs[1].Offset + l.rng.Int64N(max(1, end-recs[1].Offset))
		what = fmt.Sprintf("%s loses its tail from byte %d (of %d written)", newest, at, end)
		damage = func(disk *fsx.MemFS) error { return truncate(disk, newest, at) }
	case lossSegment:
		// Any segment but the oldest, which a snapshot may cover whole
		// (it goes when the log purges it): the newest, or one in the
		// middle.
		if len(segs) < 2 {
			return
		}
		victim := segs[1+l.rng.IntN(len(segs)-1)]
		what = fmt.Sprintf("%s disappears (of %d segments)", victim, len(segs))
		damage = func(disk *fsx.MemFS) error {
			if err := disk.Remove(victim); err != nil {
				return err
			}
			return disk.SyncDir(path.Dir(victim))
		}
	case lossVote:
		b, err := m.disk.ReadFile(newest)
		if err != nil {
			return
		}
		at, ok := voteRecord(b)
		if !ok {
			return
		}
		what = fmt.Sprintf("%s loses the record of the member's term and vote, at byte %d, and all after it", newest, at)
		damage = func(disk *fsx.MemFS) error { return truncate(disk, newest, at) }
	}
	w.crashWith(m, "(to lose acknowledged data)", fsx.LoseUnsynced, l.rng)
	if err := damage(m.disk); err != nil {
		w.fail("member %d: %s: %v", m.id, what, err)
		return
	}
	m.lost, m.lostUnnoticed = what, true
	w.logFault("member %d: %s", m.id, what)
}

// voteRecord returns the offset, in a segment's content b, of the first
// hard state record of the term and vote its last one holds: where the
// member recorded the vote it holds now (or, if the segment holds no
// other, where the segment starts recording it).
func voteRecord(b []byte) (int64, bool) {
	recs, err := logstore.SegmentRecords(b)
	if err != nil {
		return 0, false
	}
	var hs []logstore.SegmentRecord
	for _, r := range recs {
		if r.Type == "hardstate" {
			hs = append(hs, r)
		}
	}
	if len(hs) == 0 {
		return 0, false
	}
	last := hs[len(hs)-1].HardState
	i := len(hs) - 1
	for i > 0 && hs[i-1].HardState.Term == last.Term && hs[i-1].HardState.Vote == last.Vote {
		i--
	}
	return hs[i].Offset, true
}

// walSegments lists a member's WAL segments, oldest first.
func walSegments(disk *fsx.MemFS) []string {
	dir := path.Join(logDir, "wal")
	names, err := disk.ReadDir(dir)
	if err != nil {
		return nil
	}
	slices.Sort(names)
	var out []string
	for _, n := range names {
		if path.Ext(n) == ".wal" {
			out = append(out, path.Join(dir, n))
		}
	}
	return out
}

// truncate cuts file name to size bytes, durably.
func truncate(disk *fsx.MemFS, name string, size int64) error {
	f, err := disk.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	return f.Sync()
}

// canLoseState reports whether member m may lose state it acknowledged
// (or be lost for good: a bit flipped at rest may keep it from starting
// again) and leave a majority of the voters that lost none (a learner
// always may): members dead, flipped, or that lost state and are not yet
// repaired count against it.
func (w *World) canLoseState(m *member) bool {
	voters := w.conf.votersSoon()
	if !slices.Contains(voters, m.id) {
		return true
	}
	lost := 0
	for _, id := range voters {
		if x := w.member(id); x != m && x.unrepaired() {
			lost++
		}
	}
	return lost+1 <= (len(voters)-1)/2
}

// unrepaired reports whether the member lost state it had acknowledged
// (or may have: a bit flipped at rest) and has not repaired it. A member
// that is down and ever lost state counts: it may come back repairing.
func (m *member) unrepaired() bool {
	switch {
	case m.state == stateDead, m.flipPending, m.rotten, m.storeRepairPending:
		return true
	case m.state == stateUp:
		return m.core.Repair().Active()
	}
	return m.lost != "" // down or stopped: it may come back repairing
}

// checkRepaired requires every member that is up, and in the committed
// configuration, to have repaired what its disk lost. A member whose
// addition was never committed (started empty, its AddLearner given up)
// has no leader to repair from: it waits, as a real one would, and is
// not a member of the cluster the check is about.
func (w *World) checkRepaired() error {
	for _, m := range w.members {
		if m.state != stateUp || !(w.conf.isVoter(m.id) || w.conf.isLearner(m.id)) {
			continue
		}
		if st := m.core.Repair(); st.Active() || st.ReadRefusal != nil {
			return fmt.Errorf("member %d is not repaired at the end: %s", m.id, st)
		}
	}
	return nil
}
