package replica

import (
	"errors"

	"github.com/cairndb/cairn/api"
)

// The deterministic half of a lease keep-alive, which only the leader can
// answer, through any member: where the member that got it sends it
// (LeaseRoute), how the leader answers it (Renew), and when the member
// asks again (RetryLeaseCall). The server (package node, forward.go)
// carries it over its peer connections and waits for the ReadIndex round;
// the simulator carries it over its simulated network on virtual time.

// LeaseRoute is the member a lease call this member got goes to, given
// the leader it knows: itself when it leads, the leader otherwise, and
// ErrNoLeader while it knows none (the call waits for an election).
func (r *Replica) LeaseRoute(leader uint64) (uint64, error) {
	if leader == 0 {
		return 0, ErrNoLeader
	}
	return leader, nil
}

// RetryLeaseCall reports whether a lease call that failed with err is
// routed again (LeaseRoute) instead of failing: leadership moved under it
// (the member asked no longer leads, or none does now).
func RetryLeaseCall(err error) bool {
	return errors.Is(err, api.ErrNotLeader) || errors.Is(err, api.ErrNoLeader) || errors.Is(err, ErrNoLeader)
}

// Renew renews lease id at this member, which must lead (leader is the
// leader it knows), by the replica's clock, and returns its TTL:
//
//   - a member that does not lead, or whose lessor does not keep the
//     leases' clocks yet (it became leader a moment ago), refuses with
//     api.ErrNotLeader, and the member that routed the call asks again;
//   - a lease the lessor does not know is ErrLeaseNotFound unless
//     caughtUp: its grant may be committed but not yet applied here (the
//     client had it from a member that applied it first), so the caller
//     waits for a ReadIndex round (EvRead) and asks again with caughtUp;
//     then, or if that round fails, the lease does not exist: TTL 0.
func (r *Replica) Renew(leader uint64, id int64, caughtUp bool) (int64, error) {
	if leader != r.ID {
		return 0, api.ErrNotLeader
	}
	ttl, err := r.Lessor.Renew(id, r.clock())
	switch {
	case errors.Is(err, ErrNotPrimary):
		return 0, api.ErrNotLeader
	case errors.Is(err, ErrLeaseNotFound) && caughtUp:
		return 0, nil
	}
	return ttl, err
}
