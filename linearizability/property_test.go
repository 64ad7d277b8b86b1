package linearizability

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"pgregory.net/rapid"

	"github.com/cairndb/cairn/api"
)

// scale shrinks or grows iteration counts: CAIRN_SHORT=1 (CI under -race)
// runs fewer, CAIRN_LONG=1 many more.
func scale(n int) int {
	switch {
	case os.Getenv("CAIRN_LONG") != "":
		return n * 10
	case os.Getenv("CAIRN_SHORT") != "":
		return max(n/4, 1)
	}
	return n
}

// workload generates requests against the reference store it drives.
type workload struct {
	keys     []string
	multiKey bool
	ref      *refKV
	written  map[string][]string // values ever written per key
	nextVal  int
}

func (w *workload) value() string {
	w.nextVal++
	return fmt.Sprintf("v%d", w.nextVal)
}

// request draws one request.
func (w *workload) request(t *rapid.T) api.RequestOp {
	k := rapid.SampledFrom(w.keys).Draw(t, "key")
	kinds := []string{"get", "put", "delete", "cas-value", "cas-mod"}
	if w.multiKey {
		kinds = append(kinds, "range", "delete-range", "txn")
	}
	switch rapid.SampledFrom(kinds).Draw(t, "kind") {
	case "get":
		return get(k)
	case "put":
		v := w.value()
		w.written[k] = append(w.written[k], v)
		req := put(k, v)
		req.Put.PrevKv = w.multiKey && rapid.Bool().Draw(t, "prevKv")
		return req
	case "delete":
		req := del(k)
		req.DeleteRange.PrevKv = w.multiKey && rapid.Bool().Draw(t, "prevKv")
		return req
	case "cas-value":
		old := "none"
		if vs := w.written[k]; len(vs) > 0 {
			old = vs[rapid.IntRange(max(0, len(vs)-3), len(vs)-1).Draw(t, "old")]
		}
		v := w.value()
		w.written[k] = append(w.written[k], v)
		req := casValue(k, old, v)
		if rapid.Bool().Draw(t, "else-get") {
			req.Txn.Failure = []api.RequestOp{get(k)}
		}
		return req
	case "cas-mod":
		rev := w.ref.kvs[k].ModRevision
		if rapid.Bool().Draw(t, "stale") {
			rev = rapid.Int64Range(0, w.ref.rev).Draw(t, "rev")
		}
		v := w.value()
		w.written[k] = append(w.written[k], v)
		req := casMod(k, rev, v)
		if rapid.Bool().Draw(t, "else-get") {
			req.Txn.Failure = []api.RequestOp{get(k)}
		}
		return req
	case "range":
		r := &api.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}
		switch rapid.IntRange(0, 2).Draw(t, "range") {
		case 1:
			r.Key, r.RangeEnd = []byte(w.keys[0]), []byte(w.keys[len(w.keys)-1])
		case 2:
			r.Key = []byte(k)
		}
		r.Limit = rapid.Int64Range(0, 3).Draw(t, "limit")
		if rapid.Bool().Draw(t, "descend") {
			r.SortOrder = api.SortDescend
		}
		r.KeysOnly = rapid.IntRange(0, 4).Draw(t, "keysOnly") == 0
		r.CountOnly = rapid.IntRange(0, 4).Draw(t, "countOnly") == 0
		return api.RequestOp{Range: r}
	case "delete-range":
		return api.RequestOp{DeleteRange: &api.DeleteRangeRequest{Key: []byte(w.keys[0]), RangeEnd: []byte(w.keys[len(w.keys)-1])}}
	default: // a multi-key transaction
		other := rapid.SampledFrom(w.keys).Draw(t, "other")
		v1, v2 := w.value(), w.value()
		w.written[k] = append(w.written[k], v1)
		w.written[other] = append(w.written[other], v2)
		return api.RequestOp{Txn: &api.TxnRequest{
			Compare: []api.Compare{{
				Result:  rapid.SampledFrom([]api.CompareResult{api.CompareEqual, api.CompareGreater, api.CompareLess, api.CompareNotEqual}).Draw(t, "result"),
				Target:  api.CompareVersion,
				Key:     []byte(other),
				Version: rapid.Int64Range(0, 2).Draw(t, "version"),
			}},
			Success: []api.RequestOp{put(k, v1), put(other+"-shadow", v2)},
			Failure: []api.RequestOp{{Range: &api.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}}},
		}}
	}
}

// generated is a history produced by running a workload.
type generated struct {
	history []porcupine.Operation
	ref     *refKV
	unknown int
}

// generateHistory runs n requests against a reference store, one after
// another at linearization points 100 apart, and records each over an
// interval around its point, so intervals overlap at random but real-time
// order is that of the sequential run. Some operations get an unknown
// outcome (about one in twenty); half of those are never applied. The history ends with a known
// get.
func generateHistory(t *rapid.T, n int, keys []string, multiKey bool, allowUnknown bool) generated {
	const startRev = 1
	w := &workload{keys: keys, multiKey: multiKey, ref: newRefKV(startRev), written: map[string][]string{}}
	g := generated{ref: w.ref}
	for i := 0; i <= n; i++ {
		point := int64(100 * (i + 1))
		req := get(keys[0])
		if i < n {
			req = w.request(t)
		}
		call := point - rapid.Int64Range(0, 250).Draw(t, "before")
		ret := point + rapid.Int64Range(0, 250).Draw(t, "after")
		client := rapid.IntRange(0, 7).Draw(t, "client")
		if i < n && allowUnknown && rapid.IntRange(0, 19).Draw(t, "unknown") == 13 {
			if rapid.Bool().Draw(t, "applied") {
				w.ref.apply(req)
			}
			g.unknown++
			g.history = append(g.history, unknownOp(client, call, req))
			continue
		}
		g.history = append(g.history, op(client, call, ret, req, w.ref.apply(req)))
	}
	return g
}

// mutateRead makes the last operation (a known get) return a value no
// write ever wrote.
func mutateRead(history []porcupine.Operation) []porcupine.Operation {
	out := slices.Clone(history)
	last := &out[len(out)-1]
	req := last.Input.(api.RequestOp)
	resp := last.Output.(Outcome).Response.Range
	rev := resp.Header.Revision
	bad := &api.RangeResponse{Header: resp.Header, Count: 1,
		Kvs: []api.KeyValue{kv(string(req.Range.Key), "never-written", rev, rev, 1)}}
	if len(resp.Kvs) == 1 {
		bad.Kvs[0] = resp.Kvs[0]
		bad.Kvs[0].Value = []byte("never-written")
	}
	last.Output = Outcome{Response: api.ResponseOp{Range: bad}}
	return out
}

func checkGenerated(t *rapid.T, model Model, g generated) {
	dir, err := os.MkdirTemp("", "cairn-lin-prop")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := Check(g.history, model, 20*time.Second, dir); err != nil {
		t.Fatalf("generated history (%d ops, %d unknown) rejected: %v", len(g.history), g.unknown, err)
	}
	err = Check(mutateRead(g.history), model, 20*time.Second, dir)
	if !errors.Is(err, ErrNotLinearizable) {
		t.Fatalf("history with a read of a value never written: want ErrNotLinearizable, got %v", err)
	}
}

func TestPropertyKVModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 200).Draw(t, "n")
		g := generateHistory(t, n, []string{"a", "b", "c", "d"}, false, true)
		checkGenerated(t, KVModel(), g)
	})
}

func TestPropertyMultiKeyModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 40).Draw(t, "n")
		g := generateHistory(t, n, []string{"a", "b", "c"}, true, true)
		model, err := MultiKeyModel(Start{Revision: 1})
		if err != nil {
			t.Fatal(err)
		}
		checkGenerated(t, model, g)
	})
}

// TestPropertyChangeLog checks that, without unknown outcomes, the change
// log rebuilt from the linearization is the reference store's, and that a
// watch of every key delivering the reference events passes CheckWatch.
func TestPropertyChangeLog(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 40).Draw(t, "n")
		g := generateHistory(t, n, []string{"a", "b", "c"}, true, false)
		log, err := ChangeLog(g.history, Start{Revision: 1}, 20*time.Second, os.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(log, g.ref.log, sameChange) {
			t.Fatalf("change log\n%v\nwant\n%v", log, g.ref.log)
		}
		var events []api.Event
		for _, c := range g.ref.log {
			events = append(events, c.Events...)
		}
		all := Watch{Key: []byte{0}, RangeEnd: []byte{0}, StartRevision: 2, PrevKv: true}
		if err := CheckWatch(log, all, events, g.ref.rev); err != nil {
			t.Fatal(err)
		}
		if len(events) > 0 {
			i := rapid.IntRange(0, len(events)-1).Draw(t, "drop")
			gap := slices.Delete(slices.Clone(events), i, i+1)
			if err := CheckWatch(log, all, gap, g.ref.rev); err == nil {
				t.Fatalf("dropping event %d (%s) went unnoticed", i, describeEvent(events[i]))
			}
		}
	})
}

func sameChange(a, b Change) bool {
	return a.Revision == b.Revision && slices.EqualFunc(a.Events, b.Events, func(x, y api.Event) bool {
		if x.Type != y.Type || !sameKeyValue(x.Kv, y.Kv) || (x.PrevKv == nil) != (y.PrevKv == nil) {
			return false
		}
		return x.PrevKv == nil || sameKeyValue(*x.PrevKv, *y.PrevKv)
	})
}
