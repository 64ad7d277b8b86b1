package linearizability_test

import (
	"fmt"
	"os"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/linearizability"
)

// Example records two clients' operations with a virtual clock and checks
// the history: client 1 reads the value client 0 wrote, then a
// compare-and-swap on it succeeds.
func Example() {
	var now int64 // the simulator's virtual time
	clock := func() int64 { return now }
	rec := linearizability.NewRecorder(clock)

	put := rec.Call(0, api.RequestOp{Put: &api.PutRequest{Key: []byte("k"), Value: []byte("v1")}})
	now = 10
	rec.Return(put, api.ResponseOp{Put: &api.PutResponse{Header: api.ResponseHeader{Revision: 2}}})

	now = 20
	get := rec.Call(1, api.RequestOp{Range: &api.RangeRequest{Key: []byte("k")}})
	cas := rec.Call(0, api.RequestOp{Txn: &api.TxnRequest{
		Compare: []api.Compare{{Result: api.CompareEqual, Target: api.CompareValue, Key: []byte("k"), Value: []byte("v1")}},
		Success: []api.RequestOp{{Put: &api.PutRequest{Key: []byte("k"), Value: []byte("v2")}}},
	}})
	now = 30
	rec.Return(get, api.ResponseOp{Range: &api.RangeResponse{
		Header: api.ResponseHeader{Revision: 2},
		Kvs:    []api.KeyValue{{Key: []byte("k"), Value: []byte("v1"), CreateRevision: 2, ModRevision: 2, Version: 1}},
		Count:  1,
	}})
	rec.Unknown(cas) // timed out: it may or may not have applied

	err := linearizability.Check(rec.Operations(), linearizability.KVModel(), time.Minute, os.TempDir())
	fmt.Println("linearizable:", err == nil)
	// Output: linearizable: true
}
