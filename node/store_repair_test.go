package node_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/node/nodetest"
	"github.com/cairndb/cairn/rpc"
)

// repairValue is key i's value: large enough (3 KB) that the store keeps
// it apart from the key's record, on a page that opening the store does
// not read.
func repairValue(i int) string {
	return strings.Repeat(fmt.Sprintf("value-%04d-", i), 300)
}

// freeURL is an http:// URL on a loopback port free a moment ago.
func freeURL(t *testing.T) url.URL {
	l := nodetest.Listen(t)
	u := nodetest.URL(l)
	_ = l.Close()
	return u
}

// readsAll waits until member i serves every key, serializable, with its
// value.
func readsAll(t *testing.T, c *nodetest.Cluster, i, keys int) {
	t.Helper()
	cl := c.Client(c.Endpoint(i))
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp, err := cl.Get(ctx, "key-", client.WithPrefix(), client.WithSerializable())
		cancel()
		wrong := ""
		if err != nil {
			wrong = err.Error()
		} else if len(resp.Kvs) != keys {
			wrong = fmt.Sprintf("%d keys, want %d", len(resp.Kvs), keys)
		} else {
			for j, kv := range resp.Kvs {
				if string(kv.Key) != fmt.Sprintf("key-%04d", j) || string(kv.Value) != repairValue(j) {
					wrong = fmt.Sprintf("key %d is %q with a value of %d bytes", j, kv.Key, len(kv.Value))
					break
				}
			}
		}
		if wrong == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("member %d does not serve every acknowledged write: %s", i, wrong)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServerRepairsCorruptPageFile: a member whose page file has a
// corrupt page repairs its store from the cluster, whether the page is
// read when the store opens (a key's record: the start finds it) or only
// by a request (a value kept apart: the member finds it while running,
// stops, and its next start repairs). The corrupt file is kept in
// member/corrupt, and the member then serves every acknowledged write.
// While it cannot reach a leader, it says it is under repair, in Status
// and in /health.
func TestServerRepairsCorruptPageFile(t *testing.T) {
	const keys = 200
	for _, where := range []string{"open", "running"} {
		t.Run(where, func(t *testing.T) {
			c := nodetest.Start(t, 3, nodetest.Options{Configure: func(i int, cfg *node.Config) {
				cfg.SnapshotCount = 100
				cfg.ListenMetricsURLs = []url.URL{freeURL(t)}
			}})
			ctx := ctxT(t)
			cl := c.Client()
			for i := range keys {
				if _, err := cl.Put(ctx, fmt.Sprintf("key-%04d", i), repairValue(i)); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(300 * time.Millisecond) // the store commits every 100 ms
			lead := c.Leader()
			v, w := (lead+1)%3, (lead+2)%3
			dataDir := filepath.Join(c.Configs[v].DataDir, "member")
			c.StopMember(v)
			db := filepath.Join(dataDir, "db")
			if where == "open" {
				nodetest.FlipEvery(t, db, "key-0123")
				testRepairWaitsForALeader(t, c, v, w)
			} else {
				nodetest.FlipEvery(t, db, "value-0123-")
				c.StartMember(v) // the store opens: the page is not read
				// A read of the key finds the page, if the member's own
				// checks (the corruption check hashes every value) do
				// not first: either way it stops.
				one := c.Client(c.Endpoint(v))
				deadline := time.Now().Add(10 * time.Second)
			stopping:
				for {
					select {
					case <-c.Servers[v].Done():
						break stopping
					default:
					}
					if time.Now().After(deadline) {
						t.Fatal("the member does not stop on a corrupt page")
					}
					rctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
					_, _ = one.Get(rctx, "key-0123", client.WithSerializable())
					cancel()
					time.Sleep(20 * time.Millisecond)
				}
				if err := c.Servers[v].Err(); err == nil || !strings.Contains(err.Error(), "corrupt page") {
					t.Fatalf("the member stopped on %v, want a corrupt page", err)
				}
				marker, err := os.ReadFile(filepath.Join(dataDir, "store-corrupt"))
				if err != nil || !strings.Contains(string(marker), "corrupt page") {
					t.Fatalf("the marker: %q, %v", marker, err)
				}
				c.StopMember(v)
				c.StartMember(v)
			}
			readsAll(t, c, v, keys)
			kept, _ := filepath.Glob(filepath.Join(dataDir, "corrupt", "db.*"))
			if len(kept) != 1 {
				t.Fatalf("corrupt page files kept: %v, want 1", kept)
			}
			if _, err := os.Stat(filepath.Join(dataDir, "store-corrupt")); !os.IsNotExist(err) {
				t.Fatalf("the marker is still there after the repair: %v", err)
			}
			// The repaired member takes writes. A put forwarded to a
			// leader that loses its leadership meanwhile (the repair and
			// the corruption check load the machine, and the tests'
			// election timeout is 100 ms) times out, its outcome unknown,
			// as a client of any member would see: it tries again.
			deadline := time.Now().Add(20 * time.Second)
			for {
				_, err := c.Client(c.Endpoint(v)).Put(ctx, "after", "x")
				if err == nil {
					break
				}
				retry := errors.Is(err, api.ErrTimeout) || errors.Is(err, api.ErrTimeoutDueToLeaderFail) ||
					errors.Is(err, api.ErrLeaderChanged) || errors.Is(err, api.ErrNoLeader)
				if !retry || time.Now().After(deadline) {
					t.Fatal(err)
				}
				t.Logf("put through the repaired member: %v; again", err)
			}
		})
	}
}

// testRepairWaitsForALeader starts member v, whose page file is corrupt,
// with w down as well: no leader can give it a copy of the store. It says
// so in Status and /health until w comes back.
func testRepairWaitsForALeader(t *testing.T, c *nodetest.Cluster, v, w int) {
	t.Helper()
	c.StopMember(w)
	// The third member, alone, steps down within an election timeout
	// (check-quorum); v must not start before: that leader could still
	// give it a copy, and the repair would be over before it is looked at.
	third := 3 - v - w
	for deadline := time.Now().Add(10 * time.Second); c.Servers[third].Leader() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("member %d, alone, still knows a leader", third)
		}
	}
	var started sync.WaitGroup
	started.Add(1)
	go func() {
		defer started.Done()
		c.StartMember(v)
	}()
	cl := c.Client(c.Endpoint(v))
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := cl.Status(ctx, c.Endpoint(v))
		cancel()
		if err == nil && len(st.Errors) == 1 && strings.Contains(st.Errors[0], "store under repair") && strings.Contains(st.Errors[0], "corrupt page") {
			// Its raft state: its log's term and commit index (the log
			// holds a snapshot, so both are past 0), no store applied, no
			// leader.
			if st.RaftTerm == 0 || st.Header.RaftTerm != st.RaftTerm || st.RaftIndex == 0 || st.RaftAppliedIndex != 0 || st.Leader != 0 {
				t.Fatalf("raft state of the member repairing its store: %+v", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status of the member repairing its store: %+v, %v", st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get("http://" + c.Configs[v].ListenMetricsURLs[0].Host + "/health")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"health":"false"`) || !strings.Contains(string(body), "store under repair") {
		t.Fatalf("/health of the member repairing its store: %d %s", resp.StatusCode, body)
	}
	// Its metrics are served (an operator watches it): no leader known.
	resp, err = http.Get("http://" + c.Configs[v].ListenMetricsURLs[0].Host + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "\netcd_server_has_leader 0\n") {
		t.Fatalf("/metrics of the member repairing its store: %d %.300s", resp.StatusCode, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_, err = cl.Get(ctx, "key-0001", client.WithSerializable())
	cancel()
	if err == nil || !strings.Contains(err.Error(), "under repair") {
		t.Fatalf("read from the member repairing its store: %v", err)
	}
	// A serializable member list: the membership a peer told it.
	conn, err := rpc.Dial(ctxT(t), c.Endpoint(v), rpc.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var list api.MemberListResponse
		b, err := conn.Call(ctxT(t), rpc.Method(api.MethodMemberList), api.Marshal(&api.MemberListRequest{}))
		if err == nil {
			err = api.Unmarshal(b, &list)
		}
		if err == nil && len(list.Members) == 3 && list.Header.MemberID == node.MemberID(c.Configs[v].InitialAdvertisePeerURLs, c.Configs[v].InitialClusterToken) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serializable member list of the member repairing its store: %+v, %v", list, err)
		}
	}
	_, err = conn.Call(ctxT(t), rpc.Method(api.MethodMemberList), api.Marshal(&api.MemberListRequest{Linearizable: true}))
	if re := (*rpc.Error)(nil); !errors.As(err, &re) || api.Code(re.Code) != api.CodeUnhealthy {
		t.Fatalf("linearizable member list of the member repairing its store: %v, want %v", err, api.ErrUnhealthy)
	}
	c.StartMember(w)
	started.Wait()
}

// pauseAtLog is a log handler that holds up, once armed, the member that
// logs msg, until the test releases it: a way to stop a member at a known
// point of its work (the record's attributes go to reached).
type pauseAtLog struct {
	msg     string
	armed   atomic.Bool
	reached chan map[string]string
	release chan struct{}
}

func newPauseAtLog(msg string) *pauseAtLog {
	return &pauseAtLog{msg: msg, reached: make(chan map[string]string, 1), release: make(chan struct{})}
}

func (h *pauseAtLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *pauseAtLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *pauseAtLog) WithGroup(string) slog.Handler            { return h }

func (h *pauseAtLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != h.msg || !h.armed.CompareAndSwap(true, false) {
		return nil
	}
	attrs := map[string]string{}
	r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
	h.reached <- attrs
	<-h.release
	return nil
}

// TestRepairStatusNamesTheLeaderWhileTheCopyStreams: while the leader
// streams a member a copy of its store, the member's Status names that
// leader (and the log's term and commit index, no index applied); once
// the copy is in, the member serves every write. The member is held at
// the start of the stream: the copy's header has come, its data not yet
// (the leader streams on, as far as the stream's window lets it).
func TestRepairStatusNamesTheLeaderWhileTheCopyStreams(t *testing.T) {
	const keys = 40
	pause := newPauseAtLog("receiving a copy of the leader's store")
	c := nodetest.Start(t, 3, nodetest.Options{
		Configure: func(i int, cfg *node.Config) { cfg.SnapshotCount = 10 },
		Logger:    func(string) *slog.Logger { return slog.New(pause) },
	})
	ctx := ctxT(t)
	cl := c.Client()
	for i := range keys {
		if _, err := cl.Put(ctx, fmt.Sprintf("key-%04d", i), repairValue(i)); err != nil {
			t.Fatal(err)
		}
	}
	lead := c.Leader()
	leader := c.Servers[lead].ID()
	v := (lead + 1) % 3
	c.StopMember(v)
	// The marker a member that found a corrupt page leaves: its next
	// start repairs the store, whatever the page file holds.
	marker := filepath.Join(c.Configs[v].DataDir, "member", "store-corrupt")
	if err := os.WriteFile(marker, []byte("a corrupt page (the test's)\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pause.armed.Store(true)
	started := make(chan struct{})
	go func() {
		defer close(started)
		c.StartMember(v)
	}()
	var attrs map[string]string
	select {
	case attrs = <-pause.reached:
	case <-time.After(10 * time.Second):
		t.Fatal("the member did not start receiving a copy of the store")
	}
	if want := fmt.Sprintf("%016x", leader); attrs["from"] != want {
		close(pause.release)
		t.Fatalf("the copy comes from %s, want the leader, %s", attrs["from"], want)
	}
	st, err := c.Client(c.Endpoint(v)).Status(ctx, c.Endpoint(v))
	close(pause.release)
	if err != nil {
		t.Fatalf("status of the member receiving a copy of the store: %v", err)
	}
	if st.Leader != leader || st.RaftTerm == 0 || st.Header.RaftTerm != st.RaftTerm || st.RaftIndex == 0 || st.RaftAppliedIndex != 0 ||
		len(st.Errors) != 1 || !strings.Contains(st.Errors[0], "store under repair (a corrupt page (the test's))") {
		t.Fatalf("status of the member receiving a copy of the store from %016x: %+v", leader, st)
	}
	<-started
	readsAll(t, c, v, keys)
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("the marker is still there after the repair: %v", err)
	}
}
