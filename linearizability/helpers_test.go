package linearizability

import (
	"github.com/anishathalye/porcupine"

	"github.com/cairndb/cairn/api"
)

// Builders for hand-written histories.

func get(k string) api.RequestOp {
	return api.RequestOp{Range: &api.RangeRequest{Key: []byte(k)}}
}

// rangePrefix reads every key starting with prefix (every key when prefix
// is empty).
func rangePrefix(prefix string) api.RequestOp {
	if prefix == "" {
		return api.RequestOp{Range: &api.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}}
	}
	return api.RequestOp{Range: &api.RangeRequest{Key: []byte(prefix), RangeEnd: prefixEnd(prefix)}}
}

func put(k, v string) api.RequestOp {
	return api.RequestOp{Put: &api.PutRequest{Key: []byte(k), Value: []byte(v)}}
}

func del(k string) api.RequestOp {
	return api.RequestOp{DeleteRange: &api.DeleteRangeRequest{Key: []byte(k)}}
}

// casValue is "if value(k) == old then put(k, new)".
func casValue(k, old, new string) api.RequestOp {
	return api.RequestOp{Txn: &api.TxnRequest{
		Compare: []api.Compare{{Result: api.CompareEqual, Target: api.CompareValue, Key: []byte(k), Value: []byte(old)}},
		Success: []api.RequestOp{put(k, new)},
	}}
}

// casMod is "if mod_revision(k) == rev then put(k, new)".
func casMod(k string, rev int64, new string) api.RequestOp {
	return api.RequestOp{Txn: &api.TxnRequest{
		Compare: []api.Compare{{Result: api.CompareEqual, Target: api.CompareMod, Key: []byte(k), ModRevision: rev}},
		Success: []api.RequestOp{put(k, new)},
	}}
}

func kv(k, v string, create, mod, version int64) api.KeyValue {
	return api.KeyValue{Key: []byte(k), Value: []byte(v), CreateRevision: create, ModRevision: mod, Version: version}
}

func hdr(rev int64) api.ResponseHeader { return api.ResponseHeader{Revision: rev} }

func rangeResp(rev int64, kvs ...api.KeyValue) api.ResponseOp {
	return api.ResponseOp{Range: &api.RangeResponse{Header: hdr(rev), Kvs: kvs, Count: int64(len(kvs))}}
}

func putResp(rev int64) api.ResponseOp {
	return api.ResponseOp{Put: &api.PutResponse{Header: hdr(rev)}}
}

func delResp(rev, deleted int64) api.ResponseOp {
	return api.ResponseOp{DeleteRange: &api.DeleteRangeResponse{Header: hdr(rev), Deleted: deleted}}
}

func txnResp(rev int64, succeeded bool, subs ...api.ResponseOp) api.ResponseOp {
	if subs == nil {
		subs = []api.ResponseOp{}
	}
	return api.ResponseOp{Txn: &api.TxnResponse{Header: hdr(rev), Succeeded: succeeded, Responses: subs}}
}

// op is an acknowledged operation over [call, ret].
func op(client int, call, ret int64, req api.RequestOp, resp api.ResponseOp) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Call: call, Return: ret, Input: req, Output: Outcome{Response: resp}}
}

// unknownOp is an operation called at call whose outcome never came back.
func unknownOp(client int, call int64, req api.RequestOp) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Call: call, Return: Never, Input: req, Output: Outcome{Unknown: true}}
}

// prefixEnd is the end of the range of keys starting with prefix.
func prefixEnd(prefix string) []byte {
	end := []byte(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}
