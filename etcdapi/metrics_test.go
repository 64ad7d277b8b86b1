package etcdapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// series is one series a dashboard panel or an alert rule selects: a
// metric name and the labels it filters on (a label given as "" only has
// to be there, with any value).
type series struct {
	name   string
	labels map[string]string
}

// etcdMixinSeries are the series that etcd-mixin's alert rules and the
// etcd Grafana dashboard (contrib/mixin in etcd's repository) query, and
// the others issue 15 lists. A member that lacks one leaves a panel empty
// or an alert blind.
var etcdMixinSeries = []series{
	// Alert rules.
	{"etcd_network_peer_sent_failures_total", map[string]string{"To": ""}},
	{"etcd_server_has_leader", nil},
	{"etcd_server_leader_changes_seen_total", nil},
	{"grpc_server_handled_total", map[string]string{"grpc_code": "", "grpc_method": "", "grpc_type": "", "grpc_service": ""}},
	{"grpc_server_handling_seconds", map[string]string{"grpc_method": "Range", "grpc_type": "unary"}},
	{"etcd_network_peer_round_trip_time_seconds", map[string]string{"To": ""}},
	{"etcd_server_proposals_failed_total", nil},
	{"etcd_disk_wal_fsync_duration_seconds", nil},
	{"etcd_disk_backend_commit_duration_seconds", nil},
	{"etcd_mvcc_db_total_size_in_bytes", nil},
	{"etcd_server_quota_backend_bytes", nil},
	{"etcd_mvcc_db_total_size_in_use_in_bytes", nil},
	// Dashboard panels.
	{"grpc_server_started_total", map[string]string{"grpc_type": "unary"}},
	{"grpc_server_handled_total", map[string]string{"grpc_type": "unary", "grpc_code": "Unavailable"}},
	{"grpc_server_started_total", map[string]string{"grpc_service": "etcdserverpb.Watch", "grpc_type": "bidi_stream"}},
	{"grpc_server_handled_total", map[string]string{"grpc_service": "etcdserverpb.Watch", "grpc_type": "bidi_stream"}},
	{"grpc_server_started_total", map[string]string{"grpc_service": "etcdserverpb.Lease", "grpc_type": "bidi_stream"}},
	{"grpc_server_handled_total", map[string]string{"grpc_service": "etcdserverpb.Lease", "grpc_type": "bidi_stream"}},
	{"process_resident_memory_bytes", nil},
	{"etcd_network_client_grpc_received_bytes_total", nil},
	{"etcd_network_client_grpc_sent_bytes_total", nil},
	{"etcd_network_peer_received_bytes_total", map[string]string{"From": ""}},
	{"etcd_network_peer_sent_bytes_total", map[string]string{"To": ""}},
	{"etcd_server_proposals_pending", nil},
	{"etcd_server_proposals_committed_total", nil},
	{"etcd_server_proposals_applied_total", nil},
	// The rest of issue 15's list.
	{"etcd_server_is_leader", nil},
	{"etcd_server_heartbeat_send_failures_total", nil},
	{"etcd_server_slow_apply_total", nil},
	{"etcd_mvcc_put_total", nil},
	{"etcd_mvcc_delete_total", nil},
	{"etcd_mvcc_range_total", nil},
	{"etcd_mvcc_txn_total", nil},
	{"etcd_debugging_mvcc_keys_total", nil},
	{"etcd_server_version", map[string]string{"server_version": "3.6.0"}},
	{"etcd_cluster_version", map[string]string{"cluster_version": ""}},
	{"go_goroutines", nil},
}

// scrape reads a member's /metrics on its client port.
func scrape(t *testing.T, endpoint string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + endpoint + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %s: %s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// find returns the first series of fams that s selects, nil if none.
func find(fams map[string]*dto.MetricFamily, s series) *dto.Metric {
	f := fams[s.name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range s.labels {
			got, ok := have[k]
			if !ok || (v != "" && got != v) {
				continue next
			}
		}
		return m
	}
	return nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return m.GetUntyped().GetValue()
}

// Every series the etcd dashboard and alerts query is on the client port's
// /metrics of every member once the cluster has served a little traffic
// through etcd's own client (a put, a get, a txn, a delete, a watch and a
// lease keep-alive), and the counters moved for what was done.
func TestMetricsHaveEtcdMixinSeries(t *testing.T) {
	c := startCluster(t, 3)
	cli := etcdClient(t, c.Endpoints()...)
	ctx := ctxT(t)
	must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, "k", "v"))
	must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, "k"))
	must[*clientv3.TxnResponse](t, "txn")(cli.Txn(ctx).If(clientv3.Compare(clientv3.Value("k"), "=", "v")).
		Then(clientv3.OpPut("k2", "v2"), clientv3.OpGet("k")).Commit())
	must[*clientv3.DeleteResponse](t, "delete")(cli.Delete(ctx, "k2"))
	wch := cli.Watch(ctx, "w")
	must[*clientv3.PutResponse](t, "put w")(cli.Put(ctx, "w", "1"))
	<-wch
	lease := must[*clientv3.LeaseGrantResponse](t, "grant")(cli.Grant(ctx, 10))
	must[*clientv3.LeaseKeepAliveResponse](t, "keepalive")(cli.KeepAliveOnce(ctx, lease.ID))

	for i, ep := range c.Endpoints() {
		fams := scrape(t, ep)
		for _, s := range etcdMixinSeries {
			if find(fams, s) == nil {
				t.Errorf("member %d: /metrics has no %s%v", i, s.name, s.labels)
			}
		}
	}
	// Every member applied the three puts and the delete (the txn's put
	// among them); some member served the range.
	deadline := time.Now().Add(5 * time.Second)
	for i, ep := range c.Endpoints() {
		for {
			fams := scrape(t, ep)
			puts := value(find(fams, series{name: "etcd_mvcc_put_total"}))
			dels := value(find(fams, series{name: "etcd_mvcc_delete_total"}))
			if puts >= 3 && dels >= 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("member %d: etcd_mvcc_put_total %v, delete %v; want at least 3 and 1", i, puts, dels)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var ranges, rangeCalls, keys, peerSent, peerReceived float64
	for _, ep := range c.Endpoints() {
		fams := scrape(t, ep)
		for _, m := range fams["etcd_network_peer_sent_bytes_total"].GetMetric() {
			peerSent += value(m)
		}
		for _, m := range fams["etcd_network_peer_received_bytes_total"].GetMetric() {
			peerReceived += value(m)
		}
		ranges += value(find(fams, series{name: "etcd_mvcc_range_total"}))
		rangeCalls += value(find(fams, series{"grpc_server_handled_total", map[string]string{
			"grpc_service": "etcdserverpb.KV", "grpc_method": "Range", "grpc_code": "OK", "grpc_type": "unary"}}))
		keys = value(find(fams, series{name: "etcd_debugging_mvcc_keys_total"}))
	}
	if ranges < 2 || rangeCalls < 1 {
		t.Errorf("etcd_mvcc_range_total %v (want ≥ 2: the get and the txn's), Range calls handled OK %v (want ≥ 1)", ranges, rangeCalls)
	}
	if peerSent == 0 || peerReceived == 0 { // the members scraped one after another: not equal
		t.Errorf("peer bytes sent %v, received %v: want more than 0", peerSent, peerReceived)
	}
	if keys != 3 { // k, k2 (deleted, not compacted) and w
		t.Errorf("etcd_debugging_mvcc_keys_total = %v, want 3", keys)
	}
}

// The client port answers the health endpoints through the etcd face.
func TestHealthEndpointsOnClientPort(t *testing.T) {
	c := startCluster(t, 1)
	base := "http://" + c.Endpoint(0)
	for path, want := range map[string]string{
		"/livez":                    "ok\n",
		"/readyz":                   "ok\n",
		"/readyz?verbose":           "[+]linearizable_read ok\n",
		"/readyz/linearizable_read": "ok\n",
		"/version":                  `"etcdserver":"3.6.0"`,
		"/health":                   `{"health":"true","reason":""}`,
		"/health?serializable=true": `{"health":"true","reason":""}`,
		"/readyz?exclude=linearizable_read&verbose": "[+]serializable_read ok\n",
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %s %q, want 200 with %q", path, resp.Status, b, want)
		}
		if strings.Contains(path, "exclude=linearizable_read") && strings.Contains(string(b), "linearizable_read") {
			t.Errorf("GET %s ran the excluded check: %q", path, b)
		}
	}
}
