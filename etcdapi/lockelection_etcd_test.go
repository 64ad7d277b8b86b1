package etcdapi_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/etcdapi/concurrencypb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// loopbackPort is a free TCP port on 127.0.0.1.
func loopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRealEtcd starts a single-member etcd 3.6 and returns its client
// endpoint (host:port) once it serves.
func startRealEtcd(t *testing.T) string {
	t.Helper()
	bin := etcdBin(t)
	client := fmt.Sprintf("127.0.0.1:%d", loopbackPort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", loopbackPort(t))
	var stderr strings.Builder
	cmd := exec.Command(bin, "--name", "e1", "--data-dir", filepath.Join(t.TempDir(), "e1.etcd"),
		"--listen-client-urls", "http://"+client, "--advertise-client-urls", "http://"+client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "e1="+peer, "--log-level", "error", "--unsafe-no-fsync")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	cli := etcdClient(t, client)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Get(ctx, "health")
		cancel()
		if err == nil {
			return client
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd does not serve: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLockAndElectionErrorsMatchEtcd: the services' errors, as a client
// sees them (gRPC code and message), are etcd 3.6's.
func TestLockAndElectionErrorsMatchEtcd(t *testing.T) {
	etcd := startRealEtcd(t)
	c := startCluster(t, 1)
	// A stale leader key: a leadership that resigned.
	staleLeader := func(conn *grpc.ClientConn, cli *clientv3.Client) *concurrencypb.LeaderKey {
		ctx := ctxT(t)
		l := must[*concurrencypb.CampaignResponse](t, "campaign")(campaign(ctx, conn, "stale", grant(t, cli, 30, false), "v")).Leader
		must[*concurrencypb.ResignResponse](t, "resign")(invoke[concurrencypb.ResignResponse](ctx, conn,
			concurrencypb.ResignMethod, &concurrencypb.ResignRequest{Leader: l}))
		return l
	}
	calls := []struct {
		name string
		call func(ctx context.Context, conn *grpc.ClientConn, stale *concurrencypb.LeaderKey) error
	}{
		{"leader of an empty election", func(ctx context.Context, conn *grpc.ClientConn, _ *concurrencypb.LeaderKey) error {
			_, err := leader(ctx, conn, "empty")
			return err
		}},
		{"proclaim of a resigned leader", func(ctx context.Context, conn *grpc.ClientConn, stale *concurrencypb.LeaderKey) error {
			_, err := invoke[concurrencypb.ProclaimResponse](ctx, conn, concurrencypb.ProclaimMethod,
				&concurrencypb.ProclaimRequest{Leader: stale, Value: []byte("x")})
			return err
		}},
		{"proclaim without a leader", func(ctx context.Context, conn *grpc.ClientConn, _ *concurrencypb.LeaderKey) error {
			_, err := invoke[concurrencypb.ProclaimResponse](ctx, conn, concurrencypb.ProclaimMethod, &concurrencypb.ProclaimRequest{})
			return err
		}},
		{"resign without a leader", func(ctx context.Context, conn *grpc.ClientConn, _ *concurrencypb.LeaderKey) error {
			_, err := invoke[concurrencypb.ResignResponse](ctx, conn, concurrencypb.ResignMethod, &concurrencypb.ResignRequest{})
			return err
		}},
		{"resign of a resigned leader", func(ctx context.Context, conn *grpc.ClientConn, stale *concurrencypb.LeaderKey) error {
			_, err := invoke[concurrencypb.ResignResponse](ctx, conn, concurrencypb.ResignMethod, &concurrencypb.ResignRequest{Leader: stale})
			return err
		}},
		{"lock under a lease that does not exist", func(ctx context.Context, conn *grpc.ClientConn, _ *concurrencypb.LeaderKey) error {
			_, err := lock(ctx, conn, "l", 0x1234567)
			return err
		}},
		{"campaign under a lease that does not exist", func(ctx context.Context, conn *grpc.ClientConn, _ *concurrencypb.LeaderKey) error {
			_, err := campaign(ctx, conn, "e", 0x1234567, "v")
			return err
		}},
		{"unlock of no key", func(ctx context.Context, conn *grpc.ClientConn, _ *concurrencypb.LeaderKey) error {
			return unlock(ctx, conn, nil)
		}},
		{"unlock of a key that is gone", func(ctx context.Context, conn *grpc.ClientConn, _ *concurrencypb.LeaderKey) error {
			return unlock(ctx, conn, []byte("l/gone"))
		}},
	}
	type target struct {
		conn  *grpc.ClientConn
		stale *concurrencypb.LeaderKey
	}
	etcdConn, cairnConn := concurrencyConn(t, etcd), concurrencyConn(t, c.Endpoint(0))
	targets := map[string]target{
		"etcd":  {etcdConn, staleLeader(etcdConn, etcdClient(t, etcd))},
		"cairn": {cairnConn, staleLeader(cairnConn, etcdClient(t, c.Endpoint(0)))},
	}
	for _, tc := range calls {
		want := status.Convert(tc.call(ctxT(t), targets["etcd"].conn, targets["etcd"].stale))
		got := status.Convert(tc.call(ctxT(t), targets["cairn"].conn, targets["cairn"].stale))
		if got.Code() != want.Code() || got.Message() != want.Message() {
			t.Errorf("%s: cairn %v %q, etcd %v %q", tc.name, got.Code(), got.Message(), want.Code(), want.Message())
		}
	}
}
