package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/cairndb/cairn/node/peerwire"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
)

// A member whose store's page file has a corrupt page repairs it from the
// cluster, as a server does (node/replica/storerepair.go): when it opens,
// or at its next start when it finds the page while running. Here the
// leader's copy is read at once, over a link that must not be cut, encoded
// and decoded as the transport streams it (snapshot.go); with
// no leader to give one the start fails with errNoStoreCopy, and the
// member tries again a little later.

// Where a member keeps what its store's repair needs, beside its data.
const (
	storeMarker = "/m/store-corrupt"
	corruptDir  = "/m/corrupt"
)

// storeRepairedFault counts, in Coverage.Faults, the stores repaired.
const storeRepairedFault = "store-repaired"

// errNoStoreCopy fails the start of a member that must repair its store
// while no leader it can reach gives a copy.
var errNoStoreCopy = errors.New("sim: no leader gives a copy of its store")

// storeRepair is how member m repairs a corrupt store (none under the
// NoStoreRepair mutation).
func (w *World) storeRepair(m *member) *replica.StoreRepair {
	if w.cfg.Mutation == NoStoreRepair {
		return nil
	}
	return &replica.StoreRepair{
		Marker: storeMarker, CorruptDir: corruptDir,
		Now: func() time.Time { return time.UnixMilli(w.now) },
		Fetch: func(need replica.StoreNeed, take func(replica.StoreCopy) error) error {
			return w.fetchStore(m, need, take)
		},
		Quarantined: func(file, reason string) {
			w.logFault("member %d sets its corrupt page file aside as %s (%s)", m.id, file, reason)
		},
		Installed: func(meta raftcore.SnapshotMetadata) {
			w.logFault("member %d installs a copy of the leader's store at index %d", m.id, meta.Index)
			w.countFault(storeRepairedFault, -1)
		},
	}
}

// fetchStore hands take a copy of the leader's store, if a leader that m
// can reach gives one.
func (w *World) fetchStore(m *member, need replica.StoreNeed, take func(replica.StoreCopy) error) error {
	lead := w.leader()
	switch {
	case lead == nil || lead == m:
		return fmt.Errorf("%w: no leader", errNoStoreCopy)
	case w.net.cut[link{m.id, lead.id}] || w.net.cut[link{lead.id, m.id}]:
		return fmt.Errorf("%w: the link to leader %d is cut", errNoStoreCopy, lead.id)
	case lead.crashAtSync > 0:
		// Opening the copy commits the leader's store: an fsync that
		// would crash the leader inside this member's start.
		return fmt.Errorf("%w: leader %d is about to crash", errNoStoreCopy, lead.id)
	}
	if w.corrupt.isRotten(lead.id) {
		// See packSnapshot: the rot is kept to the stores it reached.
		return fmt.Errorf("%w: leader %d's store is rotten", errNoStoreCopy, lead.id)
	}
	meta, src, err := lead.core.OpenStoreCopy()
	if err != nil {
		return fmt.Errorf("%w: leader %d: %v", errNoStoreCopy, lead.id, err)
	}
	defer src.Close()
	// The copy's stream, as the leader's transport sends it
	// (serveStoreCopy) and the member's reads it (storeCopyFrom).
	s, err := encodeStream(raftcore.Message{Type: raftcore.MsgSnap, From: lead.id, To: m.id, Term: meta.Term,
		Snapshot: &raftcore.Snapshot{Metadata: meta}}, src)
	if err != nil {
		return fmt.Errorf("%w: leader %d: %v", errNoStoreCopy, lead.id, err)
	}
	size, msg, err := peerwire.StoreCopyHeader(s.frames[0])
	if err != nil || msg.From != lead.id || msg.To != m.id || msg.Snapshot.Metadata.Index != meta.Index || msg.Snapshot.Metadata.Term != meta.Term {
		w.fail("member %d reads the header of leader %d's store copy at index %d as %+v: %v", m.id, lead.id, meta.Index, msg, err)
		return fmt.Errorf("%w: leader %d: bad header", errNoStoreCopy, lead.id)
	}
	data := replica.NewChunkReceiver(recvFrames(s.frames[1:]), int64(size))
	if err := take(replica.StoreCopy{Meta: msg.Snapshot.Metadata, Size: int64(size), Data: data}); err != nil {
		return fmt.Errorf("%w: the copy of leader %d at index %d: %v", errNoStoreCopy, lead.id, meta.Index, err)
	}
	return nil
}

// scheduleRestart restarts a member that is down a little later, even
// once the faults are healed: it repairs its store then.
func (w *World) scheduleRestart(m *member) {
	m.state = stateDown
	w.schedule(200+int64(w.rng.IntN(1000)), event{kind: evRestart, who: m.id, arg: m.incarnation})
}

// onlyStoreFlipped reports whether every bit flipped in m's files was in
// its store's page file: damage it must repair, never stay down for.
func (m *member) onlyStoreFlipped() bool {
	for _, name := range m.flipFiles {
		if name != dbPath {
			return false
		}
	}
	return len(m.flipFiles) > 0
}
