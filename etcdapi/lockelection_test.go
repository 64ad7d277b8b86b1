package etcdapi_test

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cairndb/cairn/etcdapi/concurrencypb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// The Lock and Election services as a non-Go client calls them: raw gRPC
// calls with etcd's method names and messages (concurrencypb), beside
// clientv3 for leases and reads.

// concurrencyConn is a gRPC connection to endpoint.
func concurrencyConn(t *testing.T, endpoint string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// invoke calls the unary method full with req and returns its response.
func invoke[Resp any](ctx context.Context, conn *grpc.ClientConn, full string, req any) (*Resp, error) {
	resp := new(Resp)
	if err := conn.Invoke(ctx, full, req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

func lock(ctx context.Context, conn *grpc.ClientConn, name string, lease clientv3.LeaseID) (*concurrencypb.LockResponse, error) {
	return invoke[concurrencypb.LockResponse](ctx, conn, concurrencypb.LockMethod,
		&concurrencypb.LockRequest{Name: []byte(name), Lease: int64(lease)})
}

func unlock(ctx context.Context, conn *grpc.ClientConn, key []byte) error {
	_, err := invoke[concurrencypb.UnlockResponse](ctx, conn, concurrencypb.UnlockMethod, &concurrencypb.UnlockRequest{Key: key})
	return err
}

func campaign(ctx context.Context, conn *grpc.ClientConn, name string, lease clientv3.LeaseID, value string) (*concurrencypb.CampaignResponse, error) {
	return invoke[concurrencypb.CampaignResponse](ctx, conn, concurrencypb.CampaignMethod,
		&concurrencypb.CampaignRequest{Name: []byte(name), Lease: int64(lease), Value: []byte(value)})
}

func leader(ctx context.Context, conn *grpc.ClientConn, name string) (*concurrencypb.LeaderResponse, error) {
	return invoke[concurrencypb.LeaderResponse](ctx, conn, concurrencypb.LeaderMethod, &concurrencypb.LeaderRequest{Name: []byte(name)})
}

// grant is a lease of ttl seconds, kept alive until the test ends when
// keep is set.
func grant(t *testing.T, cli *clientv3.Client, ttl int64, keep bool) clientv3.LeaseID {
	t.Helper()
	g := must[*clientv3.LeaseGrantResponse](t, "grant")(cli.Grant(ctxT(t), ttl))
	if keep {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		must[<-chan *clientv3.LeaseKeepAliveResponse](t, "keep alive")(cli.KeepAlive(ctx, g.ID))
	}
	return g.ID
}

// wantStatus fails unless err is a gRPC error of code and message.
func wantStatus(t *testing.T, what string, err error, code codes.Code, msg string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != code || st.Message() != msg {
		t.Fatalf("%s: %v, want %v %q", what, err, code, msg)
	}
}

// Several contenders on different members take turns: never two holders
// at once, and each holder's key is the name and its lease in hex.
func TestLockMutualExclusion(t *testing.T) {
	c := startCluster(t, 3)
	ctx := ctxT(t)
	var mu sync.Mutex
	holders, maxHolders, acquired := 0, 0, 0
	var wg sync.WaitGroup
	for i := range 5 {
		cli := etcdClient(t, c.Endpoint(i%3))
		conn := concurrencyConn(t, c.Endpoint(i%3))
		lease := grant(t, cli, 10, true)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				resp, err := lock(ctx, conn, "mx", lease)
				if err != nil {
					t.Error(err)
					return
				}
				if want := "mx/" + strconv.FormatInt(int64(lease), 16); string(resp.Key) != want {
					t.Errorf("lock key %q, want %q", resp.Key, want)
				}
				mu.Lock()
				holders++
				acquired++
				maxHolders = max(maxHolders, holders)
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
				mu.Lock()
				holders--
				mu.Unlock()
				if err := unlock(ctx, conn, resp.Key); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if maxHolders != 1 || acquired != 15 {
		t.Fatalf("%d locks taken, at most %d holders at once; want 15 and 1", acquired, maxHolders)
	}
}

// A holder whose lease expires loses the lock to the next contender; a
// contender whose lease expires while it waits is told its session is
// gone.
func TestLockLeaseExpiry(t *testing.T) {
	c := startCluster(t, 1)
	ctx := ctxT(t)
	cli := etcdClient(t, c.Endpoint(0))
	conn := concurrencyConn(t, c.Endpoint(0))
	short := grant(t, cli, 1, false)
	if _, err := lock(ctx, conn, "exp", short); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	long := grant(t, cli, 30, true)
	if _, err := lock(ctx, conn, "exp", long); err != nil {
		t.Fatalf("lock after the holder's lease expires: %v", err)
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Fatalf("took the lock after %v, while the holder's 1 s lease lived", d)
	}

	// long holds now; a waiter of a short lease outlives its lease.
	waiter := grant(t, cli, 1, false)
	_, err := lock(ctx, conn, "exp", waiter)
	wantStatus(t, "lock of an expired waiter", err, codes.Unknown, "mutex: session is expired")
}

// A Lock canceled while it waits deletes its key: the next contender gets
// the lock as soon as the holder releases it.
func TestLockCancelDeletesKey(t *testing.T) {
	c := startCluster(t, 1)
	ctx := ctxT(t)
	cli := etcdClient(t, c.Endpoint(0))
	conn := concurrencyConn(t, c.Endpoint(0))
	held := must[*concurrencypb.LockResponse](t, "lock")(lock(ctx, conn, "cn", grant(t, cli, 30, true)))

	waitCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err := lock(waitCtx, conn, "cn", grant(t, cli, 30, true))
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("lock past its deadline: %v, want DeadlineExceeded", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		keys := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, "cn/", clientv3.WithPrefix()))
		if len(keys.Kvs) == 1 && string(keys.Kvs[0].Key) == string(held.Key) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("keys under the lock after a canceled Lock: %v, want only the holder's %q", keys.Kvs, held.Key)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := unlock(ctx, conn, held.Key); err != nil {
		t.Fatal(err)
	}
	quick, cancelQuick := context.WithTimeout(ctx, 2*time.Second)
	defer cancelQuick()
	if _, err := lock(quick, conn, "cn", grant(t, cli, 30, true)); err != nil {
		t.Fatalf("lock after the release: %v", err)
	}
}

// observer collects an Observe stream's leader values.
type observer struct {
	values chan string
	done   chan error
}

func observe(ctx context.Context, t *testing.T, conn *grpc.ClientConn, name string) *observer {
	t.Helper()
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, concurrencypb.ObserveMethod)
	if err == nil {
		err = st.SendMsg(&concurrencypb.LeaderRequest{Name: []byte(name)})
	}
	if err == nil {
		err = st.CloseSend()
	}
	if err != nil {
		t.Fatal(err)
	}
	o := &observer{values: make(chan string, 16), done: make(chan error, 1)}
	go func() {
		for {
			resp := new(concurrencypb.LeaderResponse)
			if err := st.RecvMsg(resp); err != nil {
				o.done <- err
				return
			}
			o.values <- string(resp.Kv.Value)
		}
	}()
	return o
}

func (o *observer) want(t *testing.T, value string) {
	t.Helper()
	select {
	case v := <-o.values:
		if v != value {
			t.Fatalf("observed leader value %q, want %q", v, value)
		}
	case err := <-o.done:
		t.Fatalf("observe ended waiting for %q: %v", value, err)
	case <-time.After(5 * time.Second):
		t.Fatalf("observed nothing waiting for %q", value)
	}
}

// TestElectionService: one election from start to end: no leader, a first leader, a waiting
// candidate, Proclaim, Observe, Resign and the handover, and the stale
// leader's not-leader error.
func TestElectionService(t *testing.T) {
	c := startCluster(t, 3)
	ctx := ctxT(t)
	cli := etcdClient(t, c.Endpoint(0))
	conn := concurrencyConn(t, c.Endpoint(0))
	other := concurrencyConn(t, c.Endpoint(1))

	_, err := leader(ctx, conn, "el")
	wantStatus(t, "leader of an empty election", err, codes.Unknown, "election: no leader")
	obs := observe(ctx, t, other, "el")

	la := grant(t, cli, 30, true)
	a := must[*concurrencypb.CampaignResponse](t, "campaign a")(campaign(ctx, conn, "el", la, "a"))
	if l := a.Leader; string(l.Name) != "el" || string(l.Key) != "el/"+strconv.FormatInt(int64(la), 16) || l.Lease != int64(la) || l.Rev != a.Header.Revision {
		t.Fatalf("leader key %+v (header revision %d)", l, a.Header.Revision)
	}
	obs.want(t, "a")

	bDone := make(chan error, 1)
	var b *concurrencypb.CampaignResponse
	go func() {
		var err error
		b, err = campaign(ctx, other, "el", grant(t, cli, 30, true), "b")
		bDone <- err
	}()
	select {
	case err := <-bDone:
		t.Fatalf("b's campaign returned while a leads: %v", err)
	case <-time.After(200 * time.Millisecond):
	}

	must[*concurrencypb.ProclaimResponse](t, "proclaim")(invoke[concurrencypb.ProclaimResponse](ctx, conn,
		concurrencypb.ProclaimMethod, &concurrencypb.ProclaimRequest{Leader: a.Leader, Value: []byte("a2")}))
	obs.want(t, "a2")
	if l := must[*concurrencypb.LeaderResponse](t, "leader")(leader(ctx, other, "el")); string(l.Kv.Value) != "a2" || string(l.Kv.Key) != string(a.Leader.Key) {
		t.Fatalf("leader %q=%q, want %q=a2", l.Kv.Key, l.Kv.Value, a.Leader.Key)
	}

	must[*concurrencypb.ResignResponse](t, "resign")(invoke[concurrencypb.ResignResponse](ctx, conn,
		concurrencypb.ResignMethod, &concurrencypb.ResignRequest{Leader: a.Leader}))
	select {
	case err := <-bDone:
		if err != nil {
			t.Fatalf("b's campaign: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("b not elected after a resigned")
	}
	obs.want(t, "b")

	_, err = invoke[concurrencypb.ProclaimResponse](ctx, conn, concurrencypb.ProclaimMethod,
		&concurrencypb.ProclaimRequest{Leader: a.Leader, Value: []byte("stale")})
	wantStatus(t, "proclaim of a resigned leader", err, codes.Unknown, "election: not leader")
	_, err = invoke[concurrencypb.ProclaimResponse](ctx, conn, concurrencypb.ProclaimMethod, &concurrencypb.ProclaimRequest{Value: []byte("x")})
	wantStatus(t, "proclaim without a leader key", err, codes.Unknown, `"leader" field must be provided`)

	must[*concurrencypb.ResignResponse](t, "resign b")(invoke[concurrencypb.ResignResponse](ctx, conn,
		concurrencypb.ResignMethod, &concurrencypb.ResignRequest{Leader: b.Leader}))
	_, err = leader(ctx, conn, "el")
	wantStatus(t, "leader after every candidate resigned", err, codes.Unknown, "election: no leader")
}

// A Campaign canceled while it waits deletes its key, and never leads.
func TestCampaignCancel(t *testing.T) {
	c := startCluster(t, 1)
	ctx := ctxT(t)
	cli := etcdClient(t, c.Endpoint(0))
	conn := concurrencyConn(t, c.Endpoint(0))
	must[*concurrencypb.CampaignResponse](t, "campaign")(campaign(ctx, conn, "cc", grant(t, cli, 30, true), "first"))
	waitCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err := campaign(waitCtx, conn, "cc", grant(t, cli, 30, true), "second")
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("campaign past its deadline: %v, want DeadlineExceeded", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		keys := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, "cc/", clientv3.WithPrefix()))
		if len(keys.Kvs) == 1 && string(keys.Kvs[0].Value) == "first" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("candidates after a canceled campaign: %v, want only the leader", keys.Kvs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An Observe stream ends with its caller.
func TestObserveEndsWithCaller(t *testing.T) {
	c := startCluster(t, 1)
	ctx, cancel := context.WithCancel(ctxT(t))
	conn := concurrencyConn(t, c.Endpoint(0))
	obs := observe(ctx, t, conn, "none")
	cancel()
	select {
	case err := <-obs.done:
		if status.Code(err) != codes.Canceled && !errors.Is(err, io.EOF) {
			t.Fatalf("observe after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("observe still running after its caller canceled it")
	}
}

// TestLockAndElectionGateway: curl's view of the services: etcd's paths,
// JSON bodies with base64 names and keys, numbers as strings, errors as
// the gateway's JSON error.
func TestLockAndElectionGateway(t *testing.T) {
	c := startCluster(t, 1)
	base := "http://" + c.Endpoint(0)
	cli := etcdClient(t, c.Endpoint(0))
	lease := grant(t, cli, 30, true)
	hexLease := strconv.FormatInt(int64(lease), 16)

	code, locked := post(t, base+"/v3/lock/lock", `{"name":"`+b64("gw")+`","lease":"`+strconv.FormatInt(int64(lease), 10)+`"}`, nil)
	hdr, _ := locked["header"].(map[string]any)
	if code != 200 || locked["key"] != b64("gw/"+hexLease) || hdr["revision"] == nil {
		t.Fatalf("lock: %d %v", code, locked)
	}
	keys := must[*clientv3.GetResponse](t, "get")(cli.Get(ctxT(t), "gw/", clientv3.WithPrefix()))
	if len(keys.Kvs) != 1 || keys.Kvs[0].Lease != int64(lease) {
		t.Fatalf("keys under the lock: %v, want its key with lease %x", keys.Kvs, lease)
	}
	if code, out := post(t, base+"/v3/lock/unlock", `{"key":"`+locked["key"].(string)+`"}`, nil); code != 200 {
		t.Fatalf("unlock: %d %v", code, out)
	}
	if n := must[*clientv3.GetResponse](t, "get")(cli.Get(ctxT(t), "gw/", clientv3.WithPrefix())).Count; n != 0 {
		t.Fatalf("%d keys under the lock after unlock", n)
	}

	code, out := post(t, base+"/v3/election/leader", `{"name":"`+b64("nobody")+`"}`, nil)
	if code != 500 || out["message"] != "election: no leader" || out["code"] != float64(codes.Unknown) {
		t.Fatalf("leader of an empty election: %d %v", code, out)
	}
	code, out = post(t, base+"/v3/election/campaign", `{"name":"`+b64("ge")+`","lease":"`+strconv.FormatInt(int64(lease), 10)+`","value":"`+b64("v")+`"}`, nil)
	ldr, _ := out["leader"].(map[string]any)
	if code != 200 || ldr["key"] != b64("ge/"+hexLease) || ldr["rev"] == nil {
		t.Fatalf("campaign: %d %v", code, out)
	}
	code, out = post(t, base+"/v3/election/leader", `{"name":"`+b64("ge")+`"}`, nil)
	if kv, _ := out["kv"].(map[string]any); code != 200 || kv["value"] != b64("v") {
		t.Fatalf("leader: %d %v", code, out)
	}
}

// A Lock that names no lease is held under a new lease of a minute, as
// etcd grants one, which nothing renews.
func TestLockWithoutLease(t *testing.T) {
	c := startCluster(t, 1)
	ctx := ctxT(t)
	cli := etcdClient(t, c.Endpoint(0))
	conn := concurrencyConn(t, c.Endpoint(0))
	resp := must[*concurrencypb.LockResponse](t, "lock")(lock(ctx, conn, "nolease", 0))
	kv := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, string(resp.Key)))
	if len(kv.Kvs) != 1 || kv.Kvs[0].Lease == 0 || string(resp.Key) != "nolease/"+strconv.FormatInt(kv.Kvs[0].Lease, 16) {
		t.Fatalf("lock key %q: %v, want one under a new lease", resp.Key, kv.Kvs)
	}
	ttl := must[*clientv3.LeaseTimeToLiveResponse](t, "ttl")(cli.TimeToLive(ctx, clientv3.LeaseID(kv.Kvs[0].Lease)))
	if ttl.GrantedTTL != 60 {
		t.Fatalf("the lock's lease was granted %d s, want 60", ttl.GrantedTTL)
	}
}

// A leader whose lease expires hands the election over to the waiting
// candidate, and can no longer proclaim.
func TestElectionLeaseExpiryHandsOver(t *testing.T) {
	c := startCluster(t, 1)
	ctx := ctxT(t)
	cli := etcdClient(t, c.Endpoint(0))
	conn := concurrencyConn(t, c.Endpoint(0))
	obs := observe(ctx, t, conn, "hx")
	first := must[*concurrencypb.CampaignResponse](t, "campaign")(campaign(ctx, conn, "hx", grant(t, cli, 1, false), "short"))
	obs.want(t, "short")
	start := time.Now()
	must[*concurrencypb.CampaignResponse](t, "campaign")(campaign(ctx, conn, "hx", grant(t, cli, 30, true), "long"))
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Fatalf("elected after %v, while the leader's 1 s lease lived", d)
	}
	obs.want(t, "long")
	_, err := invoke[concurrencypb.ProclaimResponse](ctx, conn, concurrencypb.ProclaimMethod,
		&concurrencypb.ProclaimRequest{Leader: first.Leader, Value: []byte("again")})
	wantStatus(t, "proclaim of an expired leader", err, codes.Unknown, "election: not leader")
}
