package node_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/node/nodetest"
)

// get serves one GET of path from the member's operator endpoints.
func get(t *testing.T, s *node.Server, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.HTTPHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// metricLine returns the line of /metrics that starts with prefix.
func metricLine(t *testing.T, s *node.Server, prefix string) string {
	t.Helper()
	_, body := get(t, s, "/metrics")
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}

// The native rpc's calls are counted as gRPC calls of cairn's services:
// by method, type and the code the etcd face would answer, OK and errors
// alike, every method's series there before its first call.
func TestNativeRPCMetrics(t *testing.T) {
	c := newTestCluster(t, 1)
	s := c.Servers[c.Leader()]
	const handled = `grpc_server_handled_total{grpc_code="OutOfRange",grpc_method="Range",grpc_service="cairn.KV",grpc_type="unary"} `
	if line := metricLine(t, s, handled); line != handled+"0" {
		t.Fatalf("before any call: %q, want %q", line, handled+"0")
	}
	ctx := ctxT(t)
	cl := c.Client()
	for range 3 {
		if _, err := cl.Put(ctx, "k", "v"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.Compact(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Get(ctx, "k", client.WithRev(2)); err == nil {
		t.Fatal("a read at a compacted revision succeeded")
	}
	for _, want := range []string{
		`grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="cairn.KV",grpc_type="unary"} 3`,
		handled + "1",
		`grpc_server_started_total{grpc_method="Range",grpc_service="cairn.KV",grpc_type="unary"} 1`,
		`grpc_server_started_total{grpc_method="Watch",grpc_service="cairn.Watch",grpc_type="bidi_stream"} 0`,
		`etcd_mvcc_put_total 3`,
	} {
		prefix := want[:strings.LastIndexByte(want, ' ')+1]
		if line := metricLine(t, s, prefix); line != want {
			t.Errorf("got %q, want %q", line, want)
		}
	}
	received := metricLine(t, s, "etcd_network_client_grpc_received_bytes_total ")
	if received == "" || strings.HasSuffix(received, " 0") {
		t.Errorf("client bytes received: %q", received)
	}
}

// An apply slower than --warning-apply-duration is counted (and logged).
func TestSlowApplyCounted(t *testing.T) {
	c := newTestClusterWith(t, 1, func(cfg *node.Config) { cfg.WarningApplyDuration = time.Nanosecond })
	s := c.Servers[c.Leader()]
	if _, err := c.Client().Put(ctxT(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	if line := metricLine(t, s, "etcd_server_slow_apply_total "); line == "" || line == "etcd_server_slow_apply_total 0" {
		t.Fatalf("slow applies: %q, want more than 0", line)
	}
}

// A member without a leader is alive but not ready, and says why; the
// checks it fails can be excluded, and a check can be asked alone.
func TestReadyzWithoutLeader(t *testing.T) {
	c := nodetest.New(t, 3, nodetest.Options{})
	c.StartMember(0) // alone of three: it can elect no leader
	s := c.Servers[0]
	if code, body := get(t, s, "/livez"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/livez: %d %q", code, body)
	}
	code, body := get(t, s, "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "[-]leader failed: no leader") ||
		!strings.Contains(body, "[-]linearizable_read failed") || !strings.Contains(body, "[+]serializable_read ok") {
		t.Errorf("/readyz: %d %q", code, body)
	}
	if code, body := get(t, s, "/readyz?exclude=leader&exclude=linearizable_read"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/readyz excluding the failing checks: %d %q", code, body)
	}
	if code, body := get(t, s, "/readyz/leader"); code != http.StatusServiceUnavailable || body != "[-]leader failed: no leader\n\n" {
		t.Errorf("/readyz/leader: %d %q", code, body)
	}
	if code, body := get(t, s, "/health"); code != http.StatusServiceUnavailable || body != `{"health":"false","reason":"RAFT NO LEADER"}` {
		t.Errorf("/health: %d %q", code, body)
	}
	if code, body := get(t, s, "/health?serializable=true"); code != http.StatusOK || body != `{"health":"true","reason":""}` {
		t.Errorf("/health?serializable=true: %d %q", code, body)
	}
	rec := httptest.NewRecorder()
	s.HTTPHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/readyz", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /readyz: %d", rec.Code)
	}
}
