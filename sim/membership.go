package sim

import (
	"slices"

	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
)

// confTracker follows the cluster's committed membership (as members
// apply conf changes) and drives one membership change at a time: it
// proposes it to the leader and retries until it commits or it gives up.
type confTracker struct {
	voters, learners []uint64
	plan             *confPlan
	nextReq          uint64
	// givenUp are the learners whose promotion (AddVoter) the nemesis
	// gave up on: the change may still be in members' logs, where raft
	// already counts it, and commit later, or have committed where no
	// member applied it (a snapshot, a store copy). votersSoon counts
	// them until they are removed.
	givenUp []uint64
}

// confPlan is a membership change in progress.
type confPlan struct {
	cc       raftcore.ConfChange
	reqID    uint64
	attempts int
}

// Request ids: clients use (client+1)<<32 | seq; these ranges are apart.
const (
	confReqBase    = 1 << 60
	compactReqBase = 1 << 59
	probeReqID     = 1 << 62
)

func (c *confTracker) isVoter(id uint64) bool   { return slices.Contains(c.voters, id) }
func (c *confTracker) isLearner(id uint64) bool { return slices.Contains(c.learners, id) }

// votersSoon are the voters, with the learner that a pending AddVoter
// promotes: it may become a voter at any moment, so the fault budgets
// (canLose, canLoseState) count it as one already. Without it a learner
// could lose state (learners always may) just before its promotion
// commits, and leave the new configuration short of a quorum that lost
// nothing.
func (c *confTracker) votersSoon() []uint64 {
	soon := c.voters
	add := func(id uint64) {
		if !slices.Contains(soon, id) {
			soon = append(slices.Clone(soon), id)
		}
	}
	if p := c.plan; p != nil && p.cc.Type == raftcore.AddVoter {
		add(p.cc.NodeID)
	}
	for _, id := range c.givenUp {
		add(id)
	}
	return soon
}

// committed records a conf change the first time a member applies it.
func (c *confTracker) committed(w *World, index uint64, cc raftcore.ConfChange) {
	cs, err := raftcore.ConfState{Voters: c.voters, Learners: c.learners}.WithChange(cc)
	switch {
	case index <= uint64(len(w.initial)):
		// The bootstrap entries: the initial voters.
		c.voters, c.learners = cs.Voters, cs.Learners
	case err != nil:
		w.logFault("conf change %s %d at index %d ignored: %v", cc.Type, cc.NodeID, index, err)
	default:
		c.voters, c.learners = cs.Voters, cs.Learners
		w.obs.cov.MembershipChanges++
		w.logFault("conf change %s %d committed at index %d: voters %v learners %v", cc.Type, cc.NodeID, index, c.voters, c.learners)
	}
	if c.plan != nil && c.plan.cc.Type == cc.Type && c.plan.cc.NodeID == cc.NodeID {
		c.plan = nil
	}
	if err == nil && (cc.Type == raftcore.RemoveNode || cc.Type == raftcore.AddVoter) {
		c.givenUp = slices.DeleteFunc(c.givenUp, func(id uint64) bool { return id == cc.NodeID })
	}
	if cc.Type == raftcore.RemoveNode && err == nil {
		// The removed member shuts down, as a server does once it
		// learns it was removed.
		if m := w.member(cc.NodeID); m.state != stateDead {
			m.state = stateRemoved
			m.incarnation++
			w.endWatchers(m)
		}
	}
}

// propose starts a membership change, unless one is in progress.
func (c *confTracker) propose(w *World, cc raftcore.ConfChange) bool {
	if c.plan != nil {
		return false
	}
	c.plan = &confPlan{cc: cc}
	w.logFault("propose %s %d", cc.Type, cc.NodeID)
	c.try(w)
	return true
}

func (c *confTracker) try(w *World) {
	c.nextReq++
	p := c.plan
	p.reqID = confReqBase | c.nextReq
	p.attempts++
	if m := w.leader(); m != nil {
		w.step(m, replica.EvProposeConfChange{ReqID: p.reqID, CC: p.cc})
	}
	w.schedule(1000, event{kind: evConfTimeout, arg: p.reqID})
}

// timeout retries a change that has not committed, or gives up on it.
func (c *confTracker) timeout(w *World, reqID uint64) {
	p := c.plan
	if p == nil || p.reqID != reqID {
		return
	}
	if p.attempts >= 5 || w.healed {
		w.logFault("gave up on %s %d", p.cc.Type, p.cc.NodeID)
		if p.cc.Type == raftcore.AddVoter {
			c.givenUp = append(c.givenUp, p.cc.NodeID)
		}
		c.plan = nil
		return
	}
	c.try(w)
}

// changeMembership takes the next step of the membership nemesis: replace
// a dead member, promote a caught-up learner, remove a voter when there are
// more than at the start, or add a fresh member as a learner.
func (w *World) changeMembership() {
	c := &w.conf
	if c.plan != nil {
		return
	}
	for _, id := range append(slices.Clone(c.voters), c.learners...) {
		if w.member(id).state == stateDead {
			c.propose(w, raftcore.ConfChange{Type: raftcore.RemoveNode, NodeID: id})
			return
		}
	}
	lead := w.leader()
	if lead == nil {
		return
	}
	st := lead.core.Status()
	for _, id := range c.learners {
		if pr, ok := st.Progress[id]; ok && pr.Match+5 >= st.HardState.Commit && w.member(id).state == stateUp && w.canPromote(w.member(id)) {
			c.propose(w, raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: id})
			return
		}
	}
	if len(c.voters) > w.cfg.Members {
		victim := c.voters[w.rng.IntN(len(c.voters))]
		if w.canLose(w.member(victim)) || w.member(victim).state != stateUp {
			c.propose(w, raftcore.ConfChange{Type: raftcore.RemoveNode, NodeID: victim})
		}
		return
	}
	if len(c.learners) > 0 || len(w.members) >= w.cfg.Members+6 {
		return
	}
	m, err := w.addMember(false)
	if err != nil {
		w.fail("add member: %v", err)
		return
	}
	w.logFault("new member %d starts empty", m.id)
	c.propose(w, raftcore.ConfChange{Type: raftcore.AddLearner, NodeID: m.id})
}

// canLoseForGood reports whether member m may be lost for good (a bit
// flipped at rest may keep it from starting again, until the membership
// nemesis replaces it) and leave its voters a quorum, counting the
// members already dead, at risk of it, or repairing lost state (a learner
// always may).
func (w *World) canLoseForGood(m *member) bool { return w.canLoseState(m) }

// canLose reports whether member m may go down now without leaving its
// voters without a quorum (a learner always may).
func (w *World) canLose(m *member) bool {
	voters := w.conf.votersSoon()
	if !slices.Contains(voters, m.id) {
		return true
	}
	down := 0
	for _, id := range voters {
		if x := w.member(id); x.state != stateUp || x.crashAtSync > 0 || x.crashInSnapshot || x.diskFull {
			down++
		}
	}
	return down+1 <= (len(voters)-1)/2
}

// canPromote reports whether learner m may become a voter: the voters
// it joins, and it, keep a majority that lost no state.
func (w *World) canPromote(m *member) bool {
	lost := 0
	for _, id := range append(slices.Clone(w.conf.voters), m.id) {
		if w.member(id).unrepaired() {
			lost++
		}
	}
	return lost <= len(w.conf.voters)/2
}
