package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// etcd's JSON gateway on a cairn member's client port, through
// net/http as curl would use it: bytes in base64, 64-bit integers as
// strings, zero values left out, errors as {"code","message"} with the
// gRPC code.

type gwHeader struct {
	ClusterID uint64 `json:"cluster_id,string"`
	MemberID  uint64 `json:"member_id,string"`
	Revision  int64  `json:"revision,string"`
	RaftTerm  uint64 `json:"raft_term,string"`
}

type gwKV struct {
	Key            []byte `json:"key"`
	CreateRevision int64  `json:"create_revision,string"`
	ModRevision    int64  `json:"mod_revision,string"`
	Version        int64  `json:"version,string"`
	Value          []byte `json:"value"`
	Lease          int64  `json:"lease,string"`
}

type gwRange struct {
	Header gwHeader `json:"header"`
	Kvs    []gwKV   `json:"kvs"`
	More   bool     `json:"more"`
	Count  int64    `json:"count,string"`
}

type gwError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// gatewayCall POSTs body to base+path with the token (if any) in the
// Authorization header, as etcd's gateway takes it, and returns the HTTP
// status and the body.
func gatewayCall(t *testing.T, base, path, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// gateway POSTs body and decodes a 200 answer into v.
func gateway(t *testing.T, base, path, token, body string, v any) {
	t.Helper()
	code, out := gatewayCall(t, base, path, token, body)
	if code != http.StatusOK {
		t.Fatalf("POST %s %s: HTTP %d %s", path, body, code, out)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("POST %s: %v in %s", path, err, out)
	}
}

// gatewayRefused POSTs body, which must be refused with HTTP status
// httpCode, gRPC code grpcCode and message msg.
func gatewayRefused(t *testing.T, base, path, token, body string, httpCode, grpcCode int, msg string) {
	t.Helper()
	code, out := gatewayCall(t, base, path, token, body)
	var e gwError
	if err := json.Unmarshal([]byte(out), &e); err != nil || code != httpCode || e.Code != grpcCode || e.Message != msg {
		t.Fatalf("POST %s %s: HTTP %d %s; want HTTP %d with code %d and %q", path, body, code, out, httpCode, grpcCode, msg)
	}
}

func gatewayKV(t *testing.T, base string) {
	var put struct {
		Header gwHeader `json:"header"`
		PrevKv *gwKV    `json:"prev_kv"`
	}
	gateway(t, base, "/v3/kv/put", "", `{"key":"`+b64("gw/a")+`","value":"`+b64("1")+`"}`, &put)
	if put.Header.Revision == 0 || put.Header.ClusterID == 0 || put.Header.MemberID == 0 || put.PrevKv != nil {
		t.Fatalf("/v3/kv/put: %+v", put)
	}
	gateway(t, base, "/v3/kv/put", "", `{"key":"`+b64("gw/a")+`","value":"`+b64("2")+`","prev_kv":true}`, &put)
	if put.PrevKv == nil || string(put.PrevKv.Value) != "1" {
		t.Fatalf("/v3/kv/put with prev_kv: %+v", put)
	}
	gateway(t, base, "/v3/kv/put", "", `{"key":"`+b64("gw/b")+`","value":"`+b64("3")+`"}`, &put)

	var r gwRange
	gateway(t, base, "/v3/kv/range", "", `{"key":"`+b64("gw/")+`","range_end":"`+b64("gw0")+`"}`, &r)
	if r.Count != 2 || len(r.Kvs) != 2 || string(r.Kvs[0].Key) != "gw/a" || string(r.Kvs[0].Value) != "2" ||
		r.Kvs[0].Version != 2 || r.Kvs[1].ModRevision != r.Header.Revision {
		t.Fatalf("/v3/kv/range: %+v", r)
	}
	var count gwRange
	gateway(t, base, "/v3/kv/range", "", `{"key":"`+b64("gw/")+`","range_end":"`+b64("gw0")+`","count_only":true}`, &count)
	if count.Count != 2 || len(count.Kvs) != 0 {
		t.Fatalf("/v3/kv/range count_only: %+v", count)
	}

	var txn struct {
		Header    gwHeader `json:"header"`
		Succeeded bool     `json:"succeeded"`
		Responses []struct {
			Put   *struct{ Header gwHeader } `json:"response_put"`
			Range *gwRange                   `json:"response_range"`
		} `json:"responses"`
	}
	gateway(t, base, "/v3/kv/txn", "", `{"compare":[{"key":"`+b64("gw/a")+`","result":"EQUAL","target":"VALUE","value":"`+b64("2")+`"}],`+
		`"success":[{"request_put":{"key":"`+b64("gw/c")+`","value":"`+b64("4")+`"}},{"request_range":{"key":"`+b64("gw/c")+`"}}],`+
		`"failure":[{"request_delete_range":{"key":"`+b64("gw/a")+`"}}]}`, &txn)
	if !txn.Succeeded || len(txn.Responses) != 2 || txn.Responses[0].Put == nil || txn.Responses[1].Range == nil ||
		string(txn.Responses[1].Range.Kvs[0].Value) != "4" {
		t.Fatalf("/v3/kv/txn: %+v", txn)
	}
	var failed struct {
		Succeeded bool              `json:"succeeded"`
		Responses []json.RawMessage `json:"responses"`
	}
	gateway(t, base, "/v3/kv/txn", "", `{"compare":[{"key":"`+b64("gw/a")+`","result":"GREATER","target":"VERSION","version":"5"}],`+
		`"success":[{"request_put":{"key":"`+b64("gw/never")+`","value":"`+b64("x")+`"}}]}`, &failed)
	if failed.Succeeded || len(failed.Responses) != 0 {
		t.Fatalf("/v3/kv/txn whose compare fails: %+v", failed)
	}

	var del struct {
		Header  gwHeader `json:"header"`
		Deleted int64    `json:"deleted,string"`
		PrevKvs []gwKV   `json:"prev_kvs"`
	}
	gateway(t, base, "/v3/kv/deleterange", "", `{"key":"`+b64("gw/")+`","range_end":"`+b64("gw0")+`","prev_kv":true}`, &del)
	if del.Deleted != 3 || len(del.PrevKvs) != 3 || string(del.PrevKvs[2].Key) != "gw/c" {
		t.Fatalf("/v3/kv/deleterange: %+v", del)
	}

	gatewayRefused(t, base, "/v3/kv/put", "", `{}`, http.StatusBadRequest, 3, "etcdserver: key is not provided")
	gatewayRefused(t, base, "/v3/kv/range", "", `{"key":"`+b64("gw/a")+`","revision":"1000000"}`, http.StatusBadRequest, 11,
		"etcdserver: mvcc: required revision is a future revision")

	gatewayWatch(t, base)

	var grant struct {
		Header gwHeader `json:"header"`
		ID     int64    `json:"ID,string"`
		TTL    int64    `json:"TTL,string"`
	}
	gateway(t, base, "/v3/lease/grant", "", `{"TTL":30}`, &grant)
	if grant.ID == 0 || grant.TTL != 30 {
		t.Fatalf("/v3/lease/grant: %+v", grant)
	}
	var ttl struct {
		ID         int64 `json:"ID,string"`
		TTL        int64 `json:"TTL,string"`
		GrantedTTL int64 `json:"grantedTTL,string"`
	}
	gateway(t, base, "/v3/lease/timetolive", "", `{"ID":"`+jsonInt(grant.ID)+`"}`, &ttl)
	if ttl.ID != grant.ID || ttl.GrantedTTL != 30 || ttl.TTL <= 0 || ttl.TTL > 30 {
		t.Fatalf("/v3/lease/timetolive: %+v", ttl)
	}
	gateway(t, base, "/v3/lease/revoke", "", `{"ID":"`+jsonInt(grant.ID)+`"}`, &struct{}{})
	gatewayRefused(t, base, "/v3/lease/revoke", "", `{"ID":"`+jsonInt(grant.ID)+`"}`, http.StatusNotFound, 5,
		"etcdserver: requested lease not found")

	var status struct {
		Header  gwHeader `json:"header"`
		Version string   `json:"version"`
		Leader  uint64   `json:"leader,string"`
		DBSize  int64    `json:"dbSize,string"`
	}
	gateway(t, base, "/v3/maintenance/status", "", `{}`, &status)
	if status.Version != "3.6.0" || status.Leader == 0 || status.DBSize == 0 || status.Header.MemberID == 0 {
		t.Fatalf("/v3/maintenance/status: %+v", status)
	}
	var members struct {
		Members []struct {
			ID         uint64   `json:"ID,string"`
			Name       string   `json:"name"`
			PeerURLs   []string `json:"peerURLs"`
			ClientURLs []string `json:"clientURLs"`
		} `json:"members"`
	}
	gateway(t, base, "/v3/cluster/member/list", "", `{}`, &members)
	if len(members.Members) != 3 {
		t.Fatalf("/v3/cluster/member/list: %+v", members)
	}
	for _, m := range members.Members {
		if m.ID == 0 || !strings.HasPrefix(m.Name, "m") || len(m.PeerURLs) != 1 || len(m.ClientURLs) != 1 {
			t.Fatalf("/v3/cluster/member/list: %+v", members)
		}
	}

	gatewayHTTP(t, base)
}

// jsonInt is a 64-bit integer as the gateway takes it: a JSON string.
func jsonInt(v int64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// gatewayWatch streams /v3/watch: the request body is the create
// request; the answer is one JSON object a line, each {"result": ...}.
func gatewayWatch(t *testing.T, base string) {
	body := `{"create_request":{"key":"` + b64("gwatch/") + `","range_end":"` + b64("gwatch0") + `","prev_kv":true}}`
	nextLine := openGatewayWatch(t, base, body)
	type watchLine struct {
		Result struct {
			Header  gwHeader `json:"header"`
			Created bool     `json:"created"`
			Events  []struct {
				Type   string `json:"type"`
				Kv     gwKV   `json:"kv"`
				PrevKv *gwKV  `json:"prev_kv"`
			} `json:"events"`
		} `json:"result"`
		Error *gwError `json:"error"`
	}
	next := func() watchLine {
		t.Helper()
		line := nextLine()
		var w watchLine
		if err := json.Unmarshal([]byte(line), &w); err != nil || w.Error != nil {
			t.Fatalf("/v3/watch sent %q: %v", line, err)
		}
		return w
	}
	if w := next(); !w.Result.Created || w.Result.Header.Revision == 0 {
		t.Fatalf("/v3/watch: the first line is not the creation: %+v", w)
	}
	// The stream goes on after the request body ended (etcd keeps a
	// watch whose client closed its side).
	for _, v := range []string{"1", "2"} {
		gateway(t, base, "/v3/kv/put", "", `{"key":"`+b64("gwatch/k")+`","value":"`+b64(v)+`"}`, &struct{}{})
	}
	gatewayCall(t, base, "/v3/kv/deleterange", "", `{"key":"`+b64("gwatch/k")+`"}`)
	var got []string
	for len(got) < 3 {
		for _, ev := range next().Result.Events {
			s := ev.Type + " " + string(ev.Kv.Key) + "=" + string(ev.Kv.Value)
			if ev.PrevKv != nil {
				s += " prev " + string(ev.PrevKv.Value)
			}
			got = append(got, s)
		}
	}
	// A put is the zero event type, left out of the JSON.
	if want := []string{" gwatch/k=1", " gwatch/k=2 prev 1", "DELETE gwatch/k= prev 2"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("/v3/watch events %q, want %q", got, want)
	}
}

// openGatewayWatch POSTs body to /v3/watch and returns a function giving
// the answer's next line; the stream closes when the test ends.
func openGatewayWatch(t *testing.T, base, body string) (next func() string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v3/watch", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /v3/watch: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v3/watch: HTTP %d", resp.StatusCode)
	}
	lines := bufio.NewReader(resp.Body)
	return func() string {
		t.Helper()
		line, err := lines.ReadString('\n')
		if err != nil {
			t.Fatalf("/v3/watch ended: %v (%q)", err, line)
		}
		return line
	}
}

// gatewayHTTP checks /health, /version and /metrics beside the gateway.
func gatewayHTTP(t *testing.T, base string) {
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return resp.StatusCode, string(b)
	}
	var health struct{ Health, Reason string }
	code, out := get("/health")
	if err := json.Unmarshal([]byte(out), &health); err != nil || code != http.StatusOK || health.Health != "true" || health.Reason != "" {
		t.Fatalf("GET /health: HTTP %d %q", code, out)
	}
	var version struct{ Etcdserver, Etcdcluster string }
	code, out = get("/version")
	if err := json.Unmarshal([]byte(out), &version); err != nil || code != http.StatusOK || version.Etcdserver != "3.6.0" || version.Etcdcluster != "3.6.0" {
		t.Fatalf("GET /version: HTTP %d %q", code, out)
	}
	code, out = get("/metrics")
	if code != http.StatusOK || !strings.Contains(out, "# TYPE ") {
		t.Fatalf("GET /metrics: HTTP %d %.200q", code, out)
	}
}

// gatewayAuth, with auth enabled (root:rootpw, alice:alicepw reading
// pub/ only): /v3/auth/authenticate gives a token, sent back in the
// Authorization header.
func gatewayAuth(t *testing.T, base string) {
	token := func(name, password string) string {
		t.Helper()
		var resp struct {
			Header gwHeader `json:"header"`
			Token  string   `json:"token"`
		}
		gateway(t, base, "/v3/auth/authenticate", "", `{"name":"`+name+`","password":"`+password+`"}`, &resp)
		if resp.Token == "" {
			t.Fatalf("/v3/auth/authenticate as %s: no token", name)
		}
		return resp.Token
	}
	secret := `{"key":"` + b64("secret") + `"}`
	gatewayRefused(t, base, "/v3/kv/range", "", secret, http.StatusBadRequest, 3, "etcdserver: user name is empty")
	gatewayRefused(t, base, "/v3/auth/authenticate", "", `{"name":"root","password":"wrong"}`, http.StatusBadRequest, 3,
		"etcdserver: authentication failed, invalid user ID or password")
	gatewayRefused(t, base, "/v3/kv/range", "not-a-token", secret, http.StatusUnauthorized, 16, "etcdserver: invalid auth token")
	var asRoot, asAlice gwRange
	gateway(t, base, "/v3/kv/range", token("root", "rootpw"), secret, &asRoot)
	if len(asRoot.Kvs) != 1 || string(asRoot.Kvs[0].Value) != "s" {
		t.Fatalf("/v3/kv/range as root: %+v", asRoot)
	}
	alice := token("alice", "alicepw")
	gateway(t, base, "/v3/kv/range", alice, `{"key":"`+b64("pub/a")+`"}`, &asAlice)
	if len(asAlice.Kvs) != 1 || string(asAlice.Kvs[0].Value) != "1" {
		t.Fatalf("/v3/kv/range as alice: %+v", asAlice)
	}
	gatewayRefused(t, base, "/v3/kv/range", alice, secret, http.StatusForbidden, 7, "etcdserver: permission denied")
	gatewayRefused(t, base, "/v3/kv/put", alice, `{"key":"`+b64("pub/a")+`","value":"`+b64("x")+`"}`, http.StatusForbidden, 7,
		"etcdserver: permission denied")
}
