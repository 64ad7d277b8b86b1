package raftcore

import (
	"errors"
	"fmt"
	"slices"
)

// ErrNotLeader is returned by calls that only a leader can serve.
var ErrNotLeader = errors.New("raftcore: not the leader")

// ErrReadyOutstanding is returned by Ready when the previous Ready has not
// been acknowledged with Advance.
var ErrReadyOutstanding = errors.New("raftcore: Ready called before Advance of the previous Ready")

// Peer names an initial member of a new cluster; Context is carried in its
// bootstrap conf-change entry (the server puts the member's addresses there).
type Peer struct {
	ID      uint64
	Context []byte
}

// Ready is the work raft hands the application, in this order:
//
//  1. Send Messages (now, in parallel with the rest if you like).
//  2. Persist Snapshot (if any), then Entries and HardState — with one
//     fsync if MustSync.
//  3. Send MessagesAfterPersist (they promise what step 2 made durable).
//  4. Apply Snapshot (if any), then CommittedEntries, to the state machine;
//     serve the ReadStates whose Index has been applied.
//  5. Call Advance.
type Ready struct {
	// SoftState is set when the leader or this node's role changed.
	SoftState *SoftState
	// HardState is set (non-empty) when it changed and must be persisted.
	HardState HardState
	// ReadStates are ReadIndex requests now confirmed.
	ReadStates []ReadState
	// Entries are to be appended to storage, replacing any suffix from
	// Entries[0].Index on.
	Entries []Entry
	// Snapshot, if not empty, replaces storage: persist it and load it
	// into the state machine.
	Snapshot Snapshot
	// CommittedEntries are to be applied, in order.
	CommittedEntries []Entry
	// Messages may be sent before the Ready is persisted: they are a
	// leader's appends and heartbeats, safe to overlap with its own fsync
	// because the leader counts itself toward commit only after Advance.
	Messages []Message
	// MessagesAfterPersist must be sent only after step 2: votes and
	// acknowledgements that promise durable state.
	MessagesAfterPersist []Message
	// MustSync says the Ready changes state that must reach the disk
	// before step 3 (entries, term or vote, a snapshot).
	MustSync bool
}

// containsUpdates reports whether the Ready holds any work.
func (rd *Ready) containsUpdates() bool {
	return rd.SoftState != nil || !rd.HardState.IsEmpty() || !rd.Snapshot.IsEmpty() ||
		len(rd.Entries) > 0 || len(rd.CommittedEntries) > 0 || len(rd.Messages) > 0 ||
		len(rd.MessagesAfterPersist) > 0 || len(rd.ReadStates) > 0
}

// Node is a raft node driven by its caller: a deterministic state machine
// with no goroutines, clocks or I/O. The caller feeds it time (Tick),
// messages (Step) and requests (Propose, ReadIndex, ...), and carries out
// the work it returns in each Ready. A Node is not safe for concurrent use.
type Node struct {
	r           *raft
	prevSoft    SoftState
	prevHard    HardState
	outstanding *Ready
}

// NewNode creates a node from the state in c.Storage. If the storage is
// empty and peers is not, it bootstraps a new cluster whose voters are
// peers: every initial member must be given the same peers, so that they
// all start with the same log. A node joining an existing cluster starts
// with empty storage and no peers; it learns the log from the leader.
func NewNode(c Config, peers []Peer) (*Node, error) {
	r, err := newRaft(&c)
	if err != nil {
		return nil, err
	}
	n := &Node{r: r, prevSoft: r.softState(), prevHard: r.hardState()}
	if len(peers) > 0 {
		if err := n.bootstrap(peers); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func (n *Node) bootstrap(peers []Peer) error {
	r := n.r
	if r.log.lastIndex() != 0 || !r.hardState().IsEmpty() {
		// Already bootstrapped (a restart): the log is authoritative.
		return nil
	}
	ents := make([]Entry, len(peers))
	for i, p := range peers {
		data, err := (&ConfChange{Type: AddVoter, NodeID: p.ID, Context: p.Context}).MarshalBinary()
		if err != nil {
			return fmt.Errorf("raftcore: bootstrap peer %x: %w", p.ID, err)
		}
		ents[i] = Entry{Type: EntryConfChange, Term: 1, Index: uint64(i + 1), Data: data}
	}
	r.becomeFollower(1, None)
	r.log.append(ents...)
	r.onEntriesAppended(ents)
	if len(r.configs.current().Voters) != len(peers) {
		return fmt.Errorf("raftcore: bootstrap: peers %v contain duplicates or id 0", peers)
	}
	// The bootstrap entries are identical on every initial member, so
	// they count as committed without a vote.
	r.log.committed = uint64(len(ents))
	return nil
}

// Tick advances the node's logical clock by one tick.
func (n *Node) Tick() { n.r.tick() }

// Step feeds a message received from another node. A message that no
// member could have sent is refused with an error and changes nothing:
// one without a sender, one from a node that is not a member (other than
// a leader's), one with a term out of range (ErrTermOutOfRange).
func (n *Node) Step(m Message) error {
	if m.From == None {
		return fmt.Errorf("%w: %s without a sender", ErrStepLocalMsg, m.Type)
	}
	return n.r.step(m)
}

// Term is the node's current term.
func (n *Node) Term() uint64 { return n.r.term }

// Campaign makes this node start an election now (as if its election
// timeout had fired).
func (n *Node) Campaign() { n.r.hup(false) }

// Propose asks to append application data to the log, one entry per
// element: a batch costs one append message per follower. On a follower
// the proposal is forwarded to the leader. ErrProposalDropped says it was
// not accepted; an accepted proposal may still be lost if leadership
// changes before it commits, so the application watches CommittedEntries.
func (n *Node) Propose(data ...[]byte) error {
	ents := make([]Entry, len(data))
	for i, d := range data {
		ents[i] = Entry{Type: EntryNormal, Data: d}
	}
	return n.propose(ents)
}

// ProposeConfChange asks to change the membership by one server.
func (n *Node) ProposeConfChange(cc ConfChange) error {
	data, err := cc.MarshalBinary()
	if err != nil {
		return fmt.Errorf("raftcore: encode conf change: %w", err)
	}
	return n.propose([]Entry{{Type: EntryConfChange, Data: data}})
}

func (n *Node) propose(ents []Entry) error {
	if n.r.state == StateLeader {
		return n.r.propose(ents)
	}
	return n.r.step(Message{Type: MsgProp, Entries: ents})
}

// ReadIndex requests a linearizable read. When the leader has confirmed it
// is still the leader, a ReadState with rctx and the index the state
// machine must reach appears in a Ready. rctx must be unique per request.
func (n *Node) ReadIndex(rctx []byte) error {
	if n.r.state == StateLeader {
		n.r.readIndex(n.r.id, rctx)
		return nil
	}
	return n.r.step(Message{Type: MsgReadIndex, Context: rctx})
}

// TransferLeader asks the leader to hand leadership to transferee: it
// brings the transferee's log up to date, then tells it to campaign at
// once. Proposals are dropped meanwhile; the transfer is abandoned after an
// election timeout. On a follower the request is forwarded to the leader.
func (n *Node) TransferLeader(transferee uint64) {
	if n.r.state == StateLeader {
		n.r.transferLeader(transferee)
		return
	}
	_ = n.r.step(Message{Type: MsgTransferLeader, Index: transferee})
}

// ReportUnreachable tells the leader that the last message to id could not
// be delivered, so it stops streaming to id and probes instead.
func (n *Node) ReportUnreachable(id uint64) {
	r := n.r
	if r.state != StateLeader {
		return
	}
	if pr := r.prs[id]; pr != nil && pr.state == stateReplicate {
		pr.becomeProbe()
	}
}

// ReportSnapshot tells the leader whether the snapshot sent to id was
// delivered. The application must call it for every MsgSnap it sends.
func (n *Node) ReportSnapshot(id uint64, failed bool) {
	r := n.r
	if r.state != StateLeader {
		return
	}
	pr := r.prs[id]
	if pr == nil || pr.state != stateSnapshot {
		return
	}
	if failed {
		pr.pendingSnapshot = 0
	}
	pr.becomeProbe()
	// Wait for the follower's answer (or the next heartbeat) before
	// probing, so the snapshot is not followed by a useless append.
	pr.probeSent = true
}

// HasReady reports whether Ready has work to hand out. It is false while a
// Ready is outstanding (before Advance).
func (n *Node) HasReady() bool {
	if n.outstanding != nil {
		return false
	}
	r := n.r
	if r.storageErr != nil || r.softState() != n.prevSoft {
		return true
	}
	if hs := r.hardState(); !hs.IsEmpty() && hs != n.prevHard {
		return true
	}
	u := &r.log.unstable
	if u.snapshot != nil || len(u.entries) > 0 {
		return true
	}
	if len(r.msgs) > 0 || len(r.msgsAfterPersist) > 0 || len(r.readStates) > 0 {
		return true
	}
	return r.log.applied < r.log.committed && max(r.log.applied+1, r.log.firstIndex()) <= r.log.committed
}

// Ready returns the pending work. Call Advance when it is done; until
// then, Ready returns ErrReadyOutstanding. An error wrapping
// ErrSnapshotMissing means the storage is broken: the node cannot go on.
func (n *Node) Ready() (Ready, error) {
	if n.outstanding != nil {
		return Ready{}, ErrReadyOutstanding
	}
	r := n.r
	if r.storageErr != nil {
		return Ready{}, r.storageErr
	}
	rd := Ready{
		Entries:              r.log.unstable.entries,
		CommittedEntries:     n.committedToApply(),
		Messages:             r.msgs,
		MessagesAfterPersist: r.msgsAfterPersist,
		ReadStates:           r.readStates,
	}
	if s := r.log.unstable.snapshot; s != nil {
		rd.Snapshot = *s
	}
	if ss := r.softState(); ss != n.prevSoft {
		rd.SoftState = &ss
	}
	if hs := r.hardState(); hs != n.prevHard {
		rd.HardState = hs
	}
	// A commit index alone need not be synced: it can be learned again.
	voteChanged := !rd.HardState.IsEmpty() &&
		(rd.HardState.Term != n.prevHard.Term || rd.HardState.Vote != n.prevHard.Vote)
	rd.MustSync = len(rd.Entries) > 0 || !rd.Snapshot.IsEmpty() || voteChanged
	r.msgs, r.msgsAfterPersist, r.readStates = nil, nil, nil
	n.outstanding = &rd
	return rd, nil
}

func (n *Node) committedToApply() []Entry {
	l := n.r.log
	lo := max(l.applied+1, l.firstIndex())
	if lo > l.committed {
		return nil
	}
	ents, err := l.slice(lo, l.committed+1, n.r.maxCommittedSize)
	if err != nil {
		panic(fmt.Sprintf("raftcore: committed entries [%d,%d]: %v", lo, l.committed, err))
	}
	return ents
}

// Advance tells the node that the outstanding Ready has been carried out:
// persisted, sent and applied.
func (n *Node) Advance() {
	rd := n.outstanding
	if rd == nil {
		return
	}
	n.outstanding = nil
	r := n.r
	if rd.SoftState != nil {
		n.prevSoft = *rd.SoftState
	}
	if !rd.HardState.IsEmpty() {
		n.prevHard = rd.HardState
		r.persistedTerm = rd.HardState.Term
	}
	if !rd.Snapshot.IsEmpty() {
		r.log.unstable.stableSnapTo(rd.Snapshot.Metadata.Index)
		if rd.Snapshot.Metadata.Index > r.log.applied {
			r.log.applied = rd.Snapshot.Metadata.Index
		}
	}
	if k := len(rd.Entries); k > 0 {
		last := rd.Entries[k-1]
		r.log.unstable.stableTo(last.Index, last.Term)
		r.onPersisted(last.Index, last.Term)
	}
	if k := len(rd.CommittedEntries); k > 0 {
		r.log.appliedTo(rd.CommittedEntries[k-1].Index)
	}
}

// Status is a snapshot of a node's state, for monitoring and tests.
type Status struct {
	ID        uint64
	HardState HardState
	SoftState SoftState
	Applied   uint64
	ConfState ConfState
	// Progress is the leader's view of each member (nil on followers).
	Progress map[uint64]ProgressStatus
	// LeadTransferee is the target of a transfer in progress, or None.
	LeadTransferee uint64
	// Repair is the node's progress in repairing lost state
	// (Config.Repair).
	Repair RepairStatus
}

// ProgressStatus is the leader's view of one member.
type ProgressStatus struct {
	Match, Next uint64
	State       string
	IsLearner   bool
}

// RepairStatus returns the node's progress in repairing lost state
// (Config.Repair); cheaper than Status.
func (n *Node) RepairStatus() RepairStatus { return n.r.repairStatus() }

// Status returns the node's current status.
func (n *Node) Status() Status {
	r := n.r
	cs := r.configs.current()
	s := Status{
		ID:             r.id,
		HardState:      r.hardState(),
		SoftState:      r.softState(),
		Applied:        r.log.applied,
		ConfState:      ConfState{Voters: slices.Clone(cs.Voters), Learners: slices.Clone(cs.Learners)},
		LeadTransferee: r.leadTransferee,
		Repair:         r.repairStatus(),
	}
	if r.state == StateLeader {
		s.Progress = make(map[uint64]ProgressStatus, len(r.prs))
		for id, pr := range r.prs {
			s.Progress[id] = ProgressStatus{Match: pr.match, Next: pr.next, State: pr.state.String(), IsLearner: pr.isLearner}
		}
	}
	return s
}
