package node

import (
	"strconv"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/node/replica"
)

// DefaultWarningApplyDuration is how long an apply may take before it is
// logged as slow and counted (etcd_server_slow_apply_total), as in etcd.
const DefaultWarningApplyDuration = 100 * time.Millisecond

// observeApply is told of every command the member applied (replica.KVState's
// OnApply, on the core's goroutine): it times it, counts its operations
// as etcd's store does, and logs it when it was slow.
func (s *Server) observeApply(index uint64, data []byte, resp api.Message, err error, took time.Duration) {
	op := replica.CommandName(data)
	s.metrics.ApplyDuration.WithLabelValues("v3", op, strconv.FormatBool(err == nil)).Observe(took.Seconds())
	if err == nil {
		s.countOps(resp)
	}
	if warn := s.cfg.WarningApplyDuration; warn > 0 && took > warn {
		s.metrics.SlowApplies.Inc()
		s.log.Warn("apply request took too long", "took", took.String(), "expected-duration", warn.String(),
			"op", op, "index", index)
	}
}

// countOps counts the store operations a write's response shows were
// done: its puts and deletes, and the ranges of a transaction; a
// transaction of more than one operation counts once more as a
// transaction, as etcd counts it.
func (s *Server) countOps(resp api.Message) {
	switch r := resp.(type) {
	case *api.PutResponse:
		s.metrics.Puts.Inc()
	case *api.DeleteRangeResponse:
		s.metrics.Deletes.Inc()
	case *api.TxnResponse:
		s.countTxn(r)
	}
}

// countTxn counts the operations of the branch a transaction took (its
// responses, one per operation), nested transactions included; a
// transaction of more than one operation counts as a transaction too.
func (s *Server) countTxn(r *api.TxnResponse) {
	if len(r.Responses) > 1 {
		s.metrics.Txns.Inc()
	}
	for m := range r.Ops() {
		switch m := m.(type) {
		case *api.RangeResponse:
			s.metrics.Ranges.Inc()
		case *api.PutResponse:
			s.metrics.Puts.Inc()
		case *api.DeleteRangeResponse:
			s.metrics.Deletes.Inc()
		case *api.TxnResponse:
			if len(m.Responses) > 1 {
				s.metrics.Txns.Inc()
			}
		}
	}
}
