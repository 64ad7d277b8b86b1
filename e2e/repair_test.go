package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairndb/cairn/client"
)

// walSegments lists member i's WAL segments, oldest first.
func (c *cluster3) walSegments(i int) []string {
	c.t.Helper()
	dir := filepath.Join(c.dir, fmt.Sprintf("m%d.node", i+1), "member", "wal", "wal")
	names, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil {
		c.t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// TestMemberRepairsLostWALTail is issue 16's reproduction with real
// processes: a member stopped after many puts loses the tail of its
// newest WAL segment — cut in the middle of a record — or that whole
// segment. Restarted, it says what it lost, repairs itself from the
// cluster, and serves every acknowledged write, linearizable and
// serializable; so does the cluster meanwhile.
func TestMemberRepairsLostWALTail(t *testing.T) {
	c := startCluster3(t)
	cli, err := client.New(client.Config{Endpoints: c.eps})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// More than a 64 MiB segment's worth, so every member rolls over.
	value := strings.Repeat("v", 700<<10)
	acked := map[string]bool{}
	var mu sync.Mutex
	put := func(from, to int) {
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := from + g; i < to; i += 4 {
					k := fmt.Sprintf("k%04d", i)
					if _, err := cli.Put(ctx, k, value); err != nil {
						t.Errorf("put %s: %v", k, err)
						return
					}
					mu.Lock()
					acked[k] = true
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	put(0, 110)

	for _, tc := range []struct {
		name   string
		victim int
		damage func(t *testing.T, segs []string) string
	}{
		{"newest segment truncated mid-record", 0, func(t *testing.T, segs []string) string {
			seg := segs[len(segs)-1]
			b, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			end := len(bytes.TrimRight(b, "\x00"))
			if err := os.Truncate(seg, int64(end-1000)); err != nil {
				t.Fatal(err)
			}
			return "truncated segment"
		}},
		{"newest segment deleted", 1, func(t *testing.T, segs []string) string {
			if len(segs) < 2 {
				t.Fatalf("%d WAL segments: the test needs a rollover", len(segs))
			}
			if err := os.Remove(segs[len(segs)-1]); err != nil {
				t.Fatal(err)
			}
			return "missing segment"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.victim
			if lead := c.leader(); lead == v {
				// Keep the victim a follower: the others then go on while
				// it is down and repairing.
				ctl(t, "", c.endpoints(), "move-leader", memberID(t, c, (v+1)%3))
			}
			c.members[v].stop()
			kind := tc.damage(t, c.walSegments(v))
			put(len(acked), len(acked)+10) // the cluster goes on without it

			c.members[v] = startNode(c.t, c.dir, c.args[v]...) // it outlives the subtest
			m := c.members[v]
			waitLog(t, m, "repaired: it holds again everything it acknowledged")
			log := m.stderr.String()
			if !strings.Contains(log, "lost data it had acknowledged") || !strings.Contains(log, kind) {
				t.Fatalf("the member did not say what it lost (%s):\n%s", kind, log)
			}
			one := "--endpoints=" + c.eps[v]
			for _, consistency := range []string{"l", "s"} {
				out := ctl(t, "", one, "get", "k", "--prefix", "--keys-only", "--consistency="+consistency, "-w", "json")
				var resp struct {
					Kvs []struct{ Key []byte }
				}
				if err := json.Unmarshal([]byte(out), &resp); err != nil {
					t.Fatalf("get: %v\n%.300s", err, out)
				}
				got := map[string]bool{}
				for _, kv := range resp.Kvs {
					got[string(kv.Key)] = true
				}
				mu.Lock()
				for k := range acked {
					if !got[k] {
						t.Fatalf("the repaired member lost acknowledged %s (%d keys, consistency %s)", k, len(got), consistency)
					}
				}
				mu.Unlock()
			}
			if out := ctl(t, "", one, "endpoint", "status", "-w", "json"); strings.Contains(out, "under repair") {
				t.Fatalf("endpoint status still shows a repair:\n%s", out)
			}
			if out := ctl(t, "", one, "endpoint", "health"); !strings.Contains(out, "is healthy") {
				t.Fatalf("endpoint health: %s", out)
			}
		})
	}
}

// memberID returns member i's id, in hex, from endpoint status.
func memberID(t *testing.T, c *cluster3, i int) string {
	t.Helper()
	out := ctl(t, "", "--endpoints="+c.eps[i], "endpoint", "status", "-w", "json")
	var sts []struct { // etcdctl's JSON, as ctl prints it
		Status struct {
			Header struct {
				MemberID uint64 `json:"member_id"`
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &sts); err != nil || len(sts) != 1 || sts[0].Status.Header.MemberID == 0 {
		t.Fatalf("endpoint status %q: %v", out, err)
	}
	return fmt.Sprintf("%x", sts[0].Status.Header.MemberID)
}

// waitLog waits up to 30 s for the member to log text.
func waitLog(t *testing.T, m *member, text string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(m.stderr.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("the member did not log %q in 30 s:\n%s", text, m.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
