package raftcore

import (
	"slices"
	"testing"
)

// TestRepairingNodeWaitsForTheQuorum: a node that lost its log tail and
// its vote neither votes nor counts until a quorum without it confirms a
// leader: with the leader down and only it and one other up, nobody is
// elected and nothing commits; once the leader is back, the node repairs
// itself (its log catches up, its vote in the term is spent) and counts
// again.
func TestRepairingNodeWaitsForTheQuorum(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.elect(1)
	for range 5 {
		c.propose(1)
		c.stabilize()
	}
	c.loseState(3)
	c.restart(3)
	if st := c.nodes[3].node.RepairStatus(); !st.Active {
		t.Fatalf("node 3 restarted after losing state is not repairing: %+v", st)
	}
	c.crash(1)
	for range 100 {
		c.tickAll()
		c.stabilize()
	}
	if lead := c.leader(); lead != 0 {
		t.Fatalf("node %d was elected by node 2 and a node that lost its vote:\n%s", lead, c.describe())
	}
	if c.r(3).vote != None && c.r(3).vote != 3 {
		t.Fatalf("the repairing node voted for %d", c.r(3).vote)
	}

	c.restart(1)
	for i := 0; i < 300 && (c.leader() == 0 || c.nodes[3].node.RepairStatus().Active); i++ {
		c.tickAll()
		c.stabilize()
	}
	st := c.nodes[3].node.RepairStatus()
	if st.Active || !st.Finished {
		t.Fatalf("node 3 is not repaired: %+v\n%s", st, c.describe())
	}
	lead := c.leader()
	r3 := c.r(3)
	if r3.vote != lead || r3.log.committed < st.Index || r3.log.lastIndex() != c.r(lead).log.lastIndex() {
		t.Fatalf("repaired node 3: vote %d commit %d last %d; leader %d last %d, read index %d",
			r3.vote, r3.log.committed, r3.log.lastIndex(), lead, c.r(lead).log.lastIndex(), st.Index)
	}
	// It counts again: with the third node down, the leader and node 3
	// commit.
	for _, id := range []uint64{1, 2} {
		if id != lead {
			c.crash(id)
			break
		}
	}
	before := c.r(lead).log.committed
	c.propose(lead)
	c.stabilize()
	if c.r(lead).log.committed <= before {
		t.Fatalf("the leader and the repaired node 3 did not commit: %s", c.describe())
	}
}

// TestRepairTakesNoAnswerToAnEarlierStart: a leader's answer to a repair
// read sent by an earlier start of the node (delayed past a second loss
// of state in the same term) gives an index from before the restart, which
// may miss entries the node acknowledged and lost since: the node must not
// finish its repair on it, only on an answer to a read of its own.
func TestRepairTakesNoAnswerToAnEarlierStart(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.elect(1)
	c.propose(1)
	c.stabilize()
	c.loseState(3)
	c.restart(3)
	c.tick(1) // a heartbeat tells node 3 who leads
	c.stabilize()
	c.tick(3) // its first repair read
	c.processReadyFully(3)
	var read Message
	for i, m := range c.inflight {
		if m.Type == MsgReadIndex && m.From == 3 && isRepairRead(m.Context) {
			read = m.Message
			c.inflight = append(c.inflight[:i], c.inflight[i+1:]...)
			break
		}
	}
	if read.Type != MsgReadIndex {
		t.Fatalf("node 3 in repair sent no repair read: %v", c.inflight)
	}
	// The leader's answer, as it would have been then.
	stale := Message{Type: MsgReadIndexResp, From: 1, To: 3, Term: c.r(1).term, Index: c.r(1).log.committed, Context: read.Context}

	// Node 3 is repaired, then acknowledges more entries and loses them
	// in the same term.
	for i := 0; i < 100 && !c.nodes[3].node.RepairStatus().Finished; i++ {
		c.tickAll()
		c.stabilize()
	}
	for range 3 {
		c.propose(1)
		c.stabilize()
	}
	if c.r(3).term != stale.Term || c.r(1).log.committed <= stale.Index {
		t.Fatalf("the setup failed: node 3 at term %d (answer of term %d), commit %d (answer %d)", c.r(3).term, stale.Term, c.r(1).log.committed, stale.Index)
	}
	committed := c.r(1).log.committed
	c.loseState(3)
	c.restart(3)
	c.tick(1)
	c.stabilize()
	if err := c.nodes[3].node.Step(stale); err != nil {
		t.Fatal(err)
	}
	if st := c.nodes[3].node.RepairStatus(); st.Answered {
		t.Fatalf("node 3 took an answer to an earlier start's repair read: %+v", st)
	}
	for i := 0; i < 100 && !c.nodes[3].node.RepairStatus().Finished; i++ {
		c.tickAll()
		c.stabilize()
	}
	if st := c.nodes[3].node.RepairStatus(); !st.Finished || st.Index < committed || c.r(3).log.committed < committed {
		t.Fatalf("node 3 repaired to index %d (commit %d), below the commit index %d before it lost its state: %+v", st.Index, c.r(3).log.committed, committed, st)
	}
}

// pump runs the nodes (Readies, deliveries; no ticks) until nothing moves,
// holding back the messages hold picks (in flight, undelivered) and
// dropping those drop picks.
func (c *cluster) pump(hold, drop func(Message) bool) {
	for round := 0; round < 50; round++ {
		for _, id := range c.ids {
			c.processReadyFully(id)
		}
		var kept []netMsg
		progressed := false
		for len(c.inflight) > 0 {
			m := c.inflight[0]
			switch {
			case drop(m.Message):
				c.inflight = c.inflight[1:]
			case hold(m.Message):
				kept = append(kept, m)
				c.inflight = c.inflight[1:]
			default:
				c.deliver(0, false)
				progressed = true
			}
		}
		c.inflight = kept
		if !progressed {
			busy := false
			for _, id := range c.ids {
				if tn := c.nodes[id]; tn.node != nil && (tn.ready != nil || tn.node.HasReady()) {
					busy = true
				}
			}
			if !busy {
				return
			}
		}
	}
}

// TestRepairReadVoidsAcksFromBeforeTheLoss: a node lost an entry it had
// acknowledged, before its leader heard the acknowledgement; every answer
// of the restarted node is lost, but its repair read gets through, and
// the read index it is given is below the entry. The leader must not then
// commit the entry on the delayed acknowledgement, which the node no longer
// stands by: the entry would be committed on the leader alone.
func TestRepairReadVoidsAcksFromBeforeTheLoss(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.elect(1)
	c.propose(1)
	c.stabilize()
	x := c.r(1).log.lastIndex() + 1
	// Node 2 gets no appends; node 3's acknowledgement of x is held.
	none := func(Message) bool { return false }
	isAck := func(m Message) bool { return m.Type == MsgAppResp && m.From == 3 && m.Index == x }
	c.propose(1)
	c.pump(isAck, func(m Message) bool { return m.Type == MsgApp && m.To == 2 })
	i := slices.IndexFunc(c.inflight, func(m netMsg) bool { return isAck(m.Message) })
	if i < 0 || c.r(1).log.committed >= x {
		t.Fatalf("setup: no held ack of %d from node 3 (%v), or it is committed (%d)", x, c.inflight, c.r(1).log.committed)
	}
	ack := c.inflight[i].Message
	c.inflight = nil
	// Node 3 loses x, keeping the rest.
	c.loseFrom(3, x)
	c.restart(3)
	lost := func(m Message) bool {
		return (m.From == 3 && (m.Type == MsgAppResp || m.Type == MsgHeartbeatResp)) || (m.Type == MsgApp && m.To == 2)
	}
	for i := 0; i < 100 && !c.nodes[3].node.RepairStatus().Finished; i++ {
		c.tickAll()
		c.pump(none, lost)
	}
	if st := c.nodes[3].node.RepairStatus(); !st.Finished || st.Index >= x {
		t.Fatalf("setup: node 3 is not repaired below %d: %+v\n%s", x, st, c.describe())
	}
	if err := c.nodes[1].node.Step(ack); err != nil {
		t.Fatal(err)
	}
	c.check()
	if c.r(1).log.committed >= x {
		t.Fatalf("leader 1 committed %d on node 3's acknowledgement from before it lost the entry; only the leader holds it\n%s", x, c.describe())
	}
}

// loseFrom crashes node id with a disk that lost its log from index x on
// (and whose hard state commits nothing past it), keeping its term.
func (c *cluster) loseFrom(id, x uint64) {
	tn := c.nodes[id]
	c.crash(id)
	disk := NewMemoryStorage()
	if snap, _ := tn.disk.Snapshot(); !snap.IsEmpty() {
		if err := disk.ApplySnapshot(snap); err != nil {
			c.fatalf("node %d: lose from %d: %v", id, x, err)
		}
	}
	first, _ := tn.disk.FirstIndex()
	ents, err := tn.disk.Entries(first, x, ^uint64(0))
	if err != nil {
		c.fatalf("node %d: lose from %d: %v", id, x, err)
	}
	if err := disk.Append(ents); err != nil {
		c.fatalf("node %d: lose from %d: %v", id, x, err)
	}
	hs, _, _ := tn.disk.InitialState()
	disk.SetHardState(HardState{Term: hs.Term, Commit: min(hs.Commit, x-1)})
	tn.disk, tn.damaged, tn.repairedTerm = disk, true, 0
}

// TestRepairedAnswerOfAnEarlierRepairIsStale: a node repaired in a term
// acknowledges an entry (its answer says Repaired), then loses it, in the
// same term, before its leader heard the acknowledgement. Restarted, it
// repairs again, to a read index below the entry. The leader must not
// take the delayed acknowledgement, marked Repaired as the new repair's
// answers are, for one of the new repair: the entry would be committed
// on the leader alone. (The answers carry the repair's number.)
func TestRepairedAnswerOfAnEarlierRepairIsStale(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.elect(1)
	c.propose(1)
	c.stabilize()
	c.loseState(3)
	c.restart(3)
	for i := 0; i < 100 && !c.nodes[3].node.RepairStatus().Finished; i++ {
		c.tickAll()
		c.stabilize()
	}
	c.propose(1)
	c.stabilize()
	if st := c.nodes[3].node.RepairStatus(); !st.Finished || c.r(3).term != c.r(1).term {
		t.Fatalf("setup: node 3 is not repaired in the leader's term: %+v\n%s", st, c.describe())
	}
	x := c.r(1).log.lastIndex() + 1
	none := func(Message) bool { return false }
	isAck := func(m Message) bool { return m.Type == MsgAppResp && m.From == 3 && m.Index == x }
	noAppsTo2 := func(m Message) bool { return m.Type == MsgApp && m.To == 2 }
	c.propose(1)
	c.pump(isAck, noAppsTo2)
	i := slices.IndexFunc(c.inflight, func(m netMsg) bool { return isAck(m.Message) })
	if i < 0 || !c.inflight[i].Repaired || c.r(1).log.committed >= x {
		t.Fatalf("setup: no held Repaired ack of %d from node 3 (%v), or it is committed (%d)", x, c.inflight, c.r(1).log.committed)
	}
	ack := c.inflight[i].Message
	c.inflight = nil
	c.loseFrom(3, x)
	c.restart(3)
	// Neither node 2 nor node 3 gets x again.
	noX := func(m Message) bool {
		return noAppsTo2(m) || (m.Type == MsgApp && m.To == 3 && len(m.Entries) > 0 && m.Entries[len(m.Entries)-1].Index >= x)
	}
	for i := 0; i < 100 && !c.nodes[3].node.RepairStatus().Finished; i++ {
		c.tickAll()
		c.pump(none, noX)
	}
	if st := c.nodes[3].node.RepairStatus(); !st.Finished || st.Index >= x || c.r(3).log.lastIndex() >= x {
		t.Fatalf("setup: node 3 is not repaired below %d: %+v\n%s", x, st, c.describe())
	}
	if err := c.nodes[1].node.Step(ack); err != nil {
		t.Fatal(err)
	}
	c.check()
	if c.r(1).log.committed >= x {
		t.Fatalf("leader 1 committed %d on node 3's acknowledgement from its earlier repair, before it lost the entry; only the leader holds it\n%s", x, c.describe())
	}
}

// TestEarlierRepairsMessagesDoNotSilenceTheCurrentOne: messages of a
// node's earlier repair, delayed and delivered after its current repair's,
// are stale; they must not make the leader ignore the current repair
// (which must finish), whatever order they come in.
func TestEarlierRepairsMessagesDoNotSilenceTheCurrentOne(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.elect(1)
	c.propose(1)
	c.stabilize()
	c.loseState(3)
	c.restart(3)
	// Hold every message of node 3's first repair.
	from3 := func(m Message) bool { return m.From == 3 }
	for range 3 * c.r(3).electionTimeout {
		c.tickAll()
		c.pump(from3, func(Message) bool { return false })
	}
	var held []Message
	for _, m := range c.inflight {
		if m.From == 3 {
			held = append(held, m.Message)
		}
	}
	if !slices.ContainsFunc(held, func(m Message) bool { return isRepairRead(m.Context) }) {
		t.Fatalf("setup: node 3's first repair sent no repair read: %v", held)
	}
	c.inflight = nil
	c.loseState(3)
	c.restart(3)
	for i := 0; i < 100 && !c.nodes[3].node.RepairStatus().Finished; i++ {
		c.tickAll()
		c.stabilize()
		if i == 5 {
			// The first repair's messages arrive, late.
			for _, m := range held {
				if err := c.nodes[1].node.Step(m); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if st := c.nodes[3].node.RepairStatus(); !st.Finished {
		t.Fatalf("node 3's second repair did not finish: %+v\n%s", st, c.describe())
	}
	// It counts again: with node 2 down, the leader and node 3 commit.
	c.crash(2)
	before := c.r(1).log.committed
	c.propose(1)
	c.stabilize()
	if c.r(1).log.committed <= before {
		t.Fatalf("the leader and the repaired node 3 did not commit: %s", c.describe())
	}
}
