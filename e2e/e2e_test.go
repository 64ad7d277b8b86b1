package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binaries builds cmd/node and cmd/ctl once per test binary.
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func binaries(t *testing.T) (nodeBin, ctlBin string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "cairn-e2e-bin")
		if buildErr != nil {
			return
		}
		for _, pkg := range []string{"node", "ctl"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, pkg), "../cmd/"+pkg).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build ./cmd/%s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "node"), filepath.Join(binDir, "ctl")
}

// member is a running cmd/node process.
type member struct {
	t      *testing.T
	args   []string
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startNode starts cmd/node in dir with args and waits until it logs that
// it serves.
func startNode(t *testing.T, dir string, args ...string) *member {
	t.Helper()
	m := spawnNode(t, dir, args...)
	m.waitServing()
	return m
}

// spawnNode starts cmd/node in dir without waiting for it to serve (a
// member of a new cluster serves only once the others run too).
func spawnNode(t *testing.T, dir string, args ...string) *member {
	t.Helper()
	return spawnNodeEnv(t, dir, nil, args...)
}

// spawnNodeEnv is spawnNode with the environment env (nil: this
// process's).
func spawnNodeEnv(t *testing.T, dir string, env []string, args ...string) *member {
	t.Helper()
	nodeBin, _ := binaries(t)
	m := &member{t: t, args: args, stderr: &syncBuffer{}, done: make(chan error, 1)}
	m.cmd = exec.Command(nodeBin, args...)
	m.cmd.Env = env
	m.cmd.Dir = dir
	m.cmd.Stderr = m.stderr
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.done <- m.cmd.Wait() }()
	t.Cleanup(func() { m.kill() })
	return m
}

// waitServing waits until the member says it serves; it fails the test
// if the member exits or takes longer than 15 s.
func (m *member) waitServing() {
	m.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(m.stderr.String(), "cairn member serving") {
		select {
		case err := <-m.done:
			m.done <- err
			m.t.Fatalf("node %v exited: %v\n%s", m.args, err, m.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("node %v did not start:\n%s", m.args, m.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startTogether starts the members of a new cluster, then waits for each
// to serve.
func startTogether(t *testing.T, dir string, args [][]string) []*member {
	t.Helper()
	ms := make([]*member, len(args))
	for i := range args {
		ms[i] = spawnNode(t, dir, args[i]...)
	}
	for _, m := range ms {
		m.waitServing()
	}
	return ms
}

// stop sends SIGTERM and waits for a clean exit.
func (m *member) stop() {
	m.t.Helper()
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-m.done:
		m.done <- err
		if err != nil {
			m.t.Fatalf("node exited with %v after SIGTERM:\n%s", err, m.stderr.String())
		}
	case <-time.After(15 * time.Second):
		m.t.Fatalf("node did not stop on SIGTERM:\n%s", m.stderr.String())
	}
}

// kill is kill -9.
func (m *member) kill() {
	if m.cmd.ProcessState == nil {
		_ = m.cmd.Process.Kill()
		select {
		case err := <-m.done:
			m.done <- err
		case <-time.After(5 * time.Second):
		}
	}
}

// ctl runs cmd/ctl and returns its stdout, failing the test on a
// non-zero exit.
func ctl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, code := ctlCode(t, stdin, args...)
	if code != 0 {
		t.Fatalf("ctl %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

func ctlCode(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	_, ctlBin := binaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ctlBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != 0 {
		return stdout.String() + stderr.String(), code
	}
	return stdout.String(), 0
}

func freePort(t *testing.T) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		// The system may hand a port it has just freed out again at
		// once: two calls must not give a member one port for two
		// listeners.
		if _, given := portsGiven.LoadOrStore(port, true); !given {
			return port
		}
	}
	t.Fatal("no free port that was not given out before")
	return 0
}

// portsGiven are the ports freePort gave out in this test process.
var portsGiven sync.Map

func portsFree(ports ...int) bool {
	for _, p := range ports {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// The README's single-member quick start: `node` with no flags, then
// ctl put and get on the default endpoint; the data survives a restart.
func TestQuickStartSingleMember(t *testing.T) {
	if !portsFree(2379, 2380) {
		t.Skip("ports 2379/2380 are in use on this machine; the quick start needs them")
	}
	dir := t.TempDir()
	m := startNode(t, dir)
	if out := ctl(t, "", "put", "greeting", "hello"); out != "OK\n" {
		t.Fatalf("put printed %q", out)
	}
	if out := ctl(t, "", "get", "greeting"); out != "greeting\nhello\n" {
		t.Fatalf("get printed %q", out)
	}
	m.stop()
	if _, err := os.Stat(filepath.Join(dir, "default.node", "member", "wal")); err != nil {
		t.Fatalf("data dir: %v", err)
	}
	startNode(t, dir)
	if out := ctl(t, "", "get", "greeting", "--print-value-only"); out != "hello\n" {
		t.Fatalf("after restart get printed %q", out)
	}
}

// cluster3 starts three cmd/node processes with the Procfile's flags on
// free ports, and returns their client endpoints.
type cluster3 struct {
	t       *testing.T
	dir     string
	args    [][]string
	members []*member
	eps     []string
}

func startCluster3(t *testing.T) *cluster3 {
	c := &cluster3{t: t, dir: t.TempDir()}
	var peers, initial []string
	var clients []string
	for i := range 3 {
		peers = append(peers, fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
		clients = append(clients, fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
		initial = append(initial, fmt.Sprintf("m%d=%s", i+1, peers[i]))
	}
	for i := range 3 {
		c.args = append(c.args, []string{"--name", fmt.Sprintf("m%d", i+1), "--data-dir", fmt.Sprintf("m%d.node", i+1),
			"--listen-client-urls", clients[i], "--listen-peer-urls", peers[i],
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-token", "e2e",
			"--heartbeat-interval", "50", "--election-timeout", "500"})
		c.eps = append(c.eps, strings.TrimPrefix(clients[i], "http://"))
	}
	// Start them together: each waits for the others to elect a leader.
	c.members = startTogether(t, c.dir, c.args)
	return c
}

func (c *cluster3) endpoints() string { return "--endpoints=" + strings.Join(c.eps, ",") }

// leader returns the index of the member that leads, from endpoint status.
func (c *cluster3) leader() int {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		out, code := ctlCode(c.t, "", c.endpoints(), "endpoint", "status", "-w", "json")
		var sts []struct { // etcdctl's JSON, as ctl prints it
			Endpoint string
			Status   struct {
				Header struct {
					MemberID uint64 `json:"member_id"`
				}
				Leader uint64
			}
		}
		if code == 0 && json.Unmarshal([]byte(out), &sts) == nil {
			for _, st := range sts {
				if st.Status.Leader != 0 && st.Status.Leader == st.Status.Header.MemberID {
					for i, ep := range c.eps {
						if ep == st.Endpoint {
							return i
						}
					}
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatal("no leader")
	return -1
}

// The README's three-member walk-through with real processes: member
// list, writes, kill -9 of the leader, no acknowledged write lost, restart.
func TestThreeMemberClusterThroughCLI(t *testing.T) {
	c := startCluster3(t)
	eps := c.endpoints()
	out := ctl(t, "", eps, "member", "list")
	for _, name := range []string{"m1", "m2", "m3"} {
		if !strings.Contains(out, name) {
			t.Fatalf("member list lacks %s:\n%s", name, out)
		}
	}
	for i := range 10 {
		ctl(t, "", eps, "put", fmt.Sprintf("key%d", i), fmt.Sprintf("v%d", i))
	}
	txn := "value(\"key0\") = \"v0\"\n\nput key0 swapped\n\nget key0\n\n"
	if out := ctl(t, txn, eps, "txn"); !strings.HasPrefix(out, "SUCCESS") {
		t.Fatalf("txn printed %q", out)
	}
	lead := c.leader()
	c.members[lead].kill()
	// The others elect a new leader; every acknowledged write is there.
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, code := ctlCode(t, "", eps, "put", "after-kill", "yes")
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write after the leader was killed: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out := ctl(t, "", eps, "get", "key", "--prefix", "--count-only", "-w", "json"); !strings.Contains(out, `"count":10`) {
		t.Fatalf("after kill: %s", out)
	}
	if out := ctl(t, "", eps, "get", "key0", "--print-value-only"); out != "swapped\n" {
		t.Fatalf("txn result lost: %q", out)
	}
	// The killed member restarts from its data dir and catches up.
	c.members[lead] = startNode(t, c.dir, c.args[lead]...)
	deadline = time.Now().Add(20 * time.Second)
	for {
		out, _ := ctlCode(t, "", "--endpoints="+c.eps[lead], "get", "after-kill", "--consistency=s", "--print-value-only")
		if out == "yes\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted member did not catch up: %q", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out := ctl(t, "", eps, "endpoint", "health"); strings.Count(out, "is healthy") != 3 {
		t.Fatalf("endpoint health:\n%s", out)
	}
	out = ctl(t, "", eps, "endpoint", "hashkv", "-w", "json")
	var hs []struct {
		HashKV struct {
			Hash uint32 `json:"hash"`
		}
	}
	if err := json.Unmarshal([]byte(out), &hs); err != nil || len(hs) != 3 {
		t.Fatalf("hashkv output %q: %v", out, err)
	}
	hashes := map[uint32]bool{}
	for _, h := range hs {
		hashes[h.HashKV.Hash] = true
	}
	if len(hashes) != 1 {
		t.Fatalf("members disagree on the store's hash:\n%s", out)
	}
}

// Bad input to the server binary: one clear line, a non-zero exit.
func TestNodeRejectsBadFlags(t *testing.T) {
	nodeBin, _ := binaries(t)
	dir := t.TempDir()
	cmd := exec.Command(nodeBin, "--listen-client-urls", "localhost:2379")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "scheme missing") {
		t.Fatalf("exit %v, output %q", err, out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("bad flags wrote %d files", len(entries))
	}
}

// The README's in-process three-member cluster: `node --dev-cluster 3`
// and ctl against its three endpoints.
func TestDevClusterQuickStart(t *testing.T) {
	if !portsFree(2379, 2380, 22379, 22380, 32379, 32380) {
		t.Skip("the dev cluster's ports are in use on this machine")
	}
	nodeBin, _ := binaries(t)
	dir := t.TempDir()
	m := &member{t: t, stderr: &syncBuffer{}, done: make(chan error, 1)}
	m.cmd = exec.Command(nodeBin, "--dev-cluster", "3")
	m.cmd.Dir = dir
	m.cmd.Stderr = m.stderr
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.done <- m.cmd.Wait() }()
	t.Cleanup(m.kill)
	eps := "--endpoints=127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379"
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, code := ctlCode(t, "", eps, "put", "foo", "bar"); code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev cluster never took a write:\n%s", m.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out := ctl(t, "", eps, "get", "foo"); out != "foo\nbar\n" {
		t.Fatalf("get printed %q", out)
	}
	if out := ctl(t, "", eps, "member", "list", "-w", "table"); strings.Count(out, "started") != 3 && strings.Count(out, "127.0.0.1") < 6 {
		t.Fatalf("member list:\n%s", out)
	}
	if out := ctl(t, "", eps, "endpoint", "status", "-w", "table"); strings.Count(out, "127.0.0.1:") != 3 {
		t.Fatalf("endpoint status:\n%s", out)
	}
	m.stop()
}

// Backup and restore through the CLI: snapshot save from a running
// cluster, snapshot restore into a new member's data dir, start it.
func TestSnapshotSaveAndRestoreThroughCLI(t *testing.T) {
	c := startCluster3(t)
	eps := c.endpoints()
	for i := range 5 {
		ctl(t, "", eps, "put", fmt.Sprintf("saved%d", i), "v")
	}
	snap := filepath.Join(t.TempDir(), "backup.db")
	if out := ctl(t, "", "--endpoints="+c.eps[0], "snapshot", "save", snap); !strings.Contains(out, "Snapshot saved at") {
		t.Fatalf("snapshot save printed %q", out)
	}
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	dir := t.TempDir()
	ctl(t, "", "snapshot", "restore", snap, "--name", "solo", "--data-dir", filepath.Join(dir, "solo.node"),
		"--initial-advertise-peer-urls", peer)
	startNode(t, dir, "--name", "solo", "--data-dir", "solo.node", "--listen-peer-urls", peer, "--listen-client-urls", clientURL)
	out := ctl(t, "", "--endpoints="+strings.TrimPrefix(clientURL, "http://"), "get", "saved", "--prefix", "--keys-only")
	if strings.Count(out, "saved") != 5 {
		t.Fatalf("restored member has:\n%s", out)
	}
}
