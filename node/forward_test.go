package node_test

import (
	"context"
	"testing"
	"time"
)

// TestLeaseThroughFollower: a client that knows only a follower keeps its
// lease alive and asks its time to live through it (the follower forwards
// both to the leader, which alone keeps the leases' clocks).
func TestLeaseThroughFollower(t *testing.T) {
	c := newTestCluster(t, 3)
	leader := c.Leader()
	follower := (leader + 1) % 3
	ctx := ctxT(t)
	cl := c.Client(c.Endpoint(follower))
	lease, err := cl.Grant(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	ttl, err := cl.TimeToLive(ctx, lease.ID, false)
	if err != nil || ttl.GrantedTTL < 2 || ttl.TTL <= 0 {
		t.Fatalf("time to live through a follower: %+v %v", ttl, err)
	}
	kctx, stop := context.WithCancel(ctx)
	defer stop()
	ch, err := cl.KeepAlive(kctx, lease.ID)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(time.Duration(ttl.GrantedTTL+1) * time.Second) // longer than the TTL
	renewals := 0
wait:
	for {
		select {
		case r, ok := <-ch:
			if !ok {
				t.Fatalf("keep-alive channel closed after %d renewals", renewals)
			}
			if r.TTL <= 0 {
				t.Fatalf("renewal through a follower answered TTL %d", r.TTL)
			}
			renewals++
		case <-deadline:
			break wait
		}
	}
	if renewals == 0 {
		t.Fatal("no renewal through the follower")
	}
	ttl, err = cl.TimeToLive(ctx, lease.ID, false)
	if err != nil || ttl.TTL <= 0 {
		t.Fatalf("lease kept alive through a follower expired: %+v %v", ttl, err)
	}
	stop()
	// Unknown leases are answered, not an error, also when forwarded.
	ttl, err = cl.TimeToLive(ctx, 12345, false)
	if err != nil || ttl.TTL != -1 {
		t.Fatalf("time to live of an unknown lease through a follower: %+v %v", ttl, err)
	}
}
