package rpc

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Unary calls run on reused workers, yet no call waits for another: more
// calls than idle workers are kept all block until every one of them has
// started, in several rounds (the later ones on workers of the earlier).
// Then the workers above the minimum retire, half at a time, but only
// while no call finds them all busy; once the server closes, its idle
// workers end.
func TestUnaryCallsNeverWaitForAWorker(t *testing.T) {
	const minIdle, maxIdle = 40, 150
	const calls = 3 * maxIdle
	var started sync.WaitGroup
	release := make(chan struct{})
	// Only the test's own looks retire workers: one of the server's,
	// every 10 s, would make the counts below one step ahead on a slow
	// machine.
	srv := NewServer(ServerOptions{Logger: testLogger(t), retireInterval: -1})
	srv.workers.minIdle, srv.workers.maxIdle = minIdle, maxIdle
	srv.HandleUnary(mEcho, func(ctx context.Context, req []byte) ([]byte, error) {
		started.Done()
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return req, nil
	})
	l := listen(t)
	go srv.Serve(l)
	c, err := Dial(context.Background(), l.Addr().String(), DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	burst := func(round, calls int) {
		started.Add(calls)
		release = make(chan struct{})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		errs := make(chan error, calls)
		for range calls {
			go func() {
				_, err := c.Call(ctx, mEcho, []byte("x"))
				errs <- err
			}()
		}
		all := make(chan struct{})
		go func() { started.Wait(); close(all) }()
		select {
		case <-all:
		case <-time.After(15 * time.Second):
			t.Fatalf("round %d: %d calls in flight did not all start: a call waited for another's worker", round, calls)
		}
		close(release)
		for range calls {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		cancel()
	}
	idleBecomes := func(want int32, when string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for srv.workers.idle.Load() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d idle workers; want %d", when, srv.workers.idle.Load(), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	for round := range 3 {
		burst(round, calls)
	}
	idleBecomes(maxIdle, "after the calls")

	// Workers were started since the last look: none retires yet.
	srv.workers.retire()
	idleBecomes(maxIdle, "after a look that followed a shortage")
	// Then half of those above the minimum at each look, rounded up.
	for want := int32(maxIdle); want > minIdle; {
		want -= (want - minIdle + 1) / 2
		srv.workers.retire()
		idleBecomes(want, "after a quiet look")
	}
	srv.workers.retire()
	idleBecomes(minIdle, "at the minimum")

	// A burst larger than the idle workers starts new ones: the next
	// look keeps them all.
	burst(3, 2*minIdle)
	kept := srv.workers.idle.Load()
	if kept <= minIdle {
		t.Fatalf("%d idle workers after a burst of %d calls; want more than %d", kept, 2*minIdle, minIdle)
	}
	srv.workers.retire()
	idleBecomes(kept, "after a look that followed the burst")

	srv.Close()
	idleBecomes(0, "after the server closed")
}
