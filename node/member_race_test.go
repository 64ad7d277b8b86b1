package node_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/cairndb/cairn/api"
)

// Requests to add a member with the same peer URL, made at once through
// every member, add it once: each is checked before it is proposed, and
// the leader checks it again when it takes it (a change that validated
// before another was made, then retried, must not be made too). The
// others fail with etcd's "peer URL exists".
func TestConcurrentMemberAddsOfOneURLAddOne(t *testing.T) {
	c := newTestCluster(t, 3)
	c.Leader()
	ctx := ctxT(t)
	const url = "http://127.0.0.1:1" // never started: only the registry matters
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		cl := c.Client(c.Endpoints()[i%3])
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = cl.MemberAddAsLearner(ctx, []string{url})
		}()
	}
	wg.Wait()
	added := 0
	for i, err := range errs {
		switch {
		case err == nil:
			added++
		case errors.Is(err, api.ErrPeerURLExist), errors.Is(err, api.ErrTooManyLearners):
		default:
			t.Errorf("request %d: %v, want success or peer URL exists", i, err)
		}
	}
	list, err := c.Client().MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	holders := 0
	for _, m := range list.Members {
		for _, u := range m.PeerURLs {
			if u == url {
				holders++
			}
		}
	}
	if added != 1 || holders != 1 {
		t.Fatalf("%d requests succeeded and %d members hold %s, want 1 and 1 (errors %v)", added, holders, url, errs)
	}
}

// A member cannot be given another member's peer URL (etcd: "peer URL
// exists"); its own again is fine.
func TestMemberUpdateToAnotherMembersURLIsRefused(t *testing.T) {
	c := newTestCluster(t, 3)
	c.Leader()
	ctx := ctxT(t)
	cl := c.Client()
	list, err := cl.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, b := list.Members[0], list.Members[1]
	if _, err := cl.MemberUpdate(ctx, a.ID, b.PeerURLs); !errors.Is(err, api.ErrPeerURLExist) {
		t.Fatalf("update to another member's URL: %v, want %v", err, api.ErrPeerURLExist)
	}
	if _, err := cl.MemberUpdate(ctx, a.ID, a.PeerURLs); err != nil {
		t.Fatalf("update to its own URL: %v", err)
	}
}
