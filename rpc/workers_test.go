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
// Once the server closes, its idle workers end.
func TestUnaryCallsNeverWaitForAWorker(t *testing.T) {
	const calls = 3 * maxIdleWorkers
	var started sync.WaitGroup
	release := make(chan struct{})
	srv := NewServer(ServerOptions{Logger: testLogger(t)})
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
	for round := range 3 {
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
	deadline := time.Now().Add(10 * time.Second)
	for srv.workers.idle.Load() != maxIdleWorkers {
		if time.Now().After(deadline) {
			t.Fatalf("%d idle workers after the calls; want the %d kept", srv.workers.idle.Load(), maxIdleWorkers)
		}
		time.Sleep(time.Millisecond)
	}
	srv.Close()
	deadline = time.Now().Add(10 * time.Second)
	for srv.workers.idle.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d idle workers still waiting after the server closed", srv.workers.idle.Load())
		}
		time.Sleep(time.Millisecond)
	}
}
