package sim

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/linearizability"
)

// inCluster lists the members that are up and in the committed
// configuration: those that must converge.
func (w *World) inCluster() []*member {
	var out []*member
	for _, m := range w.members {
		if m.state == stateUp && (w.conf.isVoter(m.id) || w.conf.isLearner(m.id)) {
			out = append(out, m)
		}
	}
	return out
}

// checkConverged waits for the members to apply everything, then requires
// their stores to be at the newest revision with equal hashes.
func (w *World) checkConverged() error {
	converged := func() bool {
		ms := w.inCluster()
		for _, m := range ms {
			if m.sm.kv.Store().Rev() != w.applied.maxRev || m.core.Status().Applied != ms[0].core.Status().Applied {
				return false
			}
		}
		return true
	}
	for deadline := w.now + 5000; !converged() && w.now < deadline && w.fatal == nil; {
		w.runUntil(w.now + 100)
	}
	if w.fatal != nil {
		return nil
	}
	var first *member
	var firstHash uint32
	members := w.inCluster()
	// A rotten store differs on purpose (corrupt.go): the others are
	// compared. When the rot reached every member (a rotten leader's
	// snapshots spread it), they all hold the same rotten data, and are
	// compared among themselves.
	allRotten := !slices.ContainsFunc(members, func(m *member) bool { return !w.corrupt.isRotten(m.id) })
	for _, m := range members {
		if w.corrupt.isRotten(m.id) && !allRotten {
			continue
		}
		store := m.sm.kv.Store()
		if store.Rev() != w.applied.maxRev {
			return fmt.Errorf("member %d is at store revision %d, the cluster reached %d; members: %s", m.id, store.Rev(), w.applied.maxRev, w.describeMembers())
		}
		h, _, err := store.Hash(0)
		if err != nil {
			return fmt.Errorf("member %d: hash: %w", m.id, err)
		}
		if first == nil {
			first, firstHash = m, h
			continue
		}
		if h != firstHash {
			return fmt.Errorf("stores differ at revision %d: member %d hashes to %x, member %d to %x", w.applied.maxRev, m.id, h, first.id, firstHash)
		}
	}
	if first == nil {
		return fmt.Errorf("no member is up at the end; members: %s", w.describeMembers())
	}
	return nil
}

// checkAcknowledgedWrites requires every write a client saw succeed to be
// in the committed history at the revision its response named: each put
// it made, and as many deletes in its range as it reported.
func (w *World) checkAcknowledgedWrites() error {
	for _, op := range w.rec.Operations() {
		out := op.Output.(linearizability.Outcome)
		if out.Unknown {
			continue
		}
		req, resp := op.Input.(api.RequestOp), out.Response
		var ops []api.RequestOp
		var rev int64
		deleted := int64(0)
		switch {
		case req.Put != nil:
			ops, rev = []api.RequestOp{req}, resp.Put.Header.Revision
		case req.DeleteRange != nil:
			ops, rev, deleted = []api.RequestOp{req}, resp.DeleteRange.Header.Revision, resp.DeleteRange.Deleted
		case req.Txn != nil && resp.Txn.Succeeded:
			ops, rev = req.Txn.Success, resp.Txn.Header.Revision
			for _, r := range resp.Txn.Responses {
				if r.DeleteRange != nil {
					deleted += r.DeleteRange.Deleted
				}
			}
		}
		c := w.applied.changes[rev]
		for _, sub := range ops {
			switch {
			case sub.Put != nil && !hasEvent(c.events, api.EventPut, sub.Put.Key, nil, sub.Put.Value):
				return fmt.Errorf("lost write: client %d's put of %q=%q was acknowledged at revision %d, but that revision changed %s",
					op.ClientId, sub.Put.Key, sub.Put.Value, rev, describeEvents(c.events))
			case sub.DeleteRange != nil && deleted > 0 && !hasDeletes(c.events, sub.DeleteRange, deleted):
				return fmt.Errorf("lost write: client %d's delete of [%q, %q) was acknowledged at revision %d with %d deleted, but that revision changed %s",
					op.ClientId, sub.DeleteRange.Key, sub.DeleteRange.RangeEnd, rev, deleted, describeEvents(c.events))
			}
		}
	}
	return nil
}

// hasEvent reports whether evs hold a change of type typ of key (or of
// a key in [key, end)), with value for a put.
func hasEvent(evs []api.Event, typ api.EventType, key, end, value []byte) bool {
	for _, ev := range evs {
		if ev.Type == typ && inRange(ev.Kv.Key, key, end) && (typ == api.EventDelete || bytes.Equal(ev.Kv.Value, value)) {
			return true
		}
	}
	return false
}

// hasDeletes reports whether evs delete n keys in the range of d.
func hasDeletes(evs []api.Event, d *api.DeleteRangeRequest, n int64) bool {
	for _, ev := range evs {
		if ev.Type == api.EventDelete && inRange(ev.Kv.Key, d.Key, d.RangeEnd) {
			n--
		}
	}
	return n == 0
}

// inRange reports whether k is key, or in [key, end) when end is set.
func inRange(k, key, end []byte) bool {
	if len(end) == 0 {
		return bytes.Equal(k, key)
	}
	return bytes.Compare(k, key) >= 0 && bytes.Compare(k, end) < 0
}
