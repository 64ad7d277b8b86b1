package replica

import (
	"testing"

	"github.com/cairndb/cairn/api"
)

// TxnPuts finds a put in either branch, at any depth, and nothing else.
func TestTxnPuts(t *testing.T) {
	put := api.RequestOp{Put: &api.PutRequest{Key: []byte("k")}}
	del := api.RequestOp{DeleteRange: &api.DeleteRangeRequest{Key: []byte("k")}}
	rng := api.RequestOp{Range: &api.RangeRequest{Key: []byte("k")}}
	nest := func(ops ...api.RequestOp) api.RequestOp {
		return api.RequestOp{Txn: &api.TxnRequest{Failure: ops}}
	}
	for _, tc := range []struct {
		name string
		txn  *api.TxnRequest
		want bool
	}{
		{"empty", &api.TxnRequest{}, false},
		{"a put on success", &api.TxnRequest{Success: []api.RequestOp{rng, put}}, true},
		{"a put on failure", &api.TxnRequest{Failure: []api.RequestOp{put}}, true},
		{"reads and deletes", &api.TxnRequest{Success: []api.RequestOp{rng, del}, Failure: []api.RequestOp{del}}, false},
		{"a put two levels down", &api.TxnRequest{Success: []api.RequestOp{del, nest(rng, nest(put))}}, true},
		{"nested reads and deletes", &api.TxnRequest{Success: []api.RequestOp{nest(rng, nest(del))}}, false},
		{"an empty op", &api.TxnRequest{Success: []api.RequestOp{{}}}, false},
	} {
		if got := TxnPuts(tc.txn); got != tc.want {
			t.Errorf("%s: TxnPuts = %v, want %v", tc.name, got, tc.want)
		}
	}
}
