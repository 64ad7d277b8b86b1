package linearizability

import (
	"bytes"
	"slices"

	"github.com/cairndb/cairn/api"
)

// refKV is a plain sequential key-value store, written independently of
// the models (mutable maps, no shared engine), that answers requests the way
// a correct server does. Tests generate histories by running operations
// against it. It understands the subset of requests the generators make:
// compares on single keys, no nested transactions.
type refKV struct {
	rev int64
	kvs map[string]api.KeyValue
	log []Change
}

func newRefKV(rev int64) *refKV {
	return &refKV{rev: rev, kvs: make(map[string]api.KeyValue)}
}

// apply runs one top-level request and returns the response with its
// header.
func (r *refKV) apply(req api.RequestOp) api.ResponseOp {
	w := &refWrite{kv: r, rev: r.rev + 1}
	resp := w.do(req)
	if len(w.events) > 0 {
		r.rev++
		r.log = append(r.log, Change{Revision: r.rev, Events: w.events})
	}
	h := api.ResponseHeader{Revision: r.rev}
	switch {
	case resp.Range != nil:
		resp.Range.Header = h
	case resp.Put != nil:
		resp.Put.Header = h
	case resp.DeleteRange != nil:
		resp.DeleteRange.Header = h
	case resp.Txn != nil:
		resp.Txn.Header = h
	}
	return resp
}

// keys returns the live keys in [key, end) under the RangeRequest rules,
// sorted.
func (r *refKV) keys(key, end []byte) []string {
	var out []string
	for k := range r.kvs {
		kb := []byte(k)
		var in bool
		switch {
		case len(end) == 0:
			in = bytes.Equal(kb, key)
		case bytes.Equal(end, []byte{0}):
			in = bytes.Equal(key, []byte{0}) || bytes.Compare(kb, key) >= 0
		default:
			in = bytes.Compare(kb, key) >= 0 && bytes.Compare(kb, end) < 0
		}
		if in {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// refWrite is one top-level request in progress: every change it makes
// gets revision rev.
type refWrite struct {
	kv     *refKV
	rev    int64
	events []api.Event
}

func (w *refWrite) do(req api.RequestOp) api.ResponseOp {
	r := w.kv
	switch {
	case req.Range != nil:
		q := req.Range
		keys := r.keys(q.Key, q.RangeEnd)
		resp := &api.RangeResponse{Count: int64(len(keys))}
		if q.CountOnly {
			return api.ResponseOp{Range: resp}
		}
		if q.SortOrder == api.SortDescend {
			slices.Reverse(keys)
		}
		if q.Limit > 0 && len(keys) > int(q.Limit) {
			keys = keys[:q.Limit]
			resp.More = true
		}
		for _, k := range keys {
			kv := r.kvs[k]
			if q.KeysOnly {
				kv.Value = nil
			}
			resp.Kvs = append(resp.Kvs, kv)
		}
		return api.ResponseOp{Range: resp}
	case req.Put != nil:
		p := req.Put
		old, existed := r.kvs[string(p.Key)]
		kv := api.KeyValue{Key: p.Key, Value: p.Value, CreateRevision: w.rev, ModRevision: w.rev, Version: 1}
		ev := api.Event{Type: api.EventPut, Kv: kv}
		resp := &api.PutResponse{}
		if existed {
			kv.CreateRevision, kv.Version = old.CreateRevision, old.Version+1
			ev.Kv = kv
			prev := old
			ev.PrevKv = &prev
			if p.PrevKv {
				resp.PrevKv = &prev
			}
		}
		r.kvs[string(p.Key)] = kv
		w.events = append(w.events, ev)
		return api.ResponseOp{Put: resp}
	case req.DeleteRange != nil:
		d := req.DeleteRange
		resp := &api.DeleteRangeResponse{}
		for _, k := range r.keys(d.Key, d.RangeEnd) {
			old := r.kvs[k]
			delete(r.kvs, k)
			resp.Deleted++
			if d.PrevKv {
				resp.PrevKvs = append(resp.PrevKvs, old)
			}
			w.events = append(w.events, api.Event{Type: api.EventDelete, Kv: api.KeyValue{Key: old.Key, ModRevision: w.rev}, PrevKv: &old})
		}
		return api.ResponseOp{DeleteRange: resp}
	case req.Txn != nil:
		t := req.Txn
		ok := true
		for _, c := range t.Compare {
			ok = ok && w.holds(c)
		}
		ops := t.Failure
		if ok {
			ops = t.Success
		}
		resp := &api.TxnResponse{Succeeded: ok, Responses: []api.ResponseOp{}}
		for _, sub := range ops {
			resp.Responses = append(resp.Responses, w.do(sub))
		}
		return api.ResponseOp{Txn: resp}
	}
	panic("refKV: empty request")
}

// holds evaluates a single-key compare.
func (w *refWrite) holds(c api.Compare) bool {
	kv, ok := w.kv.kvs[string(c.Key)]
	var have, want int64
	switch c.Target {
	case api.CompareValue:
		if !ok {
			return false
		}
		have, want = int64(bytes.Compare(kv.Value, c.Value)), 0
	case api.CompareVersion:
		have, want = kv.Version, c.Version
	case api.CompareMod:
		have, want = kv.ModRevision, c.ModRevision
	case api.CompareCreate:
		have, want = kv.CreateRevision, c.CreateRevision
	case api.CompareLease:
		have, want = kv.Lease, c.Lease
	}
	switch c.Result {
	case api.CompareEqual:
		return have == want
	case api.CompareNotEqual:
		return have != want
	case api.CompareGreater:
		return have > want
	default:
		return have < want
	}
}
