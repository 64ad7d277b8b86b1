package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/cairndb/cairn/raftcore"
)

// ErrStopped is returned for requests the core can no longer answer.
var ErrStopped = errors.New("node: member stopped")

// ErrNoLeader is returned when a request needs a leader and none is known.
var ErrNoLeader = errors.New("node: no leader")

// ErrOutcomeUnknown answers the proposals a member was waiting for when it
// installed a snapshot from the leader: the snapshot may hold a
// proposal's effect, which the member then never applies as an entry, so
// it cannot tell whether the proposal was applied. Like a timeout, it
// says the request may or may not have happened: never propose it again
// blindly.
var ErrOutcomeUnknown = errors.New("node: the member installed the leader's snapshot while the request waited for its entry; it may or may not have been applied")

// Event is an input to the Core.
type Event interface{ isEvent() }

// EvTick advances the core's logical clock by one raft tick.
type EvTick struct{}

// EvMessage delivers a raft message from a peer.
type EvMessage struct{ Msg raftcore.Message }

// EvPropose asks to replicate and apply a command. The core seals the
// envelope (its header, and the origin of the member's own commands) and
// answers with a Reply carrying ReqID once the command is applied (or
// fails).
type EvPropose struct {
	ReqID uint64
	Cmd   Envelope
}

// EvProposeConfChange asks for a membership change.
type EvProposeConfChange struct {
	ReqID uint64
	CC    raftcore.ConfChange
}

// EvRead asks for a linearizable read barrier: the Reply comes when the
// state machine has applied everything committed before the request
// arrived, so a read served then is linearizable.
type EvRead struct{ ReqID uint64 }

// EvCancel forgets a request (its caller gave up); no Reply is sent.
type EvCancel struct{ ReqID uint64 }

// EvSnapshotStatus reports whether a snapshot sent to a peer arrived.
type EvSnapshotStatus struct {
	To     uint64
	Failed bool
}

// EvUnreachable reports that a message to a peer could not be sent.
type EvUnreachable struct{ To uint64 }

// EvTransferLeader asks the leader to hand leadership to To.
type EvTransferLeader struct{ To uint64 }

func (EvTick) isEvent()              {}
func (EvMessage) isEvent()           {}
func (EvPropose) isEvent()           {}
func (EvProposeConfChange) isEvent() {}
func (EvRead) isEvent()              {}
func (EvCancel) isEvent()            {}
func (EvSnapshotStatus) isEvent()    {}
func (EvUnreachable) isEvent()       {}
func (EvTransferLeader) isEvent()    {}

// Reply is the answer to a request event.
type Reply struct {
	ReqID  uint64
	Result any
	Err    error
}

// Effects is what the core asks its driver to do after a Step: send
// messages (in order), deliver replies.
type Effects struct {
	Messages []raftcore.Message
	Replies  []Reply
	// LeaderChanged is set when the known leader changed; Leader is it.
	LeaderChanged bool
	Leader        uint64
	// Refused are the forwarded proposals (OriginChecker) and the
	// out-of-range messages this member did not take, and why: for the
	// driver to log.
	Refused []error
}

// DefaultSnapshotBytes is CoreConfig.SnapshotBytes's default: a restart
// reads about this much of the log.
const DefaultSnapshotBytes = 128 << 20

// DefaultCatchUpBytes is CoreConfig.CatchUpBytes's default: with
// values of 64 KiB, 5,000 catch-up entries would keep 320 MiB in memory;
// this keeps about 1,000 of them (a follower behind by more gets a
// snapshot), and never fewer than the entries of 256 bytes that
// CatchUpEntries keeps.
const DefaultCatchUpBytes = 64 << 20

// DefaultSnapshotCount is how many applied entries trigger a snapshot
// when CoreConfig.SnapshotCount is 0 (etcd's default).
const DefaultSnapshotCount = 10000

// CoreConfig configures a Core.
type CoreConfig struct {
	ID            uint64
	ElectionTick  int
	HeartbeatTick int
	// AdvanceElectionTicks starts raft's election clock ElectionTick-1
	// ticks in: a member that hears no leader campaigns within one
	// election timeout of starting (its randomized timeout is one to two
	// election timeouts) instead of one to two. A lone voter is leader
	// almost at once; in a cluster, pre-vote and check-quorum keep a
	// member that restarts under a live leader from disturbing it.
	AdvanceElectionTicks bool
	// SnapshotCount is how many applied entries trigger a snapshot.
	SnapshotCount uint64
	// SnapshotBytes triggers a snapshot too, once the entries applied
	// since the last one hold this many bytes (0: DefaultSnapshotBytes):
	// with large values a count alone lets the log a restart reads, and
	// the memory it keeps, grow with the values' size.
	SnapshotBytes uint64
	// CatchUpEntries is how many entries a snapshot keeps in the log for
	// slow followers (so that they need not receive a whole snapshot).
	CatchUpEntries uint64
	// CatchUpBytes bounds the data of those entries (0:
	// DefaultCatchUpBytes): the log keeps them in memory, so with large
	// values a count alone would let its memory grow with their size.
	CatchUpBytes uint64
	// Peers are the initial voters, for a new cluster (empty to join).
	Peers []raftcore.Peer
	Rand  *rand.Rand
	// UnsafeSkipRepair is for mutation testing only: a member whose
	// disk lost data it acknowledged starts as if it had lost nothing
	// (see repair.go). Never set it in production.
	UnsafeSkipRepair bool
	// UnsafeAnySender is for mutation testing only: raft takes messages
	// from non-members and at any term (raftcore.Config.UnsafeAnySender).
	// Never set it in production.
	UnsafeAnySender bool
	// UnsafeAnyOrigin is for mutation testing only: as the leader, the
	// core appends a forwarded command that names another member, or
	// another term, as its origin (see checkForwarded). Never set it in
	// production.
	UnsafeAnyOrigin bool
}

// Core is the single-threaded heart of a member: raft, the log and the
// state machine, stepped by events with effects out. It performs its disk
// I/O through the RaftLog and StateMachine it is given (which use an
// injected file system) and nothing else: no goroutines, no clock, no
// network. The production driver runs it in one goroutine; the simulator
// runs many of them in one event loop.
type Core struct {
	cfg  CoreConfig
	raft *raftcore.Node
	log  RaftLog
	sm   StateMachine

	// tag marks the entries this incarnation of the member proposed: a
	// random number drawn at start (never 0). Followers forward proposals
	// to the leader, so an entry proposed here may be applied anywhere;
	// only the member whose tag it carries answers for it, and a
	// restarted member (new tag) never mistakes its old entries for new
	// requests. seq numbers its proposals from 1, in the order they are
	// proposed: the entry header carries tag and number, by which the
	// state machine applies a duplicated proposal once (dedup.go).
	tag           uint64
	seq           uint64
	applied       uint64
	smApplied     uint64 // the state machine's durable index at start
	snapshotIndex uint64
	appliedBytes  uint64 // of the entries applied since the last snapshot (or the start)
	confState     raftcore.ConfState
	lead          uint64
	role          raftcore.StateType

	// proposals fed since the last Run, proposed together, with their
	// request ids and sequence numbers.
	proposals    []Envelope
	proposalIDs  []uint64
	proposalSeqs []uint64
	// proposals waiting for their entry to be applied: the sequence
	// number of each request id, and the request id of each number.
	waiting map[uint64]uint64
	bySeq   map[uint64]uint64
	// props is AdmitProposals' argument, reused.
	props []Proposal
	// Reads wait in two groups: those not yet covered by a ReadIndex
	// round, and those of the round in flight (its context is readSeq).
	readsQueued   []uint64
	readsInFlight []uint64
	readSeq       uint64
	// readsReady wait for the state machine to reach readIndex.
	readsReady []readBatch
	// readRoundTicks counts ticks since the read round started; a round
	// that takes an election timeout was lost and is retried.
	readRoundTicks int

	out Effects
	// send, if set (SetSender), takes messages as soon as they may leave,
	// instead of their waiting in out until the step ends.
	send func([]raftcore.Message)
	err  error // a fatal storage error: the core stops

	// Repair of data the disk lost (repair.go): what was lost ("" if
	// nothing), whether raft's repair is under way, the state machine's
	// index at start until the cluster confirms it committed (0 then, or
	// if nothing needs confirming), and why the state machine turned out
	// ahead of the cluster, if it did.
	damage      string
	repairing   bool
	unconfirmed uint64
	ahead       error
}

type readBatch struct {
	index uint64
	ids   []uint64
}

// NewCore starts a core on a log and state machine (both possibly holding
// state from before a restart).
func NewCore(cfg CoreConfig, log RaftLog, sm StateMachine) (*Core, error) {
	if cfg.SnapshotCount == 0 {
		cfg.SnapshotCount = DefaultSnapshotCount
	}
	if cfg.CatchUpEntries == 0 {
		cfg.CatchUpEntries = min(cfg.SnapshotCount, 5000)
	}
	if cfg.SnapshotBytes == 0 {
		cfg.SnapshotBytes = DefaultSnapshotBytes
	}
	if cfg.CatchUpBytes == 0 {
		cfg.CatchUpBytes = DefaultCatchUpBytes
	}
	snap, err := log.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("node: read snapshot: %w", err)
	}
	if sm.AppliedIndex() < snap.Metadata.Index {
		// The state machine is older than the log's snapshot: a crash
		// came after the log recorded a snapshot from the leader, before
		// the state machine installed it.
		if err := sm.Restore(snap.Metadata.Index); err != nil {
			return nil, fmt.Errorf("node: restore snapshot at %d: %w", snap.Metadata.Index, err)
		}
	}
	if err := sm.DropReceivedSnapshots(); err != nil {
		return nil, fmt.Errorf("node: drop the snapshots received before the restart: %w", err)
	}
	// A disk that lost data the member had acknowledged: raft repairs
	// it from the quorum (repair.go).
	damage, err := findDamage(log, sm)
	if err != nil {
		return nil, err
	}
	var repairedTerm uint64
	if damage == "" {
		repairedTerm = log.RepairedTerm()
	}
	if cfg.UnsafeSkipRepair {
		damage, repairedTerm = "", 0
	}
	attempt, err := repairAttempt(log, damage, repairedTerm)
	if err != nil {
		return nil, err
	}
	// Raft replays the log from the snapshot on: entries the state
	// machine already holds are skipped (see applyEntry), but their
	// membership changes are tracked again.
	applied := snap.Metadata.Index
	// Bootstrap membership changes carry the same header as proposed
	// ones (all zero: nobody waits for them).
	peers := make([]raftcore.Peer, len(cfg.Peers))
	for i, p := range cfg.Peers {
		peers[i] = raftcore.Peer{ID: p.ID, Context: (&Envelope{Payload: p.Context}).Marshal()}
	}
	rn, err := raftcore.NewNode(raftcore.Config{
		ID:              cfg.ID,
		ElectionTick:    cfg.ElectionTick,
		HeartbeatTick:   cfg.HeartbeatTick,
		Storage:         log,
		Applied:         applied,
		MaxSizePerMsg:   1 << 20,
		MaxInflightMsgs: 256,
		CheckQuorum:     true,
		PreVote:         true,
		Rand:            cfg.Rand,
		Repair:          damage != "",
		RepairedTerm:    repairedTerm,
		RepairAttempt:   attempt,
		UnsafeAnySender: cfg.UnsafeAnySender,
		CheckConfChange: func(cc raftcore.ConfChange) error {
			// The proposer's request header comes first in the context.
			var body []byte
			if len(cc.Context) >= headerSize {
				body = cc.Context[headerSize:]
			}
			return sm.CheckConfChange(cc, body)
		},
	}, peers)
	if err != nil {
		return nil, err
	}
	if cfg.AdvanceElectionTicks {
		for range cfg.ElectionTick - 1 {
			rn.Tick()
		}
	}
	c := &Core{
		cfg:           cfg,
		raft:          rn,
		log:           log,
		sm:            sm,
		applied:       applied,
		smApplied:     sm.AppliedIndex(),
		snapshotIndex: snap.Metadata.Index,
		confState:     snap.Metadata.ConfState,
		waiting:       map[uint64]uint64{},
		bySeq:         map[uint64]uint64{},
		damage:        damage,
		repairing:     rn.Status().SoftState.Repairing,
	}
	if repairedTerm != 0 && !c.repairing {
		// Repaired in a term that is over: nothing left to mark.
		if err := log.ClearRepair(); err != nil {
			return nil, fmt.Errorf("node: forget the repair: %w", err)
		}
	}
	if damage != "" {
		c.unconfirmed = sm.AppliedIndex()
	}
	for c.tag == 0 {
		if cfg.Rand != nil {
			c.tag = cfg.Rand.Uint64()
		} else {
			c.tag = rand.Uint64()
		}
	}
	return c, nil
}

// SetSender makes the core hand messages to send around each fsync of
// its log instead of collecting them in Effects.Messages until the end of
// the step: before the fsync, every message so far (a leader's appends
// leave while it writes its own log, so that the followers' fsyncs run in
// parallel with its own), and right after it the messages that promise
// what it made durable (a follower's acknowledgement leaves before the
// follower applies anything). The messages of a step that syncs nothing
// still come out in Effects. send gets the messages in order and must not
// block (the driver passes Transport.Send). Without a sender, as in the
// simulator, every message of a step comes out in Effects.
func (c *Core) SetSender(send func([]raftcore.Message)) { c.send = send }

// Status returns raft's status.
func (c *Core) Status() raftcore.Status { return c.raft.Status() }

// Leader is the member this core believes leads, or 0.
func (c *Core) Leader() uint64 { return c.lead }

// Err is the fatal error that stopped the core, if any.
func (c *Core) Err() error { return c.err }

// Step processes one event and then all the work it caused: Feed then Run.
func (c *Core) Step(ev Event) {
	c.Feed(ev)
	c.Run()
}

// Feed takes one event without doing the work it causes yet. Feeding many
// events and then calling Run once is how concurrent proposals become one
// raft append and one fsync (group commit).
func (c *Core) Feed(ev Event) {
	if c.err != nil {
		// Stopped: answer requests at once.
		switch ev := ev.(type) {
		case EvPropose:
			c.reply(ev.ReqID, nil, c.err)
		case EvRead:
			c.reply(ev.ReqID, nil, c.err)
		case EvProposeConfChange:
			c.reply(ev.ReqID, nil, c.err)
		}
		return
	}
	switch ev := ev.(type) {
	case EvTick:
		c.raft.Tick()
		if len(c.readsInFlight) > 0 {
			c.readRoundTicks++
			if c.readRoundTicks >= c.cfg.ElectionTick {
				c.retryReadRound()
			}
		}
	case EvMessage:
		m := ev.Msg
		if m.Type == raftcore.MsgProp {
			if m.Entries = c.checkForwarded(m); len(m.Entries) == 0 {
				return
			}
		}
		// Invalid or stale messages are dropped; one whose term is out of
		// range (a forged or corrupted message) is also reported, to be
		// logged.
		if err := c.raft.Step(m); errors.Is(err, raftcore.ErrTermOutOfRange) {
			c.out.Refused = append(c.out.Refused, fmt.Errorf("node: message refused: %w", err))
		}
	case EvPropose:
		c.seq++
		cmd := ev.Cmd
		cmd.Tag, cmd.Seq = c.tag, c.seq
		c.proposals = append(c.proposals, cmd)
		c.proposalIDs = append(c.proposalIDs, ev.ReqID)
		c.proposalSeqs = append(c.proposalSeqs, c.seq)
	case EvProposeConfChange:
		cc := ev.CC
		// The request header travels at the start of the context.
		c.seq++
		cc.Context = (&Envelope{Tag: c.tag, Seq: c.seq, Payload: cc.Context}).Marshal()
		if err := c.raft.ProposeConfChange(cc); err != nil {
			c.reply(ev.ReqID, nil, c.proposeError(err))
		} else {
			c.wait(ev.ReqID, c.seq)
		}
	case EvRead:
		if err := c.readRefusal(); err != nil {
			c.reply(ev.ReqID, nil, err)
			break
		}
		c.readsQueued = append(c.readsQueued, ev.ReqID)
		c.maybeStartReadRound()
	case EvCancel:
		c.forget(ev.ReqID)
	case EvSnapshotStatus:
		c.raft.ReportSnapshot(ev.To, ev.Failed)
	case EvUnreachable:
		c.raft.ReportUnreachable(ev.To)
	case EvTransferLeader:
		c.raft.TransferLeader(ev.To)
	}
}

// Run proposes the batch of commands fed since the last Run, then carries
// out every Ready raft has.
func (c *Core) Run() {
	if c.err != nil {
		return
	}
	if len(c.proposals) > 0 {
		// Sealed: the member's own commands name it and the term.
		term := c.raft.Term()
		data := make([][]byte, len(c.proposals))
		for i := range c.proposals {
			c.proposals[i].stamp(c.cfg.ID, term)
			data[i] = c.proposals[i].Marshal()
		}
		if err := c.raft.Propose(data...); err != nil {
			for _, id := range c.proposalIDs {
				c.reply(id, nil, c.proposeError(err))
			}
		} else {
			for i, id := range c.proposalIDs {
				c.wait(id, c.proposalSeqs[i])
			}
		}
		c.proposals, c.proposalIDs, c.proposalSeqs = nil, nil, nil
	}
	c.drain()
}

// checkForwarded returns the entries of a forwarded proposal m that this
// member, the leader, takes: a command a member made on its own behalf
// only from that member and stamped in this term (checkOrigin); the
// others are reported in Effects.Refused.
func (c *Core) checkForwarded(m raftcore.Message) []raftcore.Entry {
	if c.cfg.UnsafeAnyOrigin {
		return m.Entries
	}
	term := c.raft.Term()
	var kept []raftcore.Entry // nil while every entry is kept
	for i, e := range m.Entries {
		var err error
		if e.Type == raftcore.EntryNormal && len(e.Data) >= headerSize {
			err = checkOrigin(e.Data, m.From, term)
		}
		switch {
		case err != nil:
			if kept == nil {
				kept = append(make([]raftcore.Entry, 0, len(m.Entries)), m.Entries[:i]...)
			}
			c.out.Refused = append(c.out.Refused, fmt.Errorf("node: proposal forwarded by member %x refused: %w", m.From, err))
		case kept != nil:
			kept = append(kept, e)
		}
	}
	if kept == nil {
		return m.Entries
	}
	return kept
}

// wait records that request id waits for the proposal numbered seq.
func (c *Core) wait(id, seq uint64) {
	c.waiting[id], c.bySeq[seq] = seq, id
}

// forget stops waiting for request id.
func (c *Core) forget(id uint64) {
	if seq, ok := c.waiting[id]; ok {
		delete(c.waiting, id)
		delete(c.bySeq, seq)
	}
}

// abandonWaiting answers every proposal the member waits for with err
// and stops waiting for them. After a snapshot install, a proposal's
// entry may be inside the snapshot: never applied here, so never
// answered, and a later copy of it (a MsgProp delivered twice) would be
// refused as a duplicate and answered ErrProposalNotApplied, which says
// wrongly that nothing happened. Proposals not in the snapshot may still
// be applied after it; the answer allows that.
func (c *Core) abandonWaiting(err error) {
	// In request order, so that a simulated run replays exactly.
	for _, id := range slices.Sorted(maps.Keys(c.waiting)) {
		c.reply(id, nil, err)
	}
	c.waiting, c.bySeq = map[uint64]uint64{}, map[uint64]uint64{}
}

// ownRequest returns the request id waiting for the proposal whose
// envelope is data, if this incarnation of the member proposed it and
// still waits for it, and stops waiting for it.
func (c *Core) ownRequest(data []byte) (uint64, bool) {
	tag, seq, _, ok := splitHeader(data)
	if !ok || tag != c.tag {
		return 0, false
	}
	id, ok := c.bySeq[seq]
	if ok {
		c.forget(id)
	}
	return id, ok
}

func (c *Core) proposeError(err error) error {
	if c.lead == 0 {
		return ErrNoLeader
	}
	return err
}

// TakeEffects returns and clears the effects accumulated so far.
func (c *Core) TakeEffects() Effects {
	e := c.out
	c.out = Effects{}
	return e
}

func (c *Core) reply(id uint64, result any, err error) {
	c.out.Replies = append(c.out.Replies, Reply{ReqID: id, Result: result, Err: err})
}

// maybeStartReadRound issues one ReadIndex for all queued reads, if no
// round is in flight: many concurrent reads share one heartbeat round.
func (c *Core) maybeStartReadRound() {
	if len(c.readsInFlight) > 0 || len(c.readsQueued) == 0 {
		return
	}
	c.readSeq++
	var rctx [8]byte
	binary.BigEndian.PutUint64(rctx[:], c.readSeq)
	if err := c.raft.ReadIndex(rctx[:]); err != nil {
		for _, id := range c.readsQueued {
			c.reply(id, nil, c.proposeError(err))
		}
		c.readsQueued = nil
		return
	}
	c.readsInFlight, c.readsQueued = c.readsQueued, nil
	c.readRoundTicks = 0
}

// retryReadRound puts the reads of the round in flight back in the queue.
func (c *Core) retryReadRound() {
	c.readsQueued = append(c.readsInFlight, c.readsQueued...)
	c.readsInFlight = nil
	c.maybeStartReadRound()
}

// drain carries out every Ready raft has.
func (c *Core) drain() {
	for c.err == nil && c.raft.HasReady() {
		rd, err := c.raft.Ready()
		if err != nil {
			c.fail(err)
			return
		}
		if err := c.handleReady(rd); err != nil {
			c.fail(err)
			return
		}
		c.raft.Advance()
	}
}

func (c *Core) fail(err error) {
	c.err = fmt.Errorf("node: member %x stopped: %w", c.cfg.ID, err)
	c.abandonWaiting(c.err)
	for _, id := range c.proposalIDs {
		c.reply(id, nil, c.err)
	}
	c.proposals, c.proposalIDs, c.proposalSeqs = nil, nil, nil
	for _, id := range append(c.readsQueued, c.readsInFlight...) {
		c.reply(id, nil, c.err)
	}
	for _, b := range c.readsReady {
		for _, id := range b.ids {
			c.reply(id, nil, c.err)
		}
	}
	c.readsQueued, c.readsInFlight, c.readsReady = nil, nil, nil
}

func (c *Core) handleReady(rd raftcore.Ready) error {
	if rd.SoftState != nil {
		if rd.SoftState.Lead != c.lead {
			c.out.LeaderChanged, c.out.Leader = true, rd.SoftState.Lead
		}
		leaderChanged := rd.SoftState.Lead != c.lead
		c.lead, c.role = rd.SoftState.Lead, rd.SoftState.State
		if leaderChanged {
			// The round may never complete: retry it with the new leader.
			c.retryReadRound()
		}
	}
	// 1. A leader's appends go out while it writes its own log.
	c.out.Messages = append(c.out.Messages, rd.Messages...)
	if rd.MustSync {
		c.sendNow()
	}
	// 2. Persist: entries, term and vote with an fsync; a commit index
	// alone without one (RaftLog.SaveCommit).
	if !rd.Snapshot.IsEmpty() {
		if err := c.log.ApplySnapshot(rd.Snapshot); err != nil {
			return fmt.Errorf("save snapshot at %d: %w", rd.Snapshot.Metadata.Index, err)
		}
	}
	if len(rd.Entries) > 0 || !rd.HardState.IsEmpty() {
		if err := c.save(rd); err != nil {
			return fmt.Errorf("save entries: %w", err)
		}
	}
	// 3. Messages that promise what was just persisted.
	c.out.Messages = append(c.out.Messages, rd.MessagesAfterPersist...)
	if rd.MustSync {
		c.sendNow()
	}
	// 4. Apply.
	if !rd.Snapshot.IsEmpty() {
		s := rd.Snapshot
		if err := c.sm.Restore(s.Metadata.Index); err != nil {
			return fmt.Errorf("restore snapshot at %d: %w", s.Metadata.Index, err)
		}
		c.applied, c.snapshotIndex, c.confState = s.Metadata.Index, s.Metadata.Index, s.Metadata.ConfState
		// The store is now the leader's copy: all committed, and what it
		// held before a restart no longer matters.
		c.smApplied, c.unconfirmed = s.Metadata.Index, 0
		c.abandonWaiting(ErrOutcomeUnknown)
	}
	// Apply, a chunk at a time: the state machine first decides which
	// proposals of the chunk are duplicates (dedup.go).
	for ents := rd.CommittedEntries; len(ents) > 0; {
		chunk := ents[:min(len(ents), dedupChunk)]
		ents = ents[len(chunk):]
		refused, err := c.admit(chunk)
		if err != nil {
			return err
		}
		for _, e := range chunk {
			if err := c.applyEntry(e, refused[e.Index]); err != nil {
				return err
			}
		}
	}
	for _, rs := range rd.ReadStates {
		c.onReadState(rs)
	}
	if c.repairing {
		if err := c.checkRepair(rd); err != nil {
			return err
		}
	}
	c.releaseReads()
	c.maybeStartReadRound()
	return c.maybeSnapshot()
}

// save persists rd's entries and hard state.
func (c *Core) save(rd raftcore.Ready) error {
	if !rd.MustSync {
		return c.log.SaveCommit(rd.HardState)
	}
	return c.log.Save(rd.HardState, rd.Entries)
}

// sendNow hands the messages collected so far to the sender, if there is
// one.
func (c *Core) sendNow() {
	if c.send != nil && len(c.out.Messages) > 0 {
		c.send(c.out.Messages)
		c.out.Messages = nil
	}
}

// applyEntry applies committed entry e, or only records its index if
// refused says the state machine refused it as a duplicate.
func (c *Core) applyEntry(e raftcore.Entry, refused bool) error {
	c.applied = e.Index
	c.appliedBytes += uint64(len(e.Data))
	switch e.Type {
	case raftcore.EntryNormal:
		if e.Index <= c.smApplied {
			return nil // durable in the state machine before a restart
		}
		if len(e.Data) < headerSize {
			return c.sm.Skip(e.Index, e.Term) // a leader's no-op
		}
		if refused {
			if err := c.sm.Skip(e.Index, e.Term); err != nil {
				return err
			}
			if id, ok := c.ownRequest(e.Data); ok {
				c.reply(id, nil, ErrProposalNotApplied)
			}
			return nil
		}
		result, err := c.sm.Apply(e.Index, e.Term, e.Data[headerSize:])
		if err != nil {
			// The proposer learns only that the member stopped: the
			// entry is committed and will be applied after a restart.
			return err
		}
		if id, ok := c.ownRequest(e.Data); ok {
			c.reply(id, result, nil)
		}
	case raftcore.EntryConfChange:
		var cc raftcore.ConfChange
		if err := cc.UnmarshalBinary(e.Data); err != nil {
			// Raft itself refused it: nothing to apply, but the state
			// machine's index follows the log, as for every entry (a
			// snapshot sent from it must be at the index applied).
			if e.Index > c.smApplied {
				return c.sm.Skip(e.Index, e.Term)
			}
			return nil
		}
		next, err := c.confState.WithChange(cc)
		if err == nil {
			c.confState = next
		}
		if e.Index > c.smApplied {
			var body []byte
			if len(cc.Context) >= headerSize {
				body = cc.Context[headerSize:]
			}
			var serr error
			if err == nil {
				serr = c.sm.ApplyConfChange(e.Index, e.Term, cc, body)
			} else {
				serr = c.sm.Skip(e.Index, e.Term)
			}
			if serr != nil {
				return serr
			}
		}
		if id, ok := c.ownRequest(cc.Context); ok {
			c.reply(id, c.confState, err)
		}
	}
	return nil
}

func (c *Core) onReadState(rs raftcore.ReadState) {
	if len(rs.RequestCtx) != 8 || binary.BigEndian.Uint64(rs.RequestCtx) != c.readSeq || len(c.readsInFlight) == 0 {
		return // an answer to a round we already gave up on
	}
	c.readsReady = append(c.readsReady, readBatch{index: rs.Index, ids: c.readsInFlight})
	c.readsInFlight = nil
}

func (c *Core) releaseReads() {
	n := 0
	for n < len(c.readsReady) && c.readsReady[n].index <= c.applied {
		for _, id := range c.readsReady[n].ids {
			c.reply(id, nil, nil)
		}
		n++
	}
	c.readsReady = c.readsReady[n:]
}

// maybeSnapshot takes a snapshot every SnapshotCount applied entries (or
// SnapshotBytes of them) and compacts the log, keeping CatchUpEntries for
// slow followers. Taking a
// snapshot is making the state machine durable and recording its index
// (and the membership there) in the log: no copy of the state.
func (c *Core) maybeSnapshot() error {
	if c.applied-c.snapshotIndex < c.cfg.SnapshotCount && c.appliedBytes < c.cfg.SnapshotBytes {
		return nil
	}
	if err := c.sm.Persist(); err != nil {
		return fmt.Errorf("persist state machine at %d: %w", c.applied, err)
	}
	if got := c.sm.AppliedIndex(); got < c.applied {
		// The log's snapshot would claim state the state machine does
		// not hold: after a restart nothing would bring it back.
		return fmt.Errorf("snapshot at %d: the state machine holds only up to index %d", c.applied, got)
	}
	if _, err := c.log.CreateSnapshot(c.applied, c.confState, nil); err != nil {
		return fmt.Errorf("create snapshot at %d: %w", c.applied, err)
	}
	c.snapshotIndex, c.appliedBytes = c.applied, 0
	at, err := c.catchUpStart()
	if err != nil {
		return fmt.Errorf("compact log after snapshot at %d: %w", c.applied, err)
	}
	if err := c.log.Compact(at); err != nil && !errors.Is(err, raftcore.ErrCompacted) {
		return fmt.Errorf("compact log at %d: %w", at, err)
	}
	return nil
}

// catchUpStart returns where to compact the log after a snapshot at
// c.applied (Compact keeps the entries after the index it is given): so
// that it keeps the newest CatchUpEntries entries up to c.applied, or
// fewer, the newest whose data fits in CatchUpBytes.
func (c *Core) catchUpStart() (uint64, error) {
	at, err := c.log.FirstIndex()
	if err != nil {
		return 0, err
	}
	at-- // Compact(FirstIndex-1) changes nothing
	if c.applied > c.cfg.CatchUpEntries {
		at = max(at, c.applied-c.cfg.CatchUpEntries)
	}
	if at >= c.applied {
		return at, nil
	}
	ents, err := c.log.Entries(at+1, c.applied+1, math.MaxUint64)
	if err != nil {
		return 0, err
	}
	var kept uint64
	i := len(ents)
	for i > 0 && kept+uint64(len(ents[i-1].Data)) <= c.cfg.CatchUpBytes {
		i--
		kept += uint64(len(ents[i].Data))
	}
	return at + uint64(i), nil
}

// OpenSnapshot prepares a MsgSnap that raft asked to send, for the
// transport: it opens a copy of the state machine as of the last index
// applied (StateMachine.OpenSnapshot) and returns m rewritten to describe
// that copy — its index and term, and the membership at that index — with
// the copy to stream after it. Call it on the core's goroutine, between
// steps (Driver.Inspect); the caller closes the source.
//
// Raft chose the log's snapshot, at an index the state machine has
// reached, possibly long ago; the copy is at the index applied now, at or
// past it. The follower installs the copy at the copy's index and answers
// that it holds the log up to there, so the leader goes on from the
// entries after it — still in its log, since it compacts only below its
// own snapshots. Sending the log snapshot's index with a newer copy would
// make the follower apply again entries the copy already holds.
func (c *Core) OpenSnapshot(m raftcore.Message) (raftcore.Message, SnapshotSource, error) {
	if c.err != nil {
		return m, nil, c.err
	}
	if m.Type != raftcore.MsgSnap || m.Snapshot == nil {
		return m, nil, fmt.Errorf("node: open snapshot for a %v message", m.Type)
	}
	src, err := c.sm.OpenSnapshot()
	if err != nil {
		err = fmt.Errorf("node: open snapshot for member %x: %w", m.To, err)
		if errors.Is(err, ErrStorageFailed) {
			c.fail(err)
		}
		return m, nil, err
	}
	// After a restart the state machine may be ahead of the replay: it
	// holds entries up to smApplied, durable before the crash, while the
	// restored commit index (saved without an fsync) is older. Those
	// entries were committed, so a copy at smApplied is as good as one at
	// the index applied now; refusing it would leave a follower that
	// needs a snapshot stuck until the leader's commit passes smApplied,
	// which may need that very follower.
	if want := max(c.applied, c.smApplied); src.Index() != want || src.Index() < m.Snapshot.Metadata.Index {
		_ = src.Close()
		return m, nil, fmt.Errorf("node: open snapshot for member %x: the state machine's copy is at index %d, the member applied %d (durable at start %d, log snapshot %d)",
			m.To, src.Index(), c.applied, c.smApplied, m.Snapshot.Metadata.Index)
	}
	m.Snapshot = &raftcore.Snapshot{Metadata: raftcore.SnapshotMetadata{
		Index:     src.Index(),
		Term:      src.Term(),
		ConfState: raftcore.ConfState{Voters: slices.Clone(c.confState.Voters), Learners: slices.Clone(c.confState.Learners)},
	}}
	return m, src, nil
}
