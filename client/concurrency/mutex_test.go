package concurrency_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/client/concurrency"
)

// TestMutexMutualExclusion has workers increment a counter in the store
// by reading it and writing it back, each step under the lock and
// fenced by IsOwner. Any two workers inside at once would lose an
// increment, so the final count shows whether the lock excluded.
func TestMutexMutualExclusion(t *testing.T) {
	c := newTestCluster(t, 3)
	cl := c.client()
	ctx := testContext(t)
	workers, iters := 6, 8
	if short() {
		workers, iters = 4, 5
	}
	var inside atomic.Int32 // workers in the critical section right now
	var mu sync.Mutex
	var tokens []int64 // fencing tokens, in the order the lock was taken
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		s := c.session(cl, concurrency.WithTTL(10))
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := concurrency.NewMutex(s, "mx/counter")
			for range iters {
				if err := incrementUnderLock(ctx, cl, m, &inside, &mu, &tokens); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	resp, err := cl.Get(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(resp.Kvs[0].Value), strconv.Itoa(workers*iters); got != want {
		t.Errorf("counter = %s after %d locked increments, want %s", got, workers*iters, want)
	}
	for i := 1; i < len(tokens); i++ {
		if tokens[i] <= tokens[i-1] {
			t.Errorf("fencing token %d = %d is not above the previous holder's %d", i, tokens[i], tokens[i-1])
		}
	}
	if n := countKeys(t, ctx, cl, "mx/counter/"); n != 0 {
		t.Errorf("%d lock keys left after every worker unlocked", n)
	}
}

// incrementUnderLock takes m, adds one to the counter key, and unlocks.
func incrementUnderLock(ctx context.Context, cl *client.Client, m *concurrency.Mutex, inside *atomic.Int32, mu *sync.Mutex, tokens *[]int64) error {
	if err := m.Lock(ctx); err != nil {
		return err
	}
	if n := inside.Add(1); n != 1 {
		return errors.New("two holders of the lock at once")
	}
	mu.Lock()
	*tokens = append(*tokens, m.Rev())
	mu.Unlock()
	resp, err := cl.Get(ctx, "counter")
	if err != nil {
		return err
	}
	n := 0
	if len(resp.Kvs) > 0 {
		if n, err = strconv.Atoi(string(resp.Kvs[0].Value)); err != nil {
			return err
		}
	}
	txn, err := cl.Txn(ctx).If(m.IsOwner()).Then(client.OpPut("counter", strconv.Itoa(n+1))).Commit()
	if err != nil {
		return err
	}
	if !txn.Succeeded {
		return errors.New("IsOwner failed while holding the lock")
	}
	inside.Add(-1)
	return m.Unlock(ctx)
}

func TestMutexTryLock(t *testing.T) {
	c := newTestCluster(t, 3)
	cl := c.client()
	ctx := testContext(t)
	s1, s2 := c.session(cl), c.session(cl)
	m1, m2 := concurrency.NewMutex(s1, "try"), concurrency.NewMutex(s2, "try")

	if err := m1.TryLock(ctx); err != nil {
		t.Fatalf("TryLock of a free lock: %v", err)
	}
	if err := m2.TryLock(ctx); !errors.Is(err, concurrency.ErrLocked) {
		t.Fatalf("TryLock of a held lock = %v, want ErrLocked", err)
	}
	if n := countKeys(t, ctx, cl, "try/"); n != 1 {
		t.Errorf("%d keys under the lock after a failed TryLock, want only the holder's", n)
	}
	if m2.Key() != "" {
		t.Errorf("the failed TryLock kept key %q", m2.Key())
	}
	staleOwner := m1.IsOwner()
	if err := m1.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m2.TryLock(ctx); err != nil {
		t.Fatalf("TryLock after the holder unlocked: %v", err)
	}
	// The first holder's fencing condition no longer holds.
	txn, err := cl.Txn(ctx).If(staleOwner).Then(client.OpPut("fenced", "stale write")).Commit()
	if err != nil {
		t.Fatal(err)
	}
	if txn.Succeeded {
		t.Error("a write fenced by a released lock succeeded")
	}
	if txn, err = cl.Txn(ctx).If(m2.IsOwner()).Then(client.OpPut("fenced", "ok")).Commit(); err != nil || !txn.Succeeded {
		t.Errorf("the holder's fenced write: succeeded %v, err %v", txn != nil && txn.Succeeded, err)
	}
	if err := m1.Unlock(ctx); err == nil {
		t.Error("Unlock of a lock not held succeeded")
	}
}

// TestMutexReleasedWhenSessionExpires lets the holder's lease run out:
// the next waiter gets the lock, and the old holder's fencing fails.
func TestMutexReleasedWhenSessionExpires(t *testing.T) {
	c := newTestCluster(t, 3)
	cl := c.client()
	ctx := testContext(t)
	holder := c.session(cl, concurrency.WithTTL(3)) // 3 s: the server's smallest TTL
	waiter := c.session(cl, concurrency.WithTTL(10))
	m1, m2 := concurrency.NewMutex(holder, "exp"), concurrency.NewMutex(waiter, "exp")
	if err := m1.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	locked := make(chan error, 1)
	go func() { locked <- m2.Lock(ctx) }()
	select {
	case err := <-locked:
		t.Fatalf("the waiter returned (%v) while the lock was held", err)
	case <-time.After(300 * time.Millisecond):
	}
	holder.Orphan() // the holder's process "hangs": no more keep-alives
	select {
	case <-holder.Done():
	default:
		t.Error("Done is open after Orphan")
	}
	if err := <-locked; err != nil {
		t.Fatalf("the waiter's Lock after the holder's lease expired: %v", err)
	}
	txn, err := cl.Txn(ctx).If(m1.IsOwner()).Then(client.OpPut("exp-fenced", "x")).Commit()
	if err != nil {
		t.Fatal(err)
	}
	if txn.Succeeded {
		t.Error("the expired holder's fenced write succeeded")
	}
	if m2.Rev() <= m1.Rev() {
		t.Errorf("new holder's token %d is not above the expired holder's %d", m2.Rev(), m1.Rev())
	}
}

// TestMutexLockGivesUp checks a waiter whose context ends, or whose
// session ends, leaves the queue with the matching error.
func TestMutexLockGivesUp(t *testing.T) {
	c := newTestCluster(t, 3)
	cl := c.client()
	ctx := testContext(t)
	m1 := concurrency.NewMutex(c.session(cl), "giveup")
	if err := m1.Lock(ctx); err != nil {
		t.Fatal(err)
	}

	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	m2 := concurrency.NewMutex(c.session(cl), "giveup")
	if err := m2.Lock(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock with an expiring context = %v, want DeadlineExceeded", err)
	}

	s3 := c.session(cl)
	m3 := concurrency.NewMutex(s3, "giveup")
	locked := make(chan error, 1)
	go func() { locked <- m3.Lock(ctx) }()
	time.Sleep(100 * time.Millisecond)
	s3.Orphan()
	if err := <-locked; !errors.Is(err, concurrency.ErrSessionExpired) {
		t.Errorf("Lock whose session ended = %v, want ErrSessionExpired", err)
	}
	if n := countKeys(t, ctx, cl, "giveup/"); n != 1 {
		t.Errorf("%d keys under the lock after two waiters gave up, want only the holder's", n)
	}
}
