// Package benchtest starts an in-process cairn cluster on loopback ports
// for the tests of package bench and cmd/bench, as net/http/httptest
// starts servers for HTTP tests.
package benchtest

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/cairndb/cairn/node"
)

// Cluster is a running in-process cluster.
type Cluster struct {
	servers []*node.Server
	eps     []string
}

// Endpoints are the members' client addresses (host:port).
func (c *Cluster) Endpoints() []string { return append([]string(nil), c.eps...) }

// StartCluster starts a new cluster of n members with fast raft timing
// (10 ms heartbeats), waits until its members agree on a leader, and
// stops it when the test ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	var peerLns, clientLns []net.Listener
	initial := map[string][]url.URL{}
	for i := range n {
		pl, cl := listen(t), listen(t)
		peerLns, clientLns = append(peerLns, pl), append(clientLns, cl)
		initial[fmt.Sprintf("m%d", i)] = []url.URL{addrURL(pl)}
	}
	c := &Cluster{}
	t.Cleanup(c.stop)
	for i := range n {
		cfg := node.DefaultConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.DataDir = t.TempDir()
		cfg.ListenPeerURLs = []url.URL{addrURL(peerLns[i])}
		cfg.InitialAdvertisePeerURLs = cfg.ListenPeerURLs
		cfg.ListenClientURLs = []url.URL{addrURL(clientLns[i])}
		cfg.AdvertiseClientURLs = cfg.ListenClientURLs
		cfg.InitialCluster = initial
		cfg.HeartbeatInterval = 10 * time.Millisecond
		cfg.ElectionTimeout = 100 * time.Millisecond
		s, err := node.NewServer(cfg, node.ServerOptions{
			Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
			ClientListeners: []net.Listener{clientLns[i]},
			PeerListeners:   []net.Listener{peerLns[i]},
		})
		if err != nil {
			t.Fatalf("benchtest: starting member %d: %v", i, err)
		}
		c.servers = append(c.servers, s)
		c.eps = append(c.eps, clientLns[i].Addr().String())
	}
	c.waitLeader(t)
	return c
}

// waitLeader waits until every member names the same leader.
func (c *Cluster) waitLeader(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		lead := c.servers[0].Leader()
		agree := lead != 0
		for _, s := range c.servers {
			agree = agree && s.Leader() == lead
		}
		if agree {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("benchtest: the members agreed on no leader within 10s")
}

func (c *Cluster) stop() {
	for _, s := range c.servers {
		s.Stop()
	}
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("benchtest: %v", err)
	}
	return l
}

func addrURL(l net.Listener) url.URL {
	return url.URL{Scheme: "http", Host: l.Addr().String()}
}
