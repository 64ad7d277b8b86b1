package metrics

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// gather returns the registry's families by name.
func gather(t *testing.T, m *Member) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// The histograms cairn shares with etcd have etcd 3.6's buckets (its
// storage/wal, storage/backend and rafthttp metrics), so quantiles
// computed over a mixed fleet agree.
func TestBucketsAreEtcds(t *testing.T) {
	m := New(Sources{})
	m.WALFsync.Observe(0.002)
	m.BackendCommit.Observe(0.002)
	m.PeerRoundTrip.WithLabelValues("1").Observe(0.002)
	m.ApplyDuration.WithLabelValues("v3", "Put", "true").Observe(0.002)
	fams := gather(t, m)
	for _, tc := range []struct {
		name          string
		first, factor float64
		count         int
	}{
		{"etcd_disk_wal_fsync_duration_seconds", 0.001, 2, 14},
		{"etcd_disk_backend_commit_duration_seconds", 0.001, 2, 14},
		{"etcd_network_peer_round_trip_time_seconds", 0.0001, 2, 16},
		{"etcd_server_apply_duration_seconds", 0.0001, 2, 20},
	} {
		f := fams[tc.name]
		if f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
			t.Errorf("%s: not a histogram: %v", tc.name, f)
			continue
		}
		var got []float64
		for _, b := range f.GetMetric()[0].GetHistogram().GetBucket() {
			got = append(got, b.GetUpperBound())
		}
		want := prometheus.ExponentialBuckets(tc.first, tc.factor, tc.count)
		if !slices.Equal(got, want) {
			t.Errorf("%s buckets = %v, want %v", tc.name, got, want)
		}
	}
}

// Gauges read their sources at scrape time; a missing source reads 0.
func TestSourcesReadAtScrape(t *testing.T) {
	leader := false
	var applied uint64
	m := New(Sources{
		HasLeader:         func() bool { return leader },
		AppliedIndex:      func() uint64 { return applied },
		QuotaBackendBytes: 1 << 30,
		ServerVersion:     "3.6.0",
		ClusterVersion:    "3.5.0",
	})
	check := func(want map[string]float64) {
		t.Helper()
		fams := gather(t, m)
		for name, v := range want {
			f := fams[name]
			if f == nil {
				t.Errorf("no %s", name)
				continue
			}
			if got := f.GetMetric()[0].GetGauge().GetValue(); got != v {
				t.Errorf("%s = %v, want %v", name, got, v)
			}
		}
	}
	check(map[string]float64{"etcd_server_has_leader": 0, "etcd_server_is_leader": 0,
		"etcd_server_proposals_applied_total": 0, "etcd_server_quota_backend_bytes": 1 << 30})
	leader, applied = true, 42
	check(map[string]float64{"etcd_server_has_leader": 1, "etcd_server_is_leader": 0,
		"etcd_server_proposals_applied_total": 42, "etcd_server_quota_backend_bytes": 1 << 30})
	fams := gather(t, m)
	for name, label := range map[string]string{"etcd_server_version": "3.6.0", "etcd_cluster_version": "3.5.0"} {
		got := fams[name].GetMetric()[0].GetLabel()[0].GetValue()
		if got != label {
			t.Errorf("%s label = %q, want %q", name, got, label)
		}
	}
}

// valueOf is the value of the one counter or gauge c collects.
func valueOf(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	close(ch)
	var d dto.Metric
	if err := (<-ch).Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Counter != nil {
		return d.GetCounter().GetValue()
	}
	return d.GetGauge().GetValue()
}

// countOf is the number of series c collects.
func countOf(t *testing.T, c prometheus.Collector) int {
	t.Helper()
	ch := make(chan prometheus.Metric, 4096)
	c.Collect(ch)
	close(ch)
	return len(ch)
}

// A registered method has a series for every code at 0 before its first
// call, as instrumented gRPC servers have; Handled counts under the
// call's code, and a code past the known ones under its number.
func TestRPCMethodSeries(t *testing.T) {
	m := New(Sources{})
	rm := m.RPC.Register("etcdserverpb.KV", "Range", Unary)
	handled := func(code string) float64 {
		return valueOf(t, m.RPC.handled.WithLabelValues(Unary, "etcdserverpb.KV", "Range", code))
	}
	if n := countOf(t, m.RPC.handled); n != len(Codes) {
		t.Fatalf("handled series before any call: %d, want %d", n, len(Codes))
	}
	start := rm.Started()
	rm.Handled(start, 0)
	rm.Handled(rm.Started(), 14)
	rm.Handled(rm.Started(), 14)
	rm.Handled(rm.Started(), 99)
	if got := valueOf(t, m.RPC.started.WithLabelValues(Unary, "etcdserverpb.KV", "Range")); got != 4 {
		t.Errorf("started = %v, want 4", got)
	}
	for code, want := range map[string]float64{"OK": 1, "Unavailable": 2, "Code(99)": 1, "Unknown": 0} {
		if got := handled(code); got != want {
			t.Errorf("handled{grpc_code=%q} = %v, want %v", code, got, want)
		}
	}
	if n := countOf(t, m.RPC.handling); n != 1 {
		t.Errorf("handling series: %d, want 1", n)
	}
}

// Two members in one process have registries of their own.
func TestMembersDoNotShare(t *testing.T) {
	a, b := New(Sources{}), New(Sources{})
	a.LeaderChanges.Inc()
	if got := valueOf(t, b.LeaderChanges); got != 0 {
		t.Fatalf("member b saw member a's leader change: %v", got)
	}
	a.SetMemberID("8e9e05c52164694d")
	a.SetMemberID("1")
	if n := countOf(t, a.serverID); n != 1 {
		t.Fatalf("etcd_server_id series after two ids: %d, want 1", n)
	}
}

// The Go and process collectors are registered.
func TestRuntimeCollectors(t *testing.T) {
	fams := gather(t, New(Sources{}))
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_resident_memory_bytes", "process_open_fds"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
}
