package replica

import (
	"errors"
	"io"

	"github.com/cairndb/cairn/logstore"
	"github.com/cairndb/cairn/raftcore"
)

// The contract between the Core and what it drives: the raft log it
// writes through (RaftLog) and the replicated application it applies the
// log to (StateMachine). Everything the core asks of either is here; it
// asks nothing else, and probes for nothing.

// RaftLog is the durable raft log the core writes through (logstore.Log;
// an in-memory log in tests). Reads go through the raftcore.Storage half.
type RaftLog interface {
	raftcore.Storage
	// Save makes hs and ents durable (one fsync), replacing any suffix
	// of the log from ents[0].Index.
	Save(hs raftcore.HardState, ents []raftcore.Entry) error
	// SaveCommit records a hard state that moves only the commit index,
	// without waiting for an fsync: raft does not need that index
	// durable, a restarted member learns it again from the leader. So a
	// write costs each member one fsync (its entry), not two.
	SaveCommit(hs raftcore.HardState) error
	// ApplySnapshot replaces the log with a snapshot from the leader.
	ApplySnapshot(snap raftcore.Snapshot) error
	// CreateSnapshot records that the state machine holds everything up
	// to index durably (the core passes no data: the state machine keeps
	// its own).
	CreateSnapshot(index uint64, cs raftcore.ConfState, data []byte) (raftcore.Snapshot, error)
	// Compact discards the entries before index.
	Compact(index uint64) error
	DamageRecord
}

// DamageRecord is the log's record of data the disk lost that the member
// had acknowledged, kept across restarts (repair.go): the damage until it
// is repaired, then the term in which it was, until raft's repair is over
// (see raftcore's repair.go).
type DamageRecord interface {
	// Damage is what the log found lost when it opened (or an earlier
	// start recorded and no repair finished), or nil.
	Damage() *logstore.Damage
	// MarkDamaged records damage found otherwise (a state machine ahead
	// of the log).
	MarkDamaged(d logstore.Damage) error
	// MarkRepaired records that the repair finished in term.
	MarkRepaired(term uint64) error
	// RepairedTerm is the term MarkRepaired recorded, or 0.
	RepairedTerm() uint64
	// ClearRepair forgets the repair once raft's is over.
	ClearRepair() error
	// BeginRepairAttempt counts a new repair, durably, and returns its
	// number; RepairAttempt is the number of the last one begun (0 if
	// none). The count survives MarkRepaired, ClearRepair and restarts.
	BeginRepairAttempt() (uint64, error)
	RepairAttempt() uint64
}

// ErrStorageFailed marks an error of Snapshotter.OpenSnapshot that is a
// failure of the state machine's storage, not of the one snapshot.
var ErrStorageFailed = errors.New("the state machine's storage failed")

// StateMachine is what the raft log drives: the replicated application
// (KVState; the simulator wraps it to watch it). Its methods are called on
// the core's goroutine, in log order, and must be deterministic: every
// member computes the same results from the same entries.
//
// An error returned by Apply, ApplyConfChange, Skip or AdmitProposals is a
// failure of the state machine itself (its storage failed): the member
// stops, and the entry is applied again after a restart. The outcome of a
// request that failed — refused, invalid, a key that was not there — is
// part of Apply's result instead, the same on every member.
type StateMachine interface {
	Applier
	Deduplicator
	Snapshotter
}

// Applier applies committed entries.
type Applier interface {
	// Apply applies the command data committed at index and returns the
	// result for the member that proposed it.
	Apply(index, term uint64, data []byte) (result any, err error)
	// ApplyConfChange applies a committed membership change (the change
	// raft took), with the context its proposer gave (for a bootstrap
	// peer, the raftcore.Peer's Context).
	ApplyConfChange(index, term uint64, cc raftcore.ConfChange, context []byte) error
	// CheckConfChange checks a membership change the member, as leader,
	// is about to take, with the context its proposer gave, against the
	// state as of the last change applied (the core takes a change only
	// once every earlier one is applied): an error refuses it. It must
	// change nothing.
	CheckConfChange(cc raftcore.ConfChange, context []byte) error
	// Skip records that the entry at index (a leader's no-op, a
	// duplicated proposal, a membership change raft refused) was applied
	// without changing the state, so that AppliedIndex keeps up with the
	// log.
	Skip(index, term uint64) error
	// AppliedIndex is the last index whose effects are durable in the
	// state machine; after a restart, entries after it are applied again.
	AppliedIndex() uint64
}

// Proposal identifies a proposed command in the raft log: the index of
// its entry, and the proposer's tag and sequence number from its header.
type Proposal struct {
	Index uint64
	Tag   uint64
	Seq   uint64
}

// Deduplicator applies each proposal once, however many times the log
// holds it (dedup.go).
type Deduplicator interface {
	// AdmitProposals decides which of props, the proposals among the
	// committed entries from..to (at most dedupChunk of them), in index
	// order, are applied: admitted[i] is the answer for props[i]. The
	// core calls it before applying any of the entries from..to, and
	// calls Skip instead of Apply for an entry refused. The decisions
	// must be the same on every member, and recorded durably with the
	// state before any entry of the range is applied.
	AdmitProposals(from, to uint64, props []Proposal) (admitted []bool, err error)
}

// Snapshotter makes the state durable and moves it between members.
type Snapshotter interface {
	// Persist makes everything applied durable, so that AppliedIndex is
	// the last index applied. A raft snapshot is then only a record in
	// the log that the state machine holds the entries up to that index:
	// taking one copies nothing.
	Persist() error
	// OpenSnapshot opens a copy of the state as of the last index applied
	// (made durable first), for a member that lags too far behind to be
	// sent entries. Entries applied later do not change it: the caller
	// streams it to the member while the state machine goes on, and
	// closes it. An error that wraps ErrStorageFailed is a failure of the
	// state machine itself (making it durable failed): the member stops,
	// as for one from Apply. Any other error fails this snapshot only.
	OpenSnapshot() (SnapshotSource, error)
	// Restore replaces the state with the snapshot at index that a
	// leader sent. The transport hands the snapshot's data to the state
	// machine (KVState.ReceiveSnapshot) before it delivers the MsgSnap,
	// and the state machine keeps it on disk until it is installed, so
	// the core passes only the index. After a crash the core calls
	// Restore again when it finds the log's snapshot newer than the
	// state machine.
	Restore(index uint64) error
	// DropReceivedSnapshots drops the snapshots received and not
	// installed: once the core has started, and installed the log's
	// snapshot if the state machine was behind it, the ones left will
	// never be.
	DropReceivedSnapshots() error
}

// SnapshotSource is a point-in-time copy of a state machine's data, as of
// one applied index, that can be streamed to another member.
type SnapshotSource interface {
	// Index and Term are those of the last entry the copy holds.
	Index() uint64
	Term() uint64
	// Size is the number of bytes WriteTo writes. The first call may do
	// the copy's work (a store whose values are in the raft log makes a
	// copy that holds them: see KVState.OpenSnapshot), so call it off the
	// core's goroutine; an error fails this copy only.
	Size() (int64, error)
	// WriteTo writes the copy to w, a chunk at a time.
	io.WriterTo
	// Close releases the copy.
	io.Closer
}
