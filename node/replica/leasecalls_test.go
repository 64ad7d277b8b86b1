package replica

import (
	"errors"
	"testing"

	"github.com/cairndb/cairn/api"
)

// A keep-alive goes to the leader, which renews only while it keeps the
// leases' clocks, and looks a lease it does not know up again after a
// ReadIndex round.
func TestLeaseRouteAndRenew(t *testing.T) {
	r := openTestReplica(t)
	if _, err := r.LeaseRoute(0); !errors.Is(err, ErrNoLeader) {
		t.Errorf("route with no leader: %v, want ErrNoLeader", err)
	}
	if to, err := r.LeaseRoute(5); to != 5 || err != nil {
		t.Errorf("route to leader 5: %d, %v", to, err)
	}
	if _, err := r.Renew(2, 9, false); !errors.Is(err, api.ErrNotLeader) {
		t.Errorf("renew at a member that does not lead: %v, want ErrNotLeader", err)
	}
	if _, err := r.Renew(1, 9, false); !errors.Is(err, api.ErrNotLeader) {
		t.Errorf("renew before the lessor is primary: %v, want ErrNotLeader", err)
	}
	r.LeaderChanged(1)
	if _, err := r.Renew(1, 9, false); !errors.Is(err, ErrLeaseNotFound) {
		t.Errorf("renew of an unknown lease: %v, want ErrLeaseNotFound", err)
	}
	if ttl, err := r.Renew(1, 9, true); ttl != 0 || err != nil {
		t.Errorf("renew of an unknown lease once caught up: %d, %v, want 0, nil", ttl, err)
	}
	if res := mustApply(t, r.State, 1, mustEncode(t, &api.LeaseGrantRequest{ID: 9, TTL: 5})); res.Err != nil {
		t.Fatal(res.Err)
	}
	if ttl, err := r.Renew(1, 9, false); ttl != 5 || err != nil {
		t.Errorf("renew of a granted lease: %d, %v, want 5", ttl, err)
	}
}

func TestRetryLeaseCall(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{api.ErrNotLeader, true},
		{api.ErrNoLeader, true},
		{ErrNoLeader, true},
		{ErrLeaseNotFound, false},
		{api.ErrStopped, false},
		{nil, false},
	} {
		if got := RetryLeaseCall(tc.err); got != tc.want {
			t.Errorf("RetryLeaseCall(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
