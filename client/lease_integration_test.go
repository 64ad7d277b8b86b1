package client_test

import (
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/node/nodetest"
)

// TestKeepAliveAcrossLeaderChanges keeps leases alive on a real cluster
// while leadership moves and then while the leader stops: renewals go on
// under each new leader (the member the client talks to forwards them to
// whichever leads), and the leases outlive their TTL several times.
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
	// renewedAfter waits until every lease was renewed after what
	// happened: the answers already queued are dropped, the next one
	// must carry a TTL.
	renewedAfter := func(what string) {
		t.Helper()
		for _, ch := range chans {
			for drained := false; !drained; {
				select {
				case <-ch:
				default:
					drained = true
				}
			}
			select {
			case resp, ok := <-ch:
				if !ok || resp.TTL <= 0 {
					t.Fatalf("after %s: keep-alive answered %+v (open %v)", what, resp, ok)
				}
			case <-ctx.Done():
				t.Fatalf("no renewal after %s: %v", what, ctx.Err())
			}
		}
	}
	lead := c.Leader()
	renewedAfter("the start")
	target := c.Servers[(lead+1)%3].ID()
	must[*api.MoveLeaderResponse](t, "move leader")(cl.MoveLeader(ctx, target))
	renewedAfter("moving the leader")
	c.StopMember(c.Leader())
	c.Leader()
	renewedAfter("stopping the leader")
	time.Sleep(4 * time.Second) // more than a TTL: the leases live only if renewed
	for _, id := range ids {
		ttl := must[*api.LeaseTimeToLiveResponse](t, "time to live")(cl.TimeToLive(ctx, id, false))
		if ttl.TTL <= 0 {
			t.Fatalf("lease %x expired while kept alive: %+v", id, ttl)
		}
	}
}
