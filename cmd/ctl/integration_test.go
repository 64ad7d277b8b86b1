package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/node/nodetest"
	"github.com/cairndb/cairn/rpc"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// testCluster is a cluster of members running in this process on
// loopback ports the system chose.
type testCluster struct {
	servers   []*node.Server
	endpoints []string // as users write them: host:port, or https:// URLs
}

// startCluster starts n members of a new cluster and waits for a leader,
// with cheap password hashes.
// With clientTLS, members serve clients over TLS on https:// URLs.
func startCluster(t *testing.T, n int, clientTLS *tls.Config) *testCluster {
	t.Helper()
	c := nodetest.Start(t, n, nodetest.Options{ClientTLS: clientTLS,
		Configure: func(i int, cfg *node.Config) { cfg.BcryptCost = 4 }}) // bcrypt's lowest cost: cheap logins
	return &testCluster{servers: c.Servers, endpoints: c.Endpoints()}
}

// result is one ctl run's outcome.
type result struct {
	code           int
	stdout, stderr string
}

// ctl runs a command line against every member.
func (c *testCluster) ctl(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return c.ctlContext(t, context.Background(), stdin, args...)
}

func (c *testCluster) ctlContext(t *testing.T, ctx context.Context, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	full := append([]string{"--endpoints=" + strings.Join(c.endpoints, ","), "--command-timeout=5s"}, args...)
	code := runContext(ctx, full, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

// ok checks a run succeeded with the given output.
func (r result) ok(t *testing.T, what, want string) {
	t.Helper()
	if r.code != exitOK || r.stdout != want || r.stderr != "" {
		t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 0 and stdout %q", what, r.code, r.stdout, r.stderr, want)
	}
}

// fails checks a run failed with the given exit status and message.
func (r result) fails(t *testing.T, what string, code int, msg string) {
	t.Helper()
	if r.code != code || !strings.HasPrefix(r.stderr, "Error: ") || !strings.Contains(r.stderr, msg) {
		t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d and an error containing %q", what, r.code, r.stdout, r.stderr, code, msg)
	}
}

// revision reads the store's current revision with get -w json.
func (c *testCluster) revision(t *testing.T) int64 {
	t.Helper()
	r := c.ctl(t, "", "get", "-w", "json", "no-such-key")
	var resp pb.RangeResponse
	if err := json.Unmarshal([]byte(r.stdout), &resp); err != nil || r.code != exitOK || resp.Header == nil {
		t.Fatalf("get -w json: %v (exit %d, %q, %q)", err, r.code, r.stdout, r.stderr)
	}
	return resp.Header.Revision
}

func TestClusterThroughCtl(t *testing.T) {
	c := startCluster(t, 3, nil)
	t.Run("kv", func(t *testing.T) { testKV(t, c) })
	t.Run("txn", func(t *testing.T) { testTxn(t, c) })
	t.Run("watch", func(t *testing.T) { testWatch(t, c) })
	t.Run("lease", func(t *testing.T) { testLease(t, c) })
	t.Run("member", func(t *testing.T) { testMember(t, c) })
	t.Run("endpoint", func(t *testing.T) { testEndpoint(t, c) })
	t.Run("snapshot", func(t *testing.T) { testSnapshot(t, c) })
	t.Run("maintenance", func(t *testing.T) { testMaintenance(t, c) })
}

func testKV(t *testing.T, c *testCluster) {
	c.ctl(t, "", "put", "kv/a", "1").ok(t, "put", "OK\n")
	revA := c.revision(t)
	c.ctl(t, "", "put", "kv/b", "2").ok(t, "put", "OK\n")
	c.ctl(t, "three", "put", "kv/c").ok(t, "put from stdin", "OK\n")
	c.ctl(t, "", "put", "kv/a", "one", "--prev-kv").ok(t, "put --prev-kv", "OK\nkv/a\n1\n")
	c.ctl(t, "", "put", "--", "kv/dash", "-x").ok(t, "put after --", "OK\n")

	c.ctl(t, "", "get", "kv/a").ok(t, "get", "kv/a\none\n")
	if r := c.ctl(t, "", "get", "", "--prefix", "--keys-only"); r.code != exitOK || !strings.Contains(r.stdout, "kv/a\nkv/b\n") {
		t.Errorf(`get "" --prefix: exit %d, %q, %q`, r.code, r.stdout, r.stderr)
	}
	c.ctl(t, "", "get", "kv/missing").ok(t, "get missing", "")
	c.ctl(t, "", "get", "kv/a", "kv/c").ok(t, "get range", "kv/a\none\nkv/b\n2\n")
	c.ctl(t, "", "get", "kv/", "--prefix", "--keys-only").ok(t, "get --prefix --keys-only", "kv/a\nkv/b\nkv/c\nkv/dash\n")
	c.ctl(t, "", "get", "kv/b", "--from-key", "--limit=2").ok(t, "get --from-key --limit", "kv/b\n2\nkv/c\nthree\n")
	c.ctl(t, "", "get", "kv/", "--prefix", "--count-only").ok(t, "get --count-only", "4\n")
	c.ctl(t, "", "get", "kv/", "--prefix", "--sort-by=KEY", "--order=DESCEND", "--print-value-only").
		ok(t, "get sorted descending", "-x\nthree\n2\none\n")
	c.ctl(t, "", "get", "kv/", "--prefix", "--sort-by=MODIFY", "--keys-only").ok(t, "get --sort-by=MODIFY", "kv/b\nkv/c\nkv/a\nkv/dash\n")
	c.ctl(t, "", "get", "kv/a", fmt.Sprintf("--rev=%d", revA)).ok(t, "get --rev", "kv/a\n1\n")
	c.ctl(t, "", "get", "kv/a", "--consistency=s").ok(t, "serializable get", "kv/a\none\n")
	c.ctl(t, "", "--hex", "get", "kv/b").ok(t, "get --hex", `\x6b\x76\x2f\x62`+"\n"+`\x32`+"\n")

	r := c.ctl(t, "", "get", "kv/a", "-w", "json")
	var resp pb.RangeResponse
	if err := json.Unmarshal([]byte(r.stdout), &resp); err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "one" {
		t.Errorf("get -w json: %q: %v", r.stdout, err)
	}
	c.ctl(t, "", "get", "kv/a", fmt.Sprintf("--rev=%d", revA+1000)).fails(t, "get at a future revision", exitError, "future")

	c.ctl(t, "", "del", "kv/b").ok(t, "del", "1\n")
	c.ctl(t, "", "del", "kv/b").ok(t, "del missing", "0\n")
	c.ctl(t, "", "del", "kv/", "--prefix", "--prev-kv").ok(t, "del --prefix --prev-kv", "3\nkv/a\none\nkv/c\nthree\nkv/dash\n-x\n")
	c.ctl(t, "", "get", "kv/", "--prefix").ok(t, "get after del", "")
}

func testTxn(t *testing.T, c *testCluster) {
	c.ctl(t, "", "put", "txn/k", "v1").ok(t, "put", "OK\n")
	script := "value(\"txn/k\") = \"v1\"\n\nput txn/k v2\nget txn/k\n\nget txn/k\n"
	c.ctl(t, script, "txn").ok(t, "txn that succeeds", "SUCCESS\n\nOK\n\ntxn/k\nv2\n")
	c.ctl(t, script, "txn").ok(t, "txn that fails", "FAILURE\n\ntxn/k\nv2\n")
	c.ctl(t, "mod(\"txn/k\") > \"0\"\nversion(\"txn/k\") = \"2\"\n\ndel txn/k\n\n", "txn").ok(t, "txn del", "SUCCESS\n\n1\n")
	c.ctl(t, "create(\"txn/k\") = \"0\"\n\nput txn/k \"with space\"\n\n", "txn", "-i").
		ok(t, "interactive txn", "compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\nSUCCESS\n\nOK\n")
	c.ctl(t, "", "get", "txn/k", "--print-value-only").ok(t, "get after txn", "with space\n")
	c.ctl(t, "value(\"txn/k\") ~ \"x\"\n", "txn").fails(t, "malformed txn", exitUsage, "txn line 1 (compares)")
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testWatch(t *testing.T, c *testCluster) {
	// History: a watch from a past revision replays it, then runs until
	// its context ends (as SIGINT would end it) and exits 0.
	start := c.revision(t) + 1
	c.ctl(t, "", "put", "watch/a", "1").ok(t, "put", "OK\n")
	c.ctl(t, "", "put", "watch/a", "2").ok(t, "put", "OK\n")
	c.ctl(t, "", "del", "watch/a").ok(t, "del", "1\n")
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	c.ctlContext(t, ctx, "", "watch", "watch/", "--prefix", "--prev-kv", fmt.Sprintf("--rev=%d", start)).
		ok(t, "watch --rev --prev-kv", "PUT\nwatch/a\n1\nPUT\nwatch/a\n1\nwatch/a\n2\nDELETE\nwatch/a\n2\nwatch/a\n\n")

	// Live: events after the watch starts arrive while it runs.
	var out, errb syncBuffer
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		args := []string{"--endpoints=" + strings.Join(c.endpoints, ","), "watch", "watch/live"}
		done <- runContext(ctx, args, strings.NewReader(""), &out, &errb)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "PUT\nwatch/live\nv\n") {
		if time.Now().After(deadline) {
			t.Fatalf("live watch printed %q, stderr %q", out.String(), errb.String())
		}
		c.ctl(t, "", "put", "watch/live", "v")
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK || errb.String() != "" {
			t.Errorf("interrupted watch: exit %d, stderr %q", code, errb.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch did not stop when interrupted")
	}

	// Interactive: one watch per stdin line.
	ctx, cancel = context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	c.ctlContext(t, ctx, fmt.Sprintf("watch watch/a --rev=%d\n", start), "watch", "-i").
		ok(t, "interactive watch", "PUT\nwatch/a\n1\nPUT\nwatch/a\n2\nDELETE\nwatch/a\n\n")
}

var leaseGranted = regexp.MustCompile(`^lease ([0-9a-f]{16}) granted with TTL\(60s\)\n$`)

func testLease(t *testing.T, c *testCluster) {
	r := c.ctl(t, "", "lease", "grant", "60")
	m := leaseGranted.FindStringSubmatch(r.stdout)
	if r.code != exitOK || m == nil {
		t.Fatalf("lease grant: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	id := m[1]
	c.ctl(t, "", "put", "lease/k", "v", "--lease="+id).ok(t, "put --lease", "OK\n")
	r = c.ctl(t, "", "lease", "timetolive", id, "--keys")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "lease "+id+" granted with TTL(60s), remaining(") ||
		!strings.HasSuffix(r.stdout, "s), attached keys([lease/k])\n") {
		t.Errorf("lease timetolive --keys: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	r = c.ctl(t, "", "lease", "list")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "found ") || !strings.Contains(r.stdout, "\n"+id+"\n") {
		t.Errorf("lease list: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	c.ctl(t, "", "lease", "keep-alive", id, "--once").ok(t, "lease keep-alive --once", "lease "+id+" keepalived with TTL(60)\n")

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	r = c.ctlContext(t, ctx, "", "lease", "keep-alive", id)
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "lease "+id+" keepalived with TTL(60)\n") {
		t.Errorf("lease keep-alive until interrupted: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}

	c.ctl(t, "", "lease", "revoke", id).ok(t, "lease revoke", "lease "+id+" revoked\n")
	c.ctl(t, "", "get", "lease/k").ok(t, "get a key of a revoked lease", "")
	c.ctl(t, "", "lease", "timetolive", id).ok(t, "timetolive of a revoked lease", "lease "+id+" already expired\n")
	c.ctl(t, "", "lease", "revoke", id).fails(t, "revoke twice", exitError, "lease not found")
	c.ctl(t, "", "lease", "keep-alive", id, "--once").fails(t, "keep-alive a revoked lease", exitError, "expired or revoked")
	c.ctl(t, "", "put", "lease/k", "v", "--lease="+id).fails(t, "put with a revoked lease", exitError, "lease not found")
}

var memberLine = regexp.MustCompile(`^[0-9a-f]{16}, started, m[0-2], http://127\.0\.0\.1:\d+, http://127\.0\.0\.1:\d+, false$`)
var memberAdded = regexp.MustCompile(`^Member ([0-9a-f]{16}) added as a learner to cluster [0-9a-f]{16}\n`)

func testMember(t *testing.T, c *testCluster) {
	r := c.ctl(t, "", "member", "list")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != exitOK || len(lines) != 3 {
		t.Fatalf("member list: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	for _, l := range lines {
		if !memberLine.MatchString(l) {
			t.Errorf("member list line %q does not match %v", l, memberLine)
		}
	}
	r = c.ctl(t, "", "member", "list", "-w", "table")
	if r.code != exitOK || strings.Count(r.stdout, "\n") != 7 || !strings.Contains(r.stdout, "| ID ") {
		t.Errorf("member list -w table: exit %d\n%s", r.code, r.stdout)
	}

	// A learner that never starts: add, update, fail to promote, remove.
	peer := "http://127.0.0.1:1"
	r = c.ctl(t, "", "member", "add", "newbie", "--peer-urls="+peer, "--learner")
	m := memberAdded.FindStringSubmatch(r.stdout)
	if r.code != exitOK || m == nil || !strings.Contains(r.stdout, "\n--name=newbie\n") ||
		!strings.Contains(r.stdout, "newbie="+peer) || !strings.HasSuffix(r.stdout, "--initial-cluster-state=existing\n") {
		t.Fatalf("member add: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	id := m[1]
	r = c.ctl(t, "", "member", "list")
	if !strings.Contains(r.stdout, id+", unstarted, , "+peer+", , true\n") {
		t.Errorf("member list after add: %q", r.stdout)
	}
	peer2 := "http://127.0.0.1:2"
	r = c.ctl(t, "", "member", "update", id, "--peer-urls="+peer2)
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "Member "+id+" updated in cluster ") {
		t.Errorf("member update: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	c.ctl(t, "", "member", "promote", id).fails(t, "promote a learner that never started", exitError, "caught up")
	r = c.ctl(t, "", "member", "remove", id)
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "Member "+id+" removed from cluster ") {
		t.Errorf("member remove: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	c.ctl(t, "", "member", "remove", id).fails(t, "remove twice", exitError, "removing member "+id)
}

func testEndpoint(t *testing.T, c *testCluster) {
	for _, args := range [][]string{{"endpoint", "status"}, {"endpoint", "status", "--cluster"}} {
		r := c.ctl(t, "", args...)
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		leaders := 0
		for _, l := range lines {
			f := strings.Split(l, ", ")
			if len(f) != len(statusHeader) || f[2] != node.Version || f[3] != node.EtcdAPIVersion {
				t.Errorf("%q: line %q", args, l)
				continue
			}
			if f[8] == "true" {
				leaders++
			}
		}
		if r.code != exitOK || len(lines) != 3 || leaders != 1 {
			t.Errorf("%q: exit %d, %d lines, %d leaders: %q %q", args, r.code, len(lines), leaders, r.stdout, r.stderr)
		}
	}
	r := c.ctl(t, "", "endpoint", "status", "-w", "table")
	if r.code != exitOK || !strings.Contains(r.stdout, "| RAFT APPLIED INDEX |") || strings.Count(r.stdout, "\n") != 7 {
		t.Errorf("endpoint status -w table: exit %d\n%s", r.code, r.stdout)
	}

	r = c.ctl(t, "", "endpoint", "health")
	healthy := regexp.MustCompile(`^127\.0\.0\.1:\d+ is healthy: successfully committed proposal: took = \S+$`)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != exitOK || len(lines) != 3 {
		t.Errorf("endpoint health: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	for _, l := range lines {
		if !healthy.MatchString(l) {
			t.Errorf("endpoint health line %q", l)
		}
	}

	r = c.ctl(t, "", "endpoint", "hashkv")
	lines = strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != exitOK || len(lines) != 3 {
		t.Errorf("endpoint hashkv: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}

	// A dead endpoint: its failure is reported, the live ones printed,
	// and the exit status says something failed.
	var out, errb bytes.Buffer
	code := runContext(context.Background(), []string{"--endpoints=" + c.endpoints[0] + ",127.0.0.1:1",
		"--dial-timeout=300ms", "--command-timeout=1s", "endpoint", "health"}, strings.NewReader(""), &out, &errb)
	if code != exitError || strings.Count(out.String(), "is healthy") != 1 ||
		!strings.Contains(errb.String(), "127.0.0.1:1 is unhealthy: failed to commit proposal: ") ||
		!strings.HasSuffix(errb.String(), "Error: unhealthy cluster\n") {
		t.Errorf("health with a dead endpoint: exit %d, %q, %q", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	code = runContext(context.Background(), []string{"--endpoints=" + c.endpoints[0] + ",127.0.0.1:1",
		"--dial-timeout=300ms", "--command-timeout=1s", "endpoint", "status"}, strings.NewReader(""), &out, &errb)
	if code != exitError || strings.Count(out.String(), "\n") != 1 ||
		!strings.Contains(errb.String(), "Failed to get the status of endpoint 127.0.0.1:1 (") ||
		!strings.HasSuffix(errb.String(), "Error: failed to get the status of endpoint 1 of 2 endpoints\n") {
		t.Errorf("status with a dead endpoint: exit %d, %q, %q", code, out.String(), errb.String())
	}
}

func testSnapshot(t *testing.T, c *testCluster) {
	path := filepath.Join(t.TempDir(), "snap.db")
	var out, errb bytes.Buffer
	code := runContext(context.Background(), []string{"--endpoints=" + c.endpoints[1], "snapshot", "save", path},
		strings.NewReader(""), &out, &errb)
	if code != exitOK || out.String() != "Snapshot saved at "+path+"\n" || errb.String() != "" {
		t.Fatalf("snapshot save: exit %d, %q, %q", code, out.String(), errb.String())
	}
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		t.Fatalf("snapshot file: %d bytes, %v", len(data), err)
	}
	if _, err := os.Stat(path + ".part"); !os.IsNotExist(err) {
		t.Errorf("snapshot left %s.part behind: %v", path, err)
	}
	sum := sha256.Sum256(data)
	now := c.ctl(t, "", "get", "", "--from-key", "--count-only", "-w", "json")
	var st struct {
		Header struct{ Revision int64 } `json:"header"`
		Count  int64                    `json:"count"`
	}
	if err := json.Unmarshal([]byte(now.stdout), &st); err != nil {
		t.Fatalf("get the revision: %v: %q", err, now.stdout)
	}
	// Nothing was written since the save: the snapshot is at the revision now.
	c.ctl(t, "", "snapshot", "status", path).ok(t, "snapshot status",
		fmt.Sprintf("%s, %d, %d, %s, cairn\n", hex.EncodeToString(sum[:]), st.Header.Revision, st.Count, humanBytes(int64(len(data)))))
	notSnap := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notSnap, []byte("not a snapshot\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.ctl(t, "", "snapshot", "status", notSnap).fails(t, "snapshot status of a text file", exitError, "is not a usable snapshot")
}

func testMaintenance(t *testing.T, c *testCluster) {
	c.ctl(t, "", "alarm", "list").ok(t, "alarm list", "")
	c.ctl(t, "", "alarm", "disarm").ok(t, "alarm disarm", "")

	c.ctl(t, "", "put", "compact/k", "1").ok(t, "put", "OK\n")
	old := c.revision(t)
	c.ctl(t, "", "put", "compact/k", "2").ok(t, "put", "OK\n")
	rev := c.revision(t)
	c.ctl(t, "", "compaction", fmt.Sprint(rev), "--physical").ok(t, "compaction", fmt.Sprintf("compacted revision %d\n", rev))
	c.ctl(t, "", "get", "compact/k", fmt.Sprintf("--rev=%d", old)).fails(t, "get a compacted revision", exitError, "compacted")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c.ctlContext(t, ctx, "", "watch", "compact/k", fmt.Sprintf("--rev=%d", old)).fails(t, "watch from a compacted revision", exitError, "compacted")

	var out, errb bytes.Buffer
	code := runContext(context.Background(), []string{"--endpoints=" + c.endpoints[2], "defrag"}, strings.NewReader(""), &out, &errb)
	if code != exitOK || out.String() != "Finished defragmenting member["+c.endpoints[2]+"]\n" {
		t.Errorf("defrag: exit %d, %q, %q", code, out.String(), errb.String())
	}

	// Hand leadership to a follower.
	r := c.ctl(t, "", "endpoint", "status")
	var target string
	for _, l := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
		if f := strings.Split(l, ", "); len(f) == len(statusHeader) && f[8] == "false" {
			target = f[1]
			break
		}
	}
	if target == "" {
		t.Fatalf("no follower in %q", r.stdout)
	}
	r = c.ctl(t, "", "move-leader", target)
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "Leadership transferred from ") || !strings.HasSuffix(r.stdout, " to "+target+"\n") {
		t.Fatalf("move-leader: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	want, _ := parseMemberID(target)
	deadline := time.Now().Add(5 * time.Second)
	for c.servers[0].Leader() != want {
		if time.Now().After(deadline) {
			t.Fatalf("leader is %x after move-leader to %s", c.servers[0].Leader(), target)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTLSFlags(t *testing.T) {
	certFile, keyFile, err := rpc.SelfSignedCert(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, err := rpc.ServerTLSConfig(certFile, keyFile, "", false)
	if err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, 1, serverTLS)
	if !strings.HasPrefix(c.endpoints[0], "https://") {
		t.Fatalf("endpoint %q is not https", c.endpoints[0])
	}
	c.ctl(t, "", "--cacert="+certFile, "put", "k", "v").ok(t, "put over TLS with --cacert", "OK\n")
	c.ctl(t, "", "get", "k", "--insecure-skip-tls-verify").ok(t, "get over TLS without verifying", "k\nv\n")
	c.ctl(t, "", "--dial-timeout=500ms", "--command-timeout=1s", "get", "k").fails(t, "TLS without the CA", exitError, "certificate")
	// A plain endpoint given the TLS flags says what is wrong.
	plain := startCluster(t, 1, nil)
	var out, errb bytes.Buffer
	code := runContext(context.Background(), []string{"--endpoints=" + plain.endpoints[0], "--cacert=" + certFile,
		"--dial-timeout=500ms", "--command-timeout=1s", "get", "k"}, strings.NewReader(""), &out, &errb)
	if code != exitError || !strings.Contains(errb.String(), "does not speak TLS") {
		t.Errorf("TLS to a plain member: exit %d, %q, %q", code, out.String(), errb.String())
	}
}
