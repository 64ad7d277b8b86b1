package mvcc

import (
	"errors"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/fsx"
)

// etcd 3.6 behaviours that the differential test against it
// (e2e/etcddiff_test.go) found cairn without.

// TestPutChecksLeaseBeforeKeyAsEtcd: a put with ignore_value (or
// ignore_lease) on a missing key and an unknown lease fails, as etcd's
// does, for its lease when on its own and for its key inside a txn.
func TestPutChecksLeaseBeforeKeyAsEtcd(t *testing.T) {
	s := openMem(t, fsx.NewMem(), 10)
	for i, req := range []*api.PutRequest{
		{Key: []byte("missing"), IgnoreValue: true, Lease: 99},
		{Key: []byte("missing"), IgnoreLease: true},
	} {
		_, err := s.Put(uint64(i+1), 1, req)
		want := ErrLeaseNotFound
		if req.Lease == 0 {
			want = ErrKeyNotFound
		}
		if !errors.Is(err, want) {
			t.Errorf("put %+v on its own: %v, want %v", req, err, want)
		}
		txn := &api.TxnRequest{Success: []api.RequestOp{{Put: req}}}
		if _, err := s.Txn(uint64(i+10), 1, txn); !errors.Is(err, ErrKeyNotFound) {
			t.Errorf("put %+v in a txn: %v, want %v", req, err, ErrKeyNotFound)
		}
	}
	if s.Rev() != 1 {
		t.Errorf("failed puts moved the revision to %d", s.Rev())
	}
}

// TestRangeCountIgnoresRevisionFilters: as etcd's, a read's count is of
// the range's keys before the revision filters, and More says the limit
// cut the filtered keys.
func TestRangeCountIgnoresRevisionFilters(t *testing.T) {
	s := openMem(t, fsx.NewMem(), 10)
	for i, k := range []string{"a", "b", "c"} { // revisions 2, 3, 4
		if _, err := s.Put(uint64(i+1), 1, &api.PutRequest{Key: []byte(k)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name        string
		req         api.RangeRequest
		keys, count int64
		more        bool
	}{
		{"count only", api.RangeRequest{CountOnly: true, MinModRevision: 4}, 0, 3, false},
		{"filtered", api.RangeRequest{MinModRevision: 3}, 2, 3, false},
		{"filtered, cut by the limit", api.RangeRequest{MinModRevision: 3, Limit: 1}, 1, 3, true},
		{"filtered to the limit", api.RangeRequest{MaxCreateRevision: 2, Limit: 1}, 1, 3, false},
	} {
		tt.req.Key, tt.req.RangeEnd = []byte("a"), []byte("z")
		resp, err := s.RangeRequest(&tt.req, 0)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(resp.Kvs)) != tt.keys || resp.Count != tt.count || resp.More != tt.more {
			t.Errorf("%s: %d keys, count %d, more %v; want %d, %d, %v", tt.name, len(resp.Kvs), resp.Count, resp.More, tt.keys, tt.count, tt.more)
		}
	}
}

// TestNestedTxnHeaderIsEmpty: as etcd's, only a txn's own answer has a
// revision in its header; a nested txn's is left empty, while the puts'
// and reads' inside carry theirs.
func TestNestedTxnHeaderIsEmpty(t *testing.T) {
	s := openMem(t, fsx.NewMem(), 10)
	req := &api.TxnRequest{Success: []api.RequestOp{put("a", "1"), nested([]api.RequestOp{put("b", "1")}, nil)}}
	resp, err := s.Txn(1, 1, req)
	if err != nil {
		t.Fatal(err)
	}
	inner := resp.Responses[1].Txn
	if resp.Header.Revision != 2 || inner == nil || inner.Header.Revision != 0 || inner.Responses[0].Put.Header.Revision != 2 {
		t.Fatalf("got %+v with inner %+v, want revision 2 outside, 0 on the nested txn, 2 on its put", resp, inner)
	}
	read := &api.TxnRequest{Success: []api.RequestOp{nested([]api.RequestOp{{Range: &api.RangeRequest{Key: []byte("a")}}}, nil)}}
	resp, err = s.ReadTxn(read, 0)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Revision != 2 || resp.Responses[0].Txn.Header.Revision != 0 {
		t.Fatalf("read-only txn: got %+v, want revision 2 outside, 0 on the nested txn", resp)
	}
}

// TestTxnPutOfAKeyItsFromKeyDeleteRemoved: etcd's duplicate check lets a
// txn delete from a key and then put that key with ignore_value (etcd
// 3.6 then panics applying it). cairn refuses it whole: key not found,
// nothing applied.
func TestTxnPutOfAKeyItsFromKeyDeleteRemoved(t *testing.T) {
	s := openMem(t, fsx.NewMem(), 10)
	if _, err := s.Put(1, 1, &api.PutRequest{Key: []byte("a"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	req := &api.TxnRequest{Success: []api.RequestOp{del("a", "\x00"), {Put: &api.PutRequest{Key: []byte("a"), IgnoreValue: true}}}}
	if _, err := s.Txn(2, 1, req); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("txn: %v, want %v", err, ErrKeyNotFound)
	}
	res, err := s.Range([]byte("a"), nil, RangeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Rev() != 2 || len(res.KVs) != 1 || string(res.KVs[0].Value) != "v" {
		t.Fatalf("after the refused txn: revision %d, %+v; want revision 2 and a=v", s.Rev(), res.KVs)
	}
	// The put before the delete is no trouble: it runs, then the delete.
	req.Success[0], req.Success[1] = req.Success[1], req.Success[0]
	if _, err := s.Txn(3, 1, req); err != nil {
		t.Fatalf("put with ignore_value, then the delete from its key: %v", err)
	}
	if res, err := s.Range([]byte("a"), nil, RangeOptions{}); err != nil || len(res.KVs) != 0 || s.Rev() != 3 {
		t.Fatalf("after it: revision %d, %+v, %v; want revision 3 and no a", s.Rev(), res, err)
	}
}

// TestInvalidSortOptionIsRefused: a read with an unknown sort order or
// target is refused, alone or in a txn (where it would otherwise reach
// the log and fail to decode), after an empty key, as etcd does.
func TestInvalidSortOptionIsRefused(t *testing.T) {
	s := openMem(t, fsx.NewMem(), 10)
	for _, r := range []api.RangeRequest{
		{Key: []byte("a"), SortOrder: api.SortDescend + 1},
		{Key: []byte("a"), SortTarget: api.SortByValue + 1},
	} {
		if _, err := s.RangeRequest(&r, 0); !errors.Is(err, ErrInvalidSortOption) {
			t.Errorf("range %+v: %v, want %v", r, err, ErrInvalidSortOption)
		}
		txn := &api.TxnRequest{Failure: []api.RequestOp{{Range: &r}}}
		if err := CheckTxn(txn, 0); !errors.Is(err, ErrInvalidSortOption) {
			t.Errorf("txn reading %+v: %v, want %v", r, err, ErrInvalidSortOption)
		}
		r.Key = nil
		if _, err := s.RangeRequest(&r, 0); !errors.Is(err, ErrEmptyKey) {
			t.Errorf("range %+v without a key: %v, want %v", r, err, ErrEmptyKey)
		}
	}
}
