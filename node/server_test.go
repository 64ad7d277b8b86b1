package node_test

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	"github.com/cairndb/cairn/node/nodetest"
)

// newTestCluster starts n members of a new cluster that snapshot every
// 100 entries.
func newTestCluster(t *testing.T, n int) *nodetest.Cluster {
	t.Helper()
	return newTestClusterWith(t, n, nil)
}

// newTestClusterWith starts n members, letting change adjust each
// member's configuration.
func newTestClusterWith(t *testing.T, n int, change func(*node.Config)) *nodetest.Cluster {
	t.Helper()
	return nodetest.Start(t, n, nodetest.Options{Configure: func(i int, cfg *node.Config) {
		cfg.SnapshotCount = 100
		if change != nil {
			change(cfg)
		}
	}})
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestServerKVAcrossCluster(t *testing.T) {
	c := newTestCluster(t, 3)
	c.Leader()
	ctx := ctxT(t)
	cl := c.Client()
	if _, err := cl.Put(ctx, "a", "1"); err != nil {
		t.Fatal(err)
	}
	// Every member serves the write, linearizably, through its own port.
	for _, ep := range c.Endpoints() {
		one := c.Client(ep)
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
	c.Leader()
	ctx := ctxT(t)
	cl := c.Client()
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
	for _, ep := range c.Endpoints() {
		resp, err := c.Client(ep).Get(ctx, "w/x")
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
	lead := c.Leader()
	ctx := ctxT(t)
	cl := c.Client()
	for i := range 20 {
		if _, err := cl.Put(ctx, fmt.Sprintf("k%02d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	c.StopMember(lead)
	newLead := c.Leader()
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
	c.StartMember(lead)
	one := c.Client(c.Endpoints()[lead])
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
	c.Leader()
	ctx := ctxT(t)
	cl := c.Client()
	if _, err := cl.Put(ctx, "before-join", "1"); err != nil {
		t.Fatal(err)
	}
	joiner := c.AddMember("m3")
	cfg := c.Configs[joiner]
	added, err := cl.MemberAdd(ctx, []string{cfg.InitialAdvertisePeerURLs[0].String()})
	if err != nil {
		t.Fatal(err)
	}
	if len(added.Members) != 4 {
		t.Fatalf("after add: %d members", len(added.Members))
	}
	c.StartMember(joiner)
	if c.Servers[joiner].ID() != added.Member.ID {
		t.Fatalf("joined as %x, added as %x", c.Servers[joiner].ID(), added.Member.ID)
	}
	one := c.Client(cfg.AdvertiseClientURLs[0].Host)
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
	case <-c.Servers[joiner].Done():
	case <-time.After(10 * time.Second):
		t.Fatal("removed member still running")
	}
	c.Servers[joiner] = nil
	if _, err := cl.Put(ctx, "after-remove", "1"); err != nil {
		t.Fatal(err)
	}
}

func TestServerLaggingMemberCatchesUpBySnapshot(t *testing.T) {
	c := newTestCluster(t, 3)
	lead := c.Leader()
	ctx := ctxT(t)
	lag := (lead + 1) % 3
	c.StopMember(lag)
	cl := c.Client(c.Endpoints()[lead])
	// SnapshotCount is 100: 400 writes compact the log past what the
	// stopped member has.
	for i := range 400 {
		if _, err := cl.Put(ctx, fmt.Sprintf("k%03d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	c.StartMember(lag)
	one := c.Client(c.Endpoints()[lag])
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
	for _, ep := range c.Endpoints() {
		r, err := c.Client(ep).HashKV(ctx, ep, 0)
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
	c.Leader()
	c.StopMember(0)
	cfg := c.Configs[0]
	other := nodetest.Listen(t)
	cfg.Name = "intruder"
	cfg.ListenPeerURLs = []url.URL{nodetest.URL(other)}
	cfg.InitialAdvertisePeerURLs = cfg.ListenPeerURLs
	cfg.InitialCluster = map[string][]url.URL{"intruder": cfg.ListenPeerURLs}
	_, err := node.NewServer(cfg, node.ServerOptions{Logger: nodetest.Logger("test"), PeerListeners: []net.Listener{other}, ClientListeners: []net.Listener{nodetest.Listen(t)}})
	if err == nil || !strings.Contains(err.Error(), "belongs to member") {
		t.Fatalf("started on another member's data dir: %v", err)
	}
}

func TestServerQuotaRaisesNoSpace(t *testing.T) {
	tc := newTestClusterWith(t, 1, func(cfg *node.Config) { cfg.QuotaBackendBytes = 1 })
	tc.Leader()
	ctx := ctxT(t)
	cl := tc.Client()
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
	st, err := cl.Status(ctx, tc.Endpoint(0))
	if err != nil || st.DbSizeQuota != 1 || st.StorageVersion != node.EtcdAPIVersion || len(st.Errors) != 1 || !strings.Contains(st.Errors[0], "NOSPACE") {
		t.Fatalf("status under NOSPACE: %+v %v", st, err)
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
	pl, cl, ml := nodetest.Listen(t), nodetest.Listen(t), nodetest.Listen(t)
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.ListenPeerURLs = []url.URL{nodetest.URL(pl)}
	cfg.InitialAdvertisePeerURLs = cfg.ListenPeerURLs
	cfg.ListenClientURLs = []url.URL{nodetest.URL(cl)}
	cfg.AdvertiseClientURLs = cfg.ListenClientURLs
	cfg.InitialCluster = map[string][]url.URL{cfg.Name: cfg.ListenPeerURLs}
	cfg.HeartbeatInterval, cfg.ElectionTimeout = 10*time.Millisecond, 100*time.Millisecond
	s, err := node.NewServer(cfg, node.ServerOptions{Logger: nodetest.Logger("test"), PeerListeners: []net.Listener{pl},
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
	for _, want := range []string{"etcd_server_is_leader 1", "etcd_server_has_leader 1", "etcd_mvcc_put_total 1",
		"etcd_disk_wal_fsync_duration_seconds_count", "etcd_disk_backend_commit_duration_seconds_count",
		"etcd_debugging_mvcc_current_revision 2", "etcd_debugging_mvcc_keys_total 1", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

// A snapshot saved from one cluster seeds a new one: every member restored
// from it serves the data, under new ids.
func TestServerSnapshotRestore(t *testing.T) {
	old := newTestCluster(t, 1)
	old.Leader()
	ctx := ctxT(t)
	cl := old.Client()
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
	oldCluster := old.Servers[0].ClusterID()

	oldMember := old.Servers[0].ID()

	// Build three data dirs from the snapshot, then start them.
	c := nodetest.New(t, 3, nodetest.Options{Configure: func(i int, cfg *node.Config) {
		cfg.InitialClusterToken = "restored"
	}})
	for _, cfg := range c.Configs {
		if err := node.RestoreSnapshot(snapPath, cfg); err != nil {
			t.Fatal(err)
		}
	}
	if err := node.RestoreSnapshot(snapPath, c.Configs[0]); err == nil {
		t.Fatal("restored over an existing member")
	}
	c.StartAll()
	c.Leader()
	if c.Servers[0].ClusterID() == oldCluster {
		t.Fatal("restored cluster kept the old cluster id")
	}
	rc := c.Client()
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
		if m.ID == oldMember {
			t.Fatalf("old member %+v survived the restore", m)
		}
	}
}

func TestServerAutoCompactionByRevision(t *testing.T) {
	c := newTestClusterWith(t, 1, func(cfg *node.Config) {
		cfg.AutoCompactionMode, cfg.AutoCompactionRetention = "revision", "5"
	})
	c.Leader()
	ctx := ctxT(t)
	cl := c.Client()
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
