// Package nodetest runs clusters of cairn members inside a test's
// process, on loopback ports the system chooses, as net/http/httptest runs
// HTTP servers: the tests of node, client, cmd/ctl and bench use it.
//
//	c := nodetest.Start(t, 3, nodetest.Options{})
//	cl := c.Client()
//	cl.Put(ctx, "k", "v")
//
// Members use fast raft timing (10 ms heartbeats, 100 ms elections) and
// log nothing unless CAIRN_TEST_LOG is set.
package nodetest

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/node"
)

// Options shape a test cluster.
type Options struct {
	// Configure, if set, adjusts member i's configuration before its
	// first start.
	Configure func(i int, cfg *node.Config)
	// ClientTLS, if set, serves clients over TLS on https:// URLs.
	ClientTLS *tls.Config
	// ClientFace, if set, serves a second protocol on the client ports
	// (node.ServerOptions.ClientFace: the etcd API).
	ClientFace func(*node.Server) (node.ClientFace, error)
	// PeerTLS, if set, serves peers over TLS on https:// peer URLs, and
	// PeerClientTLS is what members dial each other with.
	PeerTLS, PeerClientTLS *tls.Config
	// Logger, if set, is member name's logger (default: Logger).
	Logger func(name string) *slog.Logger
}

// Cluster is a set of in-process members. Configs[i] is member i's
// configuration; Servers[i] is the running member, nil while it is
// stopped. Everything still running is stopped when the test ends.
type Cluster struct {
	t       testing.TB
	opts    Options
	Configs []node.Config
	Servers []*node.Server
	// listeners of members not started yet (a restart listens anew on
	// the member's URLs).
	clientLns, peerLns []net.Listener
}

// Listen opens a loopback listener on a port the system chooses.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("nodetest: %v", err)
	}
	return l
}

// URL is the http:// URL of a listener.
func URL(l net.Listener) url.URL { return url.URL{Scheme: "http", Host: l.Addr().String()} }

// New configures a new cluster of n members (named m0, m1, ...) without
// starting it: a test may prepare the data dirs first (see
// node.RestoreSnapshot), then call StartAll.
func New(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t, opts: opts}
	initial := map[string][]url.URL{}
	for i := range n {
		c.peerLns = append(c.peerLns, Listen(t))
		c.clientLns = append(c.clientLns, Listen(t))
		initial[fmt.Sprintf("m%d", i)] = []url.URL{c.peerURL(c.peerLns[i])}
	}
	for i := range n {
		cfg := node.DefaultConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.DataDir = t.TempDir()
		cfg.ListenPeerURLs = []url.URL{c.peerURL(c.peerLns[i])}
		cfg.InitialAdvertisePeerURLs = cfg.ListenPeerURLs
		cfg.ListenClientURLs = []url.URL{URL(c.clientLns[i])}
		if opts.ClientTLS != nil {
			cfg.ListenClientURLs[0].Scheme = "https"
		}
		cfg.AdvertiseClientURLs = cfg.ListenClientURLs
		cfg.InitialCluster = initial
		cfg.HeartbeatInterval = 10 * time.Millisecond
		cfg.ElectionTimeout = 100 * time.Millisecond
		if opts.Configure != nil {
			opts.Configure(i, &cfg)
		}
		c.Configs = append(c.Configs, cfg)
	}
	c.Servers = make([]*node.Server, n)
	t.Cleanup(c.StopAll)
	return c
}

// peerURL is the peer URL of a listener: https:// with PeerTLS.
func (c *Cluster) peerURL(l net.Listener) url.URL {
	u := URL(l)
	if c.opts.PeerTLS != nil {
		u.Scheme = "https"
	}
	return u
}

// Start starts a new cluster of n members and waits until they agree on
// a leader.
func Start(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	c := New(t, n, opts)
	c.StartAll()
	c.Leader()
	c.WaitPublished()
	return c
}

// WaitPublished waits until every running member sees every running
// member's client URLs in the membership. A member publishes them once
// it serves, and counts as started only then (a joiner may still get the
// cluster secret for its peer URLs before); under load the last may not
// have when a leader is agreed on.
func (c *Cluster) WaitPublished() {
	c.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		missing := ""
		for _, s := range c.Servers {
			if s == nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			resp, err := s.MemberList(ctx, &api.MemberListRequest{})
			cancel()
			if err != nil {
				missing = err.Error()
				break
			}
			urls := map[uint64]bool{}
			for _, m := range resp.Members {
				urls[m.ID] = len(m.ClientURLs) > 0
			}
			for _, o := range c.Servers {
				if o != nil && !urls[o.ID()] {
					missing = fmt.Sprintf("member %016x sees no client URLs of %016x", s.ID(), o.ID())
				}
			}
			if missing != "" {
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("nodetest: the members did not all publish their client URLs within 10s: %s", missing)
		}
	}
}

// StartAll starts every member that is not running.
func (c *Cluster) StartAll() {
	c.t.Helper()
	for i, s := range c.Servers {
		if s == nil {
			c.StartMember(i)
		}
	}
}

// Logger is the members' logger: silent unless CAIRN_TEST_LOG is set.
func Logger(member string) *slog.Logger {
	if os.Getenv("CAIRN_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("member", member)
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// StartMember starts member i: on its first start on the listeners New
// opened, later (a restart from its data dir) on its configured URLs.
func (c *Cluster) StartMember(i int) {
	c.t.Helper()
	logger := Logger
	if c.opts.Logger != nil {
		logger = c.opts.Logger
	}
	opts := node.ServerOptions{Logger: logger(c.Configs[i].Name), ClientTLS: c.opts.ClientTLS, ClientFace: c.opts.ClientFace,
		PeerTLS: c.opts.PeerTLS, PeerClientTLS: c.opts.PeerClientTLS}
	if c.clientLns[i] != nil {
		opts.ClientListeners = []net.Listener{c.clientLns[i]}
		opts.PeerListeners = []net.Listener{c.peerLns[i]}
		c.clientLns[i], c.peerLns[i] = nil, nil
		s, err := node.NewServer(c.Configs[i], opts)
		if err != nil {
			c.t.Fatalf("nodetest: start member %d: %v", i, err)
		}
		c.Servers[i] = s
		return
	}
	var err error
	for range 50 { // the old listeners may take a moment to be released
		var s *node.Server
		if s, err = node.NewServer(c.Configs[i], opts); err == nil {
			c.Servers[i] = s
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("nodetest: restart member %d: %v", i, err)
}

// StopMember stops member i (it keeps its data dir).
func (c *Cluster) StopMember(i int) {
	if s := c.Servers[i]; s != nil {
		s.Stop()
		c.Servers[i] = nil
	}
}

// StopAll stops every running member.
func (c *Cluster) StopAll() {
	for i := range c.Servers {
		c.StopMember(i)
	}
}

// AddMember configures one more member, named name, to join the running
// cluster (--initial-cluster-state existing), without starting it: add it
// with MemberAdd and its peer URL (Configs[i].InitialAdvertisePeerURLs),
// then StartMember.
func (c *Cluster) AddMember(name string) int {
	c.t.Helper()
	pl, cl := Listen(c.t), Listen(c.t)
	cfg := c.Configs[0]
	cfg.Name = name
	cfg.DataDir = c.t.TempDir()
	cfg.ListenPeerURLs = []url.URL{c.peerURL(pl)}
	cfg.InitialAdvertisePeerURLs = cfg.ListenPeerURLs
	cfg.ListenClientURLs = []url.URL{URL(cl)}
	cfg.AdvertiseClientURLs = cfg.ListenClientURLs
	cfg.InitialClusterState = node.ClusterStateExisting
	initial := map[string][]url.URL{name: cfg.ListenPeerURLs}
	for n, us := range c.Configs[0].InitialCluster {
		initial[n] = us
	}
	cfg.InitialCluster = initial
	c.Configs = append(c.Configs, cfg)
	c.Servers = append(c.Servers, nil)
	c.clientLns, c.peerLns = append(c.clientLns, cl), append(c.peerLns, pl)
	return len(c.Configs) - 1
}

// Leader waits until the running members agree on a leader and returns
// its index.
func (c *Cluster) Leader() int {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var lead uint64
		agree := true
		for _, s := range c.Servers {
			if s == nil {
				continue
			}
			if lead == 0 {
				lead = s.Leader()
			}
			agree = agree && lead != 0 && s.Leader() == lead
		}
		if agree {
			for i, s := range c.Servers {
				if s != nil && s.ID() == lead {
					return i
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatal("nodetest: the members agreed on no leader within 10s")
	return -1
}

// Endpoint is member i's client endpoint as users write it: host:port,
// or an https:// URL when clients use TLS.
func (c *Cluster) Endpoint(i int) string {
	u := c.Configs[i].AdvertiseClientURLs[0]
	if u.Scheme == "https" {
		return u.String()
	}
	return u.Host
}

// Endpoints are every member's client endpoints.
func (c *Cluster) Endpoints() []string {
	eps := make([]string, len(c.Configs))
	for i := range c.Configs {
		eps[i] = c.Endpoint(i)
	}
	return eps
}

// Client returns a client of the given endpoints (every member's if
// none), closed when the test ends. With ClientTLS, set the client's TLS
// configuration yourself (client.New).
func (c *Cluster) Client(eps ...string) *client.Client {
	c.t.Helper()
	if len(eps) == 0 {
		eps = c.Endpoints()
	}
	cl, err := client.New(client.Config{Endpoints: eps, DialTimeout: time.Second})
	if err != nil {
		c.t.Fatalf("nodetest: %v", err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}
