package sim

import (
	"fmt"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/node/replica"
)

// Each member runs the real lessor (replica.Lessor) on virtual time, wired
// the way node.Server wires it: every member learns of grants and revokes
// as it applies them, rebuilds its lessor from the store when it starts or
// installs a snapshot, becomes the primary when it becomes leader (every
// lease then gets its full TTL) and stops being it when it loses the
// leadership; every leaseTick the leader proposes the revocation of the
// leases whose time is up.
//
// The expiry check (checkExpiry) runs each time a leader proposes such a
// revoke. It requires the proposal time t to be at least TTL after each
// of these moments:
//
//   - when the proposer became leader (its lessor was promoted);
//   - when the lease's grant was first applied, on any member;
//   - every keep-alive the proposer acknowledged during its leadership;
//   - every keep-alive any leader acknowledged before the proposer
//     became leader.
//
// That is sound: the proposer's lessor sets a lease's expiry to now+TTL
// on promotion, on a grant applied while primary, on a snapshot restore
// and on each renewal, and never moves it back; a grant applied before
// promotion was applied there before the promotion, and a renewal before
// the promotion is covered by it (the virtual clock is the same
// everywhere, so "before" is well defined). What it does not require is
// that a lease outlive a keep-alive acknowledged by another member after
// the proposer's promotion: a deposed leader that has not noticed yet
// still renews leases (until check-quorum makes it step down), and the new
// leader cannot know. A revoke that commits was proposed by some leader no
// later than it applied, so no lease is revoked earlier than this.

const (
	// leaseTick is how often a leader looks for expired leases (as often
	// as node.Server does).
	leaseTick = 500
	// expiryReqBase numbers the revokes leaders propose for expired
	// leases (request ids apart from clients' and the nemesis's).
	expiryReqBase = 1 << 57
)

// leaseBook is what the run knows about leases, for the checks.
type leaseBook struct {
	// granted is when each lease's grant was first applied; ttl is its
	// TTL in milliseconds as the lessor counts it.
	granted map[int64]int64
	ttl     map[int64]int64
	// renewals are the keep-alives leaders acknowledged, by lease.
	renewals map[int64][]renewal
	// expiries counts the revokes proposed for expired leases; revoked
	// the leases revoked (by expiry or by their holder); unseen the
	// expiries of leases that a deposed leader had renewed less than a
	// TTL before, after the new leader's promotion.
	expiries, revoked, unseen int
	nextReq                   uint64
}

// renewal is a keep-alive a leader acknowledged.
type renewal struct {
	member uint64
	at     int64
}

func (b *leaseBook) init() {
	b.granted, b.ttl, b.renewals = map[int64]int64{}, map[int64]int64{}, map[int64][]renewal{}
}

// leaseClock is the time the lessors see. With the FastLeaseClock
// mutation it runs twice as fast as the virtual clock, so leases expire
// at half their TTL.
func (w *World) leaseClock() time.Time {
	ms := w.now
	if w.cfg.Mutation == FastLeaseClock {
		ms *= 2
	}
	return time.UnixMilli(ms)
}

// leaderChanged promotes or demotes a member's lessor, as the server does
// when its driver reports a new leader.
func (w *World) leaderChanged(m *member, leader uint64) {
	m.replica.LeaderChanged(leader)
	m.primarySince = -1
	if leader == m.id {
		m.primarySince = w.now
	}
}

// expireLeases makes every leader propose the revocation of its expired
// leases, after checking that each is due.
func (w *World) expireLeases() {
	for _, m := range w.members {
		if m.state != stateUp || m.core.Leader() != m.id {
			continue
		}
		for _, id := range m.replica.ExpiredLeases(64) {
			w.checkExpiry(m, id)
			w.leases.expiries++
			w.leases.nextReq++
			w.step(m, replica.EvPropose{ReqID: expiryReqBase | w.leases.nextReq, Cmd: replica.ExpiryCommand(id)})
			if m.state != stateUp {
				break
			}
		}
	}
}

// checkExpiry checks that leader m may revoke lease id now (see the
// comment at the top of this file).
func (w *World) checkExpiry(m *member, id int64) {
	b := &w.leases
	granted, ok := b.granted[id]
	if !ok {
		w.fail("leader %d expires lease %x, which no member has granted", m.id, id)
		return
	}
	ttl := b.ttl[id]
	due, why := m.primarySince+ttl, fmt.Sprintf("it became leader at %dms", m.primarySince)
	if granted+ttl > due {
		due, why = granted+ttl, fmt.Sprintf("the grant applied at %dms", granted)
	}
	unseen := false
	for _, r := range b.renewals[id] {
		switch {
		case r.member != m.id && r.at > m.primarySince:
			// A renewal by a deposed leader the proposer cannot know of.
			unseen = unseen || r.at+ttl > w.now
		case r.at+ttl > due:
			due, why = r.at+ttl, fmt.Sprintf("member %d acknowledged a keep-alive at %dms", r.member, r.at)
		}
	}
	if unseen && w.now >= due {
		b.unseen++
	}
	if w.now < due {
		w.fail("leader %d expires lease %x (TTL %dms) %dms early: %s", m.id, id, ttl, due-w.now, why)
	}
}

// leasesApplied records the leases a member's store gained at an entry
// and checks the ones it lost: the revoke deleted exactly the keys
// attached to the lease, in one revision, and no key stays attached to a
// lease that is gone. before is the store's content before the entry;
// events are the changes of the entry's revision (none if it made none).
func (s *appliedState) leasesApplied(index uint64, before map[string]api.KeyValue, events []api.Event) {
	w := s.w
	now := map[int64]bool{}
	for _, l := range s.kv.Store().Leases() {
		now[l.ID] = true
		if _, ok := w.leases.granted[l.ID]; !ok {
			w.leases.granted[l.ID] = w.now
			w.leases.ttl[l.ID] = max(l.TTL, replica.MinLeaseTTL) * 1000
		}
	}
	for id := range s.leases {
		if now[id] {
			continue
		}
		if w.applied.entries[index].member == s.m.id {
			w.leases.revoked++ // counted once, by the first member to apply it
		}
		var want []string
		for k, kv := range before {
			if kv.Lease == id {
				want = append(want, k)
			}
		}
		if !deletesExactly(events, want) {
			w.fail("member %d: entry %d revoked lease %x with keys %q attached, but its revision changed %s",
				s.m.id, index, id, want, describeEvents(events))
		}
	}
	for k, kv := range s.keys {
		if kv.Lease != 0 && !now[kv.Lease] {
			w.fail("member %d: key %q is still attached to lease %x after entry %d, but the lease is gone", s.m.id, k, kv.Lease, index)
		}
	}
	s.leases = now
}

// deletesExactly reports whether events delete exactly keys and change
// nothing else.
func deletesExactly(events []api.Event, keys []string) bool {
	if len(events) != len(keys) {
		return false
	}
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	for _, ev := range events {
		if ev.Type != api.EventDelete || !want[string(ev.Kv.Key)] {
			return false
		}
		delete(want, string(ev.Kv.Key))
	}
	return len(want) == 0
}

// checkLeasesExpire requires every lease to be revoked once the holders
// stopped keeping them alive: within the longest TTL, plus a few lease
// ticks and an election, of the time the cluster was known to commit
// again after healing (from). A lease that outlives that would live
// forever.
func (w *World) checkLeasesExpire(from int64) error {
	var longest int64
	for _, ttl := range w.leases.ttl {
		longest = max(longest, ttl)
	}
	deadline := from + longest + 4*leaseTick + 2*electionTicks*tickMillis
	left := func() (*member, int) {
		for _, m := range w.inCluster() {
			if n := len(m.sm.kv.Store().Leases()); n > 0 {
				return m, n
			}
		}
		return nil, 0
	}
	for w.fatal == nil {
		m, n := left()
		if m == nil {
			return nil
		}
		if w.now >= deadline {
			return fmt.Errorf("lease liveness: member %d still holds %d leases (%v) %dms after the cluster committed again; members: %s",
				m.id, n, m.sm.kv.Store().Leases(), w.now-from, w.describeMembers())
		}
		w.runUntil(min(deadline, w.now+100))
	}
	return nil
}
