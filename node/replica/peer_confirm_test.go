package replica

import (
	"errors"
	"strings"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/raftcore"
)

// A member waits for a peer only when it restarted on its data dir and
// its cluster has another member; once a peer confirms it, it serves
// reads, and a refusal noted after that changes nothing.
func TestPeerConfirmation(t *testing.T) {
	named := 0
	member1 := func() string { named++; return "member 1" }
	for _, tc := range []struct {
		restarted, others, waits bool
	}{
		{false, false, false}, {false, true, false}, {true, false, false}, {true, true, true},
	} {
		p := NewPeerConfirmation(tc.restarted, tc.others)
		if err := p.Refusal(member1); (err != nil) != tc.waits || p.Confirmed() == tc.waits {
			t.Errorf("restarted %v, other members %v: refusal %v, confirmed %v; want a wait %v", tc.restarted, tc.others, err, p.Confirmed(), tc.waits)
		}
	}
	p := NewPeerConfirmation(true, true)
	err := p.Refusal(member1)
	if !errors.Is(err, ErrUnconfirmed) || !errors.Is(err, api.ErrUnhealthy) || !strings.Contains(err.Error(), "member 1") ||
		!strings.Contains(err.Error(), "it reached none yet") || p.RefusedByPeers() {
		t.Fatalf("a member no peer confirmed yet: %v, refused by peers %v", err, p.RefusedByPeers())
	}
	p.NoteRefused("a peer holds another incarnation")
	if err := p.Refusal(member1); !errors.Is(err, ErrUnconfirmed) || !strings.Contains(err.Error(), "a peer holds another incarnation") || !p.RefusedByPeers() {
		t.Fatalf("a member whose peers refuse it: %v, refused by peers %v", err, p.RefusedByPeers())
	}
	if !p.Confirm() || p.Confirm() {
		t.Fatal("Confirm must report true the first time only")
	}
	p.NoteRefused("too late")
	named = 0
	if err := p.Refusal(member1); err != nil || p.RefusedByPeers() {
		t.Fatalf("a confirmed member: %v, refused by peers %v", err, p.RefusedByPeers())
	}
	if named != 0 {
		t.Fatal("a confirmed member named itself for a read it serves (every read would pay for the string)")
	}
}

// A member has others if its registry names a voter besides itself, or,
// while the registry is empty, its initial members name another.
func TestHasOtherMembers(t *testing.T) {
	registry := func(ids ...uint64) *Members {
		ms := NewMembers()
		for _, id := range ids {
			ms.Apply(raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: id}, nil)
		}
		return ms
	}
	withLearner := func(ms *Members, id uint64) *Members {
		ms.Apply(raftcore.ConfChange{Type: raftcore.AddLearner, NodeID: id}, nil)
		return ms
	}
	for _, tc := range []struct {
		initial  []uint64
		registry *Members
		want     bool
	}{
		{nil, registry(), false},
		{[]uint64{1}, registry(1), false},
		{[]uint64{1, 2}, registry(), true},
		{nil, registry(1, 3), true},
		{[]uint64{1}, registry(1, 2), true},
		{nil, withLearner(registry(1), 2), false}, // the only voter, a learner beside it
		{[]uint64{1, 2, 3}, registry(1), false},   // the others named at the first start are gone
		{nil, withLearner(registry(3), 1), true},  // a learner, whose voter is another
	} {
		if got := HasOtherMembers(1, tc.initial, tc.registry); got != tc.want {
			t.Errorf("member 1, initial %v, registry %v: %v, want %v", tc.initial, tc.registry.List(), got, tc.want)
		}
	}
}
