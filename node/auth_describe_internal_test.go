package node

import (
	"testing"

	"github.com/cairndb/cairn/api"
)

// describeRequest names every key a write touches, nested transactions'
// operations included.
func TestDescribeRequest(t *testing.T) {
	txn := &api.TxnRequest{
		Compare: []api.Compare{{Key: []byte("c")}},
		Success: []api.RequestOp{{Put: &api.PutRequest{Key: []byte("p")}}},
		Failure: []api.RequestOp{
			{Range: &api.RangeRequest{Key: []byte("r")}},
			{Txn: &api.TxnRequest{Success: []api.RequestOp{{DeleteRange: &api.DeleteRangeRequest{Key: []byte("d")}}}}},
		},
	}
	for _, tc := range []struct {
		req  api.Message
		want string
	}{
		{&api.PutRequest{Key: []byte("k")}, `key "k"`},
		{txn, `compare key "c"; put key "p"; range key "r"; txn; delete key "d"`},
		{&api.LeaseRevokeRequest{ID: 0x1f}, "keys of lease 1f"},
	} {
		if got := describeRequest(tc.req); got != tc.want {
			t.Errorf("describeRequest(%T) = %q, want %q", tc.req, got, tc.want)
		}
	}
}
