package raftcore

import (
	"errors"
	"testing"
)

// A node refuses what no member could legitimately send it: messages
// from strangers that could depose a leader, start an election or write
// to the log, and terms that would wrap.
func TestStepRefusesWhatNoMemberCouldSend(t *testing.T) {
	const stranger = 9
	tests := []struct {
		name string
		// to is the node the message goes to: the leader (1) or a
		// follower (2), in a three-member cluster in term t.
		to  uint64
		msg func(term uint64) Message
		err error
	}{
		{"stranger's heartbeat deposes the leader", 1, func(term uint64) Message {
			return Message{Type: MsgHeartbeat, From: stranger, Term: term + 1}
		}, ErrStepPeerNotFound},
		{"stranger's append takes a follower", 2, func(term uint64) Message {
			return Message{Type: MsgApp, From: stranger, Term: term + 1, Index: 100, LogTerm: term + 1}
		}, ErrStepPeerNotFound},
		{"stranger's vote request to the leader", 1, func(term uint64) Message {
			return Message{Type: MsgVote, From: stranger, Term: term + 1, Index: 1 << 20, LogTerm: term + 1}
		}, ErrStepPeerNotFound},
		{"stranger's transfer-vote request", 2, func(term uint64) Message {
			return Message{Type: MsgVote, From: stranger, Term: term + 1, Index: 1 << 20, LogTerm: term + 1, Transfer: true}
		}, ErrStepPeerNotFound},
		{"stranger's pre-vote request", 2, func(term uint64) Message {
			return Message{Type: MsgPreVote, From: stranger, Term: term + 1, Index: 1 << 20, LogTerm: term + 1}
		}, ErrStepPeerNotFound},
		{"stranger's append response with a later term", 1, func(term uint64) Message {
			return Message{Type: MsgAppResp, From: stranger, Term: term + 5}
		}, ErrStepPeerNotFound},
		{"stranger's proposal", 1, func(term uint64) Message {
			return Message{Type: MsgProp, From: stranger, Entries: []Entry{{Data: []byte("forged")}}}
		}, ErrStepPeerNotFound},
		{"stranger asks for a transfer", 1, func(term uint64) Message {
			return Message{Type: MsgTransferLeader, From: stranger, Index: 2}
		}, ErrStepPeerNotFound},
		{"stranger's read index", 1, func(term uint64) Message {
			return Message{Type: MsgReadIndex, From: stranger, Context: []byte("r")}
		}, ErrStepPeerNotFound},
		{"timeout-now from a member that does not lead", 2, func(term uint64) Message {
			return Message{Type: MsgTimeoutNow, From: 3, Term: term}
		}, ErrStepPeerNotFound},
		{"a member's heartbeat at a term that would wrap", 2, func(term uint64) Message {
			return Message{Type: MsgHeartbeat, From: 3, Term: ^uint64(0)}
		}, ErrTermOutOfRange},
		{"a member's vote request past the highest term", 1, func(term uint64) Message {
			return Message{Type: MsgVote, From: 3, Term: MaxTerm + 1, Index: 1 << 20, LogTerm: 1}
		}, ErrTermOutOfRange},
		{"a message without a sender", 2, func(term uint64) Message {
			return Message{Type: MsgHeartbeat, Term: term + 1}
		}, ErrStepLocalMsg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCluster(t, 3, nil)
			c.elect(1)
			c.propose(1)
			c.stabilize()
			term := c.r(1).term
			before := map[uint64]struct {
				term, lead, last uint64
				state            StateType
			}{}
			for _, id := range c.ids {
				r := c.r(id)
				before[id] = struct {
					term, lead, last uint64
					state            StateType
				}{r.term, r.lead, r.log.lastIndex(), r.state}
			}
			m := tt.msg(term)
			m.To = tt.to
			if err := c.nodes[tt.to].node.Step(m); !errors.Is(err, tt.err) {
				t.Fatalf("Step(%s) = %v, want %v", m.Type, err, tt.err)
			}
			c.stabilize()
			for _, id := range c.ids {
				r := c.r(id)
				b := before[id]
				if r.term != b.term || r.lead != b.lead || r.state != b.state || r.log.lastIndex() != b.last {
					t.Fatalf("node %d changed: term %d -> %d, lead %d -> %d, %s -> %s, last %d -> %d",
						id, b.term, r.term, b.lead, r.lead, b.state, r.state, b.last, r.log.lastIndex())
				}
			}
		})
	}
}

// A node that knows no member yet (it is joining) or whose leader went
// silent takes a leader it does not know, within MaxTermJump of its term.
func TestStepTakesAnUnknownLeaderWithinTheJump(t *testing.T) {
	s := NewMemoryStorage()
	n, err := NewNode(defaultConfig(4, s, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Step(Message{Type: MsgHeartbeat, From: 1, To: 4, Term: MaxTermJump + 1}); !errors.Is(err, ErrTermOutOfRange) {
		t.Fatalf("a stranger's heartbeat %d terms ahead: %v", MaxTermJump+1, err)
	}
	if n.r.term != 0 {
		t.Fatalf("term moved to %d", n.r.term)
	}
	if err := n.Step(Message{Type: MsgHeartbeat, From: 1, To: 4, Term: 7}); err != nil {
		t.Fatalf("heartbeat of the leader of a cluster being joined: %v", err)
	}
	if n.r.term != 7 || n.r.lead != 1 {
		t.Fatalf("joining node at term %d following %d, want 7 and 1", n.r.term, n.r.lead)
	}
	// Now it follows 1: another stranger is refused.
	if err := n.Step(Message{Type: MsgHeartbeat, From: 2, To: 4, Term: 8}); !errors.Is(err, ErrStepPeerNotFound) {
		t.Fatalf("second stranger while following the first: %v", err)
	}
}

// A node at MaxTerm never campaigns: its term cannot go higher.
func TestNoCampaignAtMaxTerm(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.elect(1)
	for _, id := range c.ids {
		c.r(id).term = MaxTerm
		c.r(id).becomeFollower(MaxTerm, None)
	}
	for range 100 {
		c.tickAll()
		c.stabilize()
	}
	for _, id := range c.ids {
		if r := c.r(id); r.term != MaxTerm || r.state != StateFollower {
			t.Fatalf("node %d at term %d, %s", id, r.term, r.state)
		}
	}
}
