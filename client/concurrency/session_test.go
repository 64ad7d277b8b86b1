package concurrency_test

import (
	"testing"
	"time"

	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/client/concurrency"
)

func TestSession(t *testing.T) {
	c := newTestCluster(t, 3)
	cl := c.client()
	ctx := testContext(t)

	t.Run("close revokes the lease and its keys", func(t *testing.T) {
		s, err := concurrency.NewSession(cl, concurrency.WithTTL(5))
		if err != nil {
			t.Fatal(err)
		}
		if s.TTL() != 5 {
			t.Errorf("TTL = %d, want 5", s.TTL())
		}
		if _, err := cl.Put(ctx, "sess/k", "v", client.WithLease(s.Lease())); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-s.Done():
		default:
			t.Error("Done is open after Close")
		}
		if n := countKeys(t, ctx, cl, "sess/k"); n != 0 {
			t.Error("the session's key survived Close")
		}
		if err := s.Close(); err != nil {
			t.Errorf("closing twice: %v", err)
		}
	})

	t.Run("keeps the lease alive past its TTL", func(t *testing.T) {
		s := c.session(cl, concurrency.WithTTL(3))
		time.Sleep(4 * time.Second)
		resp, err := cl.TimeToLive(ctx, s.Lease(), false)
		if err != nil {
			t.Fatal(err)
		}
		if resp.TTL <= 0 {
			t.Errorf("the session's lease expired while kept alive (TTL %d)", resp.TTL)
		}
		select {
		case <-s.Done():
			t.Error("Done closed while the lease is alive")
		default:
		}
	})

	t.Run("done when the lease is revoked elsewhere", func(t *testing.T) {
		s := c.session(cl, concurrency.WithTTL(3))
		if _, err := cl.Revoke(ctx, s.Lease()); err != nil {
			t.Fatal(err)
		}
		select {
		case <-s.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("Done still open 10s after the lease was revoked")
		}
	})

	t.Run("with an existing lease", func(t *testing.T) {
		g, err := cl.Grant(ctx, 7)
		if err != nil {
			t.Fatal(err)
		}
		s := c.session(cl, concurrency.WithLease(g.ID))
		if s.Lease() != g.ID || s.TTL() != 7 {
			t.Errorf("session lease %x TTL %d, want %x and 7", s.Lease(), s.TTL(), g.ID)
		}
	})
}

// TestSessionDoneWhenUnreachable stops the whole cluster: the session
// cannot renew its lease, and must say so once a TTL has passed without
// a renewal, since the lease may have expired by then.
func TestSessionDoneWhenUnreachable(t *testing.T) {
	c := newTestCluster(t, 3)
	s := c.session(c.client(), concurrency.WithTTL(3))
	for _, srv := range c.Servers {
		srv.Stop()
	}
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done still open 10s after the cluster stopped (TTL 3s)")
	}
}
