package client

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/rpc"
)

// leaseFake is a cluster of members answering LeaseKeepAlive streams
// from one lease table, as members do: only the leader renews; the others
// end the stream with ErrNotLeader. It counts the streams each member
// was asked to open and the renewals of each lease.
type leaseFake struct {
	addrs []string

	mu       sync.Mutex
	leader   int
	leases   map[int64]int64 // id → TTL
	opened   []int           // streams opened, per member
	open     int             // streams not ended yet
	renewals map[int64]int
	// denied are leases the client's user may no longer renew: a request
	// for one ends the stream with ErrPermissionDenied, as a member does.
	denied map[int64]bool
}

func newLeaseFake(t *testing.T, members int) *leaseFake {
	t.Helper()
	f := &leaseFake{leases: map[int64]int64{}, opened: make([]int, members), renewals: map[int64]int{}, denied: map[int64]bool{}}
	for i := range members {
		srv := rpc.NewServer(rpc.ServerOptions{})
		srv.HandleStream(rpc.Method(api.MethodLeaseKeepAlive), f.handler(i))
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(func() { srv.Close() })
		f.addrs = append(f.addrs, l.Addr().String())
	}
	return f
}

func (f *leaseFake) handler(member int) rpc.StreamHandler {
	return func(ctx context.Context, st *rpc.Stream) error {
		f.mu.Lock()
		f.opened[member]++
		f.open++
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			f.open--
			f.mu.Unlock()
		}()
		for {
			b, err := st.Recv()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			var req api.LeaseKeepAliveRequest
			if err := api.Unmarshal(b, &req); err != nil {
				return err
			}
			f.mu.Lock()
			if f.leader != member {
				f.mu.Unlock()
				return api.ErrNotLeader
			}
			if f.denied[req.ID] {
				f.mu.Unlock()
				return api.ErrPermissionDenied
			}
			ttl := f.leases[req.ID] // 0: no such lease
			if ttl > 0 {
				f.renewals[req.ID]++
			}
			f.mu.Unlock()
			resp := &api.LeaseKeepAliveResponse{Header: api.ResponseHeader{MemberID: uint64(member + 1)}, ID: req.ID, TTL: ttl}
			if err := st.Send(api.Marshal(resp)); err != nil {
				return err
			}
		}
	}
}

func (f *leaseFake) grant(id, ttl int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leases[id] = ttl
}

// expire ends a lease, as its TTL running out or a revoke does.
func (f *leaseFake) expire(id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.leases, id)
}

// deny makes every later renewal of lease id a permission refusal.
func (f *leaseFake) deny(id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.denied[id] = true
}

func (f *leaseFake) setLeader(member int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leader = member
}

// streams is how many streams the members were asked to open in all,
// and how many are still open.
func (f *leaseFake) streams() (opened, open int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.opened {
		opened += n
	}
	return opened, f.open
}

func (f *leaseFake) renewed(id int64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.renewals[id]
}

func (f *leaseFake) client(t *testing.T) *Client {
	t.Helper()
	c, err := New(Config{Endpoints: f.addrs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds, failing the test when ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if !sleepCtx(ctx, 10*time.Millisecond) {
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
	}
}

// next receives from a keep-alive channel; ok is false when it closed.
func next(t *testing.T, ctx context.Context, ch <-chan *api.LeaseKeepAliveResponse) (resp *api.LeaseKeepAliveResponse, ok bool) {
	t.Helper()
	select {
	case resp, ok = <-ch:
		return resp, ok
	case <-ctx.Done():
		t.Fatalf("no keep-alive report: %v", ctx.Err())
		return nil, false
	}
}

// TestKeepAliveManyLeasesOneStream: every lease a client keeps alive is
// renewed, again and again, over one stream; the stream closes when the
// last lease stops being kept alive, and a later KeepAlive opens another.
func TestKeepAliveManyLeasesOneStream(t *testing.T) {
	f := newLeaseFake(t, 1)
	c := f.client(t)
	ctx := testCtx(t)
	const leases = 40
	kctx, stop := context.WithCancel(ctx)
	chans := make([]<-chan *api.LeaseKeepAliveResponse, leases)
	for i := range leases {
		id := int64(i + 1)
		f.grant(id, 1) // renewed every 333 ms
		ch, err := c.KeepAlive(kctx, id)
		if err != nil {
			t.Fatalf("KeepAlive(%d): %v", id, err)
		}
		if first, _ := next(t, ctx, ch); first.ID != id || first.TTL != 1 {
			t.Fatalf("first renewal of lease %d: %+v", id, first)
		}
		chans[i] = ch
	}
	for i, ch := range chans {
		waitFor(t, ctx, "three renewals", func() bool { return f.renewed(int64(i+1)) >= 3 })
		if resp, ok := next(t, ctx, ch); !ok || resp.ID != int64(i+1) {
			t.Fatalf("lease %d: renewal %+v, open %v", i+1, resp, ok)
		}
	}
	if opened, _ := f.streams(); opened != 1 {
		t.Fatalf("%d leases renewed over %d streams, want 1", leases, opened)
	}
	stop()
	for _, ch := range chans {
		for range ch { // drain: the channel closes
		}
	}
	waitFor(t, ctx, "the stream to close", func() bool { _, open := f.streams(); return open == 0 })
	if _, err := c.KeepAlive(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if opened, _ := f.streams(); opened != 2 {
		t.Fatalf("%d streams opened, want a second one for the new KeepAlive", opened)
	}
}

// TestKeepAliveFollowsLeader: keep-alives go to the leader whichever
// member the client tries first, and move to the new leader when
// leadership moves, the channel staying open.
func TestKeepAliveFollowsLeader(t *testing.T) {
	f := newLeaseFake(t, 3)
	f.setLeader(1)
	f.grant(7, 1)
	c := f.client(t) // starts with member 0, a follower
	ctx := testCtx(t)
	ch, err := c.KeepAlive(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if first, _ := next(t, ctx, ch); first.Header.MemberID != 2 {
		t.Fatalf("first renewal from member %d, want the leader 2", first.Header.MemberID)
	}
	f.setLeader(2)
	for {
		resp, ok := next(t, ctx, ch)
		if !ok {
			t.Fatal("the keep-alive channel closed on a leader change")
		}
		if resp.Header.MemberID == 3 {
			break
		}
	}
}

// TestKeepAliveReportsExpiry: a lease that is gone closes its callers'
// channels; the other leases on the stream go on; KeepAlive of a lease
// that does not exist fails with ErrLeaseExpired.
func TestKeepAliveReportsExpiry(t *testing.T) {
	f := newLeaseFake(t, 1)
	c := f.client(t)
	ctx := testCtx(t)
	if _, err := c.KeepAlive(ctx, 99); !errors.Is(err, ErrLeaseExpired) {
		t.Fatalf("KeepAlive of no lease: %v, want ErrLeaseExpired", err)
	}
	f.grant(1, 1)
	f.grant(2, 1)
	one, err := c.KeepAlive(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	oneAgain, err := c.KeepAlive(ctx, 1) // a second caller on the same lease
	if err != nil {
		t.Fatal(err)
	}
	two, err := c.KeepAlive(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	f.expire(1)
	for _, ch := range []<-chan *api.LeaseKeepAliveResponse{one, oneAgain} {
		for {
			if _, ok := next(t, ctx, ch); !ok {
				break
			}
		}
	}
	next(t, ctx, two) // the renewal sent with the first
	if resp, ok := next(t, ctx, two); !ok || resp.TTL != 1 {
		t.Fatalf("lease 2 after lease 1 expired: %+v, open %v", resp, ok)
	}
}

// TestKeepAliveRefusalEndsOnlyItsLease: a member that refuses to renew
// one lease (its user lost the permission) ends the shared stream; that
// lease's callers get their channels closed, and the other leases go on
// being renewed over a new stream.
func TestKeepAliveRefusalEndsOnlyItsLease(t *testing.T) {
	f := newLeaseFake(t, 1)
	f.grant(1, 1)
	f.grant(2, 1)
	c := f.client(t)
	ctx := testCtx(t)
	one, err := c.KeepAlive(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	two, err := c.KeepAlive(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	f.deny(1)
	for {
		if _, ok := next(t, ctx, one); !ok {
			break
		}
	}
	before := f.renewed(2)
	waitFor(t, ctx, "lease 2 renewed after lease 1 was refused", func() bool { return f.renewed(2) >= before+3 })
	if _, ok := next(t, ctx, two); !ok {
		t.Fatal("lease 2's channel closed on lease 1's refusal")
	}
	if _, err := c.KeepAlive(ctx, 1); !errors.Is(err, api.ErrPermissionDenied) {
		t.Fatalf("KeepAlive of the refused lease: %v, want ErrPermissionDenied", err)
	}
}

// TestKeepAliveContextEndsOneCaller: a caller whose context ends gets its
// channel closed; another caller of the same lease goes on.
func TestKeepAliveContextEndsOneCaller(t *testing.T) {
	f := newLeaseFake(t, 1)
	f.grant(5, 1)
	c := f.client(t)
	ctx := testCtx(t)
	short, cancel := context.WithCancel(ctx)
	a, err := c.KeepAlive(short, 5)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.KeepAlive(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	for range a {
	}
	next(t, ctx, b)
	if _, ok := next(t, ctx, b); !ok {
		t.Fatal("the other caller's channel closed")
	}
}

// TestKeepAliveStreamAsUser: the stream is opened with the client's
// token, a new one when the cluster forgot it; a refusal the token does
// not cure is KeepAlive's error.
func TestKeepAliveStreamAsUser(t *testing.T) {
	f := newFakeCluster(t)
	c := f.client(t, "root", "rootpw")
	ctx := testCtx(t)
	f.forgetTokens()
	kctx, stop := context.WithCancel(ctx)
	defer stop()
	ch, err := c.KeepAlive(kctx, 5)
	if err != nil {
		t.Fatalf("KeepAlive after the token was forgotten: %v", err)
	}
	if first, _ := next(t, ctx, ch); first.TTL != 10 {
		t.Fatalf("first renewal %+v", first)
	}
	stop()
	f.deny("")
	if _, err := c.KeepAlive(ctx, 6); !errors.Is(err, api.ErrPermissionDenied) {
		t.Fatalf("KeepAlive refused: %v, want ErrPermissionDenied", err)
	}
}
