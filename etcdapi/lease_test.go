package etcdapi_test

import (
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestLeaseThroughFollower: a client that knows only a follower grants,
// keeps alive (the stream), asks time-to-live with keys, lists and revokes
// leases: the follower forwards what only the leader answers.
func TestLeaseThroughFollower(t *testing.T) {
	c := startCluster(t, 3)
	ctx := ctxT(t)
	follower := (c.Leader() + 1) % 3
	cli := etcdClient(t, c.Endpoint(follower))
	g := must[*clientv3.LeaseGrantResponse](t, "grant")(cli.Grant(ctx, 2))
	must[*clientv3.PutResponse](t, "put")(cli.Put(ctx, "leased", "v", clientv3.WithLease(g.ID)))
	ch, err := cli.KeepAlive(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(time.Duration(g.TTL+2) * time.Second)
	renewals := 0
wait:
	for {
		select {
		case r, ok := <-ch:
			if !ok {
				t.Fatalf("keep-alive channel closed after %d renewals", renewals)
			}
			renewals++
			if r.TTL <= 0 {
				t.Fatalf("renewal %+v", r)
			}
		case <-deadline:
			break wait
		}
	}
	ttl := must[*clientv3.LeaseTimeToLiveResponse](t, "time to live")(cli.TimeToLive(ctx, g.ID, clientv3.WithAttachedKeys()))
	if ttl.TTL <= 0 || ttl.GrantedTTL != g.TTL || len(ttl.Keys) != 1 || string(ttl.Keys[0]) != "leased" {
		t.Fatalf("time to live after %d renewals: %+v", renewals, ttl)
	}
	leases := must[*clientv3.LeaseLeasesResponse](t, "leases")(cli.Leases(ctx))
	if len(leases.Leases) != 1 || leases.Leases[0].ID != g.ID {
		t.Fatalf("leases %+v", leases.Leases)
	}
	must[*clientv3.LeaseRevokeResponse](t, "revoke")(cli.Revoke(ctx, g.ID))
	if r := must[*clientv3.GetResponse](t, "get")(cli.Get(ctx, "leased")); len(r.Kvs) != 0 {
		t.Fatalf("the revoked lease's key is still there: %+v", r.Kvs)
	}
	if _, err := cli.KeepAliveOnce(ctx, g.ID); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Fatalf("keep-alive of a revoked lease: %v, want %v", err, rpctypes.ErrLeaseNotFound)
	}
	if _, err := cli.Revoke(ctx, g.ID); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Fatalf("revoke of a revoked lease: %v, want %v", err, rpctypes.ErrLeaseNotFound)
	}
	if ttl := must[*clientv3.LeaseTimeToLiveResponse](t, "time to live")(cli.TimeToLive(ctx, g.ID)); ttl.TTL != -1 {
		t.Fatalf("time to live of a revoked lease: %+v", ttl)
	}
}
