package raftcore

import (
	"fmt"
	"slices"
)

// Membership changes here are single-server changes (Ongaro's thesis, §4.1):
// each change adds or removes one voter, so any majority of the old
// configuration overlaps any majority of the new one, and a change takes
// effect as soon as its entry is appended to a log (not when it commits).
// The leader allows only one uncommitted change at a time, and only after
// it has committed an entry of its own term.
//
// Because a change is effective on append, a follower whose log suffix is
// replaced by a new leader must also roll its membership back. configs
// keeps, for every conf-change entry still in the log, the membership it
// produced, so rolling back is dropping the records past the cut.

// WithChange returns the membership after applying cc to cs. It fails on a
// change that makes no sense (adding a voter twice, removing a stranger).
// The application uses it to track the membership at its applied index,
// for the ConfState of its snapshots.
func (cs ConfState) WithChange(cc ConfChange) (ConfState, error) {
	if cc.NodeID == None {
		return cs, fmt.Errorf("raftcore: conf change %s: node id 0", cc.Type)
	}
	voter := slices.Contains(cs.Voters, cc.NodeID)
	learner := slices.Contains(cs.Learners, cc.NodeID)
	out := cloneConfState(cs)
	switch cc.Type {
	case AddVoter:
		if voter {
			return cs, fmt.Errorf("raftcore: conf change: %x is already a voter", cc.NodeID)
		}
		out.Learners = slices.DeleteFunc(out.Learners, func(id uint64) bool { return id == cc.NodeID })
		out.Voters = append(out.Voters, cc.NodeID)
	case AddLearner:
		if voter || learner {
			return cs, fmt.Errorf("raftcore: conf change: %x is already a member", cc.NodeID)
		}
		out.Learners = append(out.Learners, cc.NodeID)
	case RemoveNode:
		if !voter && !learner {
			return cs, fmt.Errorf("raftcore: conf change: %x is not a member", cc.NodeID)
		}
		del := func(id uint64) bool { return id == cc.NodeID }
		out.Voters = slices.DeleteFunc(out.Voters, del)
		out.Learners = slices.DeleteFunc(out.Learners, del)
		if len(out.Voters) == 0 {
			return cs, fmt.Errorf("raftcore: conf change: removing %x would leave no voter", cc.NodeID)
		}
	default:
		return cs, fmt.Errorf("raftcore: conf change: unknown type %s", cc.Type)
	}
	slices.Sort(out.Voters)
	slices.Sort(out.Learners)
	return out, nil
}

// IsVoter reports whether id is a voter of cs.
func (cs ConfState) IsVoter(id uint64) bool { return slices.Contains(cs.Voters, id) }

// IsLearner reports whether id is a learner of cs.
func (cs ConfState) IsLearner(id uint64) bool { return slices.Contains(cs.Learners, id) }

// configRecord is the membership produced by the conf-change entry at index.
type configRecord struct {
	index uint64
	cs    ConfState
}

// configs is the membership history of the entries still in the log.
type configs struct {
	base    ConfState // as of the snapshot (or the empty start)
	records []configRecord
}

func (c *configs) current() ConfState {
	if n := len(c.records); n > 0 {
		return c.records[n-1].cs
	}
	return c.base
}

// appendEntries records the changes among ents, which were just appended
// after truncating the log at ents[0].Index.
func (c *configs) appendEntries(ents []Entry) {
	if len(ents) == 0 {
		return
	}
	c.truncate(ents[0].Index)
	for _, e := range ents {
		if e.Type != EntryConfChange {
			continue
		}
		var cc ConfChange
		if err := cc.UnmarshalBinary(e.Data); err != nil {
			// A garbled change is ignored by every member alike: the
			// leader never proposes one, so this is only defensive.
			continue
		}
		next, err := c.current().WithChange(cc)
		if err != nil {
			continue
		}
		c.records = append(c.records, configRecord{index: e.Index, cs: next})
	}
}

// truncate drops the changes at index and beyond.
func (c *configs) truncate(index uint64) {
	n := len(c.records)
	for n > 0 && c.records[n-1].index >= index {
		n--
	}
	c.records = c.records[:n]
}

// restore resets the history to a snapshot's membership.
func (c *configs) restore(cs ConfState) {
	c.base = cloneConfState(cs)
	slices.Sort(c.base.Voters)
	slices.Sort(c.base.Learners)
	c.records = nil
}

// lastChangeIndex is the index of the newest conf-change entry in the log.
func (c *configs) lastChangeIndex() uint64 {
	if n := len(c.records); n > 0 {
		return c.records[n-1].index
	}
	return 0
}
