package linearizability

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"pgregory.net/rapid"

	"github.com/cairndb/cairn/api"
)

// transfer is "if mod(a) == ra and mod(b) == rb then a = va, b = vb, else
// read the group": a transfer between two keys of a group.
func transfer(group, a string, ra int64, va, b string, rb int64, vb string) api.RequestOp {
	return api.RequestOp{Txn: &api.TxnRequest{
		Compare: []api.Compare{
			{Result: api.CompareEqual, Target: api.CompareMod, Key: []byte(a), ModRevision: ra},
			{Result: api.CompareEqual, Target: api.CompareMod, Key: []byte(b), ModRevision: rb},
		},
		Success: []api.RequestOp{put(a, va), put(b, vb)},
		Failure: []api.RequestOp{rangePrefix(group)},
	}}
}

func TestGroupedKVModelHandWritten(t *testing.T) {
	setup := []porcupine.Operation{
		op(0, 0, 10, put("a/1", "10"), putResp(2)),
		// Revision 3 is a write outside the history.
		op(0, 20, 30, put("a/2", "0"), putResp(4)),
	}
	cases := []struct {
		name    string
		history []porcupine.Operation
		ok      bool
	}{
		{"transfer then read the group", []porcupine.Operation{
			op(1, 40, 50, transfer("a/", "a/1", 2, "5", "a/2", 4, "5"), txnResp(6, true, putResp(6), putResp(6))),
			op(2, 60, 70, rangePrefix("a/"), rangeResp(9, kv("a/1", "5", 2, 6, 2), kv("a/2", "5", 4, 6, 2))),
		}, true},
		{"half a transfer seen", []porcupine.Operation{
			op(1, 40, 50, transfer("a/", "a/1", 2, "5", "a/2", 4, "5"), txnResp(6, true, putResp(6), putResp(6))),
			op(2, 60, 70, rangePrefix("a/"), rangeResp(9, kv("a/1", "5", 2, 6, 2), kv("a/2", "0", 4, 4, 1))),
		}, false},
		{"read of the group before an acknowledged transfer", []porcupine.Operation{
			op(1, 40, 50, transfer("a/", "a/1", 2, "5", "a/2", 4, "5"), txnResp(6, true, putResp(6), putResp(6))),
			op(2, 60, 70, rangePrefix("a/"), rangeResp(6, kv("a/1", "10", 2, 2, 1), kv("a/2", "0", 4, 4, 1))),
		}, false},
		{"transfer of unknown outcome, seen applied", []porcupine.Operation{
			unknownOp(1, 40, transfer("a/", "a/1", 2, "5", "a/2", 4, "5")),
			op(2, 60, 70, rangePrefix("a/"), rangeResp(9, kv("a/1", "5", 2, 7, 2), kv("a/2", "5", 4, 7, 2))),
		}, true},
		{"transfer of unknown outcome, half seen", []porcupine.Operation{
			unknownOp(1, 40, transfer("a/", "a/1", 2, "5", "a/2", 4, "5")),
			op(2, 60, 70, rangePrefix("a/"), rangeResp(9, kv("a/1", "5", 2, 7, 2), kv("a/2", "0", 4, 4, 1))),
		}, false},
		{"stale compare fails and reads the group", []porcupine.Operation{
			op(1, 40, 50, transfer("a/", "a/1", 1, "5", "a/2", 4, "5"),
				txnResp(5, false, rangeResp(5, kv("a/1", "10", 2, 2, 1), kv("a/2", "0", 4, 4, 1)))),
		}, true},
		{"delete the group", []porcupine.Operation{
			op(1, 40, 50, api.RequestOp{DeleteRange: &api.DeleteRangeRequest{Key: []byte("a/"), RangeEnd: prefixEnd("a/")}}, delResp(5, 2)),
			op(2, 60, 70, get("a/1"), rangeResp(5)),
		}, true},
		{"delete the group, one key survives", []porcupine.Operation{
			op(1, 40, 50, api.RequestOp{DeleteRange: &api.DeleteRangeRequest{Key: []byte("a/"), RangeEnd: prefixEnd("a/")}}, delResp(5, 2)),
			op(2, 60, 70, get("a/2"), rangeResp(5, kv("a/2", "0", 4, 4, 1))),
		}, false},
		{"other groups are independent", []porcupine.Operation{
			op(1, 40, 50, put("b/1", "x"), putResp(3)),
			op(2, 60, 70, get("b/1"), rangeResp(5, kv("b/1", "x", 3, 3, 1))),
			op(2, 80, 90, get("k"), rangeResp(5)),
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			history := append(append([]porcupine.Operation{}, setup...), tc.history...)
			checkCase(t, GroupedKVModel('/'), history, tc.ok)
		})
	}
}

func TestGroupedKVModelValidation(t *testing.T) {
	cases := []struct {
		name string
		req  api.RequestOp
		want string // "" for accepted
	}{
		{"single key without separator", get("k1"), ""},
		{"range of a group", rangePrefix("a/"), ""},
		{"range within a group", api.RequestOp{Range: &api.RangeRequest{Key: []byte("a/1"), RangeEnd: []byte("a/3")}}, ""},
		{"range past its group", api.RequestOp{Range: &api.RangeRequest{Key: []byte("a/1"), RangeEnd: []byte("b")}}, "reaches past group"},
		{"range from a key", api.RequestOp{Range: &api.RangeRequest{Key: []byte("a/1"), RangeEnd: []byte{0}}}, "reaches past group"},
		{"range of keys without separator", api.RequestOp{Range: &api.RangeRequest{Key: []byte("k1"), RangeEnd: []byte("k3")}}, "not within one group"},
		{"transfer within a group", transfer("a/", "a/1", 1, "x", "a/2", 1, "y"), ""},
		{"transfer across groups", transfer("a/", "a/1", 1, "x", "b/2", 1, "y"), "groups"},
		{"single keys together", api.RequestOp{Txn: &api.TxnRequest{Success: []api.RequestOp{put("k1", "x"), put("k2", "y")}}}, "groups"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Check([]porcupine.Operation{unknownOp(0, 0, c.req)}, GroupedKVModel('/'), time.Second, t.TempDir())
			if c.want == "" {
				if err != nil {
					t.Fatalf("want accepted, got %v", err)
				}
				return
			}
			if err == nil || errors.Is(err, ErrNotLinearizable) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want a validation error containing %q, got %v", c.want, err)
			}
		})
	}
}

// groupedWorkload draws requests on keys in groups ("a/1".. in group "a/",
// and single keys), including multi-key ones within a group, and writes
// outside the history that advance the revision.
type groupedWorkload struct {
	ref     *refKV
	groups  map[string][]string
	nextVal int
}

func (w *groupedWorkload) value() string {
	w.nextVal++
	return fmt.Sprintf("v%d", w.nextVal)
}

// request draws one request; recorded is false for a write made outside
// the history.
func (w *groupedWorkload) request(t *rapid.T) (req api.RequestOp, recorded bool) {
	group := rapid.SampledFrom([]string{"a/", "b/", "k"}).Draw(t, "group")
	keys := w.groups[group]
	k := rapid.SampledFrom(keys).Draw(t, "key")
	kinds := []string{"get", "put", "delete", "cas-mod", "foreign"}
	if len(keys) > 1 {
		kinds = append(kinds, "range", "delete-group", "transfer")
	}
	switch rapid.SampledFrom(kinds).Draw(t, "kind") {
	case "get":
		return get(k), true
	case "put":
		return put(k, w.value()), true
	case "delete":
		return del(k), true
	case "cas-mod":
		return casMod(k, w.ref.kvs[k].ModRevision-rapid.Int64Range(0, 1).Draw(t, "stale"), w.value()), true
	case "range":
		r := rangePrefix(group)
		r.Range.Limit = rapid.Int64Range(0, 2).Draw(t, "limit")
		return r, true
	case "delete-group":
		return api.RequestOp{DeleteRange: &api.DeleteRangeRequest{Key: []byte(group), RangeEnd: prefixEnd(group)}}, true
	case "transfer":
		other := rapid.SampledFrom(keys).Filter(func(o string) bool { return o != k }).Draw(t, "other")
		stale := rapid.Int64Range(0, 1).Draw(t, "stale")
		return transfer(group, k, w.ref.kvs[k].ModRevision-stale, w.value(), other, w.ref.kvs[other].ModRevision, w.value()), true
	}
	return put("zz-outside", w.value()), false
}

// TestPropertyGroupedKVModel checks that histories of a correct store,
// with multi-key operations within groups and writes outside the history,
// are accepted, and that a read of a value never written is not.
func TestPropertyGroupedKVModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := &groupedWorkload{ref: newRefKV(1), groups: map[string][]string{
			"a/": {"a/1", "a/2", "a/3"}, "b/": {"b/1", "b/2"}, "k": {"k"},
		}}
		n := rapid.IntRange(1, 120).Draw(t, "n")
		g := generated{ref: w.ref}
		for i := 0; i <= n; i++ {
			point := int64(100 * (i + 1))
			req, recorded := get("a/1"), true
			if i < n {
				req, recorded = w.request(t)
			}
			if !recorded {
				w.ref.apply(req)
				continue
			}
			call := point - rapid.Int64Range(0, 250).Draw(t, "before")
			ret := point + rapid.Int64Range(0, 250).Draw(t, "after")
			client := rapid.IntRange(0, 5).Draw(t, "client")
			if i < n && rapid.IntRange(0, 19).Draw(t, "unknown") == 7 {
				if rapid.Bool().Draw(t, "applied") {
					w.ref.apply(req)
				}
				g.unknown++
				g.history = append(g.history, unknownOp(client, call, req))
				continue
			}
			g.history = append(g.history, op(client, call, ret, req, w.ref.apply(req)))
		}
		checkGenerated(t, GroupedKVModel('/'), g)
	})
}
