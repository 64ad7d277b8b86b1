package etcdapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/cairndb/cairn/etcdapi"
	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/node/nodetest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// startCluster starts n in-process members serving etcd's API beside
// cairn's own, with a fast password hash for auth tests.
func startCluster(t *testing.T, n int) *nodetest.Cluster {
	t.Helper()
	return nodetest.Start(t, n, nodetest.Options{
		ClientFace: etcdapi.New,
		Configure:  func(i int, cfg *node.Config) { cfg.BcryptCost = 4 }, // bcrypt's lowest cost: cheap hashes
	})
}

// startClusterB is startCluster for a benchmark.
func startClusterB(b *testing.B, n int) *nodetest.Cluster {
	b.Helper()
	return nodetest.Start(b, n, nodetest.Options{ClientFace: etcdapi.New})
}

// etcdClient is etcd's own client on the given members' client ports.
func etcdClient(t *testing.T, endpoints ...string) *clientv3.Client {
	t.Helper()
	return etcdClientWith(t, clientv3.Config{Endpoints: endpoints})
}

func etcdClientWith(t *testing.T, cfg clientv3.Config) *clientv3.Client {
	t.Helper()
	cfg.DialTimeout = 5 * time.Second
	cfg.Logger = zap.NewNop()
	c, err := clientv3.New(cfg)
	if err != nil {
		t.Fatalf("clientv3: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// must fails the test on err and returns v.
func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}
