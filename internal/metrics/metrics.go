// Package metrics is a member's Prometheus metrics, on
// prometheus/client_golang. What cairn does as etcd does is exported under
// etcd's name, with etcd's labels and histogram buckets, so that the etcd
// Grafana dashboard, the etcd-mixin alert rules and an operator's own
// queries work unchanged; cairn_* names are only for what etcd has no name
// for. The Go runtime's (go_*) and the process's (process_*) collectors
// are registered too.
//
// Each member has its own registry (New): several members may run in one
// process (tests, --dev-cluster), and no metric is package state. Values
// that a member already keeps (its leader, its indexes, its store's size)
// are read when /metrics is scraped, through Sources; events (a leader
// change, a failed proposal, an fsync) update the collectors of Member as
// they happen.
package metrics

import (
	"net/http"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Histogram buckets, as etcd has them for the same measurements.
var (
	// DiskBuckets are the WAL fsync and backend commit buckets: 1 ms to
	// about 8 s, doubling.
	DiskBuckets = prometheus.ExponentialBuckets(0.001, 2, 14)
	// PeerRoundTripBuckets are the peer round-trip buckets: 0.1 ms to
	// about 3.3 s, doubling.
	PeerRoundTripBuckets = prometheus.ExponentialBuckets(0.0001, 2, 16)
	// ApplyBuckets are the apply and range latency buckets: 0.1 ms to
	// about 52 s, doubling.
	ApplyBuckets = prometheus.ExponentialBuckets(0.0001, 2, 20)
	// DefragBuckets are the defragmentation latency buckets: 0.1 s to
	// about 410 s, doubling.
	DefragBuckets = prometheus.ExponentialBuckets(0.1, 2, 13)
	// SnapshotBuckets are the buckets of a snapshot sent to or received
	// from a peer: 0.1 s to about 51 s, doubling.
	SnapshotBuckets = prometheus.ExponentialBuckets(0.1, 2, 10)
)

// Sources are the member's readings that gauges report when /metrics is
// scraped. A nil function reports 0.
type Sources struct {
	// HasLeader, IsLeader and IsLearner describe the member's raft role.
	HasLeader, IsLeader, IsLearner func() bool
	// CommittedIndex and AppliedIndex are the raft indexes committed and
	// applied (etcd reports them as proposals_committed_total and
	// proposals_applied_total).
	CommittedIndex, AppliedIndex func() uint64
	// Term is the raft term.
	Term func() uint64
	// DBSize is the size of the store's file; DBSizeInUse the part of it
	// that holds data (the rest is free pages, given back by defrag).
	DBSize, DBSizeInUse func() int64
	// Keys is the number of keys in the store's index, deleted keys whose
	// history is not compacted yet included.
	Keys func() int64
	// Revision and CompactRevision are the store's current revision and
	// the revision of its last compaction.
	Revision, CompactRevision func() int64
	// WatchStreams is the number of watch streams open on the member.
	WatchStreams func() int64
	// QuotaBackendBytes is the store size that raises NOSPACE.
	QuotaBackendBytes int64
	// ServerVersion and ClusterVersion are the etcd versions the member
	// reports (etcd_server_version, etcd_cluster_version); Version is
	// cairn's own (cairn_server_version).
	ServerVersion, ClusterVersion, Version string
}

// Member holds one member's registry and the collectors it updates as
// things happen. Read-at-scrape gauges come from Sources.
type Member struct {
	registry *prometheus.Registry
	serverID *prometheus.GaugeVec

	// LeaderChanges counts the leader changes the member has seen.
	LeaderChanges prometheus.Counter
	// ProposalsPending is the number of proposals waiting to be applied.
	ProposalsPending prometheus.Gauge
	// ProposalsFailed counts proposals that failed (no leader, timeout,
	// stopped).
	ProposalsFailed prometheus.Counter
	// HeartbeatSendFailures counts leader heartbeats that could not be
	// sent (the peer's queue was full or its connection failed).
	HeartbeatSendFailures prometheus.Counter
	// SlowApplies counts applies that took longer than
	// --warning-apply-duration.
	SlowApplies prometheus.Counter
	// ApplyDuration is the time to apply one committed entry, by kind of
	// request ("op": Put, DeleteRange, Txn, ...) and outcome ("success").
	ApplyDuration *prometheus.HistogramVec
	// WALFsync is the latency of the write-ahead log's fsyncs.
	WALFsync prometheus.Histogram
	// BackendCommit is the latency of the store's page-file fsyncs, the
	// durable part of a commit.
	BackendCommit prometheus.Histogram
	// DefragDuration is the latency of a defragmentation; DefragInflight
	// is 1 while one runs.
	DefragDuration prometheus.Histogram
	DefragInflight prometheus.Gauge

	// Ranges, Puts, Deletes and Txns count the operations the member's
	// store served or applied: ranges as the member serves them, writes
	// as it applies them, each operation of a transaction on its own, and
	// a transaction of more than one operation once more in Txns.
	Ranges, Puts, Deletes, Txns prometheus.Counter

	// PeerSentBytes and PeerReceivedBytes count the peer traffic by peer
	// ("To", "From": the peer's id in hexadecimal);
	// PeerSentFailures counts the message batches that could not be sent
	// to a peer, PeerReceivedFailures the peer streams that broke with an
	// error. PeerRoundTrip is the round-trip time to each peer, probed
	// every few seconds.
	PeerSentBytes, PeerReceivedBytes         *prometheus.CounterVec
	PeerSentFailures, PeerReceivedFailures   *prometheus.CounterVec
	PeerRoundTrip                            *prometheus.HistogramVec
	SnapshotSendSuccess, SnapshotSendFailure *prometheus.CounterVec
	SnapshotReceiveSuccess                   *prometheus.CounterVec
	SnapshotReceiveFailure                   *prometheus.CounterVec

	// ClientSentBytes and ClientReceivedBytes count the client traffic of
	// both faces of the client port: the messages of the etcd gRPC API and
	// of cairn's native rpc.
	ClientSentBytes, ClientReceivedBytes prometheus.Counter

	// RPC counts the calls of the client port by service, method, type
	// and code, as gRPC servers instrumented for Prometheus do.
	RPC *RPC
}

// New makes a member's metrics and registers them, with the Go and
// process collectors, in a registry of its own.
func New(src Sources) *Member {
	reg := prometheus.NewRegistry()
	f := factory{reg}
	m := &Member{registry: reg}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// etcd_server_*: raft and the member.
	f.gaugeFunc("etcd_server_has_leader", "1 while the member knows a leader, 0 while it knows none.", boolOf(src.HasLeader))
	f.gaugeFunc("etcd_server_is_leader", "1 while the member leads the cluster, else 0.", boolOf(src.IsLeader))
	f.gaugeFunc("etcd_server_is_learner", "1 while the member is a learner (a non-voting member), else 0.", boolOf(src.IsLearner))
	m.LeaderChanges = f.counter("etcd_server_leader_changes_seen_total", "Leader changes the member has seen since it started.")
	f.gaugeFunc("etcd_server_proposals_committed_total", "The raft index committed: every committed proposal moves it by one.", uintOf(src.CommittedIndex))
	f.gaugeFunc("etcd_server_proposals_applied_total", "The raft index applied to the store: every applied proposal moves it by one.", uintOf(src.AppliedIndex))
	m.ProposalsPending = f.gauge("etcd_server_proposals_pending", "Proposals made through this member and not applied yet.")
	m.ProposalsFailed = f.counter("etcd_server_proposals_failed_total", "Proposals made through this member that failed (no leader, timeout, member stopping).")
	m.HeartbeatSendFailures = f.counter("etcd_server_heartbeat_send_failures_total", "Leader heartbeats that could not be sent to a peer (its queue full, or its connection failing).")
	m.SlowApplies = f.counter("etcd_server_slow_apply_total", "Committed entries whose apply took longer than --warning-apply-duration.")
	m.ApplyDuration = f.histogramVec("etcd_server_apply_duration_seconds", "Time to apply one committed entry to the store, by kind of request.", ApplyBuckets, "version", "op", "success")
	f.gauge("etcd_server_quota_backend_bytes", "The store size that raises the NOSPACE alarm (--quota-backend-bytes).").Set(float64(src.QuotaBackendBytes))
	f.constLabel("etcd_server_version", "The etcd API version the member serves, in the server_version label.", "server_version", src.ServerVersion)
	f.constLabel("etcd_server_go_version", "The Go version the member was built with, in the server_go_version label.", "server_go_version", runtime.Version())
	m.serverID = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "etcd_server_id", Help: "The member's id, in hexadecimal, in the server_id label."}, []string{"server_id"})
	reg.MustRegister(m.serverID)
	f.constLabel("etcd_cluster_version", "The cluster version, in the cluster_version label.", "cluster_version", src.ClusterVersion)
	f.constLabel("cairn_server_version", "cairn's own version, in the version label.", "version", src.Version)
	f.gaugeFunc("cairn_server_term", "The raft term the member is in.", uintOf(src.Term))

	// etcd_disk_*: the write-ahead log and the store's file.
	m.WALFsync = f.histogram("etcd_disk_wal_fsync_duration_seconds", "Latency of the write-ahead log's fsyncs.", DiskBuckets)
	m.BackendCommit = f.histogram("etcd_disk_backend_commit_duration_seconds", "Latency of the store's page-file fsyncs, which make its commits durable.", DiskBuckets)
	m.DefragDuration = f.histogram("etcd_disk_backend_defrag_duration_seconds", "Latency of the store's defragmentations.", DefragBuckets)
	m.DefragInflight = f.gauge("etcd_disk_defrag_inflight", "1 while the store is being defragmented, else 0.")

	// etcd_mvcc_* and etcd_debugging_mvcc_*: the store.
	f.gaugeFunc("etcd_mvcc_db_total_size_in_bytes", "Size of the store: its page file and the values it keeps in the raft log.", intOf(src.DBSize))
	f.gaugeFunc("etcd_mvcc_db_total_size_in_use_in_bytes", "Part of the store's file that holds data (the rest is free pages that defrag gives back).", intOf(src.DBSizeInUse))
	m.Ranges = f.counter("etcd_mvcc_range_total", "Range operations the member served, alone or in a transaction.")
	m.Puts = f.counter("etcd_mvcc_put_total", "Put operations the member applied, alone or in a transaction.")
	m.Deletes = f.counter("etcd_mvcc_delete_total", "Delete operations the member applied, alone or in a transaction.")
	m.Txns = f.counter("etcd_mvcc_txn_total", "Transactions of more than one operation the member served or applied.")
	f.gaugeFunc("etcd_debugging_mvcc_keys_total", "Keys in the store's index, deleted keys whose history is not compacted yet included.", intOf(src.Keys))
	f.gaugeFunc("etcd_debugging_mvcc_current_revision", "The store's current revision.", intOf(src.Revision))
	f.gaugeFunc("etcd_debugging_mvcc_compact_revision", "The revision of the store's last compaction.", intOf(src.CompactRevision))
	f.gaugeFunc("etcd_debugging_mvcc_watch_stream_total", "Watch streams open on the member.", intOf(src.WatchStreams))

	// etcd_network_*: peers and clients.
	m.PeerSentBytes = f.counterVec("etcd_network_peer_sent_bytes_total", "Bytes sent to each peer.", "To")
	m.PeerReceivedBytes = f.counterVec("etcd_network_peer_received_bytes_total", "Bytes received from each peer.", "From")
	m.PeerSentFailures = f.counterVec("etcd_network_peer_sent_failures_total", "Message batches that could not be sent to each peer.", "To")
	m.PeerReceivedFailures = f.counterVec("etcd_network_peer_received_failures_total", "Streams from each peer that broke with an error.", "From")
	m.PeerRoundTrip = f.histogramVec("etcd_network_peer_round_trip_time_seconds", "Round-trip time to each peer, probed every few seconds.", PeerRoundTripBuckets, "To")
	m.SnapshotSendSuccess = f.counterVec("etcd_network_snapshot_send_success", "Snapshots sent to each peer.", "To")
	m.SnapshotSendFailure = f.counterVec("etcd_network_snapshot_send_failures", "Snapshots that could not be sent to each peer.", "To")
	m.SnapshotReceiveSuccess = f.counterVec("etcd_network_snapshot_receive_success", "Snapshots received from each peer.", "From")
	m.SnapshotReceiveFailure = f.counterVec("etcd_network_snapshot_receive_failures", "Snapshots from each peer that could not be received.", "From")
	m.ClientSentBytes = f.counter("etcd_network_client_grpc_sent_bytes_total", "Bytes of the messages sent to clients (etcd gRPC API and cairn's rpc).")
	m.ClientReceivedBytes = f.counter("etcd_network_client_grpc_received_bytes_total", "Bytes of the messages received from clients (etcd gRPC API and cairn's rpc).")

	m.RPC = newRPC(reg)
	return m
}

// Registry is the member's registry: a face of the client port may
// register collectors of its own in it.
func (m *Member) Registry() *prometheus.Registry { return m.registry }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Member) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// SetMemberID reports the member's id (in hexadecimal, as etcd does),
// once it is known: a member that restarts reads it from its data.
func (m *Member) SetMemberID(id string) {
	m.serverID.Reset()
	m.serverID.WithLabelValues(id).Set(1)
}

// AddPeer makes the peer's labelled series exist (at 0) as soon as the
// member knows the peer, so that queries and alerts see them before the
// first byte or failure.
func (m *Member) AddPeer(id string) {
	m.PeerSentBytes.WithLabelValues(id)
	m.PeerReceivedBytes.WithLabelValues(id)
	m.PeerSentFailures.WithLabelValues(id)
	m.PeerReceivedFailures.WithLabelValues(id)
	m.PeerRoundTrip.WithLabelValues(id)
}

// factory makes collectors and registers them.
type factory struct{ reg prometheus.Registerer }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

func (f factory) gaugeFunc(name, help string, fn func() float64) {
	f.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

// constLabel registers a gauge that is 1 for one value of its label: how
// Prometheus reports a version or an id.
func (f factory) constLabel(name, help, label, value string) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{label})
	g.WithLabelValues(value).Set(1)
	f.reg.MustRegister(g)
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}

func boolOf(fn func() bool) func() float64 {
	return func() float64 {
		if fn != nil && fn() {
			return 1
		}
		return 0
	}
}

func uintOf(fn func() uint64) func() float64 {
	return func() float64 {
		if fn == nil {
			return 0
		}
		return float64(fn())
	}
}

func intOf(fn func() int64) func() float64 {
	return func() float64 {
		if fn == nil {
			return 0
		}
		return float64(fn())
	}
}
