package replica

import (
	"errors"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

var t0 = time.Unix(1_700_000_000, 0)

func TestLessorExpiryOnlyOnPrimary(t *testing.T) {
	le := NewLessor(1)
	if _, err := le.Grant(1, 5, t0); err != nil {
		t.Fatal(err)
	}
	if got := le.Expired(t0.Add(time.Hour), 10); len(got) != 0 {
		t.Fatalf("non-primary expired %v", got)
	}
	le.Promote(t0)
	if got := le.Expired(t0.Add(4*time.Second), 10); len(got) != 0 {
		t.Fatalf("expired early: %v", got)
	}
	if got := le.Expired(t0.Add(5*time.Second), 10); !slices.Equal(got, []int64{1}) {
		t.Fatalf("expired %v, want [1]", got)
	}
	// Renewal pushes expiry out by the TTL.
	if ttl, err := le.Renew(1, t0.Add(5*time.Second)); err != nil || ttl != 5 {
		t.Fatalf("renew: %d %v", ttl, err)
	}
	if got := le.Expired(t0.Add(9*time.Second), 10); len(got) != 0 {
		t.Fatalf("expired after renewal: %v", got)
	}
	le.Demote()
	if _, err := le.Renew(1, t0); !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("renew on non-primary: %v", err)
	}
}

func TestLessorPromoteGivesFullTTL(t *testing.T) {
	le := NewLessor(1)
	le.Promote(t0)
	_, _ = le.Grant(1, 10, t0)
	le.Demote()
	// Leadership comes back 9 s later: the lease gets 10 s from then.
	le.Promote(t0.Add(9 * time.Second))
	if got := le.Expired(t0.Add(18*time.Second), 10); len(got) != 0 {
		t.Fatalf("expired %v before a full TTL after promotion", got)
	}
	_, remaining, _, _ := le.TimeToLive(1, t0.Add(9*time.Second))
	if remaining != 10 {
		t.Fatalf("remaining %d, want 10", remaining)
	}
}

func TestLessorAttachRevoke(t *testing.T) {
	le := NewLessor(1)
	_, _ = le.Grant(1, 10, t0)
	_, _ = le.Grant(2, 10, t0)
	for _, k := range []string{"a", "b"} {
		if err := le.Attach(1, k); err != nil {
			t.Fatal(err)
		}
	}
	_ = le.Attach(2, "b") // moves b to lease 2
	if le.LeaseOf("b") != 2 {
		t.Fatal("b not moved to lease 2")
	}
	keys, err := le.Revoke(1)
	if err != nil || !slices.Equal(keys, []string{"a"}) {
		t.Fatalf("revoke 1: %v %v", keys, err)
	}
	if _, err := le.Revoke(1); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("double revoke: %v", err)
	}
	if _, err := le.Grant(2, 1, t0); !errors.Is(err, ErrLeaseExists) {
		t.Fatalf("duplicate grant: %v", err)
	}
	if _, err := le.Grant(3, MaxLeaseTTL+1, t0); !errors.Is(err, ErrLeaseTTLTooLarge) {
		t.Fatalf("huge ttl: %v", err)
	}
	if l, _ := le.Grant(4, 1, t0); l.TTL != 1 {
		t.Fatalf("ttl %d", l.TTL)
	}
	if l, _ := NewLessor(0).Grant(4, 1, t0); l.TTL != MinLeaseTTL {
		t.Fatalf("ttl below minimum not raised: %d", l.TTL)
	}
}

// TestLessorExpiredMatchesModel: Expired returns exactly the leases whose
// expiry passed, earliest first, whatever the grant/renew/revoke history.
func TestLessorExpiredMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		le := NewLessor(1)
		le.Promote(t0)
		model := map[int64]time.Time{}
		now := t0
		for range rapid.IntRange(1, 60).Draw(t, "ops") {
			id := int64(rapid.IntRange(1, 8).Draw(t, "id"))
			switch rapid.IntRange(0, 3).Draw(t, "op") {
			case 0:
				ttl := int64(rapid.IntRange(1, 20).Draw(t, "ttl"))
				if _, err := le.Grant(id, ttl, now); err == nil {
					model[id] = now.Add(time.Duration(ttl) * time.Second)
				}
			case 1:
				if ttl, err := le.Renew(id, now); err == nil {
					model[id] = now.Add(time.Duration(ttl) * time.Second)
				}
			case 2:
				if _, err := le.Revoke(id); err == nil {
					delete(model, id)
				}
			case 3:
				now = now.Add(time.Duration(rapid.IntRange(0, 5000).Draw(t, "ms")) * time.Millisecond)
			}
			var want []int64
			for id, exp := range model {
				if !exp.After(now) {
					want = append(want, id)
				}
			}
			slices.SortFunc(want, func(a, b int64) int {
				if c := model[a].Compare(model[b]); c != 0 {
					return c
				}
				return int(a - b)
			})
			if got := le.Expired(now, 100); !slices.Equal(got, want) {
				t.Fatalf("expired %v, want %v", got, want)
			}
		}
	})
}

// The smallest TTL granted is etcd's: one and a half election timeouts,
// counted in whole heartbeats, rounded up to a second.
func TestMinLeaseTTLFor(t *testing.T) {
	for _, tt := range []struct {
		heartbeat, election time.Duration
		want                int64
	}{
		{100 * time.Millisecond, time.Second, 2}, // etcd's defaults
		{10 * time.Millisecond, 100 * time.Millisecond, 1},
		{100 * time.Millisecond, 5 * time.Second, 8},
		{300 * time.Millisecond, time.Second, 2}, // 3 ticks: 4 heartbeats, 1.2 s
		{0, 0, MinLeaseTTL},
	} {
		if got := MinLeaseTTLFor(tt.heartbeat, tt.election); got != tt.want {
			t.Errorf("heartbeat %v, election %v: %d, want %d", tt.heartbeat, tt.election, got, tt.want)
		}
	}
}

// The leader lists leases as etcd's does, the first to expire first; a
// member that does not lead, by id; an id the lessor does not know, last.
func TestLessorSortByExpiry(t *testing.T) {
	le := NewLessor(1)
	le.Promote(t0)
	for _, g := range []struct{ id, ttl int64 }{{1, 30}, {2, 10}, {3, 20}} {
		if _, err := le.Grant(g.id, g.ttl, t0); err != nil {
			t.Fatal(err)
		}
	}
	sorted := func() []int64 {
		ids := []int64{99, 3, 1, 2}
		le.SortByExpiry(ids)
		return ids
	}
	if got := sorted(); !slices.Equal(got, []int64{2, 3, 1, 99}) {
		t.Fatalf("at the leader: %v, want [2 3 1 99]", got)
	}
	if _, err := le.Renew(2, t0.Add(25*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := sorted(); !slices.Equal(got, []int64{3, 1, 2, 99}) {
		t.Fatalf("after lease 2's renewal: %v, want [3 1 2 99]", got)
	}
	le.Demote()
	if got := sorted(); !slices.Equal(got, []int64{1, 2, 3, 99}) {
		t.Fatalf("at a member that does not lead: %v, want [1 2 3 99]", got)
	}
}
