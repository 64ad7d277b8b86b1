package concurrency_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/client/concurrency"
	"github.com/cairndb/cairn/node/nodetest"
)

// short says to run shorter loops (CAIRN_SHORT=1, e.g. under -race).
func short() bool { return os.Getenv("CAIRN_SHORT") != "" || testing.Short() }

// testCluster is a cluster of members running in this process on
// loopback ports.
type testCluster struct {
	*nodetest.Cluster
	t *testing.T
}

// newTestCluster starts n members of a new cluster and waits until they
// agree on a leader.
func newTestCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	return &testCluster{Cluster: nodetest.Start(t, n, nodetest.Options{}), t: t}
}

// client returns a client of every member, closed when the test ends.
func (c *testCluster) client() *client.Client {
	c.t.Helper()
	return c.Client()
}

// session opens a session, closed when the test ends.
func (c *testCluster) session(cl *client.Client, opts ...concurrency.SessionOption) *concurrency.Session {
	c.t.Helper()
	s, err := concurrency.NewSession(cl, opts...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = s.Close() })
	return s
}

// testContext is a context for one test's calls, bounded so that a hung
// call fails the test instead of the whole run.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// countKeys counts the keys under prefix.
func countKeys(t *testing.T, ctx context.Context, cl *client.Client, prefix string) int64 {
	t.Helper()
	resp, err := cl.Get(ctx, prefix, client.WithPrefix(), client.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}
