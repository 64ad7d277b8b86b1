package node

import (
	"context"
	"fmt"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/cairndb/cairn/internal/metrics"
)

// serverMetrics are the member's Prometheus metrics.
type serverMetrics struct {
	reg                *metrics.Registry
	proposalsCommitted *metrics.Counter
	proposalsFailed    *metrics.Counter
	proposalsPending   atomic.Int64
	leaderChanges      *metrics.Counter
	walFsync           *metrics.Histogram
	backendFsync       *metrics.Histogram
	// term is the raft term, refreshed on every leader change.
	term atomic.Uint64
}

func newServerMetrics(s *Server) *serverMetrics {
	reg := metrics.NewRegistry()
	m := &serverMetrics{
		reg:                reg,
		proposalsCommitted: reg.NewCounter("cairn_server_proposals_committed_total", "Proposals committed and applied by this member's requests."),
		proposalsFailed:    reg.NewCounter("cairn_server_proposals_failed_total", "Proposals that failed (no leader, timeout, stopped)."),
		leaderChanges:      reg.NewCounter("cairn_server_leader_changes_seen_total", "Leader changes this member has seen."),
		walFsync: reg.NewHistogram("cairn_disk_wal_fsync_duration_seconds", "Latency of the write-ahead log's fsyncs.",
			metrics.ExponentialBuckets(0.0001, 2, 16)),
		backendFsync: reg.NewHistogram("cairn_disk_backend_commit_duration_seconds", "Latency of the store's fsyncs (page-file commits).",
			metrics.ExponentialBuckets(0.0001, 2, 16)),
	}
	reg.NewGaugeFunc("cairn_server_proposals_pending", "Proposals waiting to be applied.", func() float64 {
		return float64(m.proposalsPending.Load())
	})
	reg.NewGaugeFunc("cairn_server_has_leader", "1 if this member knows a leader, else 0.", func() float64 {
		if s.driver != nil && s.driver.Leader() != 0 {
			return 1
		}
		return 0
	})
	reg.NewGaugeFunc("cairn_server_is_leader", "1 if this member is the leader, else 0.", func() float64 {
		if s.driver != nil && s.driver.Leader() == s.id {
			return 1
		}
		return 0
	})
	reg.NewGaugeFunc("cairn_server_term", "The raft term this member last saw a leader change in.", func() float64 {
		return float64(m.term.Load())
	})
	reg.NewGaugeFunc("cairn_server_applied_index", "The raft index applied to the store.", func() float64 {
		if s.state == nil {
			return 0
		}
		return float64(s.state.Store().AppliedIndex())
	})
	reg.NewGaugeFunc("cairn_mvcc_db_total_size_in_bytes", "Size of the store's page file.", func() float64 {
		if s.state == nil {
			return 0
		}
		return float64(s.state.Store().DB().Stats().FileSize)
	})
	reg.NewGaugeFunc("cairn_mvcc_revision", "The store's current revision.", func() float64 {
		if s.state == nil {
			return 0
		}
		return float64(s.state.Store().Rev())
	})
	return m
}

// httpHandler serves /health and /metrics.
// HTTPHandler serves /health, /metrics and /version: on the metrics
// listener, and on the client port through the etcd face.
func (s *Server) HTTPHandler() http.Handler { return s.httpHandler() }

func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_ = s.metrics.reg.WriteText(w)
	})
	if s.cfg.EnablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"etcdserver\":%q,\"etcdcluster\":%q,\"cairn\":%q}\n", EtcdAPIVersion, EtcdClusterVersion, Version)
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		healthy, reason := s.health(r.Context())
		w.Header().Set("Content-Type", "application/json")
		if !healthy {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintf(w, "{\"health\":\"%v\",\"reason\":%q}\n", healthy, reason)
	})
	return mux
}

// health reports whether the member can serve a linearizable read now:
// it knows a leader, has no alarm, and a read barrier completes within a
// second.
func (s *Server) health(ctx context.Context) (bool, string) {
	if err := s.Err(); err != nil {
		return false, err.Error()
	}
	if st := s.driver.Repair(); st != nil {
		if err := st.ReadRefusal; err != nil {
			return false, err.Error()
		}
	}
	if s.driver.Leader() == 0 {
		return false, "no leader"
	}
	if alarms := s.state.Alarms(); len(alarms) > 0 {
		return false, fmt.Sprintf("alarm %s raised on member %016x", alarms[0].Alarm, alarms[0].MemberID)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := s.driver.ReadBarrier(ctx); err != nil {
		return false, "linearizable read failed: " + err.Error()
	}
	return true, ""
}
