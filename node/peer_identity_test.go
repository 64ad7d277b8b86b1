package node

import (
	"log/slog"
	"testing"
)

// The adoption rules of peer_identity.go, as a member holding held
// applies them to an identity it is given.
func TestIdentityChoice(t *testing.T) {
	low := clusterIdentity{Cluster: 0xc1, Incarnation: 0xa, Maker: 1}
	high := clusterIdentity{Cluster: 0xc1, Incarnation: 0xb, Maker: 9}
	given := func(id clusterIdentity, committed, campaigned bool) joinedIdentity {
		return joinedIdentity{Identity: id, Committed: committed, Campaigned: campaigned}
	}
	holding := func(id clusterIdentity, committed, campaigned bool) *joinedIdentity {
		j := given(id, committed, campaigned)
		return &j
	}
	// Members 2 and 3 of 3 (quorum 2) answered committed to low; member
	// 4 of 5 to high.
	twoForLow := map[uint64]uint64{2: low.Incarnation, 3: low.Incarnation}
	oneEach := map[uint64]uint64{2: low.Incarnation, 4: high.Incarnation}
	for _, tc := range []struct {
		name        string
		held        *joinedIdentity
		j           joinedIdentity
		committedBy map[uint64]uint64
		adopt, maj  bool
	}{
		{"none held: any", nil, given(high, false, false), nil, true, false},
		{"none held: a majority's, committed", nil, given(low, true, false), twoForLow, true, true},
		{"provisional: a lower maker's", holding(high, false, false), given(low, false, false), nil, true, false},
		{"provisional: not a higher maker's", holding(low, false, false), given(high, false, false), nil, false, false},
		{"provisional: a committed one", holding(low, false, false), given(high, true, false), oneEach, true, false},
		{"provisional: a campaigned one", holding(low, false, false), given(high, false, true), nil, true, false},
		{"provisional: a majority's, committed", holding(high, false, false), given(low, true, false), twoForLow, true, true},
		{"the same: nothing to do", holding(low, false, false), given(low, true, false), twoForLow, false, false},
		{"campaigned: not a lower maker's", holding(high, false, true), given(low, false, false), nil, false, false},
		{"campaigned: not a committed one short of a majority", holding(high, false, true), given(low, true, false), oneEach, false, false},
		{"campaigned: not another campaigned one", holding(high, false, true), given(low, false, true), nil, false, false},
		{"campaigned: a majority's", holding(high, false, true), given(low, true, false), twoForLow, true, true},
		{"campaigned: a majority's, given by a member not committed yet", holding(high, false, true), given(low, false, false), twoForLow, true, true},
		{"committed: never", holding(high, true, false), given(low, true, false), twoForLow, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			adopt, maj := identityChoice(tc.held, tc.j, tc.committedBy, 2)
			if adopt != tc.adopt || maj != tc.maj {
				t.Fatalf("adopt %v, majority %v; want %v, %v", adopt, maj, tc.adopt, tc.maj)
			}
		})
	}
}

// newIdentityTransport is a transport of member gateSelf holding id,
// provisional, with its identity file in a temporary directory.
func newIdentityTransport(t *testing.T, id *clusterIdentity) *peerTransport {
	g := newTestGate(t, id)
	g.committed.Store(false)
	s := &Server{id: gateSelf, clusterID: id.Cluster, gate: g, log: slog.New(slog.DiscardHandler)}
	tr := &peerTransport{s: s, memberPath: t.TempDir(), peers: map[uint64]*peerSender{}}
	if err := saveClusterIdentity(tr.memberPath, id, identityProvisional); err != nil {
		t.Fatal(err)
	}
	return tr
}

// wantIdentity checks the identity a transport's member holds, in
// memory and in its file.
func wantIdentity(t *testing.T, tr *peerTransport, id *clusterIdentity, state identityState) {
	t.Helper()
	g := tr.s.gate
	held := g.held()
	memory := identityProvisional
	switch {
	case held.Committed:
		memory = identityCommitted
	case held.Campaigned:
		memory = identityCampaigned
	}
	if held.Identity != *id || memory != state {
		t.Fatalf("holds %s, %v; want %s, %v", &held.Identity, memory, id, state)
	}
	file, fileState, err := loadClusterIdentity(tr.memberPath)
	if err != nil || *file != *id || fileState != state {
		t.Fatalf("file: %v, %v, %v; want %s, %v", file, fileState, err, id, state)
	}
}

// The life of a member's identity: a vote request makes it campaigned; a
// campaigned member takes no identity but one a majority committed,
// which it then holds committed; a message proved under an identity the
// member left is not taken and commits nothing.
func TestIdentityCampaignedThenTakesTheMajoritys(t *testing.T) {
	mine, lower, majority := mustIdentity(t, 0xc1), mustIdentity(t, 0xc1), mustIdentity(t, 0xc1)
	tr := newIdentityTransport(t, mine)
	tr.campaignIdentity()
	wantIdentity(t, tr, mine, identityCampaigned)
	if err := tr.adopt(joinedIdentity{Identity: *lower}, "test", false); err != nil {
		t.Fatal(err)
	}
	wantIdentity(t, tr, mine, identityCampaigned)
	if tr.bindIdentity(majority.Incarnation) {
		t.Fatal("a message proved under an identity the member does not hold was taken")
	}
	wantIdentity(t, tr, mine, identityCampaigned)
	if err := tr.adopt(joinedIdentity{Identity: *majority, Committed: true}, "test", true); err != nil {
		t.Fatal(err)
	}
	wantIdentity(t, tr, majority, identityCommitted)
	if tr.bindIdentity(mine.Incarnation) {
		t.Fatal("a message proved under the identity the member left was taken")
	}
	if !tr.bindIdentity(majority.Incarnation) {
		t.Fatal("a message proved under the identity the member holds was refused")
	}
	tr.campaignIdentity()
	if err := tr.adopt(joinedIdentity{Identity: *lower, Committed: true}, "test", true); err != nil {
		t.Fatal(err)
	}
	wantIdentity(t, tr, majority, identityCommitted)
}

// A provisional member that hears a promise under the identity it holds
// commits it, for good; one under an identity it left commits nothing.
func TestIdentityCommittedByAPromiseHeard(t *testing.T) {
	mine, other := mustIdentity(t, 0xc1), mustIdentity(t, 0xc1)
	tr := newIdentityTransport(t, mine)
	if tr.bindIdentity(other.Incarnation) {
		t.Fatal("a message proved under an identity the member does not hold was taken")
	}
	wantIdentity(t, tr, mine, identityProvisional)
	if !tr.bindIdentity(mine.Incarnation) {
		t.Fatal("a message proved under the identity the member holds was refused")
	}
	wantIdentity(t, tr, mine, identityCommitted)
	tr.campaignIdentity()
	wantIdentity(t, tr, mine, identityCommitted)
	if err := tr.adopt(joinedIdentity{Identity: *other, Committed: true}, "test", true); err != nil {
		t.Fatal(err)
	}
	wantIdentity(t, tr, mine, identityCommitted)
}
