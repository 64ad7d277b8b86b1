package sim

import (
	"bytes"
	"fmt"

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
	for _, m := range w.inCluster() {
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
// in the committed history at the revision its response named.
func (w *World) checkAcknowledgedWrites() error {
	for _, op := range w.rec.Operations() {
		out := op.Output.(linearizability.Outcome)
		if out.Unknown {
			continue
		}
		req, resp := op.Input.(api.RequestOp), out.Response
		var key, value []byte
		var rev int64
		typ := api.EventPut
		switch {
		case req.Put != nil:
			key, value, rev = req.Put.Key, req.Put.Value, resp.Put.Header.Revision
		case req.DeleteRange != nil && resp.DeleteRange.Deleted > 0:
			key, rev, typ = req.DeleteRange.Key, resp.DeleteRange.Header.Revision, api.EventDelete
		case req.Txn != nil && resp.Txn.Succeeded:
			put := req.Txn.Success[0].Put
			key, value, rev = put.Key, put.Value, resp.Txn.Header.Revision
		default:
			continue
		}
		c, ok := w.applied.changes[rev]
		if !ok || !hasEvent(c.events, typ, key, value) {
			return fmt.Errorf("lost write: client %d's %s of %q=%q was acknowledged at revision %d, but that revision changed %s",
				op.ClientId, map[api.EventType]string{api.EventPut: "put", api.EventDelete: "delete"}[typ], key, value, rev, describeEvents(c.events))
		}
	}
	return nil
}

func hasEvent(evs []api.Event, typ api.EventType, key, value []byte) bool {
	for _, ev := range evs {
		if ev.Type == typ && bytes.Equal(ev.Kv.Key, key) && (typ == api.EventDelete || bytes.Equal(ev.Kv.Value, value)) {
			return true
		}
	}
	return false
}
