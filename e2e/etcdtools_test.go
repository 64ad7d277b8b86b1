package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Helpers for the tests that drive cairn with etcd 3.6's own programs:
// etcdctl (and etcd itself, to compare outputs) built from the nested
// module tools/etcd, run as processes.

// TestMain removes the binaries the tests built (cmd/node and cmd/ctl,
// etcd, etcdctl and etcdutl) once they have run.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range []string{binDir, etcdBinDir, etcdutlBinDir} {
		if dir != "" {
			_ = os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}

// etcdctlBin is etcd 3.6's etcdctl (the test is skipped, saying why, if
// it cannot be built).
func etcdctlBin(t *testing.T) string {
	t.Helper()
	_, etcdctl := etcdBinaries(t)
	return etcdctl
}

// etcdctlEnv is the environment without ETCDCTL_* settings, so the
// machine's own cannot change what a test runs.
func etcdctlEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCDCTL_") {
			env = append(env, kv)
		}
	}
	return env
}

// etcdctlRun runs etcdctl with stdin and returns its stdout, stderr and
// exit status.
func etcdctlRun(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, etcdctlBin(t), args...)
	cmd.Env = etcdctlEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("etcdctl %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// etcdctl runs etcdctl and returns its stdout, failing the test unless it
// exits 0.
func etcdctl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, code := etcdctlRun(t, stdin, args...)
	if code != 0 {
		t.Fatalf("etcdctl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// etcdctlFails runs etcdctl, which must fail and end its output with
// etcdctl's "Error: msg" line.
func etcdctlFails(t *testing.T, msg string, args ...string) {
	t.Helper()
	out, errOut, code := etcdctlRun(t, "", args...)
	if code == 0 || !strings.HasSuffix(errOut, "Error: "+msg+"\n") {
		t.Fatalf("etcdctl %s: exit %d, stdout %q, stderr %q; want a failure ending with %q",
			strings.Join(args, " "), code, out, errOut, "Error: "+msg)
	}
}

// wantOutput fails the test unless got is want.
func wantOutput(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s printed %q, want %q", what, got, want)
	}
}

// decodeJSON decodes etcdctl's -w json output into v.
func decodeJSON(t *testing.T, what, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("%s: %v in %q", what, err, out)
	}
}

// bgEtcdctl is an etcdctl process that runs on (watch, lock, elect).
type bgEtcdctl struct {
	t    *testing.T
	args []string
	cmd  *exec.Cmd
	out  *syncBuffer
	err  *syncBuffer
	done chan error
}

// startEtcdctl starts etcdctl in the background; the test's cleanup
// kills it if it still runs.
func startEtcdctl(t *testing.T, args ...string) *bgEtcdctl {
	t.Helper()
	p := &bgEtcdctl{t: t, args: args, out: &syncBuffer{}, err: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(etcdctlBin(t), args...)
	p.cmd.Env = etcdctlEnv()
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.err
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitOutput waits until the process's stdout satisfies ok, and returns
// it; it fails the test after 10 s.
func (p *bgEtcdctl) waitOutput(what string, ok func(string) bool) string {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := p.out.String()
		if ok(out) {
			return out
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("etcdctl %s: waited 10 s for %s; stdout %q, stderr %q", strings.Join(p.args, " "), what, out, p.err.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// interrupt sends SIGINT (etcdctl lock and elect then let go of what they
// hold) and waits for the process to exit.
func (p *bgEtcdctl) interrupt() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(10 * time.Second):
		p.t.Fatalf("etcdctl %s did not exit on SIGINT; stderr %q", strings.Join(p.args, " "), p.err.String())
	}
}

// etcd's JSON as etcdctl -w json prints it: the generated messages with
// their proto field names, integers as numbers, bytes in base64.

type jsonHeader struct {
	ClusterID uint64 `json:"cluster_id"`
	MemberID  uint64 `json:"member_id"`
	Revision  int64  `json:"revision"`
	RaftTerm  uint64 `json:"raft_term"`
}

type jsonKV struct {
	Key            []byte `json:"key"`
	CreateRevision int64  `json:"create_revision"`
	ModRevision    int64  `json:"mod_revision"`
	Version        int64  `json:"version"`
	Value          []byte `json:"value"`
	Lease          int64  `json:"lease"`
}

type jsonRange struct {
	Header jsonHeader `json:"header"`
	Kvs    []jsonKV   `json:"kvs"`
	More   bool       `json:"more"`
	Count  int64      `json:"count"`
}

type jsonStatus struct {
	Endpoint string
	Status   struct {
		Header           jsonHeader `json:"header"`
		Version          string     `json:"version"`
		DBSize           int64      `json:"dbSize"`
		Leader           uint64     `json:"leader"`
		RaftIndex        uint64     `json:"raftIndex"`
		RaftTerm         uint64     `json:"raftTerm"`
		RaftAppliedIndex uint64     `json:"raftAppliedIndex"`
		Errors           []string   `json:"errors"`
		IsLearner        bool       `json:"isLearner"`
	}
}

type jsonMember struct {
	ID         uint64   `json:"ID"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	IsLearner  bool     `json:"isLearner"`
}

// revisionNow is the store's revision, as a header reports it.
func revisionNow(t *testing.T, eps string) int64 {
	t.Helper()
	return getJSON(t, eps, "revision-probe").Header.Revision
}

// leaseGrant grants a lease of ttl seconds and returns its id in hex, as
// etcdctl prints and takes it.
func leaseGrant(t *testing.T, eps string, ttl int) string {
	t.Helper()
	out := etcdctl(t, "", eps, "lease", "grant", strconv.Itoa(ttl))
	m := regexp.MustCompile(`^lease ([0-9a-f]{16}) granted with TTL\((\d+)s\)\n$`).FindStringSubmatch(out)
	if m == nil || m[2] != strconv.Itoa(ttl) {
		t.Fatalf("lease grant %d printed %q", ttl, out)
	}
	return m[1]
}

// statusOf is endpoint status -w json at eps (with flags).
func statusOf(t *testing.T, eps string, flags ...string) []jsonStatus {
	t.Helper()
	var sts []jsonStatus
	decodeJSON(t, "endpoint status", etcdctl(t, "", append([]string{eps, "endpoint", "status", "-w", "json"}, flags...)...), &sts)
	return sts
}

// getJSON is get -w json with args.
func getJSON(t *testing.T, eps string, args ...string) jsonRange {
	t.Helper()
	var r jsonRange // a new one each time: json.Unmarshal keeps fields the JSON leaves out
	decodeJSON(t, "get -w json", etcdctl(t, "", append(append([]string{eps, "get"}, args...), "-w", "json")...), &r)
	return r
}

// leaderOf returns the index in endpoints of the member that leads, as
// they report it.
func leaderOf(t *testing.T, endpoints []string) int {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		out, _, code := etcdctlRun(t, "", "--endpoints="+strings.Join(endpoints, ","), "endpoint", "status", "-w", "json")
		var sts []jsonStatus
		if code == 0 && json.Unmarshal([]byte(out), &sts) == nil {
			for _, st := range sts {
				if st.Status.Leader != 0 && st.Status.Leader == st.Status.Header.MemberID {
					for i, ep := range endpoints {
						if ep == st.Endpoint {
							return i
						}
					}
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("no member reports that it leads")
	return -1
}
