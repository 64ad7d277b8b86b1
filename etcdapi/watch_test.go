package etcdapi_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cairndb/cairn/etcdapi"
	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/node/nodetest"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// nextEvents waits for the next response with events on ch.
func nextEvents(t *testing.T, ch clientv3.WatchChan) []*clientv3.Event {
	t.Helper()
	for {
		select {
		case r, ok := <-ch:
			if !ok {
				t.Fatal("watch channel closed")
			}
			if err := r.Err(); err != nil {
				t.Fatalf("watch: %v", err)
			}
			if len(r.Events) > 0 {
				return r.Events
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no watch events in 10 s")
		}
	}
}

// TestWatchThroughClientv3: many watchers on one stream (clientv3 shares
// one per client), prefixes, prev_kv, filters, start revisions, progress
// requests.
func TestWatchThroughClientv3(t *testing.T) {
	c := startCluster(t, 3)
	ctx := ctxT(t)
	cli := etcdClient(t, c.Endpoints()...)
	start := must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, "w/a", "1")).Header.Revision

	// From the revision after the first put: a watch from "now" starts at
	// the revision of the member serving it, which may not have applied
	// the put yet (as with etcd).
	prefix := cli.Watch(ctx, "w/", clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithRev(start+1))
	noPut := cli.Watch(ctx, "w/", clientv3.WithPrefix(), clientv3.WithFilterPut(), clientv3.WithRev(start+1))
	history := cli.Watch(ctx, "w/a", clientv3.WithRev(start))
	if evs := nextEvents(t, history); evs[0].Kv.ModRevision != start || string(evs[0].Kv.Value) != "1" {
		t.Fatalf("watch from revision %d began with %+v", start, evs[0])
	}
	must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, "w/a", "2"))
	must[*clientv3.DeleteResponse](t, "delete")(cli.Delete(ctx, "w/a"))
	evs := nextEvents(t, prefix)
	if evs[0].Type != mvccpb.PUT || evs[0].PrevKv == nil || string(evs[0].PrevKv.Value) != "1" {
		t.Fatalf("prefix watcher with prev_kv: %+v", evs[0])
	}
	if len(evs) < 2 {
		evs = append(evs, nextEvents(t, prefix)...)
	}
	if evs[1].Type != mvccpb.DELETE || evs[1].PrevKv == nil || string(evs[1].PrevKv.Value) != "2" {
		t.Fatalf("delete event with prev_kv: %+v", evs[1])
	}
	if evs := nextEvents(t, noPut); len(evs) != 1 || evs[0].Type != mvccpb.DELETE {
		t.Fatalf("watcher filtering puts got %+v", evs)
	}
	if evs := nextEvents(t, history); string(evs[0].Kv.Value) != "2" {
		t.Fatalf("history watcher next: %+v", evs[0])
	}

	// A progress request is answered with the current revision.
	pw := cli.Watch(ctx, "p", clientv3.WithProgressNotify())
	if err := cli.RequestProgress(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-pw:
		if !r.IsProgressNotify() || r.Header.Revision < start+2 {
			t.Fatalf("progress notification %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no progress notification")
	}
}

// TestWatchCompacted: a watch from a compacted revision is canceled with
// ErrCompacted and the compaction revision, as clientv3 expects.
func TestWatchCompacted(t *testing.T) {
	c := startCluster(t, 1)
	ctx := ctxT(t)
	cli := etcdClient(t, c.Endpoints()...)
	var last int64
	for i := range 5 {
		last = must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, "k", fmt.Sprint(i))).Header.Revision
	}
	must[*clientv3.CompactResponse](t, "compact")(cli.Compact(ctx, last-1))
	r, ok := <-cli.Watch(ctx, "k", clientv3.WithRev(last-3))
	if !ok || !errors.Is(r.Err(), rpctypes.ErrCompacted) || r.CompactRevision != last-1 || !r.Canceled {
		t.Fatalf("watch below the compaction: %+v err %v, want ErrCompacted at %d", r, r.Err(), last-1)
	}
}

// TestWatchResumesAfterMemberDies: clientv3 moves a watch to another
// member when the one it watched on dies, from its last revision, and
// loses no event.
func TestWatchResumesAfterMemberDies(t *testing.T) {
	c := startCluster(t, 3)
	ctx := ctxT(t)
	lead := c.Leader()
	victim := (lead + 1) % 3
	// The watcher's first endpoint is the victim, so it watches there.
	eps := []string{c.Endpoint(victim), c.Endpoint(lead), c.Endpoint((lead + 2) % 3)}
	watcher := etcdClient(t, eps...)
	writer := etcdClient(t, c.Endpoint(lead))
	wch := watcher.Watch(clientv3.WithRequireLeader(ctx), "r/", clientv3.WithPrefix())
	const n = 40
	seen := 0
	for i := range n {
		if i == n/2 {
			c.StopMember(victim)
		}
		must[*clientv3.PutResponse](t, "put")(writer.Put(ctx, fmt.Sprintf("r/%03d", i), "v"))
	}
	var lastRev int64
	for seen < n {
		select {
		case r, ok := <-wch:
			if !ok {
				t.Fatalf("watch closed after %d of %d events", seen, n)
			}
			if r.Err() != nil {
				t.Fatalf("watch error after %d events: %v", seen, r.Err())
			}
			for _, ev := range r.Events {
				if want := fmt.Sprintf("r/%03d", seen); string(ev.Kv.Key) != want || ev.Kv.ModRevision <= lastRev {
					t.Fatalf("event %d: %s at %d, want %s after %d", seen, ev.Kv.Key, ev.Kv.ModRevision, want, lastRev)
				}
				lastRev = ev.Kv.ModRevision
				seen++
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("watch stalled after %d of %d events", seen, n)
		}
	}
}

// TestWatchRequireLeader: a watch made WithRequireLeader ends with
// ErrNoLeader when its member loses the leader.
func TestWatchRequireLeader(t *testing.T) {
	c := startCluster(t, 3)
	ctx := ctxT(t)
	lead := c.Leader()
	alone := (lead + 1) % 3
	cli := etcdClient(t, c.Endpoint(alone))
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := cli.Watch(wctx, "x")
	must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, "x", "1"))
	nextEvents(t, wch)
	for i := range 3 {
		if i != alone {
			c.StopMember(i)
		}
	}
	select {
	case r, ok := <-wch:
		if ok && !errors.Is(r.Err(), rpctypes.ErrNoLeader) {
			t.Fatalf("watch after the member lost its leader: %+v err %v", r, r.Err())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a watch that requires a leader went on without one")
	}
	// A unary call that requires a leader is refused at once.
	if _, err := cli.Get(clientv3.WithRequireLeader(ctx), "x", clientv3.WithSerializable()); !errors.Is(err, rpctypes.ErrNoLeader) {
		t.Fatalf("serializable get requiring a leader, without one: %v", err)
	}
}

// TestWatchStreamAsEtcd speaks etcd's watch protocol directly: the
// stream numbers the watchers it names from 0; a refused watch is
// answered with watch id -1, whatever id it asked for; a progress request
// is answered once for the stream, with watch id -1; a watch from a
// compacted revision is created, then canceled with the compact revision
// alone (no reason, no revision in the header), as etcd answers.
func TestWatchStreamAsEtcd(t *testing.T) {
	c := startCluster(t, 1)
	ctx := ctxT(t)
	cli := etcdClient(t, c.Endpoints()...)
	for i := range 4 {
		must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, "k", fmt.Sprint(i)))
	}
	must[*clientv3.CompactResponse](t, "compact")(cli.Compact(ctx, 4))
	st, err := pb.NewWatchClient(cli.ActiveConnection()).Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	create := func(r *pb.WatchCreateRequest) {
		t.Helper()
		if err := st.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: r}}); err != nil {
			t.Fatal(err)
		}
	}
	next := func() *pb.WatchResponse {
		t.Helper()
		r, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for want := range int64(2) {
		create(&pb.WatchCreateRequest{Key: []byte("k")})
		if r := next(); !r.Created || r.WatchId != want {
			t.Fatalf("watch %d: %+v, want created with id %d", want, r, want)
		}
	}
	// A progress request is answered once for the stream, with watch id
	// -1, at the current revision.
	if err := st.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}}); err != nil {
		t.Fatal(err)
	}
	if r := next(); r.WatchId != -1 || r.Created || r.Canceled || len(r.Events) != 0 || r.Header.Revision != 5 {
		t.Fatalf("the answer to a progress request: %+v, want one with watch id -1 at revision 5", r)
	}
	create(&pb.WatchCreateRequest{Key: []byte("k"), WatchId: 1})
	if r := next(); !r.Created || !r.Canceled || r.WatchId != -1 || r.CancelReason != "mvcc: duplicate watch ID provided on the WatchStream" {
		t.Fatalf("a watch naming a used id: %+v, want refused with id -1", r)
	}
	create(&pb.WatchCreateRequest{Key: []byte("k"), StartRevision: 2})
	if r := next(); !r.Created || r.WatchId != 2 {
		t.Fatalf("a watch from a compacted revision: %+v, want created with id 2", r)
	}
	if r := next(); !r.Canceled || r.WatchId != 2 || r.CompactRevision != 4 || r.CancelReason != "" || r.Header.Revision != 0 {
		t.Fatalf("a watch from a compacted revision: %+v, want canceled with compact revision 4 alone", r)
	}
}

// TestWatchProgressNotifyInterval: a watch that asked for progress
// notifications gets one every --watch-progress-notify-interval while no
// event comes, as at etcd (it was every 10 minutes whatever the flag).
func TestWatchProgressNotifyInterval(t *testing.T) {
	c := nodetest.Start(t, 1, nodetest.Options{
		ClientFace: etcdapi.New,
		Configure:  func(i int, cfg *node.Config) { cfg.WatchProgressNotifyInterval = 200 * time.Millisecond },
	})
	cli := etcdClient(t, c.Endpoints()...)
	ctx := ctxT(t)
	must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, "other", "v"))
	wch := cli.Watch(ctx, "k", clientv3.WithProgressNotify())
	start := time.Now()
	for n := 0; n < 3; {
		select {
		case w := <-wch:
			if err := w.Err(); err != nil {
				t.Fatal(err)
			}
			if w.IsProgressNotify() {
				if w.Header.Revision != 2 {
					t.Fatalf("progress notification at revision %d, want 2", w.Header.Revision)
				}
				n++
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("no progress notification within 2 s (%d after %v)", n, time.Since(start))
		}
	}
}
