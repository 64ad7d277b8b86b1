package linearizability

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/cairndb/cairn/api"
)

// benchHistory runs n single-key operations over the given number of keys
// against the reference store, as generateHistory does (linearization
// points 100 apart, intervals up to 250 either side, so about five
// operations overlap), with one in a hundred outcomes unknown.
func benchHistory(n, keys int, seed uint64) []porcupine.Operation {
	rng := rand.New(rand.NewPCG(seed, 1))
	ref := newRefKV(1)
	history := make([]porcupine.Operation, 0, n)
	for i := range n {
		k := fmt.Sprintf("key-%03d", rng.IntN(keys))
		var req api.RequestOp
		switch rng.IntN(5) {
		case 0, 1:
			req = get(k)
		case 2:
			req = put(k, fmt.Sprintf("v%d", i))
		case 3:
			req = casMod(k, ref.kvs[k].ModRevision, fmt.Sprintf("v%d", i))
		default:
			req = del(k)
		}
		point := int64(100 * (i + 1))
		call, ret := point-rng.Int64N(250), point+rng.Int64N(250)
		if rng.IntN(100) == 0 {
			ref.apply(req)
			history = append(history, unknownOp(rng.IntN(16), call, req))
			continue
		}
		history = append(history, op(rng.IntN(16), call, ret, req, ref.apply(req)))
	}
	return history
}

// BenchmarkCheckKV checks a 10,000-operation history with the per-key
// model.
func BenchmarkCheckKV(b *testing.B) {
	for _, keys := range []int{100, 20} {
		b.Run(fmt.Sprintf("ops=10000/keys=%d", keys), func(b *testing.B) {
			history := benchHistory(10_000, keys, 1)
			model := KVModel()
			b.ReportAllocs()
			for b.Loop() {
				if err := Check(history, model, time.Minute, b.TempDir()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10_000, "ns/op-checked")
		})
	}
}

// BenchmarkCheckMultiKey checks a 300-operation history with the
// multi-key model.
func BenchmarkCheckMultiKey(b *testing.B) {
	history := benchHistory(300, 5, 2)
	model, err := MultiKeyModel(Start{Revision: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Check(history, model, time.Minute, b.TempDir()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBenchHistoryChecks keeps the benchmark's history honest: it must
// pass, and fail once a read is corrupted.
func TestBenchHistoryChecks(t *testing.T) {
	history := benchHistory(scale(2000), 50, 3)
	if err := Check(history, KVModel(), time.Minute, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	for i := len(history) - 1; i >= 0; i-- {
		if req := history[i].Input.(api.RequestOp); req.Range != nil && !history[i].Output.(Outcome).Unknown {
			bad := mutateRead(history[:i+1])
			if err := Check(append(bad, history[i+1:]...), KVModel(), time.Minute, t.TempDir()); err == nil {
				t.Fatal("corrupted read went unnoticed")
			}
			return
		}
	}
	t.Fatal("no known read in the history")
}
