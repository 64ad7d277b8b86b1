package replica

import (
	"errors"
	"testing"

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
