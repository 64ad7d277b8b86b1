package replica

import (
	"errors"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/raftcore"
)

// Two membership requests that both passed the registry's check before
// they were proposed (Members.ValidateChange) — made at once through two
// members, or the second retried after the first was taken — must not
// both be made: the leader checks each change again when it takes it,
// against the registry holding every earlier change. Here the second
// change is proposed after the first was applied, as a request that
// validated before the first committed and retried does; without the
// leader's check raft takes it (it is valid for raft's configuration).
func TestLeaderRefusesAChangeThatConflictsWithAnEarlierOne(t *testing.T) {
	learner := func(id uint64, url string) raftcore.ConfChange {
		return raftcore.ConfChange{Type: raftcore.AddLearner, NodeID: id, Context: encodeMember(Member{ID: id, PeerURLs: []string{url}, IsLearner: true})}
	}
	voter := func(id uint64, url string) raftcore.ConfChange {
		return raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: id, Context: encodeMember(Member{ID: id, PeerURLs: []string{url}})}
	}
	tests := []struct {
		name          string
		first, second raftcore.ConfChange
		want          error
	}{
		{"the same peer URL twice", learner(10, "http://10.0.0.9:2380"), voter(11, "http://10.0.0.9:2380"), ErrPeerURLExists},
		{"a second learner", learner(10, "http://10.0.0.9:2380"), learner(11, "http://10.0.0.8:2380"), ErrTooManyLearners},
		{"a removed id added back", raftcore.ConfChange{Type: raftcore.RemoveNode, NodeID: 3}, learner(3, "http://10.0.0.9:2380"), ErrIDRemoved},
		{"a learner's promotion", learner(10, "http://10.0.0.9:2380"), raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: 10}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newKVCluster(t, 3, 1000)
			for _, id := range []uint64{10, 11} {
				c.down[id] = true // added to the configuration, never started
			}
			lead := c.leader()
			if lead == 3 && tt.first.Type == raftcore.RemoveNode {
				tt.first.NodeID, tt.second.NodeID = 2, 2
			}
			if err := c.confChange(lead, tt.first); err != nil {
				t.Fatalf("first change: %v", err)
			}
			err := c.confChange(lead, tt.second)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("second change: %v, want it made", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("second change: %v, want %v", err, tt.want)
			}
			for id, m := range c.members {
				if c.down[id] {
					continue
				}
				if _, ok := m.kv.Members().Get(tt.second.NodeID); ok && tt.second.Type != raftcore.RemoveNode && tt.first.Type != raftcore.RemoveNode {
					t.Fatalf("member %d's registry holds %x, whose change was refused", id, tt.second.NodeID)
				}
			}
		})
	}
}

// confChange proposes cc at member id, the request header in front of its
// context as the core puts it, and returns the change's outcome once the
// member replied.
func (c *kvCluster) confChange(id uint64, cc raftcore.ConfChange) error {
	c.t.Helper()
	c.nextReq++
	rid := c.nextReq
	c.step(id, EvProposeConfChange{ReqID: rid, CC: cc})
	for range 100 {
		c.settle()
		if r, ok := c.replies[rid]; ok {
			return r.Err
		}
		c.tick(1)
	}
	c.t.Fatalf("no reply from %d to the change of %x", id, cc.NodeID)
	return nil
}

// Two updates that give two members one peer URL are checked in log
// order when applied: the second is refused on every member, however
// they raced past the check before they were proposed.
func TestMemberUpdatesCannotShareAPeerURL(t *testing.T) {
	c := newKVCluster(t, 3, 1000)
	lead := c.leader()
	const url = "http://10.0.0.9:2380"
	if r := c.write(lead, &api.MemberUpdateRequest{ID: 1, PeerURLs: []string{url}}); r.Err != nil {
		t.Fatalf("first update: %v", r.Err)
	}
	if r := c.write(lead, &api.MemberUpdateRequest{ID: 1, PeerURLs: []string{url}}); r.Err != nil {
		t.Fatalf("a member's update to its own URL: %v", r.Err)
	}
	if r := c.write(lead, &api.MemberUpdateRequest{ID: 2, PeerURLs: []string{url}}); !errors.Is(r.Err, ErrPeerURLExists) {
		t.Fatalf("second member's update to the same URL: %v, want %v", r.Err, ErrPeerURLExists)
	}
	c.tick(3)
	for id, m := range c.members {
		if got, _ := m.kv.Members().Get(2); len(got.PeerURLs) != 0 {
			t.Fatalf("member %d's registry gives member 2 the URLs %v", id, got.PeerURLs)
		}
	}
}
