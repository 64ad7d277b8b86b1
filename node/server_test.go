package node_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/node"
)

// testCluster runs members in this process on loopback ports.
type testCluster struct {
	t       *testing.T
	cfgs    []node.Config
	servers []*node.Server
	peerLns []net.Listener
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

// newTestCluster starts n members of a new cluster.
func newTestCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	return newTestClusterWith(t, n, nil)
}

// newTestClusterWith starts n members, letting change adjust each
// member's configuration.
func newTestClusterWith(t *testing.T, n int, change func(*node.Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	initial := map[string][]url.URL{}
	var clientLns []net.Listener
	for i := range n {
		pl, cl := listen(t), listen(t)
		c.peerLns = append(c.peerLns, pl)
		clientLns = append(clientLns, cl)
		initial[fmt.Sprintf("m%d", i)] = []url.URL{mustURL(t, pl)}
	}
	for i := range n {
		cfg := node.DefaultConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.DataDir = t.TempDir()
		cfg.ListenPeerURLs = []url.URL{mustURL(t, c.peerLns[i])}
		cfg.InitialAdvertisePeerURLs = cfg.ListenPeerURLs
		cfg.ListenClientURLs = []url.URL{mustURL(t, clientLns[i])}
		cfg.AdvertiseClientURLs = cfg.ListenClientURLs
		cfg.InitialCluster = initial
		cfg.HeartbeatInterval = 10 * time.Millisecond
		cfg.ElectionTimeout = 100 * time.Millisecond
		cfg.SnapshotCount = 100
		if change != nil {
			change(&cfg)
		}
		c.cfgs = append(c.cfgs, cfg)
	}
	c.servers = make([]*node.Server, n)
	for i := range n {
		c.start(i, clientLns[i], c.peerLns[i])
	}
	t.Cleanup(c.stopAll)
	return c
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func (c *testCluster) start(i int, cl, pl net.Listener) {
	c.t.Helper()
	opts := node.ServerOptions{Logger: quietLogger()}
	if os.Getenv("CAIRN_TEST_LOG") != "" {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("member", i)
	}
	if cl != nil {
		opts.ClientListeners = []net.Listener{cl}
		opts.PeerListeners = []net.Listener{pl}
	}
	s, err := node.NewServer(c.cfgs[i], opts)
	if err != nil {
		c.t.Fatalf("start member %d: %v", i, err)
	}
	c.servers[i] = s
}

// restart starts a stopped member again from its data dir, on its ports.
func (c *testCluster) restart(i int) {
	c.t.Helper()
	var err error
	for range 50 { // the old listeners may take a moment to be released
		var s *node.Server
		s, err = node.NewServer(c.cfgs[i], node.ServerOptions{Logger: quietLogger()})
		if err == nil {
			c.servers[i] = s
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("restart member %d: %v", i, err)
}

func (c *testCluster) stopAll() {
	for _, s := range c.servers {
		if s != nil {
			s.Stop()
		}
	}
}

func (c *testCluster) endpoints() []string {
	var eps []string
	for _, cfg := range c.cfgs {
		eps = append(eps, cfg.AdvertiseClientURLs[0].Host)
	}
	return eps
}

func (c *testCluster) client(eps ...string) *client.Client {
	c.t.Helper()
	if len(eps) == 0 {
		eps = c.endpoints()
	}
	cl, err := client.New(client.Config{Endpoints: eps, DialTimeout: time.Second})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// leader waits for a leader every running member agrees on.
func (c *testCluster) leader() int {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var lead uint64
		agree := true
		for _, s := range c.servers {
			if s == nil {
				continue
			}
			if lead == 0 {
				lead = s.Leader()
			}
			agree = agree && lead != 0 && s.Leader() == lead
		}
		if agree {
			for i, s := range c.servers {
				if s != nil && s.ID() == lead {
					return i
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatal("no leader agreed on")
	return -1
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestServerKVAcrossCluster(t *testing.T) {
	c := newTestCluster(t, 3)
	c.leader()
	ctx := ctxT(t)
	cl := c.client()
	if _, err := cl.Put(ctx, "a", "1"); err != nil {
		t.Fatal(err)
	}
	// Every member serves the write, linearizably, through its own port.
	for _, ep := range c.endpoints() {
		one := c.client(ep)
		resp, err := one.Get(ctx, "a")
		if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "1" {
			t.Fatalf("get at %s: %+v %v", ep, resp, err)
		}
	}
	// A compare-and-swap transaction.
	txn, err := cl.Txn(ctx).If(client.Compare(client.Value("a"), "=", "1")).
		Then(client.OpPut("a", "2")).Else(client.OpGet("a")).Commit()
	if err != nil || !txn.Succeeded {
		t.Fatalf("txn: %+v %v", txn, err)
	}
	txn, err = cl.Txn(ctx).If(client.Compare(client.Value("a"), "=", "1")).
		Then(client.OpPut("a", "3")).Else(client.OpGet("a")).Commit()
	if err != nil || txn.Succeeded || string(txn.Responses[0].Range.Kvs[0].Value) != "2" {
		t.Fatalf("failed txn: %+v %v", txn, err)
	}
	// Prefix reads and deletes.
	for _, k := range []string{"p/1", "p/2", "p/3"} {
		if _, err := cl.Put(ctx, k, k); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := cl.Get(ctx, "p/", client.WithPrefix(), client.WithCountOnly())
	if err != nil || resp.Count != 3 {
		t.Fatalf("count: %+v %v", resp, err)
	}
	del, err := cl.Delete(ctx, "p/", client.WithPrefix())
	if err != nil || del.Deleted != 3 {
		t.Fatalf("delete: %+v %v", del, err)
	}
	// Typed errors cross the wire.
	if _, err := cl.Get(ctx, "a", client.WithRev(1000)); !errors.Is(err, api.ErrFutureRev) {
		t.Fatalf("future revision: got %v", err)
	}
	rev := resp.Header.Revision
	if _, err := cl.Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Get(ctx, "a", client.WithRev(rev-1)); !errors.Is(err, api.ErrCompacted) {
		t.Fatalf("compacted revision: got %v", err)
	}
}

func TestServerWatchAndLease(t *testing.T) {
	c := newTestCluster(t, 3)
	c.leader()
	ctx := ctxT(t)
	cl := c.client()
	wch := cl.Watch(ctx, "w/", client.WithPrefix())
	if r := <-wch; !r.Created {
		t.Fatalf("first watch response %+v", r)
	}
	lease, err := cl.Grant(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Put(ctx, "w/x", "1", client.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	r := <-wch
	if len(r.Events) != 1 || r.Events[0].Type != api.EventPut || string(r.Events[0].Kv.Key) != "w/x" {
		t.Fatalf("watch got %+v", r)
	}
	ttl, err := cl.TimeToLive(ctx, lease.ID, true)
	if err != nil || ttl.GrantedTTL != 3 || len(ttl.Keys) != 1 {
		t.Fatalf("time to live: %+v %v", ttl, err)
	}
	// Without keep-alives the lease expires and its key is deleted on
	// every member; the watcher sees the delete.
	r = <-wch
	if len(r.Events) != 1 || r.Events[0].Type != api.EventDelete {
		t.Fatalf("watch got %+v, want the lease's key deleted", r)
	}
	for _, ep := range c.endpoints() {
		resp, err := c.client(ep).Get(ctx, "w/x")
		if err != nil || len(resp.Kvs) != 0 {
			t.Fatalf("key of expired lease at %s: %+v %v", ep, resp, err)
		}
	}
	// A lease kept alive outlives its TTL.
	kept, err := cl.Grant(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	kctx, stop := context.WithCancel(ctx)
	defer stop()
	if _, err := cl.KeepAlive(kctx, kept.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second)
	ttl, err = cl.TimeToLive(ctx, kept.ID, false)
	if err != nil || ttl.TTL <= 0 {
		t.Fatalf("kept-alive lease: %+v %v", ttl, err)
	}
}

func TestServerLeaderFailover(t *testing.T) {
	c := newTestCluster(t, 3)
	lead := c.leader()
	ctx := ctxT(t)
	cl := c.client()
	for i := range 20 {
		if _, err := cl.Put(ctx, fmt.Sprintf("k%02d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	c.servers[lead].Stop()
	c.servers[lead] = nil
	newLead := c.leader()
	if newLead == lead {
		t.Fatal("stopped member still leads")
	}
	// No acknowledged write is lost, and the cluster takes new ones.
	resp, err := cl.Get(ctx, "k", client.WithPrefix(), client.WithCountOnly())
	if err != nil || resp.Count != 20 {
		t.Fatalf("after failover: %+v %v", resp, err)
	}
	if _, err := cl.Put(ctx, "after", "1"); err != nil {
		t.Fatal(err)
	}
	// The old leader restarts from its data dir and catches up.
	c.restart(lead)
	one := c.client(c.endpoints()[lead])
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := one.Get(ctx, "after", client.WithSerializable())
		if err == nil && len(resp.Kvs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted member did not catch up: %+v %v", resp, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServerMemberAddAndRemove(t *testing.T) {
	c := newTestCluster(t, 3)
	c.leader()
	ctx := ctxT(t)
	cl := c.client()
	if _, err := cl.Put(ctx, "before-join", "1"); err != nil {
		t.Fatal(err)
	}
	pl, clientL := listen(t), listen(t)
	peerURL := mustURL(t, pl)
	added, err := cl.MemberAdd(ctx, []string{peerURL.String()})
	if err != nil {
		t.Fatal(err)
	}
	if len(added.Members) != 4 {
		t.Fatalf("after add: %d members", len(added.Members))
	}
	cfg := c.cfgs[0]
	cfg.Name = "m3"
	cfg.DataDir = t.TempDir()
	cfg.ListenPeerURLs = []url.URL{peerURL}
	cfg.InitialAdvertisePeerURLs = cfg.ListenPeerURLs
	cfg.ListenClientURLs = []url.URL{mustURL(t, clientL)}
	cfg.AdvertiseClientURLs = cfg.ListenClientURLs
	cfg.InitialClusterState = node.ClusterStateExisting
	initial := map[string][]url.URL{"m3": {peerURL}}
	for name, us := range c.cfgs[0].InitialCluster {
		initial[name] = us
	}
	cfg.InitialCluster = initial
	c.cfgs = append(c.cfgs, cfg)
	c.servers = append(c.servers, nil)
	c.start(3, clientL, pl)
	if c.servers[3].ID() != added.Member.ID {
		t.Fatalf("joined as %x, added as %x", c.servers[3].ID(), added.Member.ID)
	}
	one := c.client(cfg.AdvertiseClientURLs[0].Host)
	resp, err := one.Get(ctx, "before-join")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("new member's read: %+v %v", resp, err)
	}
	// It published its name and client URLs.
	deadline := time.Now().Add(5 * time.Second)
	for {
		list, err := cl.MemberList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		named := 0
		for _, m := range list.Members {
			if m.Name != "" && len(m.ClientURLs) == 1 {
				named++
			}
		}
		if named == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("members not all published: %+v", list.Members)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Removing it stops it.
	if _, err := cl.MemberRemove(ctx, added.Member.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.servers[3].Done():
	case <-time.After(10 * time.Second):
		t.Fatal("removed member still running")
	}
	c.servers[3] = nil
	if _, err := cl.Put(ctx, "after-remove", "1"); err != nil {
		t.Fatal(err)
	}
}

func TestServerLaggingMemberCatchesUpBySnapshot(t *testing.T) {
	c := newTestCluster(t, 3)
	lead := c.leader()
	ctx := ctxT(t)
	lag := (lead + 1) % 3
	c.servers[lag].Stop()
	c.servers[lag] = nil
	cl := c.client(c.endpoints()[lead])
	// SnapshotCount is 100: 400 writes compact the log past what the
	// stopped member has.
	for i := range 400 {
		if _, err := cl.Put(ctx, fmt.Sprintf("k%03d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	c.restart(lag)
	one := c.client(c.endpoints()[lag])
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := one.Get(ctx, "k", client.WithPrefix(), client.WithCountOnly(), client.WithSerializable())
		if err == nil && resp.Count == 400 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lagging member did not catch up: %+v %v", resp, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	h := map[uint32]bool{}
	for _, ep := range c.endpoints() {
		r, err := c.client(ep).HashKV(ctx, ep, 0)
		if err != nil {
			t.Fatal(err)
		}
		h[r.Hash] = true
	}
	if len(h) != 1 {
		t.Fatalf("members' hashes differ: %v", h)
	}
}

func TestServerRefusesAnotherMembersDataDir(t *testing.T) {
	c := newTestCluster(t, 1)
	c.leader()
	c.servers[0].Stop()
	c.servers[0] = nil
	cfg := c.cfgs[0]
	other := listen(t)
	cfg.Name = "intruder"
	cfg.ListenPeerURLs = []url.URL{mustURL(t, other)}
	cfg.InitialAdvertisePeerURLs = cfg.ListenPeerURLs
	cfg.InitialCluster = map[string][]url.URL{"intruder": cfg.ListenPeerURLs}
	_, err := node.NewServer(cfg, node.ServerOptions{Logger: quietLogger(), PeerListeners: []net.Listener{other}, ClientListeners: []net.Listener{listen(t)}})
	if err == nil || !strings.Contains(err.Error(), "belongs to member") {
		t.Fatalf("started on another member's data dir: %v", err)
	}
}

func TestServerQuotaRaisesNoSpace(t *testing.T) {
	tc := newTestClusterWith(t, 1, func(cfg *node.Config) { cfg.QuotaBackendBytes = 1 })
	tc.leader()
	ctx := ctxT(t)
	cl := tc.client()
	if _, err := cl.Put(ctx, "k", "v"); !errors.Is(err, api.ErrNoSpace) {
		t.Fatalf("put over quota: %v", err)
	}
	alarms, err := cl.AlarmList(ctx)
	if err != nil || len(alarms.Alarms) != 1 || alarms.Alarms[0].Alarm != api.AlarmNoSpace {
		t.Fatalf("alarms: %+v %v", alarms, err)
	}
	if _, err := cl.Get(ctx, "k"); err != nil {
		t.Fatalf("read refused under NOSPACE: %v", err)
	}
	if _, err := cl.Delete(ctx, "k"); err != nil {
		t.Fatalf("delete refused under NOSPACE: %v", err)
	}
	if _, err := cl.AlarmDisarm(ctx, api.AlarmMember{}); err != nil {
		t.Fatal(err)
	}
	if alarms, _ := cl.AlarmList(ctx); len(alarms.Alarms) != 0 {
		t.Fatalf("alarms after disarm: %+v", alarms)
	}
}

func TestServerHealthAndMetrics(t *testing.T) {
	pl, cl, ml := listen(t), listen(t), listen(t)
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.ListenPeerURLs = []url.URL{mustURL(t, pl)}
	cfg.InitialAdvertisePeerURLs = cfg.ListenPeerURLs
	cfg.ListenClientURLs = []url.URL{mustURL(t, cl)}
	cfg.AdvertiseClientURLs = cfg.ListenClientURLs
	cfg.InitialCluster = map[string][]url.URL{cfg.Name: cfg.ListenPeerURLs}
	cfg.HeartbeatInterval, cfg.ElectionTimeout = 10*time.Millisecond, 100*time.Millisecond
	s, err := node.NewServer(cfg, node.ServerOptions{Logger: quietLogger(), PeerListeners: []net.Listener{pl},
		ClientListeners: []net.Listener{cl}, MetricsListener: ml})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	base := "http://" + ml.Addr().String()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/health")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.Contains(string(body), `"health":"true"`) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("never healthy: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx := ctxT(t)
	c, err := client.New(client.Config{Endpoints: []string{cl.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"cairn_server_is_leader 1", "cairn_server_proposals_committed_total 1",
		"cairn_disk_wal_fsync_duration_seconds_count", "cairn_disk_backend_commit_duration_seconds_count", "cairn_mvcc_revision 1"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

// A snapshot saved from one cluster seeds a new one: every member restored
// from it serves the data, under new ids.
func TestServerSnapshotRestore(t *testing.T) {
	old := newTestCluster(t, 1)
	old.leader()
	ctx := ctxT(t)
	cl := old.client()
	for i := range 50 {
		if _, err := cl.Put(ctx, fmt.Sprintf("k%02d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	snapPath := filepath.Join(t.TempDir(), "snap.db")
	f, err := os.Create(snapPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Snapshot(ctx, "", f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	oldCluster := old.servers[0].ClusterID()

	// Build three data dirs from the snapshot, then start them.
	c := &testCluster{t: t}
	initial := map[string][]url.URL{}
	var clientLns []net.Listener
	for i := range 3 {
		pl, cln := listen(t), listen(t)
		c.peerLns = append(c.peerLns, pl)
		clientLns = append(clientLns, cln)
		initial[fmt.Sprintf("r%d", i)] = []url.URL{mustURL(t, pl)}
	}
	for i := range 3 {
		cfg := node.DefaultConfig()
		cfg.Name = fmt.Sprintf("r%d", i)
		cfg.DataDir = t.TempDir()
		cfg.ListenPeerURLs = initial[cfg.Name]
		cfg.InitialAdvertisePeerURLs = cfg.ListenPeerURLs
		cfg.ListenClientURLs = []url.URL{mustURL(t, clientLns[i])}
		cfg.AdvertiseClientURLs = cfg.ListenClientURLs
		cfg.InitialCluster = initial
		cfg.InitialClusterToken = "restored"
		cfg.HeartbeatInterval, cfg.ElectionTimeout = 10*time.Millisecond, 100*time.Millisecond
		if err := node.RestoreSnapshot(snapPath, cfg); err != nil {
			t.Fatal(err)
		}
		c.cfgs = append(c.cfgs, cfg)
	}
	if err := node.RestoreSnapshot(snapPath, c.cfgs[0]); err == nil {
		t.Fatal("restored over an existing member")
	}
	c.servers = make([]*node.Server, 3)
	for i := range 3 {
		c.start(i, clientLns[i], c.peerLns[i])
	}
	t.Cleanup(c.stopAll)
	c.leader()
	if c.servers[0].ClusterID() == oldCluster {
		t.Fatal("restored cluster kept the old cluster id")
	}
	rc := c.client()
	resp, err := rc.Get(ctx, "k", client.WithPrefix(), client.WithCountOnly())
	if err != nil || resp.Count != 50 {
		t.Fatalf("restored data: %+v %v", resp, err)
	}
	if _, err := rc.Put(ctx, "new", "1"); err != nil {
		t.Fatal(err)
	}
	list, err := rc.MemberList(ctx)
	if err != nil || len(list.Members) != 3 {
		t.Fatalf("members: %+v %v", list, err)
	}
	for _, m := range list.Members {
		if m.Name[0] != 'r' {
			t.Fatalf("old member %+v survived the restore", m)
		}
	}
}

func TestServerAutoCompactionByRevision(t *testing.T) {
	c := newTestClusterWith(t, 1, func(cfg *node.Config) {
		cfg.AutoCompactionMode, cfg.AutoCompactionRetention = "revision", "5"
	})
	c.leader()
	ctx := ctxT(t)
	cl := c.client()
	for i := range 20 {
		if _, err := cl.Put(ctx, "k", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := cl.Get(ctx, "k", client.WithRev(10))
		if errors.Is(err, api.ErrCompacted) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revision 10 of 20 not compacted with retention 5: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := cl.Get(ctx, "k", client.WithRev(18)); err != nil {
		t.Fatalf("revision 18 is within the retention: %v", err)
	}
}
