package replica

import (
	"errors"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/raftcore"
)

func TestMembersLifecycle(t *testing.T) {
	ms := NewMembers()
	a := Member{ID: 1, Name: "a", PeerURLs: []string{"http://a:2380"}}
	b := Member{ID: 2, Name: "b", PeerURLs: []string{"http://b:2380"}}
	ms.Apply(raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: 1}, encodeMember(a))
	if err := ms.ValidateChange(raftcore.ConfChange{Type: raftcore.AddLearner, NodeID: 2}, b); err != nil {
		t.Fatal(err)
	}
	ms.Apply(raftcore.ConfChange{Type: raftcore.AddLearner, NodeID: 2}, encodeMember(b))
	tests := []struct {
		cc   raftcore.ConfChange
		m    Member
		want error
	}{
		{raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: 1}, a, ErrMemberExists},
		{raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: 3}, Member{PeerURLs: []string{"http://a:2380"}}, ErrPeerURLExists},
		{raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: 3}, Member{}, ErrMemberBadURLs},
		{raftcore.ConfChange{Type: raftcore.AddLearner, NodeID: 3}, Member{PeerURLs: []string{"http://c:1"}}, ErrTooManyLearners},
		// The URL first, as etcd: a learner added twice while it is the
		// one learner allowed.
		{raftcore.ConfChange{Type: raftcore.AddLearner, NodeID: 3}, Member{PeerURLs: []string{"http://c:1", "http://b:2380"}}, ErrPeerURLExists},
		{raftcore.ConfChange{Type: raftcore.AddLearner, NodeID: 3}, Member{}, ErrMemberBadURLs},
		{raftcore.ConfChange{Type: raftcore.RemoveNode, NodeID: 9}, Member{}, ErrMemberNotFound},
		{raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: 2}, Member{}, nil}, // promotion
	}
	for _, tt := range tests {
		if err := ms.ValidateChange(tt.cc, tt.m); !errors.Is(err, tt.want) {
			t.Errorf("%s %d: %v, want %v", tt.cc.Type, tt.cc.NodeID, err, tt.want)
		}
	}
	ms.Apply(raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: 2}, nil)
	if m, _ := ms.Get(2); m.IsLearner || m.Name != "b" {
		t.Fatalf("promoted member %+v", m)
	}
	ms.Apply(raftcore.ConfChange{Type: raftcore.RemoveNode, NodeID: 2}, nil)
	if err := ms.ValidateChange(raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: 2}, b); !errors.Is(err, ErrIDRemoved) {
		t.Fatalf("re-adding a removed id: %v", err)
	}
	if got := ms.List(); len(got) != 1 || got[0].ID != 1 {
		t.Fatalf("members %+v", got)
	}
}

// CheckStarted refuses what etcd 3.6's strict reconfiguration check
// refuses for want of started members, and nothing else.
func TestMembersCheckStarted(t *testing.T) {
	// members: s a started voter, u an unstarted voter, l a started
	// learner, n an unstarted learner; ids 1, 2, ... in order.
	tests := []struct {
		members string
		cc      raftcore.ConfChange
		refused bool
	}{
		{"s", raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: 9}, false}, // a second voter to one: etcd's restore case
		{"su", raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: 9}, true},
		{"sss", raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: 9}, false},
		{"sssu", raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: 9}, false},
		{"sssuu", raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: 9}, true},
		{"ssu", raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: 9}, true},
		{"ssu", raftcore.ConfChange{Type: raftcore.AddLearner, NodeID: 9}, false},
		{"suu", raftcore.ConfChange{Type: raftcore.AddLearner, NodeID: 9}, false},
		// Removing: the quorum of the voters left.
		{"sssuu", raftcore.ConfChange{Type: raftcore.RemoveNode, NodeID: 1}, true},
		{"sssuu", raftcore.ConfChange{Type: raftcore.RemoveNode, NodeID: 4}, false},
		{"ssu", raftcore.ConfChange{Type: raftcore.RemoveNode, NodeID: 1}, true},
		{"ssu", raftcore.ConfChange{Type: raftcore.RemoveNode, NodeID: 3}, false},
		{"suun", raftcore.ConfChange{Type: raftcore.RemoveNode, NodeID: 4}, false}, // a learner
		{"ssu", raftcore.ConfChange{Type: raftcore.RemoveNode, NodeID: 9}, false},  // no member: every voter counts
		{"suu", raftcore.ConfChange{Type: raftcore.RemoveNode, NodeID: 9}, true},
		// Promoting: the learner counts as started.
		{"ssul", raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: 4}, false},
		{"suun", raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: 4}, true},
		{"ssun", raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: 4}, false},
	}
	for _, tt := range tests {
		ms := NewMembers()
		for i, kind := range tt.members {
			m := Member{ID: uint64(i + 1), IsLearner: kind == 'l' || kind == 'n'}
			if kind == 's' || kind == 'l' {
				m.Name = string(kind)
			}
			ms.put(m)
		}
		err := ms.CheckStarted(tt.cc)
		if tt.refused != (err != nil) || err != nil && !errors.Is(err, api.ErrMemberNotEnoughStarted) {
			t.Errorf("%s, %s %d: %v, refused %v", tt.members, tt.cc.Type, tt.cc.NodeID, err, tt.refused)
		}
	}
}
