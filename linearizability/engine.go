package linearizability

import (
	"bytes"
	"slices"

	"github.com/cairndb/cairn/api"
)

// execution applies requests, one after another, to a store the way the
// KV API specifies, and builds the response a correct server would give.
// Both models run requests through it and then compare the built response
// with the one the client observed.
type execution struct {
	s store
	// writeRev is the revision stamped on every change; 0 when it is not
	// known (the per-key model applying a write whose outcome is unknown).
	writeRev int64
	// changed is set once a request changed a key, so the revision
	// advances.
	changed bool
	// recordEvents makes the execution collect the watch events of its
	// changes in events.
	recordEvents bool
	events       []api.Event
}

// do applies one request. For a transaction, branch forces which branch
// runs (nil: evaluate the compares).
func (e *execution) do(op api.RequestOp, branch *bool) api.ResponseOp {
	switch {
	case op.Range != nil:
		return api.ResponseOp{Range: e.rangeOp(op.Range)}
	case op.Put != nil:
		return api.ResponseOp{Put: e.put(op.Put)}
	case op.DeleteRange != nil:
		return api.ResponseOp{DeleteRange: e.deleteRange(op.DeleteRange)}
	case op.Txn != nil:
		return api.ResponseOp{Txn: e.txn(op.Txn, branch)}
	}
	return api.ResponseOp{}
}

func (e *execution) rangeOp(r *api.RangeRequest) *api.RangeResponse {
	kvs := e.s.inRange(keyRange{r.Key, r.RangeEnd})
	resp := &api.RangeResponse{Count: int64(len(kvs))}
	if r.CountOnly {
		return resp
	}
	selected := slices.Clone(kvs)
	if r.SortOrder == api.SortDescend {
		slices.Reverse(selected)
	}
	if r.Limit > 0 && int64(len(selected)) > r.Limit {
		selected = selected[:r.Limit]
		resp.More = true
	}
	if r.KeysOnly {
		for i := range selected {
			selected[i].Value = nil
		}
	}
	resp.Kvs = selected
	return resp
}

func (e *execution) put(r *api.PutRequest) *api.PutResponse {
	old, existed := e.s.get(r.Key)
	kv := api.KeyValue{
		Key:            r.Key,
		Value:          r.Value,
		CreateRevision: e.writeRev,
		ModRevision:    e.writeRev,
		Version:        1,
	}
	if existed {
		kv.CreateRevision = old.CreateRevision
		kv.Version = old.Version + 1
	}
	e.s = e.s.with(kv)
	e.changed = true
	resp := &api.PutResponse{}
	if existed {
		if r.PrevKv {
			prev := old
			resp.PrevKv = &prev
		}
		if e.recordEvents {
			prev := old
			e.events = append(e.events, api.Event{Type: api.EventPut, Kv: kv, PrevKv: &prev})
		}
	} else if e.recordEvents {
		e.events = append(e.events, api.Event{Type: api.EventPut, Kv: kv})
	}
	return resp
}

func (e *execution) deleteRange(r *api.DeleteRangeRequest) *api.DeleteRangeResponse {
	victims := slices.Clone(e.s.inRange(keyRange{r.Key, r.RangeEnd}))
	for _, kv := range victims {
		e.s = e.s.without(kv.Key)
		if e.recordEvents {
			prev := kv
			e.events = append(e.events, api.Event{
				Type:   api.EventDelete,
				Kv:     api.KeyValue{Key: kv.Key, ModRevision: e.writeRev},
				PrevKv: &prev,
			})
		}
	}
	if len(victims) > 0 {
		e.changed = true
	}
	resp := &api.DeleteRangeResponse{Deleted: int64(len(victims))}
	if r.PrevKv {
		resp.PrevKvs = victims
	}
	return resp
}

func (e *execution) txn(t *api.TxnRequest, branch *bool) *api.TxnResponse {
	succeeded := false
	if branch != nil {
		succeeded = *branch
	} else {
		// Nested transactions are only accepted by the multi-key model,
		// where every compare is decided.
		succeeded, _ = evalCompares(e.s, t.Compare)
	}
	ops := t.Failure
	if succeeded {
		ops = t.Success
	}
	resp := &api.TxnResponse{Succeeded: succeeded, Responses: make([]api.ResponseOp, 0, len(ops))}
	for _, op := range ops {
		resp.Responses = append(resp.Responses, e.do(op, nil))
	}
	return resp
}

// evalCompares reports whether every compare holds in s. known is false
// when the answer depends on a revision the per-key model does not know.
func evalCompares(s store, cmps []api.Compare) (holds, known bool) {
	holds, known = true, true
	for _, c := range cmps {
		h, k := evalCompare(s, c)
		if k && !h {
			return false, true
		}
		if !k {
			known = false
		}
	}
	if !known {
		return false, false
	}
	return true, true
}

// evalCompare checks one compare against every live key in its range; a
// range with no live key is compared as a missing key, for which a value
// compare is always false.
func evalCompare(s store, c api.Compare) (holds, known bool) {
	kvs := s.inRange(keyRange{c.Key, c.RangeEnd})
	if len(kvs) == 0 {
		if c.Target == api.CompareValue {
			return false, true
		}
		return compareOne(api.KeyValue{}, false, c)
	}
	known = true
	for _, kv := range kvs {
		h, k := compareOne(kv, true, c)
		if k && !h {
			return false, true
		}
		if !k {
			known = false
		}
	}
	return known, known
}

func compareOne(kv api.KeyValue, live bool, c api.Compare) (holds, known bool) {
	var order int
	switch c.Target {
	case api.CompareValue:
		order = bytes.Compare(kv.Value, c.Value)
	case api.CompareVersion:
		order = cmpInt(kv.Version, c.Version)
	case api.CompareLease:
		order = cmpInt(kv.Lease, c.Lease)
	case api.CompareCreate:
		if live && kv.CreateRevision == 0 {
			return false, false
		}
		order = cmpInt(kv.CreateRevision, c.CreateRevision)
	case api.CompareMod:
		if live && kv.ModRevision == 0 {
			return false, false
		}
		order = cmpInt(kv.ModRevision, c.ModRevision)
	default:
		return false, true
	}
	switch c.Result {
	case api.CompareEqual:
		return order == 0, true
	case api.CompareNotEqual:
		return order != 0, true
	case api.CompareGreater:
		return order > 0, true
	case api.CompareLess:
		return order < 0, true
	}
	return false, true
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
