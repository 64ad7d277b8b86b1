package concurrency_test

import (
	"errors"
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/client/concurrency"
)

// TestMutexProperty drives a few sessions through random TryLock, Unlock
// and session loss against one lock, and checks the store against a
// model that knows only who holds it: TryLock succeeds exactly when the
// lock is free (or already ours), the fencing condition holds for the
// holder alone, and the queue holds only the holder's key.
func TestMutexProperty(t *testing.T) {
	c := newTestCluster(t, 3)
	cl := c.client()
	ctx := testContext(t)
	run := 0
	rapid.Check(t, func(rt *rapid.T) {
		run++
		name := fmt.Sprintf("prop%d", run)
		const n = 3
		var sessions [n]*concurrency.Session
		var mutexes [n]*concurrency.Mutex
		open := func(i int) {
			s, err := concurrency.NewSession(cl, concurrency.WithTTL(30))
			if err != nil {
				rt.Fatal(err)
			}
			sessions[i], mutexes[i] = s, concurrency.NewMutex(s, name)
		}
		for i := range n {
			open(i)
		}
		defer func() {
			for _, s := range sessions {
				_ = s.Close()
			}
		}()
		holder := -1 // the model: who holds the lock
		steps := rapid.IntRange(1, 12).Draw(rt, "steps")
		for range steps {
			i := rapid.IntRange(0, n-1).Draw(rt, "session")
			switch rapid.SampledFrom([]string{"trylock", "unlock", "close"}).Draw(rt, "op") {
			case "trylock":
				err := mutexes[i].TryLock(ctx)
				switch {
				case holder == -1 || holder == i:
					if err != nil {
						rt.Fatalf("TryLock by %d of a lock held by %d: %v", i, holder, err)
					}
					holder = i
				case !errors.Is(err, concurrency.ErrLocked):
					rt.Fatalf("TryLock by %d of a lock held by %d = %v, want ErrLocked", i, holder, err)
				}
			case "unlock":
				if holder != i {
					continue // Unlock of a lock not held is an error; tested elsewhere
				}
				if err := mutexes[i].Unlock(ctx); err != nil {
					rt.Fatal(err)
				}
				holder = -1
			case "close":
				if err := sessions[i].Close(); err != nil {
					rt.Fatal(err)
				}
				if holder == i {
					holder = -1
				}
				open(i)
			}
			for j := range n {
				txn, err := cl.Txn(ctx).If(mutexes[j].IsOwner()).Then(client.OpGet(name)).Commit()
				if err != nil {
					rt.Fatal(err)
				}
				if txn.Succeeded != (holder == j) {
					rt.Fatalf("session %d: fencing condition holds = %v, but the holder is %d", j, txn.Succeeded, holder)
				}
			}
			want := int64(0)
			if holder >= 0 {
				want = 1
			}
			if got := countKeys(t, ctx, cl, name+"/"); got != want {
				rt.Fatalf("%d keys in the lock's queue, want %d (holder %d)", got, want, holder)
			}
		}
	})
}
