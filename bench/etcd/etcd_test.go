package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/cairndb/cairn/bench"
	"github.com/cairndb/cairn/etcdapi"
	"github.com/cairndb/cairn/node/nodetest"
)

// etcdBuild builds the real etcd server once per test binary, from the
// nested module tools/etcd, into a temporary directory TestMain removes.
var etcdBuild struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if etcdBuild.dir != "" {
		os.RemoveAll(etcdBuild.dir)
	}
	os.Exit(code)
}

// etcdBinary returns the path of an etcd 3.6 server, skipping the test
// if it cannot be built.
func etcdBinary(t *testing.T) string {
	t.Helper()
	b := &etcdBuild
	b.once.Do(func() {
		b.dir, b.err = os.MkdirTemp("", "bench-etcd-bin-")
		if b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "etcd")
		cmd := exec.Command("go", "-C", "../../tools/etcd", "build", "-o", b.path, "go.etcd.io/etcd/server/v3")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("%v: %s", err, out)
		}
	})
	if b.err != nil {
		t.Skipf("cannot build etcd from tools/etcd, skipping the tests against a real etcd: %v", b.err)
	}
	return b.path
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// startEtcd starts an n-member etcd cluster on loopback ports, with its
// data in a temporary directory, and returns its client endpoints once
// every member knows the leader. The members stop when the test ends.
func startEtcd(t *testing.T, n int) []string {
	t.Helper()
	bin := etcdBinary(t)
	dir := t.TempDir()
	ports := freePorts(t, 2*n)
	var cluster, eps []string
	for i := range n {
		cluster = append(cluster, fmt.Sprintf("e%d=http://127.0.0.1:%d", i, ports[n+i]))
		eps = append(eps, fmt.Sprintf("127.0.0.1:%d", ports[i]))
	}
	type member struct {
		cmd    *exec.Cmd
		log    bytes.Buffer
		exited chan struct{}
	}
	members := make([]*member, n)
	for i := range n {
		m := &member{exited: make(chan struct{})}
		client := "http://" + eps[i]
		peer := fmt.Sprintf("http://127.0.0.1:%d", ports[n+i])
		m.cmd = exec.Command(bin, "--name", fmt.Sprintf("e%d", i), "--data-dir", filepath.Join(dir, fmt.Sprint(i)),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(cluster, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "bench-test", "--unsafe-no-fsync", "--log-level", "error")
		m.cmd.Stdout, m.cmd.Stderr = &m.log, &m.log
		if err := m.cmd.Start(); err != nil {
			t.Fatalf("starting etcd member %d: %v", i, err)
		}
		go func() { m.cmd.Wait(); close(m.exited) }()
		t.Cleanup(func() {
			m.cmd.Process.Kill()
			<-m.exited
		})
		members[i] = m
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i, ep := range eps {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		for {
			st, err := c.Status(ctx, ep)
			if err == nil && st.Leader != 0 {
				break
			}
			select {
			case <-members[i].exited:
				t.Fatalf("etcd member %d exited: %s", i, members[i].log.String())
			case <-ctx.Done():
				t.Fatalf("etcd member %d at %s knows no leader after 60s: %v", i, ep, err)
			case <-time.After(50 * time.Millisecond):
			}
		}
		c.Close()
	}
	return eps
}

// TestAgainstEtcd drives a real 3-member etcd 3.6 cluster.
func TestAgainstEtcd(t *testing.T) {
	testTarget(t, startEtcd(t, 3))
}

// TestAgainstCairnsEtcdAPI drives an in-process 3-member cairn cluster
// serving etcd's API on its client ports (package etcdapi), the way
// compare.sh's cairn-clientv3 side does.
func TestAgainstCairnsEtcdAPI(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{ClientFace: etcdapi.New})
	testTarget(t, c.Endpoints())
}

// testTarget checks Target against the members at eps, a cluster of 3
// that starts empty: the leader is found, each of Conn's operations does
// what bench.Conn promises, and a short run of every workload completes
// without an error.
func testTarget(t *testing.T, eps []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	target := Target{DialTimeout: 5 * time.Second}

	t.Run("Leader", func(t *testing.T) {
		leader, err := target.Leader(ctx, eps)
		if err != nil {
			t.Fatal(err)
		}
		// The member there says it is the leader itself.
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{leader}, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		st, err := c.Status(ctx, leader)
		if err != nil || st.Leader != st.Header.MemberId {
			t.Fatalf("Leader said %s, whose status is %v %v", leader, st, err)
		}
	})

	t.Run("Conn", func(t *testing.T) {
		// A follower (or the leader: the check holds either way).
		c, err := target.Dial([]string{"http://" + eps[1], eps[0]})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		testConn(ctx, t, c)
	})

	t.Run("Workloads", func(t *testing.T) {
		base := bench.Config{Endpoints: eps, Clients: 6, Conns: 3, Total: 30, KeySpace: 60,
			Watchers: 3, LeaderFirst: true}
		for _, tc := range []struct {
			workload string
			change   func(*bench.Config)
			wantOps  int64
		}{
			{"put", nil, 30},
			{"range", nil, 30},
			{"range", func(c *bench.Config) { c.Serializable, c.Prefix, c.NoPreload = true, true, true }, 30},
			{"txn-put", nil, 30},
			{"watch", nil, 30 * 3}, // every put reaches every watcher
			{"lease-keepalive", nil, 30},
			{"mixed", func(c *bench.Config) { c.ReadRatio = 0.5 }, 30},
		} {
			cfg := base
			if tc.change != nil {
				tc.change(&cfg)
			}
			res, err := bench.Run(ctx, target, tc.workload, cfg)
			if err != nil {
				t.Fatalf("%s: %v", tc.workload, err)
			}
			if res.Ops != tc.wantOps || res.Errors != 0 || res.Target != "etcd" || res.Conns != 3 {
				t.Errorf("%s: %d ops, %d errors %v on %s over %d conns; want %d ops, no errors, over 3 conns",
					tc.workload, res.Ops, res.Errors, res.ErrorSamples, res.Target, res.Conns, tc.wantOps)
			}
			notes := strings.Join(res.Notes, "; ")
			if strings.Contains(notes, "found no key") {
				t.Errorf("%s: %s", tc.workload, notes)
			}
			if tc.workload == "txn-put" && !strings.Contains(notes, "30 swaps, 0 conflicts") {
				t.Errorf("txn-put on disjoint keys after reading their revisions: %s", notes)
			}
		}
	})
}

// testConn checks each operation of c against a new, empty store.
func testConn(ctx context.Context, t *testing.T, c bench.Conn) {
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	got := make(chan []byte, 10)
	if err := c.Watch(wctx, []byte("conn/"), func(v []byte) { got <- bytes.Clone(v) }); err != nil {
		t.Fatal(err)
	}
	rev1, err := c.Put(ctx, []byte("conn/k1"), []byte("v1"))
	if err != nil || rev1 != 2 { // revision 1 is the empty store
		t.Fatalf("put: revision %d, %v", rev1, err)
	}
	rev2, err := c.Put(ctx, []byte("conn/k2"), []byte("v2"))
	if err != nil || rev2 != rev1+1 {
		t.Fatalf("second put: revision %d after %d, %v", rev2, rev1, err)
	}
	if _, err := c.Put(ctx, []byte("other"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  string
		o    bench.GetOptions
		want int
	}{
		{"conn/k1", bench.GetOptions{}, 1},
		{"conn/k1", bench.GetOptions{Serializable: true}, 1},
		{"conn/", bench.GetOptions{}, 0},
		{"conn/", bench.GetOptions{Prefix: true}, 2},
		{"conn/", bench.GetOptions{Prefix: true, Serializable: true}, 2},
	} {
		n, err := c.Get(ctx, []byte(tc.key), tc.o)
		if err != nil || n != tc.want {
			t.Errorf("get %q %+v: %d keys, %v; want %d", tc.key, tc.o, n, err, tc.want)
		}
	}
	revs, err := c.ModRevisions(ctx, []byte("conn/"))
	if err != nil || len(revs) != 2 || revs["conn/k1"] != rev1 || revs["conn/k2"] != rev2 {
		t.Fatalf("mod revisions: %v %v; want conn/k1 at %d, conn/k2 at %d", revs, err, rev1, rev2)
	}
	if all, err := c.ModRevisions(ctx, nil); err != nil || len(all) < 3 || all["other"] != rev2+1 {
		t.Fatalf("mod revisions of every key: %v %v", all, err)
	}
	// A compare-and-swap with a stale revision fails and learns the
	// current one; with it, it swaps.
	res, err := c.CAS(ctx, []byte("conn/k1"), []byte("v3"), 0)
	if err != nil || res.Swapped || res.ModRevision != rev1 {
		t.Fatalf("stale CAS: %+v %v; want no swap, mod revision %d", res, err, rev1)
	}
	res, err = c.CAS(ctx, []byte("conn/k1"), []byte("v3"), rev1)
	if err != nil || !res.Swapped || res.ModRevision != rev2+2 {
		t.Fatalf("CAS: %+v %v; want a swap at revision %d", res, err, rev2+2)
	}
	res, err = c.CAS(ctx, []byte("conn/new"), []byte("v4"), 0)
	if err != nil || !res.Swapped {
		t.Fatalf("CAS creating a key: %+v %v", res, err)
	}
	for _, want := range []string{"v1", "v2", "v3", "v4"} {
		select {
		case v := <-got:
			if string(v) != want {
				t.Fatalf("watch delivered %q, want %q", v, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("watch: %q never arrived", want)
		}
	}
	id, err := c.Grant(ctx, 60)
	if err != nil || id == 0 {
		t.Fatalf("grant: %d %v", id, err)
	}
	if err := c.KeepAliveOnce(ctx, id); err != nil {
		t.Fatalf("keep-alive: %v", err)
	}
	if err := c.KeepAliveOnce(ctx, id+1000); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Fatalf("keep-alive of an unknown lease: %v, want %v", err, rpctypes.ErrLeaseNotFound)
	}
}

// TestAStoreWithoutEtcdsAPI: members that take connections but do not
// answer etcd's gRPC fail Leader and Dial within DialTimeout, naming
// each member.
func TestAStoreWithoutEtcdsAPI(t *testing.T) {
	var eps []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Write([]byte("not gRPC\n"))
				c.Close()
			}
		}()
		eps = append(eps, ln.Addr().String())
	}
	start := time.Now()
	_, err := Target{DialTimeout: 500 * time.Millisecond}.Leader(context.Background(), eps)
	if err == nil {
		t.Fatal("no error")
	}
	for _, ep := range eps {
		if !strings.Contains(err.Error(), "status of "+ep) {
			t.Errorf("error does not name %s: %v", ep, err)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Leader took %v with a 500ms dial timeout", d)
	}
	start = time.Now()
	c, err := Target{DialTimeout: 500 * time.Millisecond}.Dial(eps)
	if err == nil {
		c.Close()
		t.Fatal("Dial: no error")
	}
	if !strings.Contains(err.Error(), "connecting to "+eps[0]) {
		t.Errorf("Dial's error does not name %s: %v", eps[0], err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Dial took %v with a 500ms dial timeout", d)
	}
}

func TestCheckEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // part of the error; "" for none
	}{
		{"127.0.0.1:2379", ""},
		{"http://h:1", ""},
		{"[::1]:2379", ""},
		{"h", "not host:port"},
		{":2379", "not host:port"},
		{"http://h/x", "not host:port"},
		{"https://h:1", "only plain-text"},
		{"unix://sock", "only plain-text"},
	} {
		err := checkEndpoint(tc.in)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("checkEndpoint(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
	if _, err := (Target{}).Dial(nil); err == nil {
		t.Error("Dial with no endpoints: no error")
	}
	if _, err := (Target{}).Dial([]string{"https://h:1"}); err == nil {
		t.Error("Dial of an https endpoint: no error")
	}
	if _, err := (Target{}).Leader(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "no endpoints") {
		t.Errorf("Leader with no endpoints: %v", err)
	}
	if _, err := (Target{}).Leader(context.Background(), []string{"h"}); err == nil || !strings.Contains(err.Error(), "not host:port") {
		t.Errorf("Leader of a malformed endpoint: %v", err)
	}
}
