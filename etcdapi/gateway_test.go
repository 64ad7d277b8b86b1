package etcdapi_test

import (
	"crypto/tls"
	"crypto/x509"

	"bufio"
	"encoding/base64"
	"encoding/json"
	"github.com/cairndb/cairn/etcdapi"
	"github.com/cairndb/cairn/internal/testcerts"
	"github.com/cairndb/cairn/node/nodetest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// post sends a JSON body to the gateway and decodes the answer.
func post(t *testing.T, url, body string, header map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("POST %s: %d %q is not JSON: %v", url, resp.StatusCode, b, err)
	}
	return resp.StatusCode, out
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestJSONGateway speaks to the member the way curl does: etcd's paths,
// base64 keys and values, proto field names, 64-bit numbers as strings.
func TestJSONGateway(t *testing.T) {
	c := startCluster(t, 1)
	base := "http://" + c.Endpoint(0)
	code, put := post(t, base+"/v3/kv/put", `{"key":"`+b64("foo")+`","value":"`+b64("bar")+`"}`, nil)
	hdr, _ := put["header"].(map[string]any)
	if code != 200 || hdr["revision"] != "2" || hdr["cluster_id"] == nil || hdr["raft_term"] == nil {
		t.Fatalf("put: %d %v", code, put)
	}
	_, rng := post(t, base+"/v3/kv/range", `{"key":"`+b64("foo")+`"}`, nil)
	kvs, _ := rng["kvs"].([]any)
	if len(kvs) != 1 || kvs[0].(map[string]any)["value"] != b64("bar") || rng["count"] != "1" {
		t.Fatalf("range: %v", rng)
	}
	_, txn := post(t, base+"/v3/kv/txn", `{"compare":[{"target":"VALUE","key":"`+b64("foo")+`","value":"`+b64("bar")+`"}],`+
		`"success":[{"request_put":{"key":"`+b64("foo")+`","value":"`+b64("baz")+`"}}]}`, nil)
	if txn["succeeded"] != true {
		t.Fatalf("txn: %v", txn)
	}
	_, grant := post(t, base+"/v3/lease/grant", `{"TTL":30}`, nil)
	if grant["ID"] == nil || grant["TTL"] != "30" {
		t.Fatalf("lease grant: %v", grant)
	}
	_, status := post(t, base+"/v3/maintenance/status", `{}`, nil)
	if status["version"] != "3.6.0" {
		t.Fatalf("status: %v", status)
	}
	_, members := post(t, base+"/v3/cluster/member/list", `{}`, nil)
	if ms, _ := members["members"].([]any); len(ms) != 1 {
		t.Fatalf("member list: %v", members)
	}
	// Unknown fields are ignored, as etcd's gateway does; a malformed body
	// is refused with a gRPC-style error, and the member goes on.
	if code, _ := post(t, base+"/v3/kv/range", `{"key":"`+b64("foo")+`","no_such_field":1}`, nil); code != 200 {
		t.Fatalf("unknown field: status %d", code)
	}
	if code, bad := post(t, base+"/v3/kv/range", `{"key":`, nil); code != 400 || bad["code"] == nil {
		t.Fatalf("malformed body: %d %v", code, bad)
	}
	_, del := post(t, base+"/v3/kv/deleterange", `{"key":"`+b64("foo")+`","prev_kv":true}`, nil)
	if del["deleted"] != "1" {
		t.Fatalf("deleterange: %v", del)
	}

	// A streaming watch: the creation, then the event.
	req, _ := http.NewRequest(http.MethodPost, base+"/v3/watch", strings.NewReader(`{"create_request":{"key":"`+b64("w")+`"}}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	if !lines.Scan() || !strings.Contains(lines.Text(), `"created":true`) {
		t.Fatalf("watch creation: %q", lines.Text())
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		post(t, base+"/v3/kv/put", `{"key":"`+b64("w")+`","value":"`+b64("x")+`"}`, nil)
	}()
	if !lines.Scan() || !strings.Contains(lines.Text(), b64("x")) {
		t.Fatalf("watch event: %q", lines.Text())
	}

	// Auth through the gateway: the token goes in the Authorization header.
	post(t, base+"/v3/auth/user/add", `{"name":"root","password":"pw"}`, nil)
	post(t, base+"/v3/auth/user/grant", `{"user":"root","role":"root"}`, nil)
	if code, r := post(t, base+"/v3/auth/enable", `{}`, nil); code != 200 {
		t.Fatalf("auth enable: %d %v", code, r)
	}
	_, auth := post(t, base+"/v3/auth/authenticate", `{"name":"root","password":"pw"}`, nil)
	token, _ := auth["token"].(string)
	if token == "" {
		t.Fatalf("authenticate: %v", auth)
	}
	if code, r := post(t, base+"/v3/kv/range", `{"key":"`+b64("w")+`"}`, nil); code == 200 {
		t.Fatalf("range without a token with auth on: %d %v", code, r)
	}
	if code, r := post(t, base+"/v3/kv/range", `{"key":"`+b64("w")+`"}`, map[string]string{"Authorization": token}); code != 200 {
		t.Fatalf("range with the token: %d %v", code, r)
	}
	// As etcd, the token may come after "Bearer ".
	if code, r := post(t, base+"/v3/kv/range", `{"key":"`+b64("w")+`"}`, map[string]string{"Authorization": "Bearer " + token}); code != 200 {
		t.Fatalf("range with Bearer and the token: %d %v", code, r)
	}

	for _, path := range []string{"/health", "/version", "/metrics"} {
		r, err := http.Get(base + path)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", path, r, err)
		}
		r.Body.Close()
	}
}

// TestJSONGatewayOverTLS: curl asks for HTTP/2 by ALPN over TLS; the
// member serves its gateway requests and etcd's gRPC clients on the same
// connections' protocol, with the client certificate as the user.
func TestJSONGatewayOverTLS(t *testing.T) {
	ca := testcerts.NewCA(t, "ca")
	serverCert := ca.Issue(t, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	serverTLS := &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: ca.Pool(), ClientAuth: tls.VerifyClientCertIfGiven}
	c := nodetest.Start(t, 1, nodetest.Options{ClientTLS: serverTLS, ClientFace: etcdapi.New})
	httpc := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	resp, err := httpc.Post(c.Endpoint(0)+"/v3/kv/put", "application/json", strings.NewReader(`{"key":"`+b64("t")+`","value":"`+b64("v")+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 || !strings.Contains(string(body), `"revision":"2"`) {
		t.Fatalf("put over TLS: %s %d %s", resp.Proto, resp.StatusCode, body)
	}
	cli := etcdClientWith(t, clientv3.Config{Endpoints: []string{c.Endpoint(0)}, TLS: &tls.Config{RootCAs: ca.Pool()}})
	r := must[*clientv3.GetResponse](t, "get")(cli.Get(ctxT(t), "t"))
	if len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "v" {
		t.Fatalf("clientv3 over TLS reads %+v", r.Kvs)
	}
}

// TestJSONGatewayAsEtcd checks what etcd's gateway does beside the
// answers: the Grpc-Metadata-Content-Type header says application/grpc
// (with no codec subtype), and the beta API's /v3beta/ paths are served
// as /v3/.
func TestJSONGatewayAsEtcd(t *testing.T) {
	c := startCluster(t, 1)
	base := "http://" + c.Endpoint(0)
	resp, err := http.Post(base+"/v3/kv/put", "application/json", strings.NewReader(`{"key":"`+b64("k")+`","value":"`+b64("v")+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Grpc-Metadata-Content-Type"); got != "application/grpc" {
		t.Fatalf("Grpc-Metadata-Content-Type %q, want application/grpc", got)
	}
	code, rng := post(t, base+"/v3beta/kv/range", `{"key":"`+b64("k")+`"}`, nil)
	if kvs, _ := rng["kvs"].([]any); code != http.StatusOK || len(kvs) != 1 {
		t.Fatalf("/v3beta/kv/range: %d %v", code, rng)
	}
}
