package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/node/nodetest"
)

// opsCluster is a cluster whose membership changes while a test runs:
// ctl talks to the members that are running.
type opsCluster struct {
	*nodetest.Cluster
	t *testing.T
}

// live are the endpoints of the running members.
func (c *opsCluster) live() []string {
	var eps []string
	for i, s := range c.Servers {
		if s != nil {
			eps = append(eps, c.Endpoint(i))
		}
	}
	return eps
}

// ctl runs a command line against the running members.
func (c *opsCluster) ctl(args ...string) result {
	c.t.Helper()
	var out, errb bytes.Buffer
	full := append([]string{"--endpoints=" + strings.Join(c.live(), ","), "--command-timeout=5s"}, args...)
	code := runContext(context.Background(), full, strings.NewReader(""), &out, &errb)
	return result{code, out.String(), errb.String()}
}

// must runs a command line and fails the test unless it succeeds.
func (c *opsCluster) must(args ...string) string {
	c.t.Helper()
	r := c.ctl(args...)
	if r.code != exitOK {
		c.t.Fatalf("ctl %s: exit %d, %q, %q", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// until runs a command line until it succeeds (within 20 s).
func (c *opsCluster) until(what string, args ...string) string {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := c.ctl(args...)
		if r.code == exitOK {
			return r.stdout
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: ctl %s still fails: %q", what, strings.Join(args, " "), r.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// statuses are the members' answers to endpoint status -w json.
func (c *opsCluster) statuses() []endpointStatusJSON {
	c.t.Helper()
	var sts []endpointStatusJSON
	out := c.until("endpoint status", "endpoint", "status", "-w", "json")
	if err := json.Unmarshal([]byte(out), &sts); err != nil {
		c.t.Fatalf("endpoint status -w json: %v: %q", err, out)
	}
	return sts
}

type endpointStatusJSON struct {
	Endpoint string
	Status   struct {
		Header struct {
			MemberID uint64 `json:"member_id"`
			Revision int64  `json:"revision"`
		}
		Leader uint64
	}
}

// leader is the index of the member that every running member names as
// leader.
func (c *opsCluster) leader() int {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		sts := c.statuses()
		lead := sts[0].Status.Leader
		agree := lead != 0 && len(sts) == len(c.live())
		for _, st := range sts {
			agree = agree && st.Status.Leader == lead
		}
		for i, s := range c.Servers {
			if agree && s != nil && s.ID() == lead {
				return i
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatal("the running members agree on no leader")
	return -1
}

var memberAddedLine = regexp.MustCompile(`^Member ([0-9a-f]{16}) added (as a learner )?to cluster [0-9a-f]{16}\n`)

// add adds one more member with ctl member add (as a learner if asked)
// and starts it; it returns its index.
func (c *opsCluster) add(name string, learner bool) int {
	c.t.Helper()
	i := c.AddMember(name)
	args := []string{"member", "add", name, "--peer-urls=" + c.Configs[i].InitialAdvertisePeerURLs[0].String()}
	if learner {
		args = append(args, "--learner")
	}
	out := c.must(args...)
	m := memberAddedLine.FindStringSubmatch(out)
	if m == nil || (m[2] != "") != learner {
		c.t.Fatalf("member add printed %q", out)
	}
	c.StartMember(i)
	if got := fmt.Sprintf("%016x", c.Servers[i].ID()); got != m[1] {
		c.t.Fatalf("member %s joined as %s, added as %s", name, got, m[1])
	}
	return i
}

// writer keeps writing new keys and remembers those acknowledged.
type writer struct {
	mu    sync.Mutex
	acked []string
	stop  chan struct{}
	done  chan struct{}
}

func startWriter(t *testing.T, c *opsCluster) *writer {
	w := &writer{stop: make(chan struct{}), done: make(chan struct{})}
	cl := c.Client()
	go func() {
		defer close(w.done)
		for n := 0; ; n++ {
			select {
			case <-w.stop:
				return
			default:
			}
			// A write lost with the leader it was forwarded to times out
			// (its outcome unknown): it is simply not counted.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			key := fmt.Sprintf("w/%06d", n)
			if _, err := cl.Put(ctx, key, "v"); err == nil {
				w.mu.Lock()
				w.acked = append(w.acked, key)
				w.mu.Unlock()
			} else {
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
		}
	}()
	t.Cleanup(w.halt)
	return w
}

func (w *writer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

func (w *writer) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// progresses waits until the writer has had n more writes acknowledged.
func (w *writer) progresses(t *testing.T, what string, n int) {
	t.Helper()
	want := w.count() + n
	deadline := time.Now().Add(20 * time.Second)
	for w.count() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the writer is stuck at %d acknowledged writes", what, w.count())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Membership changes through ctl while a writer keeps writing: a learner
// added, started, caught up and promoted; the leader removed; a dead
// member replaced by a new one with an empty data dir. No acknowledged
// write is lost, and the members' hashes agree at the end.
func TestMemberOperationsUnderLoad(t *testing.T) {
	c := &opsCluster{Cluster: nodetest.Start(t, 3, nodetest.Options{Configure: func(i int, cfg *node.Config) {
		cfg.SnapshotCount = 200 // the new members catch up from a snapshot
	}}), t: t}
	w := startWriter(t, c)
	w.progresses(t, "start", 20)

	// (a) A learner joins, catches up, and is promoted.
	learner := c.add("learner", true)
	id := fmt.Sprintf("%016x", c.Servers[learner].ID())
	if line := memberLineOf(c.must("member", "list"), id); !strings.HasSuffix(line, ", true") {
		t.Fatalf("member list line of the learner: %q", line)
	}
	c.until("promote the learner once it has caught up", "member", "promote", id)
	if out := c.must("member", "list"); strings.Contains(out, "true\n") {
		t.Fatalf("member list after the promotion still has a learner:\n%s", out)
	}
	w.progresses(t, "after the promotion", 20)

	// (b) The leader is removed: the others elect a new one, the writer
	// goes on, and the removed member stops.
	lead := c.leader()
	leadID := fmt.Sprintf("%016x", c.Servers[lead].ID())
	if out := c.must("member", "remove", leadID); !strings.HasPrefix(out, "Member "+leadID+" removed from cluster ") {
		t.Fatalf("member remove printed %q", out)
	}
	select {
	case <-c.Servers[lead].Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the removed leader is still running")
	}
	c.StopMember(lead)
	if newLead := c.leader(); newLead == lead {
		t.Fatalf("the removed member %d still leads", lead)
	}
	w.progresses(t, "after the leader's removal", 20)

	// (c) A member dies for good and is replaced by a new one.
	dead := (c.leader() + 1) % len(c.Servers)
	for c.Servers[dead] == nil {
		dead = (dead + 1) % len(c.Servers)
	}
	deadID := fmt.Sprintf("%016x", c.Servers[dead].ID())
	c.StopMember(dead)
	c.must("member", "remove", deadID)
	w.progresses(t, "after the dead member's removal", 20)
	replacement := c.add("replacement", false)
	w.progresses(t, "after the replacement joined", 20)

	// The end: every acknowledged write is there, and the members agree.
	w.halt()
	for deadline := time.Now().Add(20 * time.Second); ; {
		// The replacement is listed as started once it has published its
		// name and client URLs.
		out := c.must("member", "list")
		if strings.Count(out, "\n") == 3 && !strings.Contains(out, leadID) && !strings.Contains(out, deadID) &&
			strings.Contains(out, fmt.Sprintf("%016x, started, replacement, ", c.Servers[replacement].ID())) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("final member list:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rev := c.sameRevision()
	out := c.must("endpoint", "hashkv", fmt.Sprintf("--rev=%d", rev), "-w", "json")
	var hs []struct {
		HashKV struct {
			Hash uint32 `json:"hash"`
		}
	}
	if err := json.Unmarshal([]byte(out), &hs); err != nil || len(hs) != 3 {
		t.Fatalf("endpoint hashkv: %v: %q", err, out)
	}
	for _, h := range hs[1:] {
		if h.HashKV.Hash != hs[0].HashKV.Hash {
			t.Fatalf("members disagree on the hash at revision %d:\n%s", rev, out)
		}
	}
	got := map[string]bool{}
	for _, k := range strings.Fields(c.must("get", "w/", "--prefix", "--keys-only")) {
		got[k] = true
	}
	for _, k := range w.acked {
		if !got[k] {
			t.Fatalf("acknowledged write %s lost (%d of %d acknowledged writes read back)", k, len(got), len(w.acked))
		}
	}
	t.Logf("%d writes acknowledged, all read back", len(w.acked))
}

// memberLineOf is the line of member id in member list's output.
func memberLineOf(out, id string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, id+", ") {
			return l
		}
	}
	return ""
}

// sameRevision waits until every running member has applied the same
// revision, and returns it.
func (c *opsCluster) sameRevision() int64 {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		sts := c.statuses()
		rev := sts[0].Status.Header.Revision
		same := len(sts) == len(c.live())
		for _, st := range sts {
			same = same && st.Status.Header.Revision == rev
		}
		if same {
			return rev
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the members never reached the same revision: %+v", sts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A member removed through its own endpoint, just after it handed
// leadership over: the new leader may drop the proposal it forwards (it
// has not committed in its term yet), and once the removal commits the
// member hears nothing more from the leader. It still answers, then stops,
// and the others go on.
func TestMemberRemoveThroughItself(t *testing.T) {
	c := &opsCluster{Cluster: nodetest.Start(t, 3, nodetest.Options{}), t: t}
	lead := c.leader()
	next := (lead + 1) % 3
	c.must("move-leader", fmt.Sprintf("%016x", c.Servers[next].ID()))
	id := fmt.Sprintf("%016x", c.Servers[lead].ID())
	var out, errb bytes.Buffer
	code := runContext(context.Background(), []string{"--endpoints=" + c.Endpoint(lead), "--command-timeout=10s", "member", "remove", id},
		strings.NewReader(""), &out, &errb)
	if code != exitOK || !strings.HasPrefix(out.String(), "Member "+id+" removed from cluster ") {
		t.Fatalf("member remove through the member itself: exit %d, %q, %q", code, out.String(), errb.String())
	}
	select {
	case <-c.Servers[lead].Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the removed member is still running")
	}
	c.StopMember(lead)
	c.until("a write after the removal", "put", "after", "removal")
	if out := c.must("member", "list"); strings.Count(out, "\n") != 2 || strings.Contains(out, id) {
		t.Fatalf("member list after the removal:\n%s", out)
	}
}
