package mvcc

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/fsx"
)

// contents is every key's value at the store's current revision.
func contents(t *testing.T, s *Store) map[string]string {
	t.Helper()
	res, err := s.Range([]byte{0}, []byte{0}, RangeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, kv := range res.KVs {
		out[string(kv.Key)] = string(kv.Value)
	}
	return out
}

// TestCrashAtEverySyncWhileApplying runs the store as a member does: one
// goroutine applies raft entries (puts and deletes, each read back at
// once: reads see what is applied, durable or not) while another commits
// when asked, every few entries (as the member's background loop does on
// a timer), so that batches are written while the next ones are applied. The power is cut at the k-th
// sync, for every k, losing or tearing what was not synced. The store
// reopens holding exactly the state after the entry its ConsistentIndex
// names, and that index is not older than the last one ConsistentIndex
// reported before the crash.
func TestCrashAtEverySyncWhileApplying(t *testing.T) {
	const entries = 150
	for _, mode := range []fsx.CrashMode{fsx.LoseUnsynced, fsx.TearUnsynced} {
		for k := 1; ; k++ {
			disk := fsx.NewMem()
			s := openMem(t, disk, 1000)
			var (
				syncs          atomic.Int64
				durableAtCrash uint64
				crashed        *fsx.MemFS
			)
			disk.OnSync = func(string) {
				// Only the committing goroutine syncs, one commit at a time.
				if syncs.Add(1) == int64(k) {
					durableAtCrash = s.ConsistentIndex()
					crashed = disk.Crash(mode, rand.New(rand.NewPCG(uint64(k), uint64(mode))))
				}
			}
			// The committer commits whenever the applier asks (every few
			// entries), while the applier goes on.
			kick := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range kick {
					if err := s.Commit(); err != nil {
						for range kick {
						}
						return // the crash
					}
				}
			}()
			rng := rand.New(rand.NewPCG(uint64(k), 5))
			states := []map[string]string{{}} // states[i]: after entry i
			revAt := []int64{s.Rev()}
			cur := map[string]string{}
			for i := uint64(1); i <= entries; i++ {
				key := fmt.Sprintf("k%02d", rng.IntN(40))
				var err error
				if rng.IntN(4) == 0 {
					_, err = s.DeleteRange(i, 1, &api.DeleteRangeRequest{Key: []byte(key)})
					delete(cur, key)
				} else {
					val := key + strings.Repeat("v", rng.IntN(1500))
					_, err = s.Put(i, 1, &api.PutRequest{Key: []byte(key), Value: []byte(val)})
					cur[key] = val
				}
				if errors.Is(err, ErrStoreFailed) {
					break // the crash failed a commit
				}
				if err != nil {
					t.Fatal(err)
				}
				states = append(states, maps.Clone(cur))
				revAt = append(revAt, s.Rev())
				if i%5 == 0 {
					kick <- struct{}{} // taken once the last commit is done
				}
				if res, err := s.Range([]byte(key), nil, RangeOptions{}); err != nil {
					if !errors.Is(err, fsx.ErrCrashed) && !strings.Contains(err.Error(), "crash") {
						t.Fatalf("entry %d: read back: %v", i, err)
					}
				} else if got := len(res.KVs); (got == 1) != (cur[key] != "") || (got == 1 && string(res.KVs[0].Value) != cur[key]) {
					t.Fatalf("entry %d: a read does not see what was applied", i)
				}
			}
			close(kick)
			wg.Wait()
			_ = s.Close()
			if crashed == nil {
				if k < 20 { // 10 commits at least
					t.Fatalf("only %d syncs, %d entries applied", k-1, len(states)-1)
				}
				t.Logf("mode %d: a crash at each of %d syncs", mode, k-1)
				break // every sync has been tried
			}
			s = openMem(t, crashed, 1000)
			ci := s.ConsistentIndex()
			switch {
			case ci < durableAtCrash:
				t.Fatalf("mode %d, crash at sync %d: consistent index %d after the crash, %d was reported durable before it", mode, k, ci, durableAtCrash)
			case ci >= uint64(len(states)):
				t.Fatalf("mode %d, crash at sync %d: consistent index %d, only %d entries applied", mode, k, ci, len(states)-1)
			}
			if got := contents(t, s); !maps.Equal(got, states[ci]) {
				t.Fatalf("mode %d, crash at sync %d: the store at consistent index %d holds %d keys, the state after entry %d %d",
					mode, k, ci, len(got), ci, len(states[ci]))
			}
			if s.Rev() != revAt[ci] {
				t.Fatalf("mode %d, crash at sync %d: revision %d at consistent index %d, want %d", mode, k, s.Rev(), ci, revAt[ci])
			}
			_ = s.Close()
		}
	}
}
