package linearizability

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cairndb/cairn/api"
)

func TestRecorderLifecycle(t *testing.T) {
	now := int64(100)
	rec := NewRecorder(func() int64 { now += 10; return now })
	done := rec.Call(0, put("a", "1"))
	lost := rec.Call(1, put("a", "2"))
	rejected := rec.Call(2, put("a", "3"))
	pending := rec.Call(3, get("a"))
	if err := rec.Return(done, putResp(2)); err != nil {
		t.Fatal(err)
	}
	if err := rec.Unknown(lost); err != nil {
		t.Fatal(err)
	}
	if err := rec.Discard(rejected); err != nil {
		t.Fatal(err)
	}
	ops := rec.Operations()
	if len(ops) != 3 {
		t.Fatalf("got %d operations, want 3 (the discarded one left out)", len(ops))
	}
	if ops[0].Call != 110 || ops[0].Return != 150 || ops[0].Output.(Outcome).Unknown {
		t.Errorf("returned op: %+v", ops[0])
	}
	if ops[1].Call != 120 || ops[1].Return != Never || !ops[1].Output.(Outcome).Unknown {
		t.Errorf("unknown op: %+v", ops[1])
	}
	if ops[2].ClientId != 3 || ops[2].Return != Never || !ops[2].Output.(Outcome).Unknown {
		t.Errorf("pending op should be unknown: %+v", ops[2])
	}
	if err := rec.Return(done, putResp(3)); err == nil {
		t.Error("finishing an operation twice was accepted")
	}
	if err := rec.Unknown(lost); err == nil {
		t.Error("marking an unknown operation unknown again was accepted")
	}
	if err := rec.Discard(lost); err != nil {
		t.Errorf("discarding an unknown operation that never applied: %v", err)
	}
	if n := len(rec.Operations()); n != 2 {
		t.Errorf("got %d operations after discarding the unknown one, want 2", n)
	}
	if err := rec.Unknown(OpID(99)); err == nil {
		t.Error("finishing a missing operation was accepted")
	}
	_ = pending
}

func TestClocks(t *testing.T) {
	c := NewCounterClock()
	if a, b := c(), c(); a != 1 || b != 2 {
		t.Errorf("counter clock read %d, %d", a, b)
	}
	w := NewWallClock()
	if a, b := w(), w(); b < a || a < 0 {
		t.Errorf("wall clock went backwards: %d then %d", a, b)
	}
}

// TestRecorderConcurrentClients runs goroutine clients against a
// mutex-guarded reference store through a Recorder. The history must be
// linearizable under both models. With stale set, client 0 writes a key and
// then reads it back from a copy taken before its write (a follower serving
// a stale read); both models must catch that.
func TestRecorderConcurrentClients(t *testing.T) {
	for _, stale := range []bool{false, true} {
		t.Run(fmt.Sprintf("stale=%v", stale), func(t *testing.T) {
			rec := NewRecorder(nil)
			var mu sync.Mutex
			ref := newRefKV(1)
			keys := []string{"a", "b"}
			var wg sync.WaitGroup
			for client := range 4 {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(client), 7))
					var before api.ResponseOp // client 0's view of "a" before its first write
					for i := range scale(60) {
						k := keys[rng.IntN(len(keys))]
						var req api.RequestOp
						switch {
						case stale && client == 0 && i < 2:
							req = []api.RequestOp{put("a", "c0-first"), get("a")}[i]
						case rng.IntN(4) == 0:
							req = put(k, fmt.Sprintf("c%d-%d", client, i))
						case rng.IntN(3) == 0:
							req = casValue(k, fmt.Sprintf("c%d-%d", client, i-1), fmt.Sprintf("c%d-%d", client, i))
						default:
							req = get(k)
						}
						id := rec.Call(client, req)
						mu.Lock()
						if stale && client == 0 && i == 0 {
							before = ref.apply(get("a"))
						}
						resp := ref.apply(req)
						if stale && client == 0 && i == 1 {
							resp = before
						}
						mu.Unlock()
						if i > 1 && rng.IntN(20) == 0 {
							if err := rec.Unknown(id); err != nil {
								t.Error(err)
							}
							continue
						}
						if err := rec.Return(id, resp); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			history := rec.Operations()
			multi := mustMultiKey(t, Start{Revision: 1})
			for name, m := range map[string]Model{"per-key": KVModel(), "multi-key": multi} {
				err := Check(history, m, 20*time.Second, t.TempDir())
				switch {
				case !stale && err != nil:
					t.Errorf("%s: %v", name, err)
				case stale && !errors.Is(err, ErrNotLinearizable):
					t.Errorf("%s: stale read not caught: %v", name, err)
				}
			}
		})
	}
}
