package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/node/nodetest"
)

// TestWatchWaitsOutAMemberNotYetConfirmed: a member restarted while its
// peers are down serves no reads, watches included, until a peer
// confirms its data dir (node/peer_confirm.go). A watch through that
// member alone is not ended by the refusal: it is retried, and carries on
// once the peers are back.
func TestWatchWaitsOutAMemberNotYetConfirmed(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxFor(t)
	const m = 1
	before, err := c.Client().Put(ctx, "w/0", "0")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		c.StopMember(i)
	}
	c.StartMember(m) // alone: nobody can confirm it
	one, err := client.New(client.Config{Endpoints: []string{c.Endpoint(m)}, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { one.Close() })
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// From the revision after w/0: whenever the watch is created, it
	// sees w/a.
	wch := one.Watch(wctx, "w/", client.WithPrefix(), client.WithRev(before.Header.Revision+1))
	select {
	case r, ok := <-wch:
		t.Fatalf("the watch answered before any peer could confirm the member: %+v, open %v, err %v", r, ok, r.Err())
	case <-time.After(time.Second):
	}
	for _, i := range []int{0, 2} {
		c.StartMember(i)
	}
	if _, err := c.Client().Put(ctx, "w/a", "1"); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case r, ok := <-wch:
			if !ok || r.Canceled {
				t.Fatalf("the watch ended: %v", r.Err())
			}
			for _, ev := range r.Events {
				if string(ev.Kv.Key) == "w/a" {
					return
				}
			}
		case <-ctx.Done():
			t.Fatal("the watch never saw w/a")
		}
	}
}
