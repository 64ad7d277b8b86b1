package replica

import (
	"testing"

	"github.com/cairndb/cairn/api"
)

// Plan.Answer answers from the store, with the revision the read saw, as
// the same request through raft would.
func TestAnswer(t *testing.T) {
	r := openTestReplica(t)
	lim := Limits{MaxTxnOps: DefaultMaxTxnOps, MaxRequestBytes: DefaultMaxRequestBytes}
	put := &api.PutRequest{Key: []byte("k"), Value: []byte("v")}
	if res := mustApply(t, r.State, 1, mustEncode(t, put)); res.Err != nil {
		t.Fatal(res.Err)
	}
	get := &api.RangeRequest{Key: []byte("k")}
	resp, err := r.Plan(get, Local{Limits: lim}).Answer(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	rr, ok := resp.(*api.RangeResponse)
	if !ok || len(rr.Kvs) != 1 || string(rr.Kvs[0].Value) != "v" || rr.Header.Revision != r.State.Store().Rev() {
		t.Fatalf("range: %+v", resp)
	}
	txn := &api.TxnRequest{
		Compare: []api.Compare{{Key: []byte("k"), Target: api.CompareValue, Result: api.CompareEqual, Value: []byte("v")}},
		Success: []api.RequestOp{{Range: get}},
	}
	resp, err = r.Plan(txn, Local{Limits: lim}).Answer(nil, 0)
	tr, ok := resp.(*api.TxnResponse)
	if err != nil || !ok || !tr.Succeeded || len(tr.Responses) != 1 || tr.Header.Revision != r.State.Store().Rev() {
		t.Fatalf("read-only txn: %+v, %v", resp, err)
	}
	if _, err := r.serveRead(Read{Req: put}, 0); err == nil {
		t.Fatal("a put served as a read")
	}
	if ev, ok := (Read{}).Barrier(9).(EvRead); !ok || ev.ReqID != 9 {
		t.Errorf("Barrier(9) = %#v, want EvRead{9}", ev)
	}
}

func TestTxnSerializable(t *testing.T) {
	get := func(serial bool) api.RequestOp {
		return api.RequestOp{Range: &api.RangeRequest{Key: []byte("k"), Serializable: serial}}
	}
	nest := func(ops ...api.RequestOp) api.RequestOp { return api.RequestOp{Txn: &api.TxnRequest{Success: ops}} }
	tests := []struct {
		name string
		req  *api.TxnRequest
		want bool
	}{
		{"only compares", &api.TxnRequest{Compare: []api.Compare{{Key: []byte("k")}}}, false},
		{"one serializable read", &api.TxnRequest{Success: []api.RequestOp{get(true)}}, true},
		{"one linearizable read", &api.TxnRequest{Success: []api.RequestOp{get(false)}}, false},
		{"a linearizable read in the other branch", &api.TxnRequest{Success: []api.RequestOp{get(true)}, Failure: []api.RequestOp{get(false)}}, false},
		{"serializable nested reads", &api.TxnRequest{Success: []api.RequestOp{get(true), nest(get(true))}}, true},
		{"a linearizable nested read", &api.TxnRequest{Success: []api.RequestOp{get(true), nest(get(false))}}, false},
	}
	for _, tt := range tests {
		if got := TxnSerializable(tt.req); got != tt.want {
			t.Errorf("%s: serializable = %v, want %v", tt.name, got, tt.want)
		}
	}
}
