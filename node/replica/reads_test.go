package replica

import (
	"errors"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/mvcc"
)

// What a member admits of a client's reads, which wait for a ReadIndex
// round, and what it refuses while it may serve none.
func TestAdmitRead(t *testing.T) {
	r := openTestReplica(t)
	lim := Limits{MaxTxnOps: 1, MaxRequestBytes: 200}
	get := &api.RangeRequest{Key: []byte("k")}
	serial := &api.RangeRequest{Key: []byte("k"), Serializable: true}
	readTxn := &api.TxnRequest{Success: []api.RequestOp{{Range: serial}}}
	lost := errors.New("lost data")
	tests := map[string]struct {
		req          api.Message
		refusal      error
		want         error
		linearizable bool
	}{
		"a range":                     {get, nil, nil, true},
		"a serializable range":        {serial, nil, nil, false},
		"a serializable txn":          {readTxn, nil, nil, false},
		"a txn that only compares":    {&api.TxnRequest{Compare: []api.Compare{{Key: []byte("k")}}}, nil, nil, true},
		"a range without a key":       {&api.RangeRequest{}, nil, api.ErrEmptyKey, false},
		"a txn of too many ops":       {&api.TxnRequest{Success: []api.RequestOp{{Range: get}, {Range: get}}}, nil, mvcc.ErrTooManyOps, false},
		"a range, the member refuses": {get, lost, lost, false},
		"a bad range before refusal":  {&api.RangeRequest{}, lost, api.ErrEmptyKey, false},
	}
	for name, tc := range tests {
		rd, err := r.AdmitRead(tc.req, lim, tc.refusal)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: AdmitRead = %v, want %v", name, err, tc.want)
			continue
		}
		if err == nil && rd.Linearizable != tc.linearizable {
			t.Errorf("%s: linearizable = %v, want %v", name, rd.Linearizable, tc.linearizable)
		}
	}
	for _, req := range []api.Message{&api.PutRequest{Key: []byte("k")}, &api.TxnRequest{Success: []api.RequestOp{{Put: &api.PutRequest{Key: []byte("k")}}}}} {
		if _, err := r.AdmitRead(req, lim, nil); api.CodeOf(err) != api.CodeInvalidArgument {
			t.Errorf("%T, a write, admitted as a read: %v", req, err)
		}
	}
	res := mustApply(t, r.State, 1, mustEncode(t, &api.AlarmRequest{Action: api.AlarmActivate, MemberID: 1, Alarm: api.AlarmCorrupt}))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	for _, req := range []api.Message{get, serial, readTxn} {
		if _, err := r.AdmitRead(req, lim, nil); !errors.Is(err, ErrCorruptAlarm) {
			t.Errorf("%T while CORRUPT is raised: %v", req, err)
		}
	}
	if ev, ok := (Read{}).Barrier(9).(EvRead); !ok || ev.ReqID != 9 {
		t.Errorf("Barrier(9) = %#v, want EvRead{9}", ev)
	}
}

// ServeRead answers from the store, with the revision the read saw, as the
// same request through raft would.
func TestServeRead(t *testing.T) {
	r := openTestReplica(t)
	lim := Limits{MaxTxnOps: DefaultMaxTxnOps, MaxRequestBytes: DefaultMaxRequestBytes}
	put := &api.PutRequest{Key: []byte("k"), Value: []byte("v")}
	if res := mustApply(t, r.State, 1, mustEncode(t, put)); res.Err != nil {
		t.Fatal(res.Err)
	}
	get := &api.RangeRequest{Key: []byte("k")}
	rd, err := r.AdmitRead(get, lim, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := r.ServeRead(rd, 0)
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
	if rd, err = r.AdmitRead(txn, lim, nil); err != nil {
		t.Fatal(err)
	}
	resp, err = r.ServeRead(rd, 0)
	tr, ok := resp.(*api.TxnResponse)
	if err != nil || !ok || !tr.Succeeded || len(tr.Responses) != 1 || tr.Header.Revision != r.State.Store().Rev() {
		t.Fatalf("read-only txn: %+v, %v", resp, err)
	}
	if _, err := r.ServeRead(Read{Req: put}, 0); err == nil {
		t.Fatal("a put served as a read")
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
