package etcd

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairndb/cairn/bench"
)

// fakeEtcd is a one-member, in-memory stand-in for etcd's gRPC API,
// just enough to test this package's encoding, framing and streams.
type fakeEtcd struct {
	mu       sync.Mutex
	rev      int64
	kvs      map[string]fakeKV
	watchers map[chan []byte]bool
}

type fakeKV struct {
	val []byte
	mod int64
}

// startFake serves a fakeEtcd over h2c and returns its address.
func startFake(t *testing.T) string {
	f := &fakeEtcd{kvs: map[string]fakeKV{}, watchers: map[chan []byte]bool{}}
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: f, Protocols: &protos}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// fields decodes a message into field number → values.
func fields(msg []byte) map[int][]field {
	out := map[int][]field{}
	_ = eachField(msg, func(f field) error {
		out[f.num] = append(out[f.num], f)
		return nil
	})
	return out
}

func (f *fakeEtcd) header() []byte {
	return appendInt(appendInt(nil, headerMemberID, 1), headerRevision, f.rev)
}

func (f *fakeEtcd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Content-Type") != "application/grpc" || r.Header.Get("TE") != "trailers" {
		http.Error(w, "not gRPC", http.StatusUnsupportedMediaType)
		return
	}
	req, err := readFrame(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/grpc")
	if r.URL.Path == methodWatch {
		f.watch(w, r, req)
		return
	}
	f.mu.Lock()
	resp, status, msg := f.unary(r.URL.Path, req)
	f.mu.Unlock()
	if status != "0" { // a trailers-only answer
		w.Header().Set("Grpc-Status", status)
		w.Header().Set("Grpc-Message", msg)
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Trailer", "Grpc-Status")
	w.WriteHeader(http.StatusOK)
	w.Write(frame(resp))
	w.Header().Set("Grpc-Status", "0")
}

// unary answers one call; f.mu is held.
func (f *fakeEtcd) unary(method string, req []byte) (resp []byte, status, msg string) {
	fs := fields(req)
	switch method {
	case methodPut:
		return appendMessage(nil, respHeader, f.put(fs[putKey][0].data, fs[putValue][0].data)), "0", ""
	case methodRange:
		var key, end []byte
		if v := fs[rangeKey]; len(v) > 0 {
			key = v[0].data
		}
		if v := fs[rangeEnd]; len(v) > 0 {
			end = v[0].data
		}
		return f.rangeResp(key, end), "0", ""
	case methodTxn:
		cmp := fields(fs[txnCompare][0].data)
		key := cmp[cmpKey][0].data
		want := int64(cmp[cmpModRevision][0].n)
		if f.kvs[string(key)].mod == want {
			put := fields(fields(fs[txnSuccess][0].data)[requestOpPut][0].data)
			hdr := f.put(key, put[putValue][0].data)
			return appendBool(appendMessage(nil, respHeader, hdr), txnSucceeded, true), "0", ""
		}
		resp := appendMessage(nil, respHeader, f.header())
		return appendMessage(resp, txnResponses, appendMessage(nil, responseOpRange, f.rangeResp(key, nil))), "0", ""
	case methodGrant:
		return appendInt(appendInt(nil, leaseGrantID, 77), 3, int64(fs[leaseGrantTTL][0].n)), "0", ""
	case methodKeepAlive:
		ttl := int64(0)
		if fs[keepAliveID][0].n == 77 {
			ttl = 60
		}
		return appendInt(nil, keepAliveTTL, ttl), "0", ""
	case methodStatus:
		return appendInt(appendMessage(nil, respHeader, f.header()), statusLeader, 1), "0", ""
	}
	return nil, "12", "unknown%20method%20" + strings.TrimPrefix(method, "/")
}

// put stores key = val and tells the watchers; f.mu is held.
func (f *fakeEtcd) put(key, val []byte) []byte {
	f.rev++
	f.kvs[string(key)] = fakeKV{val: bytes.Clone(val), mod: f.rev}
	kv := appendInt(appendBytes(appendBytes(nil, 1, key), kvValue, val), kvModRevision, f.rev)
	ev := appendMessage(nil, watchEvents, appendMessage(nil, eventKv, kv))
	for ch := range f.watchers {
		select {
		case ch <- ev:
		default:
		}
	}
	return f.header()
}

func (f *fakeEtcd) rangeResp(key, end []byte) []byte {
	var keys []string
	for k := range f.kvs {
		in := k == string(key)
		if len(end) > 0 {
			in = k >= string(key) && (string(end) == "\x00" || k < string(end))
		}
		if in {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	resp := appendMessage(nil, respHeader, f.header())
	for _, k := range keys {
		kv := f.kvs[k]
		resp = appendMessage(resp, rangeKvs, appendInt(appendBytes(appendBytes(nil, 1, []byte(k)), kvValue, kv.val), kvModRevision, kv.mod))
	}
	return resp
}

// watch answers "created", then streams every put until the call ends.
func (f *fakeEtcd) watch(w http.ResponseWriter, r *http.Request, req []byte) {
	if len(fields(req)[watchCreate]) == 0 {
		w.Header().Set("Grpc-Status", "3")
		w.WriteHeader(http.StatusOK)
		return
	}
	ch := make(chan []byte, 1024)
	f.mu.Lock()
	f.watchers[ch] = true
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.watchers, ch)
		f.mu.Unlock()
	}()
	w.Header().Set("Trailer", "Grpc-Status")
	w.WriteHeader(http.StatusOK)
	w.Write(frame(appendBool(nil, watchCreated, true)))
	w.(http.Flusher).Flush()
	for {
		select {
		case ev := <-ch:
			w.Write(frame(ev))
			w.(http.Flusher).Flush()
		case <-r.Context().Done():
			return
		}
	}
}

func TestConnAgainstFake(t *testing.T) {
	addr := startFake(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Target{}.Dial([]string{"http://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	got := make(chan []byte, 10)
	if err := c.Watch(ctx, nil, func(v []byte) { got <- bytes.Clone(v) }); err != nil {
		t.Fatal(err)
	}
	if rev, err := c.Put(ctx, []byte("k1"), []byte("v1")); err != nil || rev != 1 {
		t.Fatalf("put: rev %d %v", rev, err)
	}
	if _, err := c.Put(ctx, []byte("k2"), []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Get(ctx, []byte("k1"), bench.GetOptions{}); err != nil || n != 1 {
		t.Fatalf("get: %d %v", n, err)
	}
	if n, err := c.Get(ctx, []byte("k"), bench.GetOptions{Prefix: true, Serializable: true}); err != nil || n != 2 {
		t.Fatalf("prefix get: %d %v", n, err)
	}
	if revs, err := c.ModRevisions(ctx, []byte("k")); err != nil || len(revs) != 2 || revs["k1"] != 1 || revs["k2"] != 2 {
		t.Fatalf("mod revisions: %v %v", revs, err)
	}
	// A CAS with a stale revision fails and learns the current one; then
	// it succeeds.
	res, err := c.CAS(ctx, []byte("k1"), []byte("v3"), 0)
	if err != nil || res.Swapped || res.ModRevision != 1 {
		t.Fatalf("stale CAS: %+v %v", res, err)
	}
	res, err = c.CAS(ctx, []byte("k1"), []byte("v3"), res.ModRevision)
	if err != nil || !res.Swapped || res.ModRevision != 3 {
		t.Fatalf("CAS: %+v %v", res, err)
	}
	for _, want := range []string{"v1", "v2", "v3"} {
		select {
		case v := <-got:
			if string(v) != want {
				t.Fatalf("watch delivered %q, want %q", v, want)
			}
		case <-ctx.Done():
			t.Fatalf("watch: %q never arrived", want)
		}
	}
	id, err := c.Grant(ctx, 60)
	if err != nil || id != 77 {
		t.Fatalf("grant: %d %v", id, err)
	}
	if err := c.KeepAliveOnce(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := c.KeepAliveOnce(ctx, 5); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("keep-alive of an unknown lease: %v", err)
	}
	leader, err := Target{}.Leader(ctx, []string{addr})
	if err != nil || leader != addr {
		t.Fatalf("leader: %q %v", leader, err)
	}
	// A gRPC error status comes back as an error naming it.
	_, err = c.(*conn).ch.unary(ctx, "/etcdserverpb.KV/Nope", nil)
	if err == nil || !strings.Contains(err.Error(), "gRPC status 12: unknown method") {
		t.Fatalf("unknown method: %v", err)
	}
}

func TestWorkloadsAgainstFake(t *testing.T) {
	addr := startFake(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, w := range bench.Workloads() {
		res, err := bench.Run(ctx, Target{}, w, bench.Config{Endpoints: []string{addr}, Clients: 4, Conns: 2,
			Total: 40, KeySpace: 50, Watchers: 2, LeaderFirst: true})
		if err != nil {
			t.Fatalf("%s: %v", w, err)
		}
		if res.Ops == 0 || res.Errors != 0 || res.Target != "etcd" {
			t.Errorf("%s: %d ops, %d errors %v on %s", w, res.Ops, res.Errors, res.ErrorSamples, res.Target)
		}
		if w == "txn-put" && !strings.Contains(strings.Join(res.Notes, ";"), " 0 conflicts") {
			t.Errorf("txn-put: %v", res.Notes)
		}
	}
}

func TestHostPort(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"127.0.0.1:2379", "127.0.0.1:2379", true},
		{"http://h:1", "h:1", true},
		{"h", "", false},
		{"http://h/x", "", false},
	} {
		got, err := hostPort(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("hostPort(%q) = %q, %v", tc.in, got, err)
		}
	}
}
