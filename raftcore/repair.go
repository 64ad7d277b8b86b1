package raftcore

import (
	"bytes"
	"encoding/binary"
)

// Repair (Config.Repair) is protocol-aware recovery, after "Protocol-Aware
// Recovery for Consensus-Based Storage" (Alagappan et al., FAST 2018): a
// node whose storage lost state it may have promised — the tail of its
// log, which may hold entries it acknowledged and so helped commit, or the
// record of its term and vote — must not act on what it has left as if it
// were whole. It repairs itself from the quorum:
//
//  1. It neither votes nor campaigns: it may have voted in any term up to
//     one it forgot.
//  2. Its answers to the leader say Repairing. The leader then forgets what
//     it knew of the node's log (the node may no longer have it) and probes
//     it afresh, and counts the node toward no commit and no ReadIndex
//     confirmation. The node in turn commits only what an append checked,
//     not what a heartbeat says. A repair read (step 3) of the leader's
//     term tells the leader the same: the node's marked answers may all
//     be lost while its read gets through, and the leader, if it went on
//     counting answers the node sent before the loss, could commit an
//     entry on an acknowledgement the node no longer stands by, after the
//     read index it gave the node.
//  3. It asks the leader for a read index (a ReadIndex request with a
//     context of its own). The leader answers once a quorum that does not
//     count the node has confirmed its leadership, after the node's
//     restart: so its term is at least any in which the node could have
//     voted or acknowledged (a quorum of the others intersects every
//     quorum the node's lost promises were part of), and its commit index,
//     the read index, covers every entry committed before the restart.
//     That holds only of an answer to a request this repair sent: an
//     answer to one sent before the restart (the network may delay it
//     past a loss, and a node may lose its state again in the same term,
//     before or after it was repaired) may give an index from before
//     entries the node then acknowledged, and lost, were committed. So
//     the context names the repair by its number, Config.RepairAttempt
//     (a count the application keeps on disk and raises at every start in
//     repair), and the node takes only answers that name it.
//  4. Once the node has committed that read index — its log then holds
//     every entry committed before the restart, checked entry by entry
//     against the leader's — it is repaired. It takes its vote in the
//     current term as spent (on the leader it follows) and persists that
//     with the Ready of the repair's end; it votes again in later terms,
//     after any in which it could have voted before.
//  5. For the rest of that term its answers say Repaired, and its leader
//     counts it again. An answer with neither mark in that term is one the
//     node sent before it lost its state, delayed (the network may reorder
//     messages across a restart): the leader ignores it, since it may
//     acknowledge entries the node no longer holds. In the next term
//     every answer from before the loss is stale by its term, and the
//     repair is over (SoftState.Repairing turns false). A node restarted
//     before that goes on marking its answers Repaired
//     (Config.RepairedTerm), with the same repair number.
//  6. A node may lose its state again in the same term, after it was
//     repaired, or while it repairs: then the answers it sent before, of
//     its earlier repair, may be marked as its new ones are, Repaired even,
//     and be delayed past the new loss. So every marked answer carries the
//     repair's number (Message.RepairAttempt), and the leader keeps, for
//     each member, the highest number it saw in its term: an answer or
//     repair read with a lower one is stale, and one with a higher one
//     voids what the leader knew of the member's log. The numbers only
//     grow and are kept on disk, so the current repair always holds the
//     highest, whatever order the network delivers in: no delayed message
//     of an earlier repair can silence it.
//
// A member that lost state thus costs the cluster what a member that is
// down costs: a cluster with a quorum of healthy members goes on, and the
// damaged one rejoins once it is repaired; one without waits.

// repairState is a node's progress in its repair.
type repairState struct {
	// attempt numbers this repair (Config.RepairAttempt) in its repair
	// reads and marked answers, so that no answer to an earlier repair's
	// read is taken for one of its own (step 3), nor an earlier repair's
	// answer by the leader (step 6).
	attempt uint64
	// reads numbers the repair reads sent; waitTicks counts down the
	// ticks before another may be sent.
	reads     uint64
	waitTicks int
	// answered says a leader of term answered with index.
	answered    bool
	index, term uint64
	// finished says the node is repaired (step 5), in the current term.
	finished bool
}

// peerRepair is where a member is in a repair, as its leader sees it from
// its answers in the leader's term.
type peerRepair uint8

const (
	peerWhole     peerRepair = iota // no repair in this term
	peerRepairing                   // answers say Repairing
	peerRepaired                    // answers say Repaired
)

// repairReadPrefix starts the context of every repair read: the
// application's contexts are its own, and it never sees these.
var repairReadPrefix = []byte("raftcore/repair\x00")

func isRepairRead(ctx []byte) bool { return bytes.HasPrefix(ctx, repairReadPrefix) }

// repairReadContext is the context of read number n that repair attempt
// sends in term: the prefix, the attempt, the term, n.
func repairReadContext(attempt, term, n uint64) []byte {
	ctx := append(make([]byte, 0, len(repairReadPrefix)+24), repairReadPrefix...)
	ctx = binary.BigEndian.AppendUint64(ctx, attempt)
	ctx = binary.BigEndian.AppendUint64(ctx, term)
	return binary.BigEndian.AppendUint64(ctx, n)
}

// parseRepairRead splits a repair read's context; ok is false if ctx is
// not one.
func parseRepairRead(ctx []byte) (attempt, term, n uint64, ok bool) {
	rest, ok := bytes.CutPrefix(ctx, repairReadPrefix)
	if !ok || len(rest) != 24 {
		return 0, 0, 0, false
	}
	return binary.BigEndian.Uint64(rest), binary.BigEndian.Uint64(rest[8:]), binary.BigEndian.Uint64(rest[16:]), true
}

// ownRepairRead reports whether ctx is the context of a repair read this
// repair sent.
func (rp *repairState) ownRepairRead(ctx []byte) bool {
	attempt, _, n, ok := parseRepairRead(ctx)
	return ok && attempt == rp.attempt && n >= 1 && n <= rp.reads
}

// repairReadReceived records on the leader that member from, whose
// progress is pr, sent a repair read in context ctx: if the read is of
// the leader's term, the member is repairing (step 2), whatever its
// answers said so far. It reports whether the read is stale, sent by an
// earlier repair than one the leader heard from in its term (step 6):
// nobody waits for its answer.
func (r *raft) repairReadReceived(from uint64, pr *progress, ctx []byte) (stale bool) {
	attempt, term, _, ok := parseRepairRead(ctx)
	if !ok || term != r.term {
		return false
	}
	switch {
	case attempt < pr.repairAttempt:
		return true
	case attempt > pr.repairAttempt || pr.repair != peerRepairing:
		pr.repairAttempt = attempt
		r.startPeerRepair(from, pr)
	}
	return false
}

// startPeerRepair marks member id repairing: what the leader knew of its
// log is void (it may have lost entries it acknowledged), and it is
// probed from the end of the leader's log, as a new member.
func (r *raft) startPeerRepair(id uint64, pr *progress) {
	pr.repair = peerRepairing
	pr.match = 0
	pr.resetState(stateProbe)
	pr.next = r.log.lastIndex() + 1
	r.sendAppend(id, true)
}

// tickRepair sends a repair read to the leader, one per election timeout
// until one is answered.
func (r *raft) tickRepair() {
	rp := r.repair
	if rp == nil || rp.answered || rp.finished || r.lead == None {
		return
	}
	if rp.waitTicks > 0 {
		rp.waitTicks--
		return
	}
	rp.reads++
	rp.waitTicks = r.electionTimeout
	r.send(Message{Type: MsgReadIndex, To: r.lead, Context: repairReadContext(rp.attempt, r.term, rp.reads)})
}

// repairReadAnswered takes a leader's answer to a repair read.
func (r *raft) repairReadAnswered(m Message) {
	rp := r.repair
	if rp == nil || rp.answered || m.From != r.lead || m.Term != r.term || !rp.ownRepairRead(m.Context) {
		// Repaired already, an answer from an earlier leader, or one
		// to a read an earlier repair sent (step 3).
		return
	}
	rp.answered, rp.index, rp.term = true, m.Index, m.Term
}

// maybeFinishRepair finishes the repair (step 4) once the node, following
// a leader, has committed the read index a leader gave it.
func (r *raft) maybeFinishRepair() {
	rp := r.repair
	if rp == nil || rp.finished || !rp.answered || r.lead == None || r.state != StateFollower || r.log.committed < rp.index {
		return
	}
	rp.finished = true
	if r.vote == None {
		// It may have voted in this term before it lost the record.
		r.vote = r.lead
	}
}

// staleRepairAnswer records on the leader what member pr's answer m says
// of its repair, and reports whether m is stale: sent before the member
// lost its state, so not to be believed. When the member starts to
// repair, the leader's view of its log is void (it may have lost entries
// it acknowledged): the leader probes it from the end of its own log, as a
// new member.
func (r *raft) staleRepairAnswer(m Message, pr *progress) bool {
	if m.Repairing || m.Repaired {
		switch {
		case m.RepairAttempt < pr.repairAttempt:
			// An earlier repair's: the member lost its state again
			// since it sent it (step 6).
			return true
		case m.RepairAttempt > pr.repairAttempt:
			// A later repair than any the leader heard from: what it
			// knew of the member's log is void, even if m says
			// Repaired (a leader of an earlier term answered the
			// repair's read, and its Repairing answers in this term
			// were lost); what m itself says holds.
			pr.repairAttempt = m.RepairAttempt
			r.startPeerRepair(m.From, pr)
		}
	}
	switch {
	case m.Repairing && pr.repair != peerRepairing:
		r.startPeerRepair(m.From, pr)
	case m.Repairing && m.Reject && m.Index <= pr.match:
		// A rejection the leader would take for an answer to an old
		// append: but the member may have lost its log again, in this
		// term. What the leader knows of its log is void again; it
		// counts toward nothing meanwhile, so forgetting costs nothing.
		pr.match = 0
		pr.resetState(stateProbe)
		pr.next = m.Index + 1
	case m.Repaired:
		pr.repair = peerRepaired
	case !m.Repairing && pr.repair != peerWhole:
		return true
	}
	return false
}

// RepairStatus is a node's progress in repairing lost state.
type RepairStatus struct {
	// Active says the node is repairing: it votes for no one and counts
	// toward no commit.
	Active bool
	// Answered says a leader of Term gave the read index, Index, which
	// the node must commit to be repaired.
	Answered    bool
	Index, Term uint64
	// Finished says the node is repaired in its current term,
	// FinishedTerm (its answers say so until the term moves on).
	Finished     bool
	FinishedTerm uint64
}

func (r *raft) repairStatus() RepairStatus {
	rp := r.repair
	if rp == nil {
		return RepairStatus{}
	}
	st := RepairStatus{Active: !rp.finished, Answered: rp.answered, Index: rp.index, Term: rp.term, Finished: rp.finished}
	if rp.finished {
		st.FinishedTerm = r.term
	}
	return st
}
