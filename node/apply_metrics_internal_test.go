package node

import (
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// countTxn counts each operation of the branch taken, nested ones
// included, and each transaction of more than one operation.
func TestCountTxn(t *testing.T) {
	s := &Server{}
	s.metrics = newServerMetrics(s)
	rng := api.ResponseOp{Range: &api.RangeResponse{}}
	put := api.ResponseOp{Put: &api.PutResponse{}}
	del := api.ResponseOp{DeleteRange: &api.DeleteRangeResponse{}}
	single := api.ResponseOp{Txn: &api.TxnResponse{Responses: []api.ResponseOp{put}}}
	double := api.ResponseOp{Txn: &api.TxnResponse{Responses: []api.ResponseOp{del, single}}}
	s.countTxn(&api.TxnResponse{Responses: []api.ResponseOp{rng, put, {}, double}})
	count := func(c prometheus.Counter) float64 {
		var m dto.Metric
		if err := c.(prometheus.Metric).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	for _, tc := range []struct {
		name string
		c    prometheus.Counter
		want float64
	}{
		{"ranges", s.metrics.Ranges, 1},
		{"puts", s.metrics.Puts, 2},
		{"deletes", s.metrics.Deletes, 1},
		{"txns", s.metrics.Txns, 2}, // the outer one and double; not single
	} {
		if got := count(tc.c); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, got, tc.want)
		}
	}
}
