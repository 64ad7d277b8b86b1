package mvcc

import (
	"errors"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/fsx"
)

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
