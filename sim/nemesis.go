package sim

import (
	"fmt"
	"path"
	"strings"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
)

// fault is one kind of thing the nemesis does.
type fault uint8

const (
	fCrash           fault = iota // power failure of a member
	fCrashLeader                  // power failure of the leader
	fCrashMidWrite                // power failure inside an fsync
	fCrashInSnapshot              // power failure while installing a snapshot
	fPartition                    // a partition of one of several shapes
	fLossy                        // messages dropped and duplicated
	fHealNetwork                  // the network is whole again
	fSlowLink                     // one link gets slow
	fTransferLeader               // the leader hands over to another voter
	fMembership                   // a step of adding, promoting, removing members
	fSlowDisk                     // a member's fsyncs get slow
	fDiskFull                     // a member's disk fills up
	fFlipBit                      // a bit flips in a file of a crashed member
	fCompact                      // the store's history is compacted
	fPowerLoss                    // every member loses power at once
	fLeaderChurn                  // leaders cut off as they are elected or commit
	fCutHolder                    // a lease holder cut off the cluster, or reaching only the leader
	numFaults
)

var faultNames = [numFaults]string{
	"crash", "crash-leader", "crash-mid-write", "crash-in-snapshot", "partition", "lossy",
	"heal-network", "slow-link", "transfer-leader", "membership", "slow-disk", "disk-full",
	"flip-bit", "compact", "power-loss", "leader-churn", "cut-lease-holder",
}

// nemesis is the seed's choice of faults: a few are always on, each other
// is on for about half the seeds, so that the sweep covers them all alone
// and in combination.
type nemesis struct {
	enabled []fault
	// churn is set when fLeaderChurn is enabled: it acts on events (see
	// churn), not on the nemesis's clock.
	churn bool
	// compactReq numbers compaction requests.
	compactReq uint64
}

func (n *nemesis) init(w *World) {
	for f := fault(0); f < numFaults; f++ {
		switch f {
		case fCrash, fPartition, fHealNetwork:
			n.enabled = append(n.enabled, f)
		case fLeaderChurn:
			n.churn = w.rng.IntN(3) == 0
		default:
			if w.rng.IntN(2) == 0 {
				n.enabled = append(n.enabled, f)
			}
		}
	}
}

func (w *World) describeFaults() string {
	n := &w.nemesis
	if len(n.enabled) == 0 {
		return "off"
	}
	var names []string
	for _, f := range n.enabled {
		names = append(names, faultNames[f])
	}
	if n.churn {
		names = append(names, faultNames[fLeaderChurn])
	}
	names = append(names, w.losses.describe()...)
	if w.forger.on {
		names = append(names, "forgery")
	}
	return strings.Join(names, ", ")
}

// act injects one fault of the enabled kinds.
func (n *nemesis) act(w *World) {
	f := n.enabled[w.rng.IntN(len(n.enabled))]
	defer w.countFault(faultNames[f], len(w.faultLog))
	switch f {
	case fCrash:
		if m := w.pickUp(false); m != nil && w.canLose(m) {
			w.crashBetweenSteps(m, "", w.crashMode())
		}
	case fCrashLeader:
		if m := w.leader(); m != nil && w.canLose(m) {
			w.crashBetweenSteps(m, "(leader)", w.crashMode())
		}
	case fCrashMidWrite:
		if m := w.pickUp(false); m != nil && w.canLose(m) {
			m.crashAtSync = 1 + w.rng.IntN(5)
			w.logFault("member %d will crash at its fsync number %d from now", m.id, m.crashAtSync)
		}
	case fCrashInSnapshot:
		// A member that is down or cut off is the one that will need a
		// snapshot when it comes back.
		m := w.pickDown()
		if m == nil {
			m = w.pickUp(true)
		}
		if m != nil && w.canLose(m) {
			m.crashInSnapshot = true
			w.logFault("member %d will crash installing its next snapshot", m.id)
		}
	case fPartition:
		w.partition(w.rng.IntN(partKinds), 0)
	case fLossy:
		w.net.dropRate = w.rng.Float64() * 0.2
		w.net.dupRate = w.rng.Float64() * 0.1
		w.logFault("drop %.2f duplicate %.2f", w.net.dropRate, w.net.dupRate)
	case fHealNetwork:
		w.net.heal()
		w.logFault("heal network")
	case fSlowLink:
		ids := w.runningIDs()
		a, b := ids[w.rng.IntN(len(ids))], ids[w.rng.IntN(len(ids))]
		if a != b {
			w.net.slow[link{a, b}] = 20 + w.rng.Int64N(200)
			w.logFault("link %d->%d slowed by %dms", a, b, w.net.slow[link{a, b}])
		}
	case fTransferLeader:
		w.transferLeader()
	case fMembership:
		w.changeMembership()
	case fSlowDisk:
		if m := w.pickUp(false); m != nil {
			if m.syncLatency[1] > 0 {
				m.syncLatency = [2]int64{}
				w.logFault("disk of %d fast again", m.id)
			} else {
				lo := 1 + w.rng.Int64N(20)
				m.syncLatency = [2]int64{lo, lo + w.rng.Int64N(100)}
				w.logFault("disk of %d slow: fsync takes %d-%dms", m.id, m.syncLatency[0], m.syncLatency[1])
			}
		}
	case fDiskFull:
		w.fillDisk()
	case fFlipBit:
		w.flipBit()
	case fCompact:
		w.compact()
	case fCutHolder:
		w.cutHolder()
	case fPowerLoss:
		for _, m := range w.members {
			if m.state == stateUp {
				w.crashBetweenSteps(m, "(power loss)", w.crashMode())
			}
		}
	}
}

// churn is the part of the nemesis that watches the cluster: it sometimes
// cuts a leader off the moment it is elected (before its first appends
// leave) or the moment its commit index moves (before the next appends
// leave). Leaders that come and go with entries half replicated are where
// a broken commit rule shows. It runs after each step of a member, before
// its messages go out.
func (w *World) churn(m *member, eff replica.Effects) {
	if !w.nemesis.churn || w.healed || m.state != stateUp {
		return
	}
	st := m.core.Status()
	if st.SoftState.State != raftcore.StateLeader {
		return
	}
	elected := eff.LeaderChanged && eff.Leader == m.id
	committed := st.HardState.Commit > m.commit
	m.commit = st.HardState.Commit
	if !(elected && w.rng.IntN(3) == 0 || committed && w.rng.IntN(30) == 0) {
		return
	}
	w.net.cut = map[link]bool{}
	for _, id := range w.runningIDs() {
		if id != m.id {
			w.net.cut[link{m.id, id}], w.net.cut[link{id, m.id}] = true, true
		}
	}
	w.countFault(faultNames[fLeaderChurn], -1)
	if elected {
		w.logFault("isolate %d as it is elected", m.id)
	} else {
		w.logFault("isolate leader %d as it commits %d", m.id, m.commit)
	}
}

func (w *World) crashMode() fsx.CrashMode {
	if w.rng.IntN(2) == 0 {
		return fsx.TearUnsynced
	}
	return fsx.LoseUnsynced
}

// pickUp returns a random member that is up (not the leader if
// notLeader), or nil.
func (w *World) pickUp(notLeader bool) *member {
	lead := w.leader()
	var up []*member
	for _, m := range w.members {
		if m.state == stateUp && !(notLeader && m == lead) {
			up = append(up, m)
		}
	}
	if len(up) == 0 {
		return nil
	}
	return up[w.rng.IntN(len(up))]
}

// pickDown returns a random crashed member waiting to restart, or nil.
func (w *World) pickDown() *member {
	var down []*member
	for _, m := range w.members {
		if m.state == stateDown {
			down = append(down, m)
		}
	}
	if len(down) == 0 {
		return nil
	}
	return down[w.rng.IntN(len(down))]
}

func (w *World) transferLeader() {
	lead := w.leader()
	if lead == nil {
		return
	}
	var to []uint64
	for _, id := range w.conf.voters {
		if id != lead.id && w.member(id).state == stateUp {
			to = append(to, id)
		}
	}
	if len(to) == 0 {
		return
	}
	target := to[w.rng.IntN(len(to))]
	w.logFault("transfer leadership %d -> %d", lead.id, target)
	w.step(lead, replica.EvTransferLeader{To: target})
}

// fillDisk lets a member's disk fill up a little past what it holds now;
// the nemesis frees it again a few seconds later.
func (w *World) fillDisk() {
	m := w.pickUp(false)
	if m == nil || m.diskFull || !w.canLose(m) {
		return
	}
	used := diskUsage(m.disk, "/")
	quota := used + w.rng.Int64N(32<<10)
	m.disk.SetQuota(quota)
	m.diskFull, m.filledSinceStart = true, true
	w.logFault("disk of %d fills at %d bytes (%d used)", m.id, quota, used)
	w.schedule(1000+w.rng.Int64N(4000), event{kind: evFreeDisk, who: m.id})
}

// freeDisk lifts a member's disk quota and restarts it if it stopped.
func (w *World) freeDisk(m *member) {
	if m.diskFull {
		m.disk.SetQuota(0)
		m.diskFull = false
		w.logFault("disk of %d has room again", m.id)
	}
	if m.state == stateStopped && !w.healed {
		w.restart(m)
	}
}

// diskUsage sums the sizes of the files under dir.
func diskUsage(fs *fsx.MemFS, dir string) int64 {
	names, err := fs.ReadDir(dir)
	if err != nil {
		return 0
	}
	var total int64
	for _, name := range names {
		p := path.Join(dir, name)
		info, err := fs.Stat(p)
		switch {
		case err != nil:
		case info.IsDir():
			total += diskUsage(fs, p)
		default:
			total += info.Size()
		}
	}
	return total
}

// files lists the files under dir with their sizes.
func files(fs *fsx.MemFS, dir string) (names []string, sizes []int64) {
	entries, err := fs.ReadDir(dir)
	if err != nil {
		return nil, nil
	}
	for _, name := range entries {
		p := path.Join(dir, name)
		info, err := fs.Stat(p)
		switch {
		case err != nil:
		case info.IsDir():
			n, s := files(fs, p)
			names, sizes = append(names, n...), append(sizes, s...)
		case info.Size() > 0:
			names, sizes = append(names, p), append(sizes, info.Size())
		}
	}
	return names, sizes
}

// flipBit flips one bit in a file of a crashed member (crashing one
// first if none is down). When it restarts it must notice, or hold
// everything it held before.
func (w *World) flipBit() {
	m := w.pickDown()
	if m == nil {
		if m = w.pickUp(false); m == nil || !w.canLose(m) || !w.canLoseForGood(m) {
			return
		}
		w.crashBetweenSteps(m, "(for a bit flip)", fsx.LoseUnsynced)
	}
	if !w.canLoseForGood(m) {
		return
	}
	names, sizes := files(m.disk, "/")
	if len(names) == 0 {
		return
	}
	i := w.rng.IntN(len(names))
	off, bit := w.rng.Int64N(sizes[i]), uint(w.rng.IntN(8))
	if err := m.disk.FlipBit(names[i], off, bit); err != nil {
		w.fail("flip bit in %s: %v", names[i], err)
		return
	}
	m.flip = fmt.Sprintf("a bit flipped at byte %d of %s (%d bytes)", off, names[i], sizes[i])
	m.flipFiles = append(m.flipFiles, names[i])
	m.flipped, m.flipPending = m.durable, true
	w.logFault("member %d: %s", m.id, m.flip)
}

// compact proposes compacting the store's history a little behind the
// newest revision, so that watchers that fall behind may need history
// that is gone.
func (w *World) compact() {
	lead := w.leader()
	if lead == nil || w.applied.maxRev < 10 {
		return
	}
	rev := w.applied.maxRev - w.rng.Int64N(10)
	w.nemesis.compactReq++
	if err := w.submit(lead, compactReqBase|w.nemesis.compactReq, &api.CompactionRequest{Revision: rev}); err != nil {
		return // refused (the CORRUPT alarm is raised), as `ctl compact` would be
	}
	w.logFault("compact at revision %d", rev)
}
