package raftcore

import "testing"

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
