package raftcore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
)

// ErrProposalDropped is returned when a proposal cannot be accepted now: no
// leader is known, a leadership transfer is under way, this node was
// removed, or (for a conf change) another change is still pending. The
// caller may retry later.
var ErrProposalDropped = errors.New("raftcore: proposal dropped")

// ErrStepLocalMsg is returned by Step for a message that is not a valid
// protocol message (an unknown type, or a termless one that must have a term).
var ErrStepLocalMsg = errors.New("raftcore: cannot step an invalid or local-only message")

// ErrStepPeerNotFound is returned by Step for a response from a node that
// is not a member.
var ErrStepPeerNotFound = errors.New("raftcore: cannot step a response from an unknown peer")

// ErrTermOutOfRange is returned by Step for a message whose term this
// node refuses: past MaxTerm (so that no term ever wraps around to 0), or,
// from a node that is not a member, more than MaxTermJump past this
// node's term.
var ErrTermOutOfRange = errors.New("raftcore: message term out of range")

// MaxTerm is the highest term a node takes: a message with a later term is
// refused, and a node at MaxTerm does not campaign, so a term never wraps
// around (2^63 elections: a cluster that elected a leader every
// millisecond would reach it in 292 million years; only a forged message
// can carry such a term).
const MaxTerm = 1 << 63

// MaxTermJump is how far past this node's term a message from a node
// that is not a member may carry it. Such a message is legitimate only
// from a leader that was added after this node's last log entry (this
// node is behind, or joining); a real cluster's terms advance by one per
// election.
const MaxTermJump = 1 << 32

// ErrImpossibleAck is returned by Step for an append response that
// acknowledges entries past the end of this leader's log. In a correct
// cluster that cannot happen: a term has one leader, and a follower
// acknowledges only what that leader sent it. It shows that a member
// broke its word — most likely it forgot a vote across a crash (a disk
// that acknowledged an fsync it did not do) and so helped elect a second
// leader in the term. The leader ignores the message rather than count
// the follower as holding entries it does not have.
var ErrImpossibleAck = errors.New("raftcore: a follower acknowledged entries this leader never had")

// ErrSnapshotMissing is returned by Ready when a follower needs a snapshot
// (the entries it lacks were compacted away) but storage has none. The
// storage lost the snapshot its compaction relied on — a disk that
// acknowledged writes it never made durable — or the application
// compacted without taking one. The node cannot bring that follower up to
// date; the application should stop it and repair or replace its data.
var ErrSnapshotMissing = errors.New("raftcore: storage has no snapshot, but its log is compacted")

// Config holds the parameters of a raft node.
type Config struct {
	// ID is this node's identity; it must not be 0.
	ID uint64
	// ElectionTick is the number of Ticks without hearing from a leader
	// after which a follower campaigns; the actual timeout is drawn at
	// random from [ElectionTick, 2*ElectionTick). 10 is typical.
	ElectionTick int
	// HeartbeatTick is the number of Ticks between a leader's heartbeats.
	// It must be smaller than ElectionTick; 1 is typical.
	HeartbeatTick int
	// Storage is the durable log, written by the application.
	Storage Storage
	// Applied is the last index the application has applied, when it
	// restarts with state newer than its latest snapshot.
	Applied uint64
	// MaxSizePerMsg bounds the bytes of entries in one append message.
	MaxSizePerMsg uint64
	// MaxCommittedSizePerReady bounds the bytes of committed entries
	// handed out in one Ready (0: 16 times MaxSizePerMsg).
	MaxCommittedSizePerReady uint64
	// MaxInflightMsgs bounds the appends in flight to one follower.
	MaxInflightMsgs int
	// MaxInflightBytes bounds the bytes in flight to one follower
	// (0: no limit beyond MaxInflightMsgs).
	MaxInflightBytes uint64
	// CheckQuorum makes a leader step down when it has not heard from a
	// quorum for an election timeout, and makes followers ignore vote
	// requests while they hear from a leader.
	CheckQuorum bool
	// PreVote runs a pre-election before each election, so that a node
	// that cannot win (partitioned, or behind) does not disrupt the
	// cluster by raising terms.
	PreVote bool
	// DisableProposalForwarding makes followers drop proposals instead of
	// forwarding them to the leader.
	DisableProposalForwarding bool
	// CheckConfChange, if set, holds the application's own rules for a
	// membership change (a peer address taken twice, a removed member
	// added back): the leader calls it when it takes a change, and
	// refuses the change with its error. The leader takes a change only
	// once it has applied every earlier one, so the application's state
	// it is checked against already holds them all: two changes that
	// conflict cannot both be taken, however they race. It must not
	// change any state.
	CheckConfChange func(cc ConfChange) error
	// UnsafeCommitAnyTerm is for mutation testing only: the leader commits
	// entries of earlier terms by counting replicas, the bug of figure 8
	// of the Raft paper (a committed entry can then be overwritten).
	// Never set it in production.
	UnsafeCommitAnyTerm bool
	// UnsafeAnySender is for mutation testing only: Step takes a message
	// from any sender at any term, a node that is not a member or a term
	// past MaxTerm (checkSender passes everything). Never set it in
	// production.
	UnsafeAnySender bool
	// Rand is the source of election jitter; required, so that runs are
	// reproducible.
	Rand *rand.Rand
	// Repair says the node's storage lost state the node may have
	// promised to others: entries it acknowledged, or the term and vote
	// it recorded (a disk that lost or corrupted data, not a crash). The
	// node then repairs itself from the quorum before it takes part again
	// (see repair.go): it does not vote or campaign, its leader counts it
	// toward no commit and no read, and it catches up from a leader whose
	// leadership a quorum without it confirmed after the restart. The
	// application must start every incarnation with Repair until the
	// repair finished (Status.Repair.Finished, in a persisted Ready).
	Repair bool
	// RepairedTerm is the term in which the node's repair finished, when
	// its hard state is still of that term: its answers in the term say
	// so (see repair.go). The application keeps it from the repair's
	// finish until a persisted Ready says SoftState.Repairing false.
	RepairedTerm uint64
	// RepairAttempt numbers the node's repair, with Repair or
	// RepairedTerm; required with either. The application keeps a count
	// on disk, with its record of the repair, that only grows: every
	// start with Repair counts one more, durably, before the node starts
	// (a start that lost state again, or that may have acknowledged
	// entries while repairing, is a new repair); a start with RepairedTerm
	// takes the count as it is. The node's repair reads and marked answers
	// carry the number, so that neither it nor its leader takes an answer
	// an earlier repair sent, delayed past a later loss, for one of the
	// current repair (repair.go).
	RepairAttempt uint64
}

func (c *Config) validate() error {
	switch {
	case c.ID == None:
		return errors.New("raftcore: config: ID must not be 0")
	case c.HeartbeatTick <= 0:
		return errors.New("raftcore: config: HeartbeatTick must be greater than 0")
	case c.ElectionTick <= c.HeartbeatTick:
		return errors.New("raftcore: config: ElectionTick must be greater than HeartbeatTick")
	case c.Storage == nil:
		return errors.New("raftcore: config: Storage is required")
	case c.Rand == nil:
		return errors.New("raftcore: config: Rand is required")
	case (c.Repair || c.RepairedTerm != 0) && c.RepairAttempt == 0:
		return errors.New("raftcore: config: Repair and RepairedTerm require RepairAttempt, the number of the node's repair (1 for its first)")
	}
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = 1 << 20
	}
	if c.MaxCommittedSizePerReady == 0 {
		c.MaxCommittedSizePerReady = 16 * c.MaxSizePerMsg
	}
	if c.MaxInflightMsgs <= 0 {
		c.MaxInflightMsgs = 256
	}
	return nil
}

// readRequest is a ReadIndex request waiting for its heartbeat round.
type readRequest struct {
	index uint64 // commit index when the request arrived
	seq   uint64 // heartbeat round that must be acknowledged by a quorum
	from  uint64 // requesting node (this node, or a follower)
	ctx   []byte
}

// raft is the protocol state machine. It never blocks, never reads a clock
// and never performs I/O: inputs are Step and Tick (and local requests),
// outputs are accumulated in msgs and read by Node.Ready.
type raft struct {
	id    uint64
	term  uint64
	vote  uint64
	state StateType
	lead  uint64
	log   *raftLog

	configs configs
	prs     map[uint64]*progress
	votes   map[uint64]bool

	// Messages to send. msgs may be sent at once; msgsAfterPersist only
	// after the Ready that carries them has been persisted.
	msgs             []Message
	msgsAfterPersist []Message
	// persistedTerm is the term of the last HardState the application
	// made durable. A leader's messages in that term do not depend on
	// anything unpersisted, so they may go out in parallel with its fsync.
	persistedTerm uint64

	electionElapsed int
	// ticked says the node has had its first tick: a sole voter
	// campaigns at once only then (tickElection).
	ticked                    bool
	heartbeatElapsed          int
	electionTimeout           int
	heartbeatTimeout          int
	randomizedElectionTimeout int
	checkQuorum               bool
	preVote                   bool
	disableForwarding         bool
	unsafeCommitAnyTerm       bool
	checkAppConfChange        func(ConfChange) error // Config.CheckConfChange
	unsafeAnySender           bool
	rand                      *rand.Rand

	maxMsgSize       uint64
	maxCommittedSize uint64
	maxInflight      int
	maxInflightBytes uint64

	// leadTransferee is the node a leadership transfer is handing to.
	leadTransferee uint64

	// ReadIndex state (leader): the heartbeat round counter, requests
	// waiting for a round, and requests waiting for the leader's first
	// commit in its term.
	heartbeatSeq      uint64
	pendingReads      []readRequest
	readsBeforeCommit []readRequest
	readStates        []ReadState

	// storageErr is a sticky failure of the storage that raft found while
	// stepping (a compacted log with no snapshot); Ready returns it.
	storageErr error

	// repair is set while the node repairs state its storage lost
	// (Config.Repair, repair.go).
	repair *repairState
}

func newRaft(c *Config) (*raft, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	hs, cs, err := c.Storage.InitialState()
	if err != nil {
		return nil, fmt.Errorf("raftcore: storage initial state: %w", err)
	}
	log, err := newRaftLog(c.Storage, c.Applied)
	if err != nil {
		return nil, err
	}
	r := &raft{
		id:                  c.ID,
		lead:                None,
		log:                 log,
		electionTimeout:     c.ElectionTick,
		heartbeatTimeout:    c.HeartbeatTick,
		checkQuorum:         c.CheckQuorum,
		preVote:             c.PreVote,
		disableForwarding:   c.DisableProposalForwarding,
		rand:                c.Rand,
		unsafeCommitAnyTerm: c.UnsafeCommitAnyTerm,
		checkAppConfChange:  c.CheckConfChange,
		unsafeAnySender:     c.UnsafeAnySender,
		maxMsgSize:          c.MaxSizePerMsg,
		maxCommittedSize:    c.MaxCommittedSizePerReady,
		maxInflight:         c.MaxInflightMsgs,
		maxInflightBytes:    c.MaxInflightBytes,
	}
	// Membership: the snapshot's, then every change in the log after it.
	r.configs.restore(cs)
	first, last := r.log.firstIndex(), r.log.lastIndex()
	if first <= last {
		ents, err := r.log.slice(first, last+1, ^uint64(0))
		if err != nil {
			return nil, fmt.Errorf("raftcore: reading log [%d,%d] for membership: %w", first, last, err)
		}
		r.configs.appendEntries(ents)
	}
	r.rebuildProgress()
	if !hs.IsEmpty() {
		if hs.Commit < r.log.committed || hs.Commit > last {
			return nil, fmt.Errorf("raftcore: hard state commit %d out of range [%d, %d]", hs.Commit, r.log.committed, last)
		}
		r.log.committed = hs.Commit
		r.term, r.vote = hs.Term, hs.Vote
	}
	if c.Applied > r.log.committed {
		return nil, fmt.Errorf("raftcore: applied index %d is beyond commit index %d", c.Applied, r.log.committed)
	}
	r.persistedTerm = r.term
	switch {
	case c.Repair:
		r.repair = &repairState{attempt: c.RepairAttempt}
	case c.RepairedTerm != 0 && c.RepairedTerm == r.term:
		r.repair = &repairState{attempt: c.RepairAttempt, finished: true}
	}
	r.becomeFollower(r.term, None)
	return r, nil
}

func (r *raft) hardState() HardState {
	return HardState{Term: r.term, Vote: r.vote, Commit: r.log.committed}
}

func (r *raft) softState() SoftState {
	return SoftState{Lead: r.lead, State: r.state, Repairing: r.repair != nil}
}

// --- membership ---------------------------------------------------------

func (r *raft) isVoter(id uint64) bool { return r.configs.current().IsVoter(id) }

// promotable reports whether this node may campaign: it is a voter, or its
// own removal is the newest change and is not committed yet. In the second
// case its log may hold the only copy of that change a new configuration
// needs to commit, so it must be able to lead until then (it counts only
// the votes of the new configuration's voters, and steps down once the
// change commits: see onCommit).
// soleVoter reports whether this member is the only voter of its
// configuration: its own vote is a quorum, no other member can win a
// term, so waiting out an election timeout before campaigning (there is
// no leader to hear from) only delays it.
func (r *raft) soleVoter() bool {
	v := r.configs.current().Voters
	return len(v) == 1 && v[0] == r.id
}

func (r *raft) promotable() bool {
	if r.repair != nil && !r.repair.finished {
		return false // it may have voted in any term it lost
	}
	if r.isVoter(r.id) {
		return true
	}
	n := len(r.configs.records)
	if n == 0 || r.configs.records[n-1].index <= r.log.committed {
		return false
	}
	prev := r.configs.base
	if n >= 2 {
		prev = r.configs.records[n-2].cs
	}
	return prev.IsVoter(r.id)
}

// rebuildProgress makes prs match the current membership, keeping the
// progress of members that stay.
func (r *raft) rebuildProgress() {
	cs := r.configs.current()
	old := r.prs
	r.prs = make(map[uint64]*progress, len(cs.Voters)+len(cs.Learners))
	add := func(id uint64, learner bool) {
		if pr, ok := old[id]; ok {
			pr.isLearner = learner
			r.prs[id] = pr
			return
		}
		// A new member is probed from our last index downwards.
		last := r.log.lastIndex()
		r.prs[id] = &progress{
			next:         last + 1,
			isLearner:    learner,
			recentActive: true,
			inflights:    newInflights(r.maxInflight, r.maxInflightBytes),
		}
		if id == r.id && r.state == StateLeader {
			r.prs[id].match = r.persistedIndex()
		}
	}
	for _, id := range cs.Voters {
		add(id, false)
	}
	for _, id := range cs.Learners {
		add(id, true)
	}
}

// persistedIndex is the last index this node has durably in its log (all
// of storage; unstable entries are not yet durable).
func (r *raft) persistedIndex() uint64 {
	i, err := r.log.storage.LastIndex()
	if err != nil {
		panic(fmt.Sprintf("raftcore: storage last index: %v", err))
	}
	if r.log.unstable.offset <= i {
		// Part of storage is being replaced by unstable entries.
		return r.log.unstable.offset - 1
	}
	return i
}

// onEntriesAppended updates membership after the log accepted ents
// (possibly replacing a suffix from ents[0].Index).
func (r *raft) onEntriesAppended(ents []Entry) {
	if len(ents) == 0 {
		return
	}
	before := r.configs.lastChangeIndex()
	r.configs.truncate(ents[0].Index)
	truncatedChange := r.configs.lastChangeIndex() != before
	hasChange := slices.ContainsFunc(ents, func(e Entry) bool { return e.Type == EntryConfChange })
	if !truncatedChange && !hasChange {
		return
	}
	r.configs.appendEntries(ents)
	r.rebuildProgress()
	if r.state == StateLeader && r.leadTransferee != None && !r.isVoter(r.leadTransferee) {
		r.abortLeaderTransfer()
	}
}

func (r *raft) quorum() int { return len(r.configs.current().Voters)/2 + 1 }

// --- sending ------------------------------------------------------------

func (r *raft) send(m Message) {
	m.From = r.id
	if r.repair != nil && (m.Type == MsgAppResp || m.Type == MsgHeartbeatResp) {
		m.Repairing, m.Repaired = !r.repair.finished, r.repair.finished
		m.RepairAttempt = r.repair.attempt
	}
	if m.Term == 0 && m.Type != MsgProp && m.Type != MsgReadIndex && m.Type != MsgTransferLeader {
		m.Term = r.term
	}
	if r.state == StateLeader && m.Term == r.term && r.persistedTerm == r.term {
		r.msgs = append(r.msgs, m)
		return
	}
	r.msgsAfterPersist = append(r.msgsAfterPersist, m)
}

// sendAppend sends to a follower the entries it lacks, or a snapshot if
// they were compacted. With sendIfEmpty it sends an empty append (to carry
// the commit index) when there is nothing new. It reports whether a
// message was sent.
func (r *raft) sendAppend(to uint64, sendIfEmpty bool) bool {
	pr := r.prs[to]
	if pr == nil || pr.isPaused() {
		return false
	}
	prevIndex := pr.next - 1
	prevTerm, errTerm := r.log.term(prevIndex)
	var ents []Entry
	var errEnts error
	if errTerm == nil {
		ents, errEnts = r.log.entries(pr.next, r.maxMsgSize)
	}
	if errors.Is(errTerm, ErrUnavailable) {
		// Progress never runs past the log (see ErrImpossibleAck).
		panic(fmt.Sprintf("raftcore: progress of %x is at %d, past the last index %d", to, pr.next, r.log.lastIndex()))
	}
	if errTerm != nil || errEnts != nil {
		return r.sendSnapshot(to, pr)
	}
	if len(ents) == 0 && !sendIfEmpty {
		return false
	}
	var bytes uint64
	for _, e := range ents {
		bytes += EntrySize(e)
	}
	r.send(Message{
		Type: MsgApp, To: to, Index: prevIndex, LogTerm: prevTerm,
		Entries: ents, Commit: r.log.committed,
	})
	last := prevIndex + uint64(len(ents))
	pr.sentEntries(last, len(ents), bytes)
	return true
}

// catchUp sends a follower that is behind whatever moves it forward, even
// when every append sent to it so far was lost.
func (r *raft) catchUp(to uint64, pr *progress) {
	if r.sendAppend(to, true) || pr.state != stateReplicate {
		return
	}
	// The window is full, maybe of lost messages. An empty append at
	// its end tells: the follower acknowledges it, or rejects it and we
	// probe from what it has.
	r.sendEmptyAppend(to, pr)
}

func (r *raft) sendEmptyAppend(to uint64, pr *progress) {
	prevTerm, err := r.log.term(pr.next - 1)
	if err != nil {
		// Compacted: the follower needs a snapshot anyway.
		pr.becomeProbe()
		r.sendAppend(to, false)
		return
	}
	r.send(Message{Type: MsgApp, To: to, Index: pr.next - 1, LogTerm: prevTerm, Commit: r.log.committed})
}

func (r *raft) sendSnapshot(to uint64, pr *progress) bool {
	if !pr.recentActive {
		// Do not ship a snapshot to a member that is probably down.
		return false
	}
	snap, err := r.log.storage.Snapshot()
	if err != nil {
		if errors.Is(err, ErrSnapshotTemporarilyUnavailable) {
			return false
		}
		panic(fmt.Sprintf("raftcore: storage snapshot: %v", err))
	}
	if snap.IsEmpty() {
		if r.storageErr == nil {
			r.storageErr = fmt.Errorf("%w: follower %x needs the entries from %d on, and the log starts at %d",
				ErrSnapshotMissing, to, pr.next, r.log.firstIndex())
		}
		return false
	}
	pr.becomeSnapshot(snap.Metadata.Index)
	r.send(Message{Type: MsgSnap, To: to, Snapshot: &snap})
	return true
}

func (r *raft) sendHeartbeat(to uint64) {
	pr := r.prs[to]
	// Never tell a follower to commit beyond what it is known to hold.
	commit := min(pr.match, r.log.committed)
	r.send(Message{Type: MsgHeartbeat, To: to, Commit: commit, Seq: r.heartbeatSeq})
}

func (r *raft) forEachPeer(f func(id uint64, pr *progress)) {
	// Iterate in id order: map order is random and runs must replay.
	ids := make([]uint64, 0, len(r.prs))
	for id := range r.prs {
		if id != r.id {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		f(id, r.prs[id])
	}
}

func (r *raft) bcastAppend() {
	r.forEachPeer(func(id uint64, _ *progress) { r.sendAppend(id, true) })
}

func (r *raft) bcastHeartbeat() {
	r.heartbeatSeq++
	r.forEachPeer(func(id uint64, _ *progress) { r.sendHeartbeat(id) })
}

// --- role changes -------------------------------------------------------

func (r *raft) reset(term uint64) {
	if r.term != term {
		r.term = term
		r.vote = None
		if r.repair != nil && r.repair.finished {
			r.repair = nil // its answers in the new term need no mark
		}
	}
	r.lead = None
	r.electionElapsed = 0
	r.heartbeatElapsed = 0
	r.resetRandomizedElectionTimeout()
	r.abortLeaderTransfer()
	r.votes = make(map[uint64]bool)
	last := r.log.lastIndex()
	for id, pr := range r.prs {
		*pr = progress{
			next:         last + 1,
			isLearner:    pr.isLearner,
			recentActive: true,
			inflights:    pr.inflights,
		}
		pr.inflights.reset()
		if id == r.id {
			pr.match = r.persistedIndex()
		}
	}
	r.pendingReads = nil
	r.readsBeforeCommit = nil
}

func (r *raft) resetRandomizedElectionTimeout() {
	r.randomizedElectionTimeout = r.electionTimeout + r.rand.IntN(r.electionTimeout)
}

func (r *raft) becomeFollower(term, lead uint64) {
	r.reset(term)
	r.lead = lead
	r.state = StateFollower
}

func (r *raft) becomePreCandidate() {
	if r.state == StateLeader {
		panic("raftcore: leader cannot become pre-candidate")
	}
	// A pre-candidate keeps its term and vote: nothing changes unless the
	// pre-election succeeds.
	r.votes = make(map[uint64]bool)
	r.lead = None
	r.state = StatePreCandidate
}

func (r *raft) becomeCandidate() {
	if r.state == StateLeader {
		panic("raftcore: leader cannot become candidate")
	}
	r.reset(r.term + 1)
	r.vote = r.id
	r.state = StateCandidate
}

func (r *raft) becomeLeader() {
	if r.state == StateFollower {
		panic("raftcore: follower cannot become leader without an election")
	}
	r.reset(r.term)
	r.lead = r.id
	r.state = StateLeader
	// Followers start in probe state; our own progress is what we have
	// persisted.
	if self := r.prs[r.id]; self != nil {
		self.becomeReplicate()
		self.match = r.persistedIndex()
	}
	// A leader cannot know which entries of earlier terms are committed
	// until it commits one of its own (§5.4.2): append a no-op now.
	r.appendEntries(Entry{Type: EntryNormal})
}

// --- elections ----------------------------------------------------------

// hup starts an election (or pre-election). transfer marks one started by
// a leadership transfer, which skips the pre-vote and overrides leases.
func (r *raft) hup(transfer bool) {
	if r.state == StateLeader || !r.promotable() || r.term >= MaxTerm {
		return
	}
	if r.preVote && !transfer {
		r.campaign(StatePreCandidate, false)
	} else {
		r.campaign(StateCandidate, transfer)
	}
}

func (r *raft) campaign(kind StateType, transfer bool) {
	var voteMsg MessageType
	var term uint64
	if kind == StatePreCandidate {
		r.becomePreCandidate()
		voteMsg, term = MsgPreVote, r.term+1
	} else {
		r.becomeCandidate()
		voteMsg, term = MsgVote, r.term
	}
	if r.poll(r.id, true) {
		// A single voter wins at once.
		if kind == StatePreCandidate {
			r.campaign(StateCandidate, transfer)
		} else {
			r.becomeLeader()
		}
		return
	}
	lastIndex, lastTerm := r.log.lastIndex(), r.log.lastTerm()
	for _, id := range r.configs.current().Voters {
		if id == r.id {
			continue
		}
		r.send(Message{Type: voteMsg, To: id, Term: term, Index: lastIndex, LogTerm: lastTerm, Transfer: transfer})
	}
}

// poll records a vote and reports whether the election is won.
func (r *raft) poll(id uint64, granted bool) (won bool) {
	if _, ok := r.votes[id]; !ok {
		r.votes[id] = granted
	}
	won, _ = r.tally()
	return won
}

func (r *raft) tally() (won, lost bool) {
	var granted, rejected int
	for _, id := range r.configs.current().Voters {
		v, ok := r.votes[id]
		if !ok {
			continue
		}
		if v {
			granted++
		} else {
			rejected++
		}
	}
	q := r.quorum()
	return granted >= q, rejected >= q
}

// --- ticks --------------------------------------------------------------

func (r *raft) tick() {
	if r.state == StateLeader {
		r.tickLeader()
	} else {
		r.tickElection()
	}
}

func (r *raft) tickElection() {
	r.tickRepair()
	r.electionElapsed++
	// The only voter of its configuration needs nobody's vote: at its
	// first tick (a start, a restart) it campaigns at once instead of
	// waiting out a timeout with no leader to hear from. Only then: a
	// member whose configuration is stale (a change cut from its log)
	// may take itself for the only voter, and campaigning at every tick
	// would drive the term up without end.
	first := !r.ticked
	r.ticked = true
	if r.promotable() && (r.electionElapsed >= r.randomizedElectionTimeout || first && r.soleVoter()) {
		r.electionElapsed = 0
		r.hup(false)
	}
}

func (r *raft) tickLeader() {
	r.heartbeatElapsed++
	r.electionElapsed++
	if r.electionElapsed >= r.electionTimeout {
		r.electionElapsed = 0
		if r.checkQuorum {
			if !r.quorumActive() {
				r.becomeFollower(r.term, None)
				return
			}
			for id, pr := range r.prs {
				if id != r.id {
					pr.recentActive = false
				}
			}
		}
		// A transfer that has not finished in an election timeout failed.
		r.abortLeaderTransfer()
	}
	if r.heartbeatElapsed >= r.heartbeatTimeout {
		r.heartbeatElapsed = 0
		r.bcastHeartbeat()
	}
}

// quorumActive reports whether a quorum of voters was heard from during the
// last election timeout.
func (r *raft) quorumActive() bool {
	active := 0
	for _, id := range r.configs.current().Voters {
		if pr := r.prs[id]; id == r.id || pr.recentActive && pr.repair != peerRepairing {
			active++
		}
	}
	return active >= r.quorum()
}

// --- Step ---------------------------------------------------------------

// fromLeaderOrCandidate reports whether t is a type of message a leader
// sends to its followers, or a candidate to the voters.
func fromLeaderOrCandidate(t MessageType) bool {
	switch t {
	case MsgApp, MsgHeartbeat, MsgSnap, MsgReadIndexResp, MsgVote, MsgPreVote:
		return true
	}
	return false
}

// checkSender refuses a message that its sender could not legitimately
// send. Local requests (From None or this node) pass. Any other:
//
//   - a term past MaxTerm is refused, so that no term ever wraps;
//   - from a member (a node whose progress is tracked), that is all;
//   - from a node that is not a member, only a leader's or a candidate's
//     messages are taken, and only while this node follows no live
//     leader but that sender: they are legitimate from a leader or a
//     candidate that was added after this node's last log entry (this
//     node is behind, or joining and knows no member yet), and from
//     anyone else they could only depose a leader or start an election.
//     Their term may be at most MaxTermJump past this node's.
func (r *raft) checkSender(m Message) error {
	if m.From == None || m.From == r.id || r.unsafeAnySender {
		return nil
	}
	if m.Term > MaxTerm {
		return fmt.Errorf("%w: %s from %x at term %d, past the highest term %d", ErrTermOutOfRange, m.Type, m.From, m.Term, uint64(MaxTerm))
	}
	if _, member := r.prs[m.From]; member {
		return nil
	}
	if !fromLeaderOrCandidate(m.Type) {
		return fmt.Errorf("%w: %s from %x, which is not a member", ErrStepPeerNotFound, m.Type, m.From)
	}
	if r.inLease() && m.From != r.lead {
		return fmt.Errorf("%w: %s from %x, which is not a member, while %x leads", ErrStepPeerNotFound, m.Type, m.From, r.lead)
	}
	if m.Term > r.term && m.Term-r.term > MaxTermJump {
		return fmt.Errorf("%w: %s from %x, which is not a member, at term %d, %d past this node's term %d",
			ErrTermOutOfRange, m.Type, m.From, m.Term, m.Term-r.term, r.term)
	}
	return nil
}

// inLease reports whether this node hears from a leader (itself, or the
// one it follows) and so ignores requests to replace it (CheckQuorum).
func (r *raft) inLease() bool {
	return r.checkQuorum && r.lead != None && r.electionElapsed < r.electionTimeout
}

func (r *raft) step(m Message) error {
	if !m.Type.Valid() {
		return fmt.Errorf("%w: type %d", ErrStepLocalMsg, m.Type)
	}
	if err := r.checkSender(m); err != nil {
		return err
	}
	switch {
	case m.Term == 0:
		// Forwarded requests carry no term.
		if m.Type != MsgProp && m.Type != MsgReadIndex && m.Type != MsgTransferLeader {
			return fmt.Errorf("%w: %s without a term", ErrStepLocalMsg, m.Type)
		}
	case m.Term > r.term:
		if m.Type == MsgVote || m.Type == MsgPreVote {
			// Leader lease: while we hear from a leader, ignore requests
			// to replace it, unless the leader itself asked (transfer).
			if r.inLease() && !m.Transfer {
				return nil
			}
		}
		switch {
		case m.Type == MsgPreVote:
			// A pre-vote does not change our term.
		case m.Type == MsgPreVoteResp && !m.Reject:
			// A granted pre-vote carries the future term; keep ours
			// until the real election.
		default:
			if m.Type == MsgApp || m.Type == MsgHeartbeat || m.Type == MsgSnap {
				r.becomeFollower(m.Term, m.From)
			} else {
				r.becomeFollower(m.Term, None)
			}
		}
	case m.Term < r.term:
		if (r.checkQuorum || r.preVote) && (m.Type == MsgHeartbeat || m.Type == MsgApp) {
			// A stale leader that cannot learn our term otherwise (our
			// pre-votes never raise it): tell it, so it steps down.
			r.send(Message{Type: MsgAppResp, To: m.From})
		} else if m.Type == MsgPreVote {
			r.send(Message{Type: MsgPreVoteResp, To: m.From, Reject: true})
		} else if m.Type == MsgVote {
			// Figure 2: reply false, with our term so the stale
			// candidate steps down.
			r.send(Message{Type: MsgVoteResp, To: m.From, Reject: true})
		}
		return nil
	}

	switch m.Type {
	case MsgVote, MsgPreVote:
		r.handleVoteRequest(m)
		return nil
	}
	switch r.state {
	case StateLeader:
		return r.stepLeader(m)
	case StateCandidate, StatePreCandidate:
		return r.stepCandidate(m)
	default:
		return r.stepFollower(m)
	}
}

func (r *raft) handleVoteRequest(m Message) {
	respType := MsgVoteResp
	if m.Type == MsgPreVote {
		respType = MsgPreVoteResp
	}
	if r.repair != nil && !r.repair.finished {
		// It may have voted in this term already, and forgotten.
		r.send(Message{Type: respType, To: m.From, Term: r.term, Reject: true})
		return
	}
	// We can vote for m.From if we already did in this term, or have not
	// voted and know no leader; a pre-vote for a future term is always
	// open.
	canVote := r.vote == m.From ||
		(r.vote == None && r.lead == None) ||
		(m.Type == MsgPreVote && m.Term > r.term)
	if canVote && r.log.isUpToDate(m.Index, m.LogTerm) {
		// Answer in the term of the request, so the candidate counts it.
		r.send(Message{Type: respType, To: m.From, Term: m.Term})
		if m.Type == MsgVote {
			r.electionElapsed = 0
			r.vote = m.From
		}
		return
	}
	r.send(Message{Type: respType, To: m.From, Term: r.term, Reject: true})
}

func (r *raft) stepCandidate(m Message) error {
	myResp := MsgVoteResp
	if r.state == StatePreCandidate {
		myResp = MsgPreVoteResp
	}
	switch m.Type {
	case MsgProp:
		return ErrProposalDropped
	case MsgReadIndex, MsgTransferLeader:
		return nil // no leader to forward to
	case MsgApp:
		r.becomeFollower(m.Term, m.From)
		r.handleAppend(m)
	case MsgHeartbeat:
		r.becomeFollower(m.Term, m.From)
		r.handleHeartbeat(m)
	case MsgSnap:
		r.becomeFollower(m.Term, m.From)
		r.handleSnapshot(m)
	case myResp:
		r.poll(m.From, !m.Reject)
		switch won, lost := r.tally(); {
		case won:
			if r.state == StatePreCandidate {
				r.campaign(StateCandidate, false)
			} else {
				r.becomeLeader()
				r.bcastAppend()
			}
		case lost:
			r.becomeFollower(r.term, None)
		}
	case MsgTimeoutNow:
		// Already campaigning.
	}
	return nil
}

func (r *raft) stepFollower(m Message) error {
	switch m.Type {
	case MsgProp:
		if r.lead == None || r.disableForwarding {
			return ErrProposalDropped
		}
		m.To = r.lead
		r.send(m)
	case MsgApp:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleAppend(m)
	case MsgHeartbeat:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleHeartbeat(m)
	case MsgSnap:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleSnapshot(m)
	case MsgTransferLeader:
		if r.lead == None {
			return nil
		}
		m.To = r.lead
		r.send(m)
	case MsgTimeoutNow:
		// The leader hands us leadership: campaign at once, skipping
		// the pre-vote (we know we are up to date) and the lease. Only
		// the leader may (anyone else would force an election).
		if m.From != r.lead {
			return fmt.Errorf("%w: MsgTimeoutNow from %x, which is not the leader (%x)", ErrStepPeerNotFound, m.From, r.lead)
		}
		r.hup(true)
	case MsgReadIndex:
		if r.lead == None {
			return ErrProposalDropped
		}
		m.To = r.lead
		r.send(m)
	case MsgReadIndexResp:
		if isRepairRead(m.Context) {
			r.repairReadAnswered(m)
			break
		}
		r.readStates = append(r.readStates, ReadState{Index: m.Index, RequestCtx: m.Context})
	}
	r.maybeFinishRepair()
	return nil
}

func (r *raft) handleAppend(m Message) {
	if m.Index < r.log.committed {
		// Old news: everything up to committed is settled.
		r.send(Message{Type: MsgAppResp, To: m.From, Index: r.log.committed})
		return
	}
	if lastNew, truncatedAt, ok := r.log.maybeAppend(m.Index, m.LogTerm, m.Commit, m.Entries); ok {
		if truncatedAt != 0 {
			r.onEntriesAppended(m.Entries[truncatedAt-m.Index-1:])
		}
		r.send(Message{Type: MsgAppResp, To: m.From, Index: lastNew})
		return
	}
	// Consistency check failed. Hint the highest index where our logs may
	// still match: at or below min(m.Index, our last), with a term no
	// greater than the leader's term at m.Index.
	hintIndex := min(m.Index, r.log.lastIndex())
	hintIndex, hintTerm := r.log.findConflictByTerm(hintIndex, m.LogTerm)
	r.send(Message{Type: MsgAppResp, To: m.From, Index: m.Index, Reject: true, RejectHint: hintIndex, LogTerm: hintTerm})
}

func (r *raft) handleHeartbeat(m Message) {
	if r.repair == nil || r.repair.finished {
		// A repairing node commits only what an append checked: the
		// leader's view of its log, by which it caps the heartbeat's
		// commit index, may predate what the node lost.
		r.log.commitTo(min(m.Commit, r.log.lastIndex()))
	}
	r.send(Message{Type: MsgHeartbeatResp, To: m.From, Seq: m.Seq})
}

func (r *raft) handleSnapshot(m Message) {
	if m.Snapshot == nil {
		return
	}
	if r.restore(*m.Snapshot) {
		r.send(Message{Type: MsgAppResp, To: m.From, Index: r.log.lastIndex()})
		return
	}
	r.send(Message{Type: MsgAppResp, To: m.From, Index: r.log.committed})
}

// restore installs a snapshot from the leader, if it tells us something
// new. It reports whether the log was replaced.
func (r *raft) restore(s Snapshot) bool {
	if s.Metadata.Index <= r.log.committed {
		return false
	}
	if r.log.matchTerm(s.Metadata.Index, s.Metadata.Term) {
		// We already have the entry: just fast-forward the commit.
		r.log.commitTo(s.Metadata.Index)
		return false
	}
	r.log.restore(s)
	r.configs.restore(s.Metadata.ConfState)
	r.rebuildProgress()
	return true
}

// --- leader -------------------------------------------------------------

func (r *raft) appendEntries(es ...Entry) {
	last := r.log.lastIndex()
	for i := range es {
		es[i].Term = r.term
		es[i].Index = last + 1 + uint64(i)
	}
	r.log.append(es...)
	r.onEntriesAppended(es)
	// Our own progress advances only when the entries are persisted (see
	// Node.Advance): the leader counts itself after its fsync.
	if self := r.prs[r.id]; self != nil {
		self.next = r.log.lastIndex() + 1
	}
}

// committedInTerm reports whether the leader has committed an entry of its
// own term (before that, its commit index may lag the true one).
func (r *raft) committedInTerm() bool {
	return r.log.zeroTermOnOutOfBounds(r.log.committed) == r.term
}

func (r *raft) stepLeader(m Message) error {
	switch m.Type {
	case MsgProp:
		return r.propose(m.Entries)
	case MsgReadIndex:
		if pr := r.prs[m.From]; pr != nil && m.From != r.id && isRepairRead(m.Context) && r.repairReadReceived(m.From, pr, m.Context) {
			return nil // an earlier repair's: nobody waits for the answer
		}
		r.readIndex(m.From, m.Context)
		return nil
	case MsgTransferLeader:
		r.transferLeader(m.Index)
		return nil
	}
	pr := r.prs[m.From]
	if pr == nil {
		return ErrStepPeerNotFound
	}
	switch m.Type {
	case MsgAppResp:
		if last := r.log.lastIndex(); !m.Reject && m.Index > last {
			return fmt.Errorf("%w: %x acknowledges index %d in term %d, where this leader's log ends at %d",
				ErrImpossibleAck, m.From, m.Index, r.term, last)
		}
		if r.staleRepairAnswer(m, pr) {
			return nil
		}
		pr.recentActive = true
		r.handleAppendResponse(m, pr)
	case MsgHeartbeatResp:
		if r.staleRepairAnswer(m, pr) {
			return nil
		}
		pr.recentActive = true
		pr.probeSent = false
		pr.ackedSeq = max(pr.ackedSeq, m.Seq)
		if pr.match < r.log.lastIndex() {
			r.catchUp(m.From, pr)
		}
		r.releaseConfirmedReads()
	}
	return nil
}

func (r *raft) propose(ents []Entry) error {
	if len(ents) == 0 {
		return nil
	}
	if _, ok := r.prs[r.id]; !ok {
		// Removed from the cluster: we cannot lead it.
		return ErrProposalDropped
	}
	if r.leadTransferee != None {
		return ErrProposalDropped
	}
	for _, e := range ents {
		if e.Type != EntryConfChange {
			continue
		}
		if err := r.checkConfChange(e); err != nil {
			return err
		}
	}
	// Copy so that the caller's slice is never rewritten.
	own := append([]Entry(nil), ents...)
	// If this appended our own removal, we keep leading (without
	// counting ourselves) until it commits, then step down: see onCommit.
	r.appendEntries(own...)
	r.bcastAppend()
	return nil
}

// checkConfChange enforces the rules that keep single-server changes safe:
// only after the leader committed in its term, one at a time, each valid.
func (r *raft) checkConfChange(e Entry) error {
	if !r.committedInTerm() {
		return fmt.Errorf("%w: leader has not committed an entry of its term yet", ErrProposalDropped)
	}
	if r.configs.lastChangeIndex() > r.log.committed {
		return fmt.Errorf("%w: a membership change is still pending", ErrProposalDropped)
	}
	var cc ConfChange
	if err := cc.UnmarshalBinary(e.Data); err != nil {
		return fmt.Errorf("raftcore: invalid conf change entry: %w", err)
	}
	if _, err := r.configs.current().WithChange(cc); err != nil {
		return err
	}
	if r.checkAppConfChange == nil {
		return nil
	}
	if r.configs.lastChangeIndex() > r.log.applied {
		return fmt.Errorf("%w: the last membership change is not applied yet", ErrProposalDropped)
	}
	return r.checkAppConfChange(cc)
}

func (r *raft) handleAppendResponse(m Message, pr *progress) {
	if m.Reject {
		next := m.RejectHint
		if m.LogTerm > 0 {
			// Skip every entry of ours whose term is above the
			// follower's term at the hint: none of them can match.
			next, _ = r.log.findConflictByTerm(m.RejectHint, m.LogTerm)
		}
		if pr.maybeDecrTo(m.Index, next) {
			if pr.state == stateReplicate {
				pr.becomeProbe()
			}
			r.sendAppend(m.From, false)
		}
		return
	}
	oldPaused := pr.isPaused()
	if !pr.maybeUpdate(m.Index) {
		return
	}
	switch {
	case pr.state == stateProbe:
		pr.becomeReplicate()
	case pr.state == stateSnapshot && pr.match >= pr.pendingSnapshot:
		pr.becomeProbe()
		pr.becomeReplicate()
	case pr.state == stateReplicate:
		pr.inflights.freeLE(m.Index)
	}
	if r.maybeCommit() {
		r.bcastAppend()
	} else if oldPaused {
		r.sendAppend(m.From, false)
	}
	// Stream as much as the window allows.
	for r.state == StateLeader && r.sendAppend(m.From, false) {
	}
	if r.state == StateLeader && m.From == r.leadTransferee && pr.match == r.log.lastIndex() {
		r.send(Message{Type: MsgTimeoutNow, To: m.From})
	}
}

// maybeCommit advances the commit index to the highest index stored on a
// quorum of voters, if that entry is of the current term.
func (r *raft) maybeCommit() bool {
	voters := r.configs.current().Voters
	matches := make([]uint64, 0, len(voters))
	for _, id := range voters {
		if pr := r.prs[id]; pr.repair != peerRepairing {
			matches = append(matches, pr.match)
		} else {
			matches = append(matches, 0) // it counts toward no commit
		}
	}
	slices.Sort(matches)
	// With n voters sorted ascending, the quorum-th highest is at n-q.
	mci := matches[len(matches)-r.quorum()]
	term := r.term
	if r.unsafeCommitAnyTerm {
		term = r.log.zeroTermOnOutOfBounds(mci) // the figure 8 bug, on purpose
	}
	if !r.log.maybeCommit(mci, term) {
		return false
	}
	r.onCommit()
	return true
}

// onCommit runs leader duties that wait for the commit index to move.
func (r *raft) onCommit() {
	if r.committedInTerm() && len(r.readsBeforeCommit) > 0 {
		reads := r.readsBeforeCommit
		r.readsBeforeCommit = nil
		for _, rr := range reads {
			r.readIndex(rr.from, rr.ctx)
		}
	}
	if !r.isVoter(r.id) && r.committedInTerm() && r.log.committed >= r.configs.lastChangeIndex() {
		// A leader outside the configuration leads only until that
		// configuration is committed (thesis §4.2.2).
		r.bcastAppend() // let the others learn the commit before we go
		r.becomeFollower(r.term, None)
	}
}

// --- ReadIndex ----------------------------------------------------------

// readIndex handles a linearizable read request (§6.4 of the thesis): note
// the commit index, confirm leadership with a heartbeat round, and then the
// read may be served once the state machine has applied that index.
func (r *raft) readIndex(from uint64, ctx []byte) {
	if !r.committedInTerm() {
		// Our commit index may still be behind the cluster's; wait for
		// our first commit in this term.
		r.readsBeforeCommit = append(r.readsBeforeCommit, readRequest{from: from, ctx: ctx})
		return
	}
	req := readRequest{index: r.log.committed, from: from, ctx: ctx}
	if r.quorum() == 1 {
		r.releaseRead(req)
		return
	}
	r.bcastHeartbeat()
	req.seq = r.heartbeatSeq
	r.pendingReads = append(r.pendingReads, req)
}

// releaseConfirmedReads answers every read whose heartbeat round (or a
// later one) has been acknowledged by a quorum.
func (r *raft) releaseConfirmedReads() {
	if len(r.pendingReads) == 0 {
		return
	}
	voters := r.configs.current().Voters
	acked := make([]uint64, 0, len(voters))
	for _, id := range voters {
		switch pr := r.prs[id]; {
		case id == r.id:
			acked = append(acked, r.heartbeatSeq)
		case pr.repair == peerRepairing:
			acked = append(acked, 0) // it confirms no read
		default:
			acked = append(acked, pr.ackedSeq)
		}
	}
	slices.Sort(acked)
	confirmed := acked[len(acked)-r.quorum()]
	n := 0
	for n < len(r.pendingReads) && r.pendingReads[n].seq <= confirmed {
		r.releaseRead(r.pendingReads[n])
		n++
	}
	r.pendingReads = r.pendingReads[n:]
}

func (r *raft) releaseRead(req readRequest) {
	if req.from == r.id || req.from == None {
		r.readStates = append(r.readStates, ReadState{Index: req.index, RequestCtx: req.ctx})
		return
	}
	r.send(Message{Type: MsgReadIndexResp, To: req.from, Index: req.index, Context: req.ctx})
}

// --- leadership transfer ------------------------------------------------

func (r *raft) transferLeader(to uint64) {
	if to == r.id || !r.isVoter(to) || r.leadTransferee == to || r.prs[to].repair == peerRepairing {
		return
	}
	r.abortLeaderTransfer()
	// The transfer must finish within one election timeout.
	r.electionElapsed = 0
	r.leadTransferee = to
	if pr := r.prs[to]; pr.match == r.log.lastIndex() {
		r.send(Message{Type: MsgTimeoutNow, To: to})
	} else {
		r.catchUp(to, pr)
	}
}

func (r *raft) abortLeaderTransfer() { r.leadTransferee = None }

// --- persistence feedback ------------------------------------------------

// onPersisted is told that the log up to (index, term) is durable.
func (r *raft) onPersisted(index, term uint64) {
	if r.state != StateLeader || term != r.term {
		return
	}
	pr := r.prs[r.id]
	if pr == nil {
		// Our removal was appended; we no longer count.
		return
	}
	if pr.maybeUpdate(index) && r.maybeCommit() {
		r.bcastAppend()
	}
}
