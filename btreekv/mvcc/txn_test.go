package mvcc

import (
	"errors"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/fsx"
)

func put(k, v string) api.RequestOp {
	return api.RequestOp{Put: &api.PutRequest{Key: []byte(k), Value: []byte(v)}}
}

func del(k, end string) api.RequestOp {
	r := &api.DeleteRangeRequest{Key: []byte(k)}
	if end != "" {
		r.RangeEnd = []byte(end)
	}
	return api.RequestOp{DeleteRange: r}
}

func nested(then, els []api.RequestOp) api.RequestOp {
	return api.RequestOp{Txn: &api.TxnRequest{Success: then, Failure: els}}
}

func TestCheckTxnDuplicateRules(t *testing.T) {
	tests := []struct {
		name string
		ops  []api.RequestOp
		dup  bool
	}{
		{"distinct puts", []api.RequestOp{put("a", "1"), put("b", "2")}, false},
		{"same key put twice", []api.RequestOp{put("a", "1"), put("a", "2")}, true},
		{"put inside a later delete", []api.RequestOp{put("b", "1"), del("a", "c")}, true},
		{"put inside an earlier delete", []api.RequestOp{del("a", "c"), put("b", "1")}, true},
		{"put outside the delete", []api.RequestOp{del("a", "c"), put("c", "1")}, false},
		{"overlapping deletes", []api.RequestOp{del("a", "m"), del("c", "z"), del("d", "")}, false},
		{"put in both branches of a nested txn", []api.RequestOp{nested([]api.RequestOp{put("a", "1")}, []api.RequestOp{put("a", "2")})}, false},
		{"nested put repeats an outer put", []api.RequestOp{put("a", "1"), nested([]api.RequestOp{put("a", "2")}, nil)}, true},
		{"nested else put repeats an outer put", []api.RequestOp{put("a", "1"), nested(nil, []api.RequestOp{put("a", "2")})}, true},
		{"nested put inside an outer delete", []api.RequestOp{del("a", "z"), nested([]api.RequestOp{put("b", "2")}, nil)}, true},
		{"outer put inside a nested delete", []api.RequestOp{nested([]api.RequestOp{del("a", "z")}, nil), put("b", "2")}, true},
		{"duplicate inside a nested branch", []api.RequestOp{nested([]api.RequestOp{put("a", "1"), put("a", "2")}, nil)}, true},
	}
	for _, tt := range tests {
		err := CheckTxn(&api.TxnRequest{Success: tt.ops}, 0)
		if got := errors.Is(err, ErrDuplicateKey); got != tt.dup || (!tt.dup && err != nil) {
			t.Errorf("%s: %v, want duplicate=%v", tt.name, err, tt.dup)
		}
	}
	many := &api.TxnRequest{Failure: []api.RequestOp{put("a", ""), put("b", ""), put("c", "")}}
	if err := CheckTxn(many, 2); !errors.Is(err, ErrTooManyOps) {
		t.Errorf("3 ops with a limit of 2: %v", err)
	}
	deep := &api.TxnRequest{Success: []api.RequestOp{nested(many.Failure, nil)}}
	if err := CheckTxn(deep, 2); !errors.Is(err, ErrTooManyOps) {
		t.Errorf("3 nested ops with a limit of 2: %v", err)
	}
	if err := CheckTxn(many, 3); err != nil {
		t.Errorf("3 ops with a limit of 3: %v", err)
	}
}

// TestTxnIsAllOrNothing: a transaction whose later operation is invalid
// fails before any of its operations is applied.
func TestTxnIsAllOrNothing(t *testing.T) {
	s := openMem(t, fsx.NewMem(), 10)
	for i, k := range []string{"pp", "x"} {
		if _, err := s.Put(uint64(i+1), 1, &api.PutRequest{Key: []byte(k), Value: []byte("0")}); err != nil {
			t.Fatal(err)
		}
	}
	w, _ := s.Watch([]byte{0}, []byte{0}, WatchOptions{})
	bad := []struct {
		name string
		op   api.RequestOp
		want error
	}{
		{"unknown lease", api.RequestOp{Put: &api.PutRequest{Key: []byte("b"), Lease: 99}}, ErrLeaseNotFound},
		{"ignore_value on a missing key", api.RequestOp{Put: &api.PutRequest{Key: []byte("b"), IgnoreValue: true}}, ErrKeyNotFound},
		{"ignore_value with a value", api.RequestOp{Put: &api.PutRequest{Key: []byte("x"), IgnoreValue: true, Value: []byte("v")}}, ErrValueProvided},
		{"ignore_lease with a lease", api.RequestOp{Put: &api.PutRequest{Key: []byte("x"), IgnoreLease: true, Lease: 5}}, ErrLeaseProvided},
		{"read of a future revision", api.RequestOp{Range: &api.RangeRequest{Key: []byte("x"), Revision: 100}}, ErrFutureRev},
		{"empty key", api.RequestOp{DeleteRange: &api.DeleteRangeRequest{}}, ErrEmptyKey},
		{"empty operation", api.RequestOp{}, ErrEmptyOp},
		{"bad op in a nested txn", nested([]api.RequestOp{put("c", "1"), {Put: &api.PutRequest{Key: []byte("d"), Lease: 7}}}, nil), ErrLeaseNotFound},
	}
	for i, tt := range bad {
		req := &api.TxnRequest{Success: []api.RequestOp{put("a", "1"), del("p", "q"), tt.op}}
		if _, err := s.Txn(uint64(10+i), 1, req); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
		if s.Rev() != 2 {
			t.Fatalf("%s: revision moved to %d", tt.name, s.Rev())
		}
		res, _ := s.Range([]byte{0}, []byte{0}, RangeOptions{})
		if len(res.KVs) != 2 || string(res.KVs[0].Key) != "pp" || string(res.KVs[1].Key) != "x" {
			t.Fatalf("%s: partial transaction applied: %v", tt.name, res.KVs)
		}
	}
	select {
	case r := <-w.C():
		t.Fatalf("watcher saw a failed transaction: %+v", r)
	default:
	}
	// Compares of nested transactions see the state before the
	// transaction, not its earlier writes.
	req := &api.TxnRequest{Success: []api.RequestOp{
		put("y", "new"),
		{Txn: &api.TxnRequest{
			Compare: []api.Compare{{Key: []byte("y"), Target: api.CompareVersion, Result: api.CompareEqual, Version: 0}},
			Success: []api.RequestOp{put("z", "saw-no-y")},
			Failure: []api.RequestOp{put("z", "saw-y")},
		}},
	}}
	resp, err := s.Txn(30, 1, req)
	if err != nil || !resp.Responses[1].Txn.Succeeded {
		t.Fatalf("nested compare: %+v %v", resp, err)
	}
	if s.ConsistentIndex() > 30 || s.AppliedIndex() != 30 {
		t.Fatalf("applied index %d", s.AppliedIndex())
	}
}

func TestRangeSortTargetWithoutOrderSortsAscending(t *testing.T) {
	s := openMem(t, fsx.NewMem(), 10)
	for i, kv := range [][2]string{{"a", "3"}, {"b", "1"}, {"c", "2"}} {
		_, _ = s.Put(uint64(i+1), 1, &api.PutRequest{Key: []byte(kv[0]), Value: []byte(kv[1])})
	}
	resp, err := s.RangeRequest(&api.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), SortTarget: api.SortByValue})
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for _, kv := range resp.Kvs {
		got += string(kv.Key)
	}
	if got != "bca" {
		t.Fatalf("sorted by value: %s, want bca", got)
	}
	resp, _ = s.RangeRequest(&api.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), SortTarget: api.SortByValue, SortOrder: api.SortDescend, KeysOnly: true})
	got = ""
	for _, kv := range resp.Kvs {
		got += string(kv.Key) + string(kv.Value)
	}
	if got != "acb" {
		t.Fatalf("keys only, sorted by value descending: %s, want acb", got)
	}
}

// TestLeaseAttachmentFollowsTheKeysCurrentVersion: a key belongs to the
// lease of its current version; overwriting it without the lease or
// deleting it detaches it, and the attachments survive a reopen.
func TestLeaseAttachmentFollowsTheKeysCurrentVersion(t *testing.T) {
	disk := fsx.NewMem()
	s := openMem(t, disk, 2)
	if err := s.LeaseGrant(1, 1, 7, 60); err != nil {
		t.Fatal(err)
	}
	if err := s.LeaseGrant(2, 1, 7, 60); !errors.Is(err, ErrLeaseExists) {
		t.Fatalf("second grant of 7: %v", err)
	}
	if err := s.LeaseGrant(3, 1, 0, 60); !errors.Is(err, ErrLeaseIDZero) {
		t.Fatalf("grant of 0: %v", err)
	}
	for i, k := range []string{"a", "b", "c"} {
		if _, err := s.Put(uint64(10+i), 1, &api.PutRequest{Key: []byte(k), Lease: 7}); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = s.Put(20, 1, &api.PutRequest{Key: []byte("a"), Value: []byte("no lease")})
	_, _ = s.DeleteRange(21, 1, &api.DeleteRangeRequest{Key: []byte("b")})
	_, _ = s.Put(22, 1, &api.PutRequest{Key: []byte("c"), Value: []byte("keeps it"), IgnoreLease: true})
	check := func(when string) {
		got := s.Leases()
		if len(got) != 1 || got[0].ID != 7 || len(got[0].Keys) != 1 || got[0].Keys[0] != "c" {
			t.Fatalf("%s: leases %+v, want 7 holding c", when, got)
		}
	}
	check("before reopen")
	_ = s.Close()
	s = openMem(t, disk, 2)
	check("after reopen")
	keys, err := s.LeaseRevoke(30, 1, 7)
	if err != nil || len(keys) != 1 || keys[0] != "c" {
		t.Fatalf("revoke: %v %v", keys, err)
	}
	res, _ := s.Range([]byte("a"), []byte{0}, RangeOptions{})
	if len(res.KVs) != 1 || string(res.KVs[0].Key) != "a" {
		t.Fatalf("after revoke: %v", res.KVs)
	}
}
