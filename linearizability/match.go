package linearizability

import (
	"bytes"

	"github.com/cairndb/cairn/api"
)

// matcher compares the response a correct server would give (want, built
// by an execution) with the one the client observed (got). Headers are
// checked by the models, not here.
type matcher struct {
	// lenient accepts any revision in [1, maxRev] where want has 0 (a
	// revision the per-key model does not know).
	lenient bool
	maxRev  int64
}

func (m matcher) response(req api.RequestOp, want, got api.ResponseOp) bool {
	switch {
	case req.Range != nil:
		return got.Range != nil && m.rangeResponse(req.Range, want.Range, got.Range)
	case req.Put != nil:
		return got.Put != nil && m.optionalKV(req.Put.PrevKv, want.Put.PrevKv, got.Put.PrevKv)
	case req.DeleteRange != nil:
		return got.DeleteRange != nil && m.deleteResponse(req.DeleteRange, want.DeleteRange, got.DeleteRange)
	case req.Txn != nil:
		return got.Txn != nil && m.txnResponse(req.Txn, want.Txn, got.Txn)
	}
	return false
}

func (m matcher) rangeResponse(req *api.RangeRequest, want, got *api.RangeResponse) bool {
	if want.Count != got.Count {
		return false
	}
	if req.CountOnly {
		return true
	}
	return want.More == got.More && m.kvs(want.Kvs, got.Kvs)
}

func (m matcher) deleteResponse(req *api.DeleteRangeRequest, want, got *api.DeleteRangeResponse) bool {
	if want.Deleted != got.Deleted {
		return false
	}
	return !req.PrevKv || m.kvs(want.PrevKvs, got.PrevKvs)
}

func (m matcher) txnResponse(req *api.TxnRequest, want, got *api.TxnResponse) bool {
	if want.Succeeded != got.Succeeded || len(want.Responses) != len(got.Responses) {
		return false
	}
	ops := req.Failure
	if want.Succeeded {
		ops = req.Success
	}
	for i, op := range ops {
		if !m.response(op, want.Responses[i], got.Responses[i]) {
			return false
		}
	}
	return true
}

// optionalKV compares a previous key-value the client asked for (asked)
// and that is absent when the key did not exist.
func (m matcher) optionalKV(asked bool, want, got *api.KeyValue) bool {
	if !asked {
		return true
	}
	if want == nil || got == nil {
		return want == nil && got == nil
	}
	return m.kv(*want, *got)
}

func (m matcher) kvs(want, got []api.KeyValue) bool {
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		if !m.kv(want[i], got[i]) {
			return false
		}
	}
	return true
}

func (m matcher) kv(want, got api.KeyValue) bool {
	return bytes.Equal(want.Key, got.Key) && bytes.Equal(want.Value, got.Value) &&
		want.Version == got.Version && want.Lease == got.Lease &&
		m.revision(want.CreateRevision, got.CreateRevision) &&
		m.revision(want.ModRevision, got.ModRevision)
}

func (m matcher) revision(want, got int64) bool {
	if m.lenient && want == 0 {
		return got >= 1 && got <= m.maxRev
	}
	return want == got
}

// headerOf returns the header of a top-level response.
func headerOf(resp api.ResponseOp) (api.ResponseHeader, bool) {
	switch {
	case resp.Range != nil:
		return resp.Range.Header, true
	case resp.Put != nil:
		return resp.Put.Header, true
	case resp.DeleteRange != nil:
		return resp.DeleteRange.Header, true
	case resp.Txn != nil:
		return resp.Txn.Header, true
	}
	return api.ResponseHeader{}, false
}
