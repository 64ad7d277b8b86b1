package node

import (
	"fmt"
	"net/http"
	"net/http/pprof"
	"sync/atomic"

	"github.com/cairndb/cairn/internal/metrics"
	"github.com/cairndb/cairn/node/replica"
)

// serverMetrics are the member's Prometheus metrics (package metrics
// names them as etcd does), with what the member keeps for them.
type serverMetrics struct {
	*metrics.Member
	// term is the raft term, refreshed on every leader change.
	term atomic.Uint64
}

// EtcdStorageVersion is the storage version /version reports, as etcd 3.6
// members do.
const EtcdStorageVersion = "3.6.0"

// newServerMetrics makes the member's metrics; the gauges read s when
// /metrics is scraped (never before the member serves).
//
// While the member repairs its store /metrics is served too (an operator
// watches the member through it), and the gauges that read the member's
// store, log or core read zero: those are not open yet (live says when
// they are; its atomic load orders their installation before the read).
func newServerMetrics(s *Server) *serverMetrics {
	m := &serverMetrics{}
	live := func() bool { return s.storeRepairing.Load() == nil }
	m.Member = metrics.New(metrics.Sources{
		HasLeader: func() bool { return live() && s.driver != nil && s.driver.Leader() != 0 },
		IsLeader:  func() bool { return live() && s.driver != nil && s.driver.Leader() == s.id },
		IsLearner: func() bool { return live() && s.isLearner() },
		CommittedIndex: func() uint64 {
			if !live() || s.replica == nil {
				return 0
			}
			hs, _, _ := s.replica.Log.InitialState() // the hard state last saved
			return hs.Commit
		},
		AppliedIndex: func() uint64 {
			if !live() || s.replica == nil {
				return 0
			}
			return s.replica.State.Store().AppliedIndex()
		},
		Term:   m.term.Load,
		DBSize: s.dbSize.Load,
		DBSizeInUse: func() int64 {
			if !live() || s.replica == nil {
				return 0
			}
			_, inUse := replica.StoreSize(s.replica.State.Store())
			return inUse
		},
		Keys:            func() int64 { return s.storeInt(func(st storeReadings) int64 { return st.Keys() }) },
		Revision:        func() int64 { return s.storeInt(func(st storeReadings) int64 { return st.Rev() }) },
		CompactRevision: func() int64 { return s.storeInt(func(st storeReadings) int64 { return st.CompactRev() }) },
		WatchStreams: func() int64 {
			s.watchMu.Lock()
			defer s.watchMu.Unlock()
			return int64(len(s.watches))
		},
		QuotaBackendBytes: s.cfg.QuotaBackendBytes,
		ServerVersion:     EtcdAPIVersion,
		ClusterVersion:    EtcdClusterVersion,
		Version:           Version,
	})
	return m
}

// storeReadings are the store's counters the gauges read.
type storeReadings interface {
	Keys() int64
	Rev() int64
	CompactRev() int64
}

func (s *Server) storeInt(read func(storeReadings) int64) int64 {
	if s.storeRepairing.Load() != nil || s.replica == nil {
		return 0
	}
	return read(s.replica.State.Store())
}

// isLearner reports whether this member is a learner (false before its
// store is open).
func (s *Server) isLearner() bool { return s.replica != nil && s.IsLearner() }

// HTTPHandler serves the operator's endpoints: /metrics, /health,
// /livez, /readyz (health.go) and /version. It is served on the metrics
// listener (--listen-metrics-urls), and on the client port through the
// etcd face. While the member repairs its store, every check fails with
// the reason (store_repair.go).
func (s *Server) HTTPHandler() http.Handler { return s.repairHealthFirst(s.httpHandler()) }

func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.metrics.Handler())
	if s.cfg.EnablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		if !onlyGet(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"etcdserver\":%q,\"etcdcluster\":%q,\"storage\":%q,\"cairn\":%q}", EtcdAPIVersion, EtcdClusterVersion, EtcdStorageVersion, Version)
	})
	s.installHealth(mux)
	return mux
}

// onlyGet refuses every method but GET (and HEAD), as etcd's endpoints
// do.
func onlyGet(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", http.MethodGet)
	http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
	return false
}

// Metrics are the member's metrics: a face of the client port counts its
// calls and its traffic in them.
func (s *Server) Metrics() *metrics.Member { return s.metrics.Member }
