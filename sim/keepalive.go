package sim

import (
	"errors"

	"github.com/cairndb/cairn/node/replica"
)

// Lease keep-alives, served as node.Server serves them (node/forward.go)
// through the deterministic half it uses (node/replica/leasecalls.go): the
// member a holder reached routes the keep-alive to the leader it knows
// (Replica.LeaseRoute), over the simulated network when that is another
// member; the leader renews it (Replica.Renew), after a ReadIndex round if
// its lessor does not know the lease; a member that no longer leads sends
// it back to be routed again (replica.RetryLeaseCall), a heartbeat later,
// as the server's untilLeader waits.

// keepAlive serves a keep-alive (request reqID, of lease) at member m,
// which the holder reached.
func (w *World) keepAlive(m *member, reqID uint64, lease int64) {
	if m.state != stateUp || !w.holderWaits(reqID) {
		return // lost, or the holder gave up
	}
	// The member the holder reached checks it may keep the lease alive
	// (root, in runs with auth: never refused).
	if err := m.replica.AuthorizeKeepAlive(lease, w.callerOf(reqID)); err != nil {
		w.fail("member %d refused root's keep-alive of lease %x: %v", m.id, lease, err)
		return
	}
	to, err := m.replica.LeaseRoute(m.core.Leader())
	switch {
	case err != nil: // no leader known: ask again a heartbeat later
		w.schedule(tickMillis, event{kind: evKeepAlive, who: m.id, arg: reqID, lease: lease})
	case to == m.id:
		w.renewAt(m, m.id, reqID, lease, false)
	default:
		if latency, ok := w.peerLatency(m.id, to); ok {
			w.schedule(latency, event{kind: evLeaseForward, who: to, via: m.id, arg: reqID, lease: lease})
		} // else the call to the leader fails: the holder times out
	}
}

// renewAt renews lease at member l, the leader as member via knew it, for
// the keep-alive reqID; caughtUp says l's ReadIndex round for it ended.
func (w *World) renewAt(l *member, via, reqID uint64, lease int64, caughtUp bool) {
	h := w.holderOf(reqID)
	if l.state != stateUp || !w.holderWaits(reqID) {
		return
	}
	ttl, err := l.replica.Renew(l.core.Leader(), lease, caughtUp)
	switch {
	case errors.Is(err, replica.ErrLeaseNotFound):
		// Perhaps granted but not yet applied here: a ReadIndex round
		// first (its reply comes back through holderReply).
		h.pending.via, h.pending.lease = via, lease
		w.step(l, replica.EvRead{ReqID: reqID})
		return
	case replica.RetryLeaseCall(err):
		back, ok := w.backTo(l, via)
		if ok {
			w.schedule(back+tickMillis, event{kind: evKeepAlive, who: via, arg: reqID, lease: lease})
		}
		return
	case err != nil:
		w.fail("member %d: renew lease %x: %v", l.id, lease, err)
		return
	}
	res := resGone
	if ttl > 0 {
		res = resOK
		w.leases.renewals[lease] = append(w.leases.renewals[lease], renewal{member: l.id, at: w.now})
	}
	if back, ok := w.backTo(l, via); ok {
		w.holderAnswer(h, w.member(via), reqID, res, back)
	}
}

// backTo is how long the leader's answer takes to reach member via (0 if
// via is the leader), and false if it is lost.
func (w *World) backTo(l *member, via uint64) (int64, bool) {
	if via == l.id {
		return 0, true
	}
	return w.peerLatency(l.id, via)
}

// holderWaits reports whether a holder still waits for the answer to
// request reqID.
func (w *World) holderWaits(reqID uint64) bool {
	h := w.holderOf(reqID)
	return h != nil && h.pending != nil && h.pending.id == reqID && !h.pending.answered
}

// peerLatency is how long a peer call's message takes from one member to
// another over the simulated network, and false if the network loses it
// (a cut link, a drop): then the call fails.
func (w *World) peerLatency(from, to uint64) (int64, bool) {
	l := link{from, to}
	n := &w.net
	if n.cut[l] || w.rng.Float64() < n.dropRate {
		return 0, false
	}
	return n.baseLatency(l) + n.slow[l] + int64(w.rng.IntN(4)), true
}
