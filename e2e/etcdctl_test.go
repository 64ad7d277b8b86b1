package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// etcd 3.6's own etcdctl against a three-member cairn cluster of real
// processes: every command a user of etcd reaches for, its output
// checked as etcdctl prints it for etcd. The subtests share the cluster
// and run in order; each works under its own key prefix.
func TestEtcdctl(t *testing.T) {
	etcdctlBin(t) // build (or skip) before starting members
	c := startCluster3(t)
	eps := c.endpoints()
	waitPublished(t, eps, 3)
	t.Run("KV", func(t *testing.T) { etcdctlKV(t, eps) })
	t.Run("Txn", func(t *testing.T) { etcdctlTxn(t, eps) })
	t.Run("Watch", func(t *testing.T) { etcdctlWatch(t, c) })
	t.Run("Lease", func(t *testing.T) { etcdctlLease(t, c) })
	t.Run("Lock", func(t *testing.T) { etcdctlLock(t, eps) })
	t.Run("Elect", func(t *testing.T) { etcdctlElect(t, eps) })
	t.Run("Endpoint", func(t *testing.T) { etcdctlEndpoint(t, c) })
	t.Run("Maintenance", func(t *testing.T) { etcdctlMaintenance(t, c) })
	t.Run("Member", func(t *testing.T) { etcdctlMember(t, c) })
	t.Run("Snapshot", func(t *testing.T) { etcdctlSnapshot(t, c) })
	t.Run("Gateway", func(t *testing.T) { gatewayKV(t, "http://"+c.eps[1]) })
	t.Run("Auth", func(t *testing.T) { etcdctlAuth(t, c) }) // last: it turns auth on and off
}

// waitPublished waits until the member list shows n members with their
// client URLs (a cairn member serves before it has published them; etcd
// publishes first).
func waitPublished(t *testing.T, eps string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var resp struct{ Members []jsonMember }
		decodeJSON(t, "member list", etcdctl(t, "", eps, "member", "list", "-w", "json"), &resp)
		published := 0
		for _, m := range resp.Members {
			if len(m.ClientURLs) > 0 {
				published++
			}
		}
		if published == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d members published their client URLs in 10 s: %+v", published, n, resp.Members)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func etcdctlKV(t *testing.T, eps string) {
	for i := 1; i <= 3; i++ {
		wantOutput(t, "put", etcdctl(t, "", eps, "put", fmt.Sprintf("kv/a%d", i), fmt.Sprintf("v%d", i)), "OK\n")
	}
	wantOutput(t, "put", etcdctl(t, "", eps, "put", "kv/b", "x"), "OK\n")
	r := getJSON(t, eps, "kv/a1")
	if r.Count != 1 || len(r.Kvs) != 1 || r.Header.ClusterID == 0 || r.Header.MemberID == 0 || r.Header.RaftTerm == 0 {
		t.Fatalf("get kv/a1 -w json: %+v", r)
	}
	firstRev := r.Kvs[0].ModRevision

	wantOutput(t, "put --prev-kv", etcdctl(t, "", eps, "put", "kv/a1", "v1b", "--prev-kv"), "OK\nkv/a1\nv1\n")
	r = getJSON(t, eps, "kv/a", "--prefix")
	if r.Count != 3 || len(r.Kvs) != 3 || r.More {
		t.Fatalf("get kv/a --prefix: %+v", r)
	}
	for i, want := range []struct {
		key, value string
		version    int64
	}{{"kv/a1", "v1b", 2}, {"kv/a2", "v2", 1}, {"kv/a3", "v3", 1}} {
		kv := r.Kvs[i]
		if string(kv.Key) != want.key || string(kv.Value) != want.value || kv.Version != want.version ||
			kv.ModRevision < kv.CreateRevision || kv.ModRevision > r.Header.Revision {
			t.Fatalf("get kv/a --prefix: kvs[%d] is %+v, want %+v", i, kv, want)
		}
	}
	if r.Kvs[0].CreateRevision != firstRev {
		t.Fatalf("kv/a1 created at %d, then reported created at %d", firstRev, r.Kvs[0].CreateRevision)
	}

	r = getJSON(t, eps, "kv/a", "--prefix", "--limit", "2")
	if len(r.Kvs) != 2 || !r.More || r.Count != 3 {
		t.Fatalf("get --limit 2: %d kvs, more %v, count %d; want 2, true, 3", len(r.Kvs), r.More, r.Count)
	}
	wantOutput(t, "get --from-key --limit --keys-only", etcdctl(t, "", eps, "get", "kv/a2", "--from-key", "--limit", "2", "--keys-only"),
		"kv/a2\n\nkv/a3\n\n")
	if out := etcdctl(t, "", eps, "get", "kv/", "--prefix", "--count-only", "-w", "fields"); !strings.Contains(out, "\"Count\" : 4\n") ||
		strings.Contains(out, "\"Key\"") {
		t.Fatalf("get --count-only -w fields printed %q", out)
	}
	r = getJSON(t, eps, "kv/a", "--prefix", "--keys-only")
	if len(r.Kvs) != 3 || r.Kvs[0].Value != nil || r.Kvs[2].Value != nil {
		t.Fatalf("get --keys-only -w json: %+v", r.Kvs)
	}
	wantOutput(t, "get --sort-by=modify --order=descend", etcdctl(t, "", eps, "get", "kv/a", "--prefix", "--sort-by=modify", "--order=descend", "--keys-only"),
		"kv/a1\n\nkv/a3\n\nkv/a2\n\n")
	wantOutput(t, "get --sort-by=create --order=descend", etcdctl(t, "", eps, "get", "kv/a", "--prefix", "--sort-by=create", "--order=descend", "--print-value-only"),
		"v3\nv2\nv1b\n")
	wantOutput(t, "get --sort-by=value --order=ascend", etcdctl(t, "", eps, "get", "kv/", "--prefix", "--sort-by=value", "--order=ascend", "--print-value-only"),
		"v1b\nv2\nv3\nx\n")
	wantOutput(t, "get --rev", etcdctl(t, "", eps, "get", "kv/a1", "--rev", strconv.FormatInt(firstRev, 10), "--print-value-only"), "v1\n")
	etcdctlFails(t, "etcdserver: mvcc: required revision is a future revision", eps, "get", "kv/a1", "--rev", "1000000")

	// --ignore-value keeps the value; --lease attaches; --ignore-lease keeps the lease.
	wantOutput(t, "put --ignore-value", etcdctl(t, "", eps, "put", "kv/a2", "--ignore-value"), "OK\n")
	r = getJSON(t, eps, "kv/a2")
	if string(r.Kvs[0].Value) != "v2" || r.Kvs[0].Version != 2 {
		t.Fatalf("after put --ignore-value: %+v", r.Kvs[0])
	}
	lease := leaseGrant(t, eps, 60)
	leaseID, _ := strconv.ParseInt(lease, 16, 64)
	wantOutput(t, "put --lease", etcdctl(t, "", eps, "put", "kv/leased", "x", "--lease="+lease), "OK\n")
	wantOutput(t, "put --ignore-lease", etcdctl(t, "", eps, "put", "kv/leased", "y", "--ignore-lease"), "OK\n")
	r = getJSON(t, eps, "kv/leased")
	if string(r.Kvs[0].Value) != "y" || r.Kvs[0].Lease != leaseID {
		t.Fatalf("kv/leased is %+v, want value y with lease %x", r.Kvs[0], leaseID)
	}
	etcdctlFails(t, "etcdserver: requested lease not found", eps, "put", "kv/x", "y", "--lease=123abc")

	wantOutput(t, "del --prefix --prev-kv", etcdctl(t, "", eps, "del", "kv/a", "--prefix", "--prev-kv"),
		"3\nkv/a1\nv1b\nkv/a2\nv2\nkv/a3\nv3\n")
	var del struct {
		Header  jsonHeader `json:"header"`
		Deleted int64      `json:"deleted"`
	}
	decodeJSON(t, "del -w json", etcdctl(t, "", eps, "del", "kv/b", "-w", "json"), &del)
	if del.Deleted != 1 || del.Header.Revision == 0 {
		t.Fatalf("del kv/b -w json: %+v", del)
	}
	wantOutput(t, "del of nothing", etcdctl(t, "", eps, "del", "kv/none"), "0\n")
	wantOutput(t, "get after del", etcdctl(t, "", eps, "get", "kv/a", "--prefix"), "")
}

// txn in etcdctl's interactive form: compares, success and failure
// requests, each list ended by an empty line.
func etcdctlTxn(t *testing.T, eps string) {
	etcdctl(t, "", eps, "put", "txn/k", "v1")
	prompts := "compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\n"
	wantOutput(t, "txn --interactive",
		etcdctl(t, "value(\"txn/k\") = \"v1\"\n\nput txn/k v2\nget txn/k\n\nput txn/never x\n\n", eps, "txn", "--interactive"),
		prompts+"SUCCESS\n\nOK\n\ntxn/k\nv2\n")
	wantOutput(t, "txn that fails its compare",
		etcdctl(t, "version(\"txn/k\") = \"5\"\nmod(\"txn/k\") > \"0\"\n\nput txn/never x\n\nput txn/failed y\ndel txn/k\n\n", eps, "txn"),
		"FAILURE\n\nOK\n\n1\n")
	wantOutput(t, "after the txns", etcdctl(t, "", eps, "get", "txn/", "--prefix"), "txn/failed\ny\n")

	var resp struct {
		Header    jsonHeader `json:"header"`
		Succeeded bool       `json:"succeeded"`
		Responses []struct {
			Response struct {
				Put *struct {
					Header jsonHeader `json:"header"`
				} `json:"response_put"`
				Range *jsonRange `json:"response_range"`
			}
		} `json:"responses"`
	}
	out := etcdctl(t, "create(\"txn/failed\") > \"0\"\nval(\"txn/failed\") = \"y\"\n\nput txn/k2 z\nget txn/failed\n\n\n", eps, "txn", "-w", "json")
	decodeJSON(t, "txn -w json", out, &resp)
	if !resp.Succeeded || len(resp.Responses) != 2 || resp.Responses[0].Response.Put == nil ||
		resp.Responses[0].Response.Put.Header.Revision != resp.Header.Revision ||
		resp.Responses[1].Response.Range == nil || string(resp.Responses[1].Response.Range.Kvs[0].Value) != "y" {
		t.Fatalf("txn -w json printed %s", out)
	}
}

// watch in the background, from a past revision (so it sees every event
// however long it takes to start), with --prefix and --prev-kv, and as
// JSON through a follower.
func etcdctlWatch(t *testing.T, c *cluster3) {
	eps := c.endpoints()
	from := strconv.FormatInt(revisionNow(t, eps)+1, 10)
	prefix := startEtcdctl(t, eps, "watch", "watch/", "--prefix", "--prev-kv", "--rev", from)
	lead := leaderOf(t, c.eps)
	follower := "--endpoints=" + c.eps[(lead+1)%3]
	single := startEtcdctl(t, follower, "watch", "watch/k", "--rev", from, "-w", "json")

	etcdctl(t, "", eps, "put", "watch/k", "a")
	etcdctl(t, "", eps, "put", "watch/k", "b")
	etcdctl(t, "", eps, "del", "watch/k")
	etcdctl(t, "", eps, "put", "watch/other", "z")

	// A put with its previous value prints both (the previous first); a
	// delete prints the key as it was, then the key without a value.
	want := "PUT\nwatch/k\na\n" + "PUT\nwatch/k\na\nwatch/k\nb\n" + "DELETE\nwatch/k\nb\nwatch/k\n\n" + "PUT\nwatch/other\nz\n"
	got := prefix.waitOutput("four events", func(s string) bool { return len(s) >= len(want) })
	wantOutput(t, "watch --prefix --prev-kv", got, want)

	type event struct {
		Type int    `json:"type"`
		Kv   jsonKV `json:"kv"`
	}
	var events []event
	single.waitOutput("three events as JSON", func(s string) bool {
		events = events[:0]
		for _, line := range strings.Split(s, "\n") {
			var resp struct {
				Header jsonHeader
				Events []event
			}
			if json.Unmarshal([]byte(line), &resp) == nil {
				events = append(events, resp.Events...)
			}
		}
		return len(events) >= 3
	})
	if len(events) != 3 || events[0].Type != 0 || string(events[0].Kv.Value) != "a" || events[1].Type != 0 ||
		string(events[1].Kv.Value) != "b" || events[1].Kv.Version != 2 || events[2].Type != 1 || string(events[2].Kv.Key) != "watch/k" ||
		events[2].Kv.ModRevision != events[1].Kv.ModRevision+1 {
		t.Fatalf("watch -w json through a follower saw %+v", events)
	}
}

func etcdctlLease(t *testing.T, c *cluster3) {
	eps := c.endpoints()
	id := leaseGrant(t, eps, 60)
	// The put and the time-to-live questions go to one member: cairn
	// reads a lease's keys from the member's own store without a read
	// barrier, so another member may not have applied the put yet (etcd
	// answers from the leader once it has applied all it committed).
	one := "--endpoints=" + c.eps[0]
	etcdctl(t, "", one, "put", "lease/k", "v", "--lease="+id)
	out := etcdctl(t, "", one, "lease", "timetolive", id, "--keys")
	m := regexp.MustCompile(`^lease ` + id + ` granted with TTL\(60s\), remaining\((\d+)s\), attached keys\(\[lease/k\]\)\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("lease timetolive --keys printed %q", out)
	}
	if rem, _ := strconv.Atoi(m[1]); rem < 50 || rem > 60 {
		t.Fatalf("lease remaining %ds of 60", rem)
	}
	var ttl struct {
		ID         int64    `json:"id"`
		TTL        int64    `json:"ttl"`
		GrantedTTL int64    `json:"granted-ttl"`
		Keys       [][]byte `json:"keys"`
	}
	decodeJSON(t, "timetolive -w json", etcdctl(t, "", one, "lease", "timetolive", id, "--keys", "-w", "json"), &ttl)
	if fmt.Sprintf("%016x", ttl.ID) != id || ttl.GrantedTTL != 60 || ttl.TTL <= 0 || len(ttl.Keys) != 1 || string(ttl.Keys[0]) != "lease/k" {
		t.Fatalf("timetolive -w json: %+v", ttl)
	}
	if out := etcdctl(t, "", eps, "lease", "list"); !strings.HasPrefix(out, "found ") || !strings.Contains(out, "\n"+id+"\n") {
		t.Fatalf("lease list printed %q", out)
	}
	// Keep-alives through every member: followers forward to the leader.
	for _, ep := range c.eps {
		wantOutput(t, "keep-alive --once at "+ep, etcdctl(t, "", "--endpoints="+ep, "lease", "keep-alive", "--once", id),
			"lease "+id+" keepalived with TTL(60)\n")
	}
	wantOutput(t, "lease revoke", etcdctl(t, "", eps, "lease", "revoke", id), "lease "+id+" revoked\n")
	wantOutput(t, "get after revoke", etcdctl(t, "", eps, "get", "lease/k"), "")
	wantOutput(t, "timetolive after revoke", etcdctl(t, "", eps, "lease", "timetolive", id), "lease "+id+" already expired\n")
	etcdctlFails(t, "failed to revoke lease (etcdserver: requested lease not found)", eps, "lease", "revoke", id)
	etcdctlFails(t, "etcdserver: requested lease not found", eps, "lease", "keep-alive", "--once", id)

	// A short lease expires with its key.
	short := leaseGrant(t, eps, 3) // cairn's shortest lease
	etcdctl(t, "", eps, "put", "lease/short", "v", "--lease="+short)
	deadline := time.Now().Add(10 * time.Second)
	for etcdctl(t, "", eps, "get", "lease/short", "--print-value-only") != "" {
		if time.Now().After(deadline) {
			t.Fatal("a 3 s lease still holds its key after 10 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	wantOutput(t, "timetolive of an expired lease", etcdctl(t, "", eps, "lease", "timetolive", short), "lease "+short+" already expired\n")
}

// etcdctl's own lock: the command runs holding it; a second locker waits
// until the first lets go.
func etcdctlLock(t *testing.T, eps string) {
	out := etcdctl(t, "", eps, "lock", "lk", "--", "sh", "-c", "echo held $ETCD_LOCK_KEY")
	if !regexp.MustCompile(`^held lk/[0-9a-f]+\n$`).MatchString(out) {
		t.Fatalf("lock with a command printed %q", out)
	}
	holder := startEtcdctl(t, eps, "lock", "lk")
	key := strings.TrimSpace(holder.waitOutput("the lock", func(s string) bool { return strings.HasSuffix(s, "\n") }))
	if !strings.HasPrefix(key, "lk/") {
		t.Fatalf("lock printed %q", key)
	}
	waiter := startEtcdctl(t, eps, "lock", "lk", "echo", "second")
	time.Sleep(500 * time.Millisecond)
	if out := waiter.out.String(); out != "" {
		t.Fatalf("a second locker got the held lock: %q", out)
	}
	holder.interrupt()
	wantOutput(t, "the second locker", waiter.waitOutput("the lock after the first let go", func(s string) bool { return s != "" }), "second\n")
	select {
	case err := <-waiter.done:
		if err != nil {
			t.Fatalf("the second locker exited with %v: %s", err, waiter.err.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second locker did not exit")
	}
	wantOutput(t, "the lock's keys after both", etcdctl(t, "", eps, "get", "lk/", "--prefix"), "")
}

// etcdctl's own election: a leader proclaims, an observer sees it, a
// second candidate takes over when the first resigns.
func etcdctlElect(t *testing.T, eps string) {
	first := startEtcdctl(t, eps, "elect", "el", "p1")
	out := first.waitOutput("leadership", func(s string) bool { return strings.Count(s, "\n") >= 2 })
	if !regexp.MustCompile(`^el/[0-9a-f]+\np1\n$`).MatchString(out) {
		t.Fatalf("elect printed %q", out)
	}
	observer := startEtcdctl(t, eps, "elect", "--listen", "el")
	observer.waitOutput("the leader", func(s string) bool { return strings.Contains(s, "\np1\n") })
	second := startEtcdctl(t, eps, "elect", "el", "p2")
	time.Sleep(500 * time.Millisecond)
	if out := second.out.String(); out != "" {
		t.Fatalf("a second candidate leads while the first does: %q", out)
	}
	first.interrupt()
	second.waitOutput("leadership after the first resigned", func(s string) bool { return strings.HasSuffix(s, "\np2\n") })
	observer.waitOutput("the new leader", func(s string) bool { return strings.HasSuffix(s, "\np2\n") })
	second.interrupt()
}

func etcdctlEndpoint(t *testing.T, c *cluster3) {
	eps := c.endpoints()
	sts := statusOf(t, eps, "--cluster")
	if len(sts) != 3 {
		t.Fatalf("endpoint status --cluster: %d members", len(sts))
	}
	for _, st := range sts {
		s := st.Status
		if s.Leader == 0 || s.Leader != sts[0].Status.Leader || s.Version != "3.6.0" || s.DBSize == 0 || s.RaftTerm == 0 ||
			s.RaftIndex == 0 || s.RaftAppliedIndex == 0 || s.IsLearner || len(s.Errors) != 0 || !strings.HasPrefix(st.Endpoint, "http://127.0.0.1:") {
			t.Fatalf("endpoint status --cluster: %+v", sts)
		}
	}
	var health []struct {
		Endpoint string `json:"endpoint"`
		Health   bool   `json:"health"`
	}
	decodeJSON(t, "endpoint health", etcdctl(t, "", eps, "endpoint", "health", "--cluster", "-w", "json"), &health)
	if len(health) != 3 || !health[0].Health || !health[1].Health || !health[2].Health {
		t.Fatalf("endpoint health --cluster: %+v", health)
	}
	if out := etcdctl(t, "", eps, "endpoint", "health"); strings.Count(out, "is healthy: successfully committed proposal") != 3 {
		t.Fatalf("endpoint health printed %q", out)
	}
	var hashes []struct {
		Endpoint string
		HashKV   struct {
			Hash            uint32 `json:"hash"`
			HashRevision    int64  `json:"hash_revision"`
			CompactRevision int64  `json:"compact_revision"`
		}
	}
	decodeJSON(t, "endpoint hashkv", etcdctl(t, "", eps, "endpoint", "hashkv", "--cluster", "-w", "json"), &hashes)
	if len(hashes) != 3 {
		t.Fatalf("endpoint hashkv --cluster: %+v", hashes)
	}
	for _, h := range hashes {
		if h.HashKV != hashes[0].HashKV || h.HashKV.HashRevision == 0 || h.HashKV.CompactRevision != -1 {
			t.Fatalf("endpoint hashkv --cluster: members differ or a revision is wrong: %+v", hashes)
		}
	}
	if out := etcdctl(t, "", eps, "endpoint", "status", "-w", "table"); !strings.Contains(out, " ENDPOINT ") || strings.Count(out, "| 127.0.0.1:") != 3 {
		t.Fatalf("endpoint status -w table printed\n%s", out)
	}
}

func etcdctlMaintenance(t *testing.T, c *cluster3) {
	eps := c.endpoints()
	out := etcdctl(t, "", eps, "defrag", "--cluster")
	for _, ep := range c.eps {
		if !strings.Contains(out, "Finished defragmenting etcd member[http://"+ep+"]") {
			t.Fatalf("defrag --cluster printed %q", out)
		}
	}
	wantOutput(t, "alarm list", etcdctl(t, "", eps, "alarm", "list"), "")
	wantOutput(t, "alarm disarm", etcdctl(t, "", eps, "alarm", "disarm"), "")

	etcdctl(t, "", eps, "put", "maint/k", "v1")
	rev := revisionNow(t, eps)
	etcdctl(t, "", eps, "put", "maint/k", "v2")
	wantOutput(t, "compaction --physical", etcdctl(t, "", eps, "compaction", "--physical", strconv.FormatInt(rev, 10)),
		fmt.Sprintf("compacted revision %d\n", rev))
	etcdctlFails(t, "etcdserver: mvcc: required revision has been compacted", eps, "get", "maint/k", "--rev", strconv.FormatInt(rev-1, 10))
	wantOutput(t, "get at the compaction revision", etcdctl(t, "", eps, "get", "maint/k", "--rev", strconv.FormatInt(rev, 10), "--print-value-only"), "v1\n")

	// move-leader asks the leader (found by status) to hand over.
	lead := leaderOf(t, c.eps)
	sts := statusOf(t, eps)
	var leaderID, targetID uint64
	for _, st := range sts {
		if st.Endpoint == c.eps[lead] {
			leaderID = st.Status.Header.MemberID
		} else {
			targetID = st.Status.Header.MemberID
		}
	}
	wantOutput(t, "move-leader", etcdctl(t, "", eps, "move-leader", fmt.Sprintf("%x", targetID)),
		fmt.Sprintf("Leadership transferred from %x to %x\n", leaderID, targetID))
	for _, st := range statusOf(t, eps) {
		if st.Status.Leader != targetID {
			t.Fatalf("after move-leader %s reports leader %x, want %x", st.Endpoint, st.Status.Leader, targetID)
		}
	}
	etcdctlFails(t, "etcdserver: bad leader transferee", eps, "move-leader", "1234")
}

// member add (a learner, started from etcdctl's own ETCD_INITIAL_CLUSTER
// line), promote, update, remove.
func etcdctlMember(t *testing.T, c *cluster3) {
	eps := c.endpoints()
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	client := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	out := etcdctl(t, "", eps, "member", "add", "m4", "--peer-urls="+peer, "--learner")
	m := regexp.MustCompile(`^Member +([0-9a-f]+) added as learner to cluster +([0-9a-f]+)\n\n` +
		`ETCD_NAME="m4"\nETCD_INITIAL_CLUSTER="([^"]+)"\nETCD_INITIAL_ADVERTISE_PEER_URLS="` + regexp.QuoteMeta(peer) + `"\n` +
		`ETCD_INITIAL_CLUSTER_STATE="existing"\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("member add --learner printed %q", out)
	}
	id, initial := m[1], m[3]
	if strings.Count(initial, "=http://127.0.0.1:") != 4 {
		t.Fatalf("ETCD_INITIAL_CLUSTER %q", initial)
	}
	// The cluster's token too: a new member proves it to be given the
	// cluster secret.
	m4 := startNode(t, c.dir, "--name", "m4", "--data-dir", "m4.node", "--listen-client-urls", client, "--listen-peer-urls", peer,
		"--initial-cluster", initial, "--initial-cluster-state", "existing", "--initial-cluster-token", "e2e",
		"--heartbeat-interval", "50", "--election-timeout", "500")
	members := func() map[string]jsonMember {
		var resp struct{ Members []jsonMember }
		decodeJSON(t, "member list", etcdctl(t, "", eps, "member", "list", "-w", "json"), &resp)
		byName := map[string]jsonMember{}
		for _, m := range resp.Members {
			byName[m.Name] = m
		}
		return byName
	}
	deadline := time.Now().Add(10 * time.Second)
	for ms := members(); len(ms["m4"].ClientURLs) == 0; ms = members() {
		if time.Now().After(deadline) {
			t.Fatalf("m4 never published its name and client URL: %+v", ms)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ms := members(); len(ms) != 4 || !ms["m4"].IsLearner || ms["m1"].IsLearner || ms["m4"].ClientURLs[0] != client {
		t.Fatalf("member list with a learner: %+v", ms)
	}
	if out := etcdctl(t, "", eps, "member", "list"); !strings.Contains(out, id+", started, m4, "+peer+", "+client+", true\n") {
		t.Fatalf("member list printed %q", out)
	}
	// The learner serves serializable reads once it has caught up.
	etcdctl(t, "", eps, "put", "member/k", "v")
	learner := "--endpoints=" + strings.TrimPrefix(client, "http://")
	for deadline := time.Now().Add(10 * time.Second); ; {
		out, _, _ := etcdctlRun(t, "", learner, "get", "member/k", "--consistency=s", "--print-value-only")
		if out == "v\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the learner did not catch up: %q", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Promote through a follower: it asks the leader, which alone knows
	// whether the learner has caught up.
	follower := "--endpoints=" + c.eps[(leaderOf(t, c.eps)+1)%3]
	wantOutput(t, "member promote", etcdctl(t, "", follower, "member", "promote", id), memberChanged(id, "promoted in", m[2]))
	if ms := members(); ms["m4"].IsLearner {
		t.Fatalf("m4 is still a learner: %+v", ms["m4"])
	}
	etcdctlFails(t, "etcdserver: can only promote a learner member", eps, "member", "promote", id)

	// A voter that never starts: added, its peer URL updated, removed.
	out = etcdctl(t, "", eps, "member", "add", "m5", "--peer-urls=http://127.0.0.1:1")
	m5 := regexp.MustCompile(`^Member +([0-9a-f]+) added to cluster `).FindStringSubmatch(out)
	if m5 == nil {
		t.Fatalf("member add printed %q", out)
	}
	wantOutput(t, "member update", etcdctl(t, "", eps, "member", "update", m5[1], "--peer-urls=http://127.0.0.1:2"),
		memberChanged(m5[1], "updated in", m[2]))
	if out := etcdctl(t, "", eps, "member", "list"); !strings.Contains(out, m5[1]+", unstarted, , http://127.0.0.1:2, , false\n") {
		t.Fatalf("member list printed %q", out)
	}
	wantOutput(t, "member remove", etcdctl(t, "", eps, "member", "remove", m5[1]), memberChanged(m5[1], "removed from", m[2]))

	// Removing the running member stops it.
	wantOutput(t, "member remove", etcdctl(t, "", eps, "member", "remove", id), memberChanged(id, "removed from", m[2]))
	select {
	case err := <-m4.done:
		m4.done <- err
	case <-time.After(15 * time.Second):
		t.Fatalf("the removed member still runs:\n%s", m4.stderr.String())
	}
	if ms := members(); len(ms) != 3 || ms["m4"].ID != 0 {
		t.Fatalf("member list after remove: %+v", ms)
	}
}

// memberChanged is etcdctl's line for a membership change (ids in hex,
// padded to 16 characters).
func memberChanged(id, change, cluster string) string {
	return fmt.Sprintf("Member %16s %s cluster %16s\n", id, change, cluster)
}

// snapshot save from one member, cairn's ctl snapshot restore into a new
// data dir, a member started on it serves the keys.
func etcdctlSnapshot(t *testing.T, c *cluster3) {
	eps := c.endpoints()
	for i := range 3 {
		etcdctl(t, "", eps, "put", fmt.Sprintf("snap/%d", i), fmt.Sprintf("v%d", i))
	}
	file := filepath.Join(t.TempDir(), "etcdctl.db")
	wantOutput(t, "snapshot save", etcdctl(t, "", "--endpoints="+c.eps[0], "snapshot", "save", file),
		"Snapshot saved at "+file+"\nServer version 3.6.0\n")
	etcdctlFails(t, "snapshot must be requested to one selected node, not multiple ["+strings.Join(c.eps, " ")+"]", eps, "snapshot", "save", file+"2")

	dir := t.TempDir()
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	client := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	ctl(t, "", "snapshot", "restore", file, "--name", "solo", "--data-dir", filepath.Join(dir, "solo.node"), "--initial-advertise-peer-urls", peer)
	startNode(t, dir, "--name", "solo", "--data-dir", "solo.node", "--listen-peer-urls", peer, "--listen-client-urls", client)
	solo := "--endpoints=" + strings.TrimPrefix(client, "http://")
	wantOutput(t, "get from the restored member", etcdctl(t, "", solo, "get", "snap/", "--prefix"), "snap/0\nv0\nsnap/1\nv1\nsnap/2\nv2\n")
	if out := etcdctl(t, "", solo, "member", "list"); !strings.Contains(out, ", started, solo, "+peer+", "+client+", false\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("the restored member's member list: %q", out)
	}
}

func etcdctlAuth(t *testing.T, c *cluster3) {
	eps := c.endpoints()
	wantOutput(t, "user add root", etcdctl(t, "", eps, "user", "add", "root", "--new-user-password=rootpw", "--interactive=false"), "User root created\n")
	wantOutput(t, "user add alice", etcdctl(t, "", eps, "user", "add", "alice", "--new-user-password=alicepw", "--interactive=false"), "User alice created\n")
	wantOutput(t, "role add", etcdctl(t, "", eps, "role", "add", "pub-reader"), "Role pub-reader created\n")
	wantOutput(t, "grant-permission", etcdctl(t, "", eps, "role", "grant-permission", "pub-reader", "read", "pub/", "--prefix"), "Role pub-reader updated\n")
	wantOutput(t, "grant-permission", etcdctl(t, "", eps, "role", "grant-permission", "pub-reader", "readwrite", "pub/inbox"), "Role pub-reader updated\n")
	wantOutput(t, "grant-role", etcdctl(t, "", eps, "user", "grant-role", "alice", "pub-reader"), "Role pub-reader is granted to user alice\n")
	wantOutput(t, "role get", etcdctl(t, "", eps, "role", "get", "pub-reader"),
		"Role pub-reader\nKV Read:\n\t[pub/, pub0) (prefix pub/)\n\tpub/inbox\nKV Write:\n\tpub/inbox\n")
	wantOutput(t, "user get", etcdctl(t, "", eps, "user", "get", "alice"), "User: alice\nRoles: pub-reader\n")
	wantOutput(t, "user list", etcdctl(t, "", eps, "user", "list"), "alice\nroot\n")
	etcdctl(t, "", eps, "put", "pub/a", "1")
	etcdctl(t, "", eps, "put", "secret", "s")

	// etcdctl gives root the root role itself when etcd asks for it.
	wantOutput(t, "auth enable", etcdctl(t, "", eps, "auth", "enable"), "Authentication Enabled\n")
	etcdctlFails(t, "etcdserver: user name is empty", eps, "get", "pub/a")
	root := "--user=root:rootpw"
	wantOutput(t, "root put", etcdctl(t, "", eps, root, "put", "pub/b", "2"), "OK\n")
	wantOutput(t, "root get", etcdctl(t, "", eps, "--user=root", "--password=rootpw", "get", "secret"), "secret\ns\n")
	alice := "--user=alice:alicepw"
	wantOutput(t, "alice get", etcdctl(t, "", eps, alice, "get", "pub/", "--prefix", "--print-value-only"), "1\n2\n")
	wantOutput(t, "alice put where she may", etcdctl(t, "", eps, alice, "put", "pub/inbox", "hi"), "OK\n")
	etcdctlFails(t, "etcdserver: permission denied", eps, alice, "put", "pub/a", "x")
	etcdctlFails(t, "etcdserver: permission denied", eps, alice, "get", "secret")
	etcdctlFails(t, "etcdserver: permission denied", eps, alice, "user", "list")
	etcdctlFails(t, "etcdserver: authentication failed, invalid user ID or password", eps, "--user=alice:wrong", "get", "pub/a")
	wantOutput(t, "auth status", etcdctl(t, "", eps, root, "auth", "status"), "Authentication Status: true\nAuthRevision: "+
		authRevision(t, eps, root)+"\n")

	gatewayAuth(t, "http://"+c.eps[2])

	wantOutput(t, "auth disable", etcdctl(t, "", eps, root, "auth", "disable"), "Authentication Disabled\n")
	wantOutput(t, "get after disable", etcdctl(t, "", eps, "get", "secret", "--print-value-only"), "s\n")
}

func authRevision(t *testing.T, eps, user string) string {
	t.Helper()
	var st struct {
		Enabled      bool   `json:"enabled"`
		AuthRevision uint64 `json:"authRevision"`
	}
	decodeJSON(t, "auth status -w json", etcdctl(t, "", eps, user, "auth", "status", "-w", "json"), &st)
	if !st.Enabled || st.AuthRevision == 0 {
		t.Fatalf("auth status -w json: %+v", st)
	}
	return strconv.FormatUint(st.AuthRevision, 10)
}

// The NOSPACE alarm as etcd's operators handle it: a member past its
// quota refuses writes and says so in alarm list and endpoint status;
// compaction, defrag and alarm disarm bring writes back.
func TestEtcdctlNoSpaceAlarm(t *testing.T) {
	etcdctlBin(t)
	dir := t.TempDir()
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	client := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	startNode(t, dir, "--name", "q", "--listen-peer-urls", peer, "--listen-client-urls", client, "--quota-backend-bytes", "262144")
	eps := "--endpoints=" + strings.TrimPrefix(client, "http://")
	big := strings.Repeat("x", 32<<10)
	for i := 0; ; i++ {
		if i == 100 {
			t.Fatal("100 puts of 32 KiB fit a quota of 256 KiB")
		}
		_, errOut, code := etcdctlRun(t, "", eps, "put", fmt.Sprintf("big/%d", i), big)
		if code != 0 {
			if !strings.HasSuffix(errOut, "Error: etcdserver: mvcc: database space exceeded\n") {
				t.Fatalf("put past the quota: %s", errOut)
			}
			break
		}
	}
	out := etcdctl(t, "", eps, "alarm", "list")
	if !regexp.MustCompile(`^memberID:\d+ alarm:NOSPACE \n$`).MatchString(out) {
		t.Fatalf("alarm list printed %q", out)
	}
	if sts := statusOf(t, eps); len(sts[0].Status.Errors) != 1 || !strings.Contains(sts[0].Status.Errors[0], "alarm:NOSPACE") {
		t.Fatalf("endpoint status errors: %q", sts[0].Status.Errors)
	}
	etcdctlFails(t, "etcdserver: mvcc: database space exceeded", eps, "put", "small", "x")
	etcdctl(t, "", eps, "del", "big/", "--prefix")
	etcdctl(t, "", eps, "compaction", "--physical", strconv.FormatInt(revisionNow(t, eps), 10))
	etcdctl(t, "", eps, "defrag")
	// The member checks the quota against the store's size as of its last
	// periodic commit (every 100 ms), which a defrag does not refresh: a
	// write sooner would see the size from before the defrag and raise the
	// alarm again (etcd reads the size the defrag left).
	time.Sleep(250 * time.Millisecond)
	wantOutput(t, "alarm disarm", etcdctl(t, "", eps, "alarm", "disarm"), out)
	wantOutput(t, "alarm list after disarm", etcdctl(t, "", eps, "alarm", "list"), "")
	wantOutput(t, "put after disarm", etcdctl(t, "", eps, "put", "small", "x"), "OK\n")
}
