package concurrency_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client/concurrency"
)

// won is a campaigner that became leader.
type won struct {
	i   int
	e   *concurrency.Election
	err error
}

// TestElectionSuccession has n sessions campaign at once: one leads at
// a time, each resignation hands over to exactly one next campaigner, in
// the order they queued, and an observer sees every leader and
// proclamation in that order.
func TestElectionSuccession(t *testing.T) {
	c := newTestCluster(t, 3)
	cl := c.client()
	ctx := testContext(t)
	n := 5
	if short() {
		n = 4
	}
	obsSession := c.session(cl)
	if _, err := concurrency.NewElection(obsSession, "el").Leader(ctx); !errors.Is(err, concurrency.ErrElectionNoLeader) {
		t.Fatalf("Leader with no campaigner = %v, want ErrElectionNoLeader", err)
	}
	obsCtx, stopObs := context.WithCancel(ctx)
	defer stopObs()
	observed := concurrency.NewElection(obsSession, "el").Observe(obsCtx)

	wins := make(chan won, n)
	for i := range n {
		e := concurrency.NewElection(c.session(cl), "el")
		go func() { wins <- won{i, e, e.Campaign(ctx, fmt.Sprintf("v%d", i))} }()
	}
	seen := map[int]bool{}
	lastRev := int64(0)
	for round := range n {
		w := <-wins
		if w.err != nil {
			t.Fatalf("campaign %d: %v", w.i, w.err)
		}
		if seen[w.i] {
			t.Fatalf("campaigner %d won twice", w.i)
		}
		seen[w.i] = true
		if w.e.Rev() <= lastRev {
			t.Errorf("round %d: leader's revision %d is not after the previous leader's %d", round, w.e.Rev(), lastRev)
		}
		lastRev = w.e.Rev()
		leader, err := w.e.Leader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(leader.Key) != w.e.Key() || string(leader.Value) != fmt.Sprintf("v%d", w.i) {
			t.Errorf("round %d: Leader = %s=%s, want the winner %s=v%d", round, leader.Key, leader.Value, w.e.Key(), w.i)
		}
		select {
		case other := <-wins:
			t.Fatalf("round %d: campaigner %d also won (err %v) while %d leads", round, other.i, other.err, w.i)
		default:
		}
		expectObserved(t, observed, w.e.Key(), fmt.Sprintf("v%d", w.i))
		if err := w.e.Proclaim(ctx, fmt.Sprintf("v%d-again", w.i)); err != nil {
			t.Fatalf("round %d: the leader's Proclaim: %v", round, err)
		}
		expectObserved(t, observed, w.e.Key(), fmt.Sprintf("v%d-again", w.i))
		if err := w.e.Resign(ctx); err != nil {
			t.Fatal(err)
		}
		if err := w.e.Proclaim(ctx, "after resigning"); !errors.Is(err, concurrency.ErrElectionNotLeader) {
			t.Errorf("Proclaim after Resign = %v, want ErrElectionNotLeader", err)
		}
	}
	if _, err := concurrency.NewElection(obsSession, "el").Leader(ctx); !errors.Is(err, concurrency.ErrElectionNoLeader) {
		t.Errorf("Leader after everyone resigned = %v, want ErrElectionNoLeader", err)
	}
	// The observer waits through the vacancy for the next leader.
	e := concurrency.NewElection(c.session(cl), "el")
	if err := e.Campaign(ctx, "late"); err != nil {
		t.Fatal(err)
	}
	expectObserved(t, observed, e.Key(), "late")
	stopObs()
	for range observed {
	}
}

// expectObserved reads the next observation and checks it.
func expectObserved(t *testing.T, observed <-chan api.KeyValue, key, value string) {
	t.Helper()
	select {
	case kv, ok := <-observed:
		if !ok {
			t.Fatal("Observe's channel closed")
		}
		if string(kv.Key) != key || string(kv.Value) != value {
			t.Fatalf("observed %s=%s, want %s=%s", kv.Key, kv.Value, key, value)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no observation of %s=%s within 10s", key, value)
	}
}

func TestElectionProclaimNeedsLeadership(t *testing.T) {
	c := newTestCluster(t, 3)
	cl := c.client()
	ctx := testContext(t)
	leader := concurrency.NewElection(c.session(cl), "pro")
	if err := leader.Campaign(ctx, "a"); err != nil {
		t.Fatal(err)
	}

	never := concurrency.NewElection(c.session(cl), "pro")
	if err := never.Proclaim(ctx, "usurper"); !errors.Is(err, concurrency.ErrElectionNotLeader) {
		t.Errorf("Proclaim without campaigning = %v, want ErrElectionNotLeader", err)
	}

	// A campaigner still waiting in the queue cannot proclaim either:
	// give it a context that ends while it waits.
	waiting := concurrency.NewElection(c.session(cl), "pro")
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := waiting.Campaign(wctx, "b"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Campaign behind a leader with an expiring context = %v, want DeadlineExceeded", err)
	}
	if err := waiting.Proclaim(ctx, "b2"); !errors.Is(err, concurrency.ErrElectionNotLeader) {
		t.Errorf("Proclaim after a failed campaign = %v, want ErrElectionNotLeader", err)
	}
	if n := countKeys(t, ctx, cl, "pro/"); n != 1 {
		t.Errorf("%d keys in the election after a campaign gave up, want the leader's only", n)
	}

	// A leader whose key vanished (deleted by hand, or its lease expired)
	// has lost leadership: Proclaim must not recreate the key.
	if _, err := cl.Delete(ctx, leader.Key()); err != nil {
		t.Fatal(err)
	}
	if err := leader.Proclaim(ctx, "a2"); !errors.Is(err, concurrency.ErrElectionNotLeader) {
		t.Errorf("Proclaim after losing the key = %v, want ErrElectionNotLeader", err)
	}
	if n := countKeys(t, ctx, cl, "pro/"); n != 0 {
		t.Error("Proclaim by a deposed leader wrote a key")
	}

	// Campaigning again with a session already queued keeps its place and
	// takes the new value.
	again := concurrency.NewElection(c.session(cl), "pro")
	if err := again.Campaign(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	rev := again.Rev()
	if err := again.Campaign(ctx, "y"); err != nil {
		t.Fatal(err)
	}
	kv, err := again.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again.Rev() != rev || string(kv.Value) != "y" {
		t.Errorf("campaigning twice: revision %d (was %d), value %q; want the same revision and y", again.Rev(), rev, kv.Value)
	}
}
