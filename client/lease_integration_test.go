package client_test

import (
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/node/nodetest"
)

// TestKeepAliveAcrossLeaderChanges keeps leases alive on a real cluster
// while leadership moves and then while the leader stops: renewals come
// from each new leader, and the leases outlive their TTL several times.
func TestKeepAliveAcrossLeaderChanges(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxFor(t)
	cl := c.Client()
	var ids []int64
	var chans []<-chan *api.LeaseKeepAliveResponse
	for range 3 {
		g := must[*api.LeaseGrantResponse](t, "grant")(cl.Grant(ctx, 3))
		ch, err := cl.KeepAlive(ctx, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		ids, chans = append(ids, g.ID), append(chans, ch)
	}
	// renewedBy waits until every lease was renewed by member id.
	renewedBy := func(id uint64) {
		t.Helper()
		for _, ch := range chans {
			for {
				var resp *api.LeaseKeepAliveResponse
				var ok bool
				select {
				case resp, ok = <-ch:
				case <-ctx.Done():
					t.Fatalf("no renewal from member %x: %v", id, ctx.Err())
				}
				if !ok {
					t.Fatal("a keep-alive channel closed")
				}
				if resp.Header.MemberID == id && resp.TTL > 0 {
					break
				}
			}
		}
	}
	lead := c.Leader()
	renewedBy(c.Servers[lead].ID())
	target := c.Servers[(lead+1)%3].ID()
	must[*api.MoveLeaderResponse](t, "move leader")(cl.MoveLeader(ctx, target))
	renewedBy(target)
	c.StopMember(c.Leader())
	renewedBy(c.Servers[c.Leader()].ID())
	time.Sleep(4 * time.Second) // more than a TTL: the leases live only if renewed
	for _, id := range ids {
		ttl := must[*api.LeaseTimeToLiveResponse](t, "time to live")(cl.TimeToLive(ctx, id, false))
		if ttl.TTL <= 0 {
			t.Fatalf("lease %x expired while kept alive: %+v", id, ttl)
		}
	}
}
