package etcdapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/etcdapi"
	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/node/nodetest"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// runEtcdctl runs etcdctl (without the machine's ETCDCTL_* settings) and
// returns what it printed, stdout then stderr, and its exit code.
func runEtcdctl(t *testing.T, args ...string) (string, int) {
	t.Helper()
	bin := etcdctlBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCDCTL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return out.String() + errOut.String(), exit.ExitCode()
	case err != nil:
		t.Fatalf("etcdctl %s: %v", strings.Join(args, " "), err)
	}
	return out.String() + errOut.String(), 0
}

// TestStoreRepairServesTheEtcdFace: a member whose page file is corrupt,
// and which no leader can give a copy of the store yet, answers etcd's
// clients as etcd's do a member that cannot serve: Status, with the
// repair in its errors; MemberList, serializable, as a peer told it;
// the gRPC health service NOT_SERVING and /health and /readyz failing
// with the reason; and every other call refused at once with etcd's
// "unhealthy cluster" (Unavailable), which clientv3 retries at another
// endpoint. etcdctl endpoint status shows the member and why, and
// endpoint health says it is unhealthy, not that it cannot connect. Once
// a leader is back, the member repairs its store and serves.
func TestStoreRepairServesTheEtcdFace(t *testing.T) {
	const keys = 200
	c := nodetest.Start(t, 3, nodetest.Options{ClientFace: etcdapi.New, Configure: func(i int, cfg *node.Config) {
		cfg.SnapshotCount = 100 // the log alone cannot rebuild the store
	}})
	ctx := ctxT(t)
	all := etcdClient(t, c.Endpoints()...)
	for i := range keys {
		must[*clientv3.PutResponse](t, "put")(all.Put(ctx, fmt.Sprintf("key-%04d", i), fmt.Sprintf("value-%04d", i)))
	}
	time.Sleep(300 * time.Millisecond) // the store commits every 100 ms
	u := c.Leader()
	v, w := (u+1)%3, (u+2)%3
	vID := c.Servers[v].ID()
	before := must[*clientv3.StatusResponse](t, "status before the stop")(all.Status(ctx, c.Endpoint(v)))
	c.StopMember(v)
	nodetest.FlipEvery(t, filepath.Join(c.Configs[v].DataDir, "member", "db"), "key-0123") // a key's record: opening reads it
	// No leader: u alone cannot give v a copy of the store.
	c.StopMember(w)
	for deadline := time.Now().Add(10 * time.Second); c.Servers[u].Leader() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the member left alone still knows a leader")
		}
	}
	started := make(chan struct{})
	go func() {
		defer close(started)
		c.StartMember(v)
	}()
	waitRepairing(t, c.Endpoint(v), vID)

	cli := etcdClient(t, c.Endpoint(v))
	// Its raft state, as etcd's Status always reports it: its log's term
	// and commit index (the raft core starts from them once the store is
	// back), no store applied, no leader (none gives it a copy).
	st := must[*clientv3.StatusResponse](t, "status of the member repairing its store")(cli.Status(ctx, c.Endpoint(v)))
	if st.RaftTerm != before.RaftTerm || st.Header.RaftTerm != before.RaftTerm || st.RaftIndex < before.RaftIndex ||
		st.RaftAppliedIndex != 0 || st.Leader != 0 {
		t.Fatalf("status of the member repairing its store: raft term %d (header %d), index %d, applied %d, leader %x; "+
			"before it stopped: term %d, index %d", st.RaftTerm, st.Header.RaftTerm, st.RaftIndex, st.RaftAppliedIndex, st.Leader,
			before.RaftTerm, before.RaftIndex)
	}
	conn := cli.ActiveConnection()
	hc := healthpb.NewHealthClient(conn)
	if h, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || h.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("gRPC health of the member repairing its store: %v, %v; want NOT_SERVING", h, err)
	}
	for _, path := range []string{"/health", "/readyz"} {
		code, body := httpGet(t, "http://"+c.Endpoint(v)+path)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "store under repair") ||
			path == "/health" && !strings.HasPrefix(body, `{"health":"false","reason":"STORE REPAIR: `) {
			t.Fatalf("%s of the member repairing its store: %d %s", path, code, body)
		}
	}
	// The JSON gateway answers the same.
	for _, g := range []struct {
		path     string
		wantCode int
		wantBody string
	}{
		{"/v3/maintenance/status", http.StatusOK, "store under repair"},
		{"/v3/kv/range", http.StatusServiceUnavailable, rpctypes.ErrUnhealthy.Error()},
	} {
		resp, err := http.Post("http://"+c.Endpoint(v)+g.path, "application/json", strings.NewReader(`{"key":"a2V5LTAwMDE="}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != g.wantCode || !strings.Contains(string(body), g.wantBody) {
			t.Fatalf("gateway %s on the member repairing its store: %d %s", g.path, resp.StatusCode, body)
		}
	}

	// The calls it cannot serve fail at once, with etcd's error for an
	// unhealthy member.
	refused := []struct {
		name string
		call func(context.Context) error
	}{
		{"Range", func(ctx context.Context) error {
			_, err := pb.NewKVClient(conn).Range(ctx, &pb.RangeRequest{Key: []byte("key-0001"), Serializable: true})
			return err
		}},
		{"Put", func(ctx context.Context) error {
			_, err := pb.NewKVClient(conn).Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: []byte("v")})
			return err
		}},
		{"LeaseGrant", func(ctx context.Context) error {
			_, err := pb.NewLeaseClient(conn).LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 10})
			return err
		}},
		{"AuthStatus", func(ctx context.Context) error {
			_, err := pb.NewAuthClient(conn).AuthStatus(ctx, &pb.AuthStatusRequest{})
			return err
		}},
		{"MemberList linearizable", func(ctx context.Context) error {
			_, err := pb.NewClusterClient(conn).MemberList(ctx, &pb.MemberListRequest{Linearizable: true})
			return err
		}},
		{"Watch", func(ctx context.Context) error {
			st, err := pb.NewWatchClient(conn).Watch(ctx)
			if err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		}},
	}
	for _, r := range refused {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := r.call(rctx)
		cancel()
		if status.Code(err) != codes.Unavailable || !errors.Is(rpctypes.Error(err), rpctypes.ErrUnhealthy) {
			t.Fatalf("%s on the member repairing its store: %v; want %v at once", r.name, err, rpctypes.ErrGRPCUnhealthy)
		}
	}
	// clientv3 retries a read refused so: on this member alone, until it
	// gives up with the error; given another member, there.
	if _, err := cli.Get(ctx, "key-0001", clientv3.WithSerializable()); !errors.Is(err, rpctypes.ErrUnhealthy) {
		t.Fatalf("clientv3 Get on the member repairing its store: %v; want %v", err, rpctypes.ErrUnhealthy)
	}
	both := etcdClient(t, c.Endpoint(v), c.Endpoint(u))
	for range 4 {
		got := must[*clientv3.GetResponse](t, "clientv3 Get on the member repairing its store and another")(both.Get(ctx, "key-0001", clientv3.WithSerializable()))
		if len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "value-0001" {
			t.Fatalf("clientv3 Get on the member repairing its store and another: %+v", got.Kvs)
		}
	}
	members := must[*clientv3.MemberListResponse](t, "member list, serializable")(cli.MemberList(ctx, clientv3.WithSerializable()))
	if len(members.Members) != 3 || members.Header.MemberId != vID {
		t.Fatalf("member list of the member repairing its store: %+v", members)
	}

	out, code := runEtcdctl(t, "--endpoints", c.Endpoint(v), "endpoint", "status")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%x", vID)) || !strings.Contains(out, "store under repair") {
		t.Fatalf("etcdctl endpoint status of the member repairing its store: exit %d\n%s", code, out)
	}
	out, code = runEtcdctl(t, "--endpoints", c.Endpoint(v), "endpoint", "health")
	if code == 0 || !strings.Contains(out, c.Endpoint(v)+" is unhealthy") || !strings.Contains(out, rpctypes.ErrUnhealthy.Error()) {
		t.Fatalf("etcdctl endpoint health of the member repairing its store: exit %d\n%s", code, out)
	}

	c.StartMember(w)
	<-started
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		h, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && h.Status == healthpb.HealthCheckResponse_SERVING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gRPC health of the repaired member: %v, %v; want SERVING", h, err)
		}
	}
	got := must[*clientv3.GetResponse](t, "get from the repaired member")(cli.Get(ctx, "key-", clientv3.WithPrefix(), clientv3.WithSerializable()))
	if len(got.Kvs) != keys {
		t.Fatalf("the repaired member serves %d keys, want %d", len(got.Kvs), keys)
	}
}

// waitRepairing waits until the member at endpoint, id, answers Status
// through the etcd face saying that it repairs its store.
func waitRepairing(t *testing.T, endpoint string, id uint64) {
	t.Helper()
	cli := etcdClient(t, endpoint)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := cli.Status(ctx, endpoint)
		cancel()
		if err == nil && st.Header.MemberId == id && len(st.Errors) == 1 &&
			strings.Contains(st.Errors[0], "store under repair") && strings.Contains(st.Errors[0], "corrupt page") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status of the member repairing its store: %+v, %v", st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// httpGet returns the status code and body of a GET of url.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}
