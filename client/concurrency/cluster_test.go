package concurrency_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/client/concurrency"
	"github.com/cairndb/cairn/node"
)

// short says to run shorter loops (CAIRN_SHORT=1, e.g. under -race).
func short() bool { return os.Getenv("CAIRN_SHORT") != "" || testing.Short() }

// testCluster is a cluster of members running in this process on
// loopback ports.
type testCluster struct {
	t         *testing.T
	servers   []*node.Server
	endpoints []string
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mustURL(t *testing.T, l net.Listener) url.URL {
	u, err := url.Parse("http://" + l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return *u
}

// newTestCluster starts n members of a new cluster and waits until they
// agree on a leader.
func newTestCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	initial := map[string][]url.URL{}
	var peerLns, clientLns []net.Listener
	for i := range n {
		peerLns = append(peerLns, listen(t))
		clientLns = append(clientLns, listen(t))
		initial[fmt.Sprintf("m%d", i)] = []url.URL{mustURL(t, peerLns[i])}
	}
	var servers []*node.Server
	for i := range n {
		cfg := node.DefaultConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.DataDir = t.TempDir()
		cfg.ListenPeerURLs = []url.URL{mustURL(t, peerLns[i])}
		cfg.InitialAdvertisePeerURLs = cfg.ListenPeerURLs
		cfg.ListenClientURLs = []url.URL{mustURL(t, clientLns[i])}
		cfg.AdvertiseClientURLs = cfg.ListenClientURLs
		cfg.InitialCluster = initial
		cfg.HeartbeatInterval = 10 * time.Millisecond
		cfg.ElectionTimeout = 100 * time.Millisecond
		s, err := node.NewServer(cfg, node.ServerOptions{
			ClientListeners: []net.Listener{clientLns[i]},
			PeerListeners:   []net.Listener{peerLns[i]},
			Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatalf("starting member %d: %v", i, err)
		}
		t.Cleanup(s.Stop)
		servers = append(servers, s)
		c.endpoints = append(c.endpoints, cfg.AdvertiseClientURLs[0].Host)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		lead, agree := servers[0].Leader(), true
		for _, s := range servers {
			agree = agree && lead != 0 && s.Leader() == lead
		}
		if agree {
			c.servers = servers
			return c
		}
		if time.Now().After(deadline) {
			t.Fatal("no leader elected in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// client returns a client of every member, closed when the test ends.
func (c *testCluster) client() *client.Client {
	c.t.Helper()
	cl, err := client.New(client.Config{Endpoints: c.endpoints, DialTimeout: time.Second})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
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
