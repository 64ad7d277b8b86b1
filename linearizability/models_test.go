package linearizability

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/cairndb/cairn/api"
)

func mustMultiKey(t testing.TB, start Start) Model {
	t.Helper()
	m, err := MultiKeyModel(start)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkCase runs Check and asserts its verdict; a rejected history must
// come with a visualization file named in the error.
func checkCase(t *testing.T, model Model, history []porcupine.Operation, wantOK bool) {
	t.Helper()
	dir := t.TempDir()
	err := Check(history, model, 10*time.Second, dir)
	if wantOK {
		if err != nil {
			t.Fatalf("want linearizable, got %v", err)
		}
		return
	}
	if !errors.Is(err, ErrNotLinearizable) {
		t.Fatalf("want ErrNotLinearizable, got %v", err)
	}
	file := regexp.MustCompile(`visualization in (\S+)`).FindStringSubmatch(err.Error())
	if file == nil || !strings.HasPrefix(file[1], dir) {
		t.Fatalf("error does not name a visualization in %s: %v", dir, err)
	}
	html, readErr := os.ReadFile(file[1])
	if readErr != nil || !strings.Contains(string(html), "<html") {
		t.Fatalf("visualization %s unreadable or not HTML: %v", file[1], readErr)
	}
}

func TestKVModelHandWritten(t *testing.T) {
	cases := []struct {
		name    string
		history []porcupine.Operation
		ok      bool
	}{
		{"put then get", []porcupine.Operation{
			op(0, 0, 10, put("a", "1"), putResp(2)),
			op(1, 20, 30, get("a"), rangeResp(2, kv("a", "1", 2, 2, 1))),
		}, true},
		{"get of a missing key", []porcupine.Operation{
			op(0, 0, 10, get("a"), rangeResp(1)),
		}, true},
		{"stale read", []porcupine.Operation{
			op(0, 0, 10, put("a", "1"), putResp(2)),
			op(0, 20, 30, put("a", "2"), putResp(3)),
			op(1, 40, 50, get("a"), rangeResp(3, kv("a", "1", 2, 2, 1))),
		}, false},
		{"read concurrent with a write may see either", []porcupine.Operation{
			op(0, 0, 10, put("a", "1"), putResp(2)),
			op(0, 20, 40, put("a", "2"), putResp(3)),
			op(1, 25, 30, get("a"), rangeResp(2, kv("a", "1", 2, 2, 1))),
			op(2, 25, 30, get("a"), rangeResp(3, kv("a", "2", 2, 3, 2))),
		}, true},
		{"reads disagree on order", []porcupine.Operation{
			op(0, 0, 100, put("a", "1"), putResp(2)),
			op(1, 10, 20, get("a"), rangeResp(2, kv("a", "1", 2, 2, 1))),
			op(1, 30, 40, get("a"), rangeResp(1)),
		}, false},
		{"lost write", []porcupine.Operation{
			op(0, 0, 10, put("a", "1"), putResp(2)),
			op(1, 20, 30, get("a"), rangeResp(2)),
		}, false},
		{"delete then get", []porcupine.Operation{
			op(0, 0, 10, put("a", "1"), putResp(2)),
			op(0, 20, 30, del("a"), delResp(3, 1)),
			op(1, 40, 50, get("a"), rangeResp(3)),
		}, true},
		{"delete reports a missing key deleted", []porcupine.Operation{
			op(0, 0, 10, del("a"), delResp(2, 1)),
		}, false},
		{"compare-and-swap succeeded twice", []porcupine.Operation{
			op(0, 0, 10, put("a", "0"), putResp(2)),
			op(1, 20, 30, casValue("a", "0", "1"), txnResp(3, true, putResp(3))),
			op(2, 20, 30, casValue("a", "0", "2"), txnResp(4, true, putResp(4))),
		}, false},
		{"compare-and-swap one winner", []porcupine.Operation{
			op(0, 0, 10, put("a", "0"), putResp(2)),
			op(1, 20, 30, casValue("a", "0", "1"), txnResp(3, true, putResp(3))),
			op(2, 20, 30, casValue("a", "0", "2"), txnResp(3, false)),
			op(3, 40, 50, get("a"), rangeResp(3, kv("a", "1", 2, 3, 2))),
		}, true},
		{"compare-and-swap on mod revision", []porcupine.Operation{
			op(0, 0, 10, put("a", "0"), putResp(2)),
			op(1, 20, 30, casMod("a", 2, "1"), txnResp(5, true, putResp(5))),
			op(2, 40, 50, casMod("a", 2, "2"), txnResp(5, false)),
			op(3, 60, 70, get("a"), rangeResp(7, kv("a", "1", 2, 5, 2))),
		}, true},
		{"compare-and-swap on mod revision succeeded twice", []porcupine.Operation{
			op(0, 0, 10, put("a", "0"), putResp(2)),
			op(1, 20, 30, casMod("a", 2, "1"), txnResp(5, true, putResp(5))),
			op(2, 40, 50, casMod("a", 2, "2"), txnResp(6, true, putResp(6))),
		}, false},
		{"mod revision differs from the write's revision", []porcupine.Operation{
			op(0, 0, 10, put("a", "1"), putResp(4)),
			op(1, 20, 30, get("a"), rangeResp(4, kv("a", "1", 4, 3, 1))),
		}, false},
		{"writes with decreasing revisions", []porcupine.Operation{
			op(0, 0, 10, put("a", "1"), putResp(5)),
			op(0, 20, 30, put("a", "2"), putResp(4)),
		}, false},
		{"read revision goes backwards", []porcupine.Operation{
			op(0, 0, 10, put("a", "1"), putResp(5)),
			op(1, 20, 30, get("a"), rangeResp(4, kv("a", "1", 5, 5, 1))),
		}, false},
		{"version not counted", []porcupine.Operation{
			op(0, 0, 10, put("a", "1"), putResp(2)),
			op(0, 20, 30, put("a", "2"), putResp(3)),
			op(1, 40, 50, get("a"), rangeResp(3, kv("a", "2", 2, 3, 1))),
		}, false},
		{"indeterminate write that took effect late", []porcupine.Operation{
			unknownOp(0, 0, put("a", "1")),
			op(1, 10, 20, get("a"), rangeResp(1)),
			op(1, 30, 40, get("a"), rangeResp(1)),
			op(1, 50, 60, get("a"), rangeResp(9, kv("a", "1", 8, 8, 1))),
		}, true},
		{"indeterminate write that never took effect", []porcupine.Operation{
			unknownOp(0, 0, put("a", "1")),
			op(1, 10, 20, get("a"), rangeResp(1)),
		}, true},
		{"indeterminate write seen before its call", []porcupine.Operation{
			op(1, 0, 10, get("a"), rangeResp(3, kv("a", "1", 3, 3, 1))),
			unknownOp(0, 20, put("a", "1")),
		}, false},
		{"indeterminate write's revision learnt by a compare", []porcupine.Operation{
			unknownOp(0, 0, put("a", "1")),
			op(1, 10, 20, casMod("a", 7, "2"), txnResp(8, true, putResp(8))),
			op(1, 30, 40, get("a"), rangeResp(8, kv("a", "2", 7, 8, 2))),
		}, true},
		{"indeterminate compare-and-swap on an unknown revision may go either way", []porcupine.Operation{
			unknownOp(0, 0, put("a", "1")),
			unknownOp(1, 5, casMod("a", 7, "2")),
			op(2, 10, 20, get("a"), rangeResp(8, kv("a", "2", 7, 8, 2))),
			op(2, 30, 40, get("a"), rangeResp(8, kv("a", "2", 7, 8, 2))),
		}, true},
		{"lost write on one of two keys", []porcupine.Operation{
			op(0, 0, 10, put("a", "1"), putResp(2)),
			op(1, 0, 10, put("b", "1"), putResp(3)),
			op(2, 20, 30, get("b"), rangeResp(3, kv("b", "1", 3, 3, 1))),
			op(2, 40, 50, get("a"), rangeResp(2)),
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkCase(t, KVModel(), c.history, c.ok)
		})
	}
}

func TestMultiKeyModelHandWritten(t *testing.T) {
	both := func(rev int64) api.ResponseOp {
		return txnResp(rev, true, putResp(rev), putResp(rev))
	}
	putBoth := api.RequestOp{Txn: &api.TxnRequest{
		Compare: []api.Compare{{Result: api.CompareEqual, Target: api.CompareVersion, Key: []byte("p/a"), Version: 0}},
		Success: []api.RequestOp{put("p/a", "1"), put("p/b", "1")},
	}}
	cases := []struct {
		name    string
		history []porcupine.Operation
		ok      bool
	}{
		{"range after puts", []porcupine.Operation{
			op(0, 0, 10, put("p/a", "1"), putResp(2)),
			op(0, 20, 30, put("p/b", "2"), putResp(3)),
			op(0, 20, 30, put("q", "2"), putResp(4)),
			op(1, 40, 50, rangePrefix("p/"), rangeResp(4, kv("p/a", "1", 2, 2, 1), kv("p/b", "2", 3, 3, 1))),
		}, true},
		{"range misses an acknowledged write", []porcupine.Operation{
			op(0, 0, 10, put("p/a", "1"), putResp(2)),
			op(0, 20, 30, put("p/b", "2"), putResp(3)),
			op(1, 40, 50, rangePrefix("p/"), rangeResp(3, kv("p/a", "1", 2, 2, 1))),
		}, false},
		{"transaction is atomic", []porcupine.Operation{
			op(0, 0, 100, putBoth, both(2)),
			op(1, 10, 20, rangePrefix("p/"), rangeResp(2, kv("p/a", "1", 2, 2, 1), kv("p/b", "1", 2, 2, 1))),
		}, true},
		{"half a transaction seen", []porcupine.Operation{
			op(0, 0, 100, putBoth, both(2)),
			op(1, 10, 20, rangePrefix("p/"), rangeResp(2, kv("p/a", "1", 2, 2, 1))),
		}, false},
		{"read revision exact", []porcupine.Operation{
			op(0, 0, 10, put("a", "1"), putResp(2)),
			op(1, 20, 30, get("b"), rangeResp(2)),
		}, true},
		{"read revision skips ahead", []porcupine.Operation{
			op(0, 0, 10, put("a", "1"), putResp(2)),
			op(1, 20, 30, get("b"), rangeResp(3)),
		}, false},
		{"revisions out of order", []porcupine.Operation{
			op(0, 0, 10, put("a", "1"), putResp(3)),
			op(1, 20, 30, put("b", "1"), putResp(2)),
		}, false},
		{"read revisions go backwards", []porcupine.Operation{
			op(0, 0, 10, put("a", "1"), putResp(2)),
			op(1, 20, 30, get("b"), rangeResp(2)),
			op(1, 40, 50, get("b"), rangeResp(1)),
		}, false},
		{"delete of nothing keeps the revision", []porcupine.Operation{
			op(0, 0, 10, del("a"), delResp(1, 0)),
			op(0, 20, 30, put("a", "1"), putResp(2)),
		}, true},
		{"indeterminate write takes a revision when it applies", []porcupine.Operation{
			unknownOp(0, 0, put("a", "1")),
			op(1, 10, 20, put("b", "1"), putResp(2)),
			op(1, 30, 40, rangePrefix(""), rangeResp(3, kv("a", "1", 3, 3, 1), kv("b", "1", 2, 2, 1))),
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkCase(t, mustMultiKey(t, Start{Revision: 1}), c.history, c.ok)
		})
	}
}

func TestMultiKeyModelStart(t *testing.T) {
	m := mustMultiKey(t, Start{Revision: 5, KVs: []api.KeyValue{kv("b", "2", 4, 5, 2), kv("a", "1", 3, 3, 1)}})
	history := []porcupine.Operation{
		op(0, 0, 10, rangePrefix(""), rangeResp(5, kv("a", "1", 3, 3, 1), kv("b", "2", 4, 5, 2))),
		op(0, 20, 30, put("a", "x"), putResp(6)),
		op(0, 40, 50, get("a"), rangeResp(6, kv("a", "x", 3, 6, 2))),
	}
	checkCase(t, m, history, true)

	bad := []Start{
		{Revision: 5, KVs: []api.KeyValue{kv("a", "1", 3, 3, 1), kv("a", "2", 4, 4, 1)}},
		{Revision: 5, KVs: []api.KeyValue{kv("a", "1", 3, 6, 1)}},
		{Revision: 5, KVs: []api.KeyValue{kv("a", "1", 0, 3, 1)}},
		{Revision: 5, KVs: []api.KeyValue{kv("a", "1", 3, 3, 0)}},
	}
	for _, s := range bad {
		if _, err := MultiKeyModel(s); err == nil {
			t.Errorf("MultiKeyModel(%+v) accepted a bad start", s)
		}
	}
}

// TestRangeOptions checks limit, sort, count-only and keys-only against the
// multi-key model: the right answer passes, a wrong one fails.
func TestRangeOptions(t *testing.T) {
	start := Start{Revision: 9, KVs: []api.KeyValue{kv("a", "1", 2, 2, 1), kv("b", "2", 3, 3, 1), kv("c", "3", 4, 4, 1)}}
	all := func(r api.RangeRequest) api.RequestOp {
		r.Key, r.RangeEnd = []byte{0}, []byte{0}
		return api.RequestOp{Range: &r}
	}
	resp := func(count int64, more bool, kvs ...api.KeyValue) api.ResponseOp {
		return api.ResponseOp{Range: &api.RangeResponse{Header: hdr(9), Kvs: kvs, Count: count, More: more}}
	}
	a, b, c := start.KVs[0], start.KVs[1], start.KVs[2]
	keyOnly := func(kv api.KeyValue) api.KeyValue { kv.Value = nil; return kv }
	cases := []struct {
		name string
		req  api.RequestOp
		good api.ResponseOp
		bad  api.ResponseOp
	}{
		{"limit", all(api.RangeRequest{Limit: 2}), resp(3, true, a, b), resp(3, false, a, b)},
		{"descending", all(api.RangeRequest{Limit: 1, SortOrder: api.SortDescend}), resp(3, true, c), resp(3, true, a)},
		{"count only", all(api.RangeRequest{CountOnly: true}), resp(3, false), resp(2, false)},
		{"keys only", all(api.RangeRequest{KeysOnly: true}), resp(3, false, keyOnly(a), keyOnly(b), keyOnly(c)), resp(3, false, a, b, c)},
		{"from key", api.RequestOp{Range: &api.RangeRequest{Key: []byte("b"), RangeEnd: []byte{0}}}, resp(2, false, b, c), resp(3, false, a, b, c)},
		{"half-open range", api.RequestOp{Range: &api.RangeRequest{Key: []byte("a"), RangeEnd: []byte("c")}}, resp(2, false, a, b), resp(3, false, a, b, c)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkCase(t, mustMultiKey(t, start), []porcupine.Operation{op(0, 0, 10, tc.req, tc.good)}, true)
			checkCase(t, mustMultiKey(t, start), []porcupine.Operation{op(0, 0, 10, tc.req, tc.bad)}, false)
		})
	}
}

func TestValidation(t *testing.T) {
	multi := mustMultiKey(t, Start{})
	cases := []struct {
		name  string
		model Model
		op    porcupine.Operation
		want  string
	}{
		{"wrong input type", KVModel(), porcupine.Operation{Input: "put", Output: Outcome{Unknown: true}}, "want api.RequestOp"},
		{"wrong output type", KVModel(), porcupine.Operation{Input: get("a"), Output: "ok"}, "want linearizability.Outcome"},
		{"empty request", KVModel(), porcupine.Operation{Input: api.RequestOp{}, Output: Outcome{Unknown: true}}, "0 operations set"},
		{"range in the per-key model", KVModel(), unknownOp(0, 0, rangePrefix("p")), "use MultiKeyModel"},
		{"compare-and-swap in the per-key model", KVModel(), unknownOp(0, 0, casValue("a", "1", "2")), ""},
		{"historical read", multi, unknownOp(0, 0, api.RequestOp{Range: &api.RangeRequest{Key: []byte("a"), Revision: 3}}), "past revision"},
		{"serializable read", multi, unknownOp(0, 0, api.RequestOp{Range: &api.RangeRequest{Key: []byte("a"), Serializable: true}}), "serializable"},
		{"lease", multi, unknownOp(0, 0, api.RequestOp{Put: &api.PutRequest{Key: []byte("a"), Lease: 7}}), "leases"},
		{"response of the wrong kind", multi, op(0, 0, 1, get("a"), putResp(1)), "does not answer"},
		{"return before call", multi, op(0, 5, 1, get("a"), rangeResp(1)), "before its call"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Check([]porcupine.Operation{c.op}, c.model, time.Second, t.TempDir())
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
	twoKeys := unknownOp(0, 0, api.RequestOp{Txn: &api.TxnRequest{
		Compare: []api.Compare{{Key: []byte("a"), Target: api.CompareVersion}},
		Success: []api.RequestOp{put("b", "1")},
	}})
	if err := Check([]porcupine.Operation{twoKeys}, KVModel(), time.Second, ""); err == nil || !strings.Contains(err.Error(), "use MultiKeyModel") {
		t.Fatalf("two-key txn in the per-key model: got %v", err)
	}
}
