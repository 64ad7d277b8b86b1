package mvcc

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/fsx"
	"pgregory.net/rapid"
)

func put(k, v string) api.RequestOp {
	return api.RequestOp{Put: &api.PutRequest{Key: []byte(k), Value: []byte(v)}}
}

func del(k, end string) api.RequestOp {
	r := &api.DeleteRangeRequest{Key: []byte(k)}
	if end != "" {
		r.RangeEnd = []byte(end)
	}
	return api.RequestOp{DeleteRange: r}
}

func nested(then, els []api.RequestOp) api.RequestOp {
	return api.RequestOp{Txn: &api.TxnRequest{Success: then, Failure: els}}
}

func TestCheckTxnDuplicateRules(t *testing.T) {
	tests := []struct {
		name string
		ops  []api.RequestOp
		dup  bool
	}{
		{"distinct puts", []api.RequestOp{put("a", "1"), put("b", "2")}, false},
		{"same key put twice", []api.RequestOp{put("a", "1"), put("a", "2")}, true},
		{"put inside a later delete", []api.RequestOp{put("b", "1"), del("a", "c")}, true},
		{"put inside an earlier delete", []api.RequestOp{del("a", "c"), put("b", "1")}, true},
		{"put outside the delete", []api.RequestOp{del("a", "c"), put("c", "1")}, false},
		{"overlapping deletes", []api.RequestOp{del("a", "m"), del("c", "z"), del("d", "")}, false},
		{"put in both branches of a nested txn", []api.RequestOp{nested([]api.RequestOp{put("a", "1")}, []api.RequestOp{put("a", "2")})}, false},
		{"nested put repeats an outer put", []api.RequestOp{put("a", "1"), nested([]api.RequestOp{put("a", "2")}, nil)}, true},
		{"nested else put repeats an outer put", []api.RequestOp{put("a", "1"), nested(nil, []api.RequestOp{put("a", "2")})}, true},
		{"nested put inside an outer delete", []api.RequestOp{del("a", "z"), nested([]api.RequestOp{put("b", "2")}, nil)}, true},
		{"outer put inside a nested delete", []api.RequestOp{nested([]api.RequestOp{del("a", "z")}, nil), put("b", "2")}, true},
		// etcd's check takes a from-key delete's end "\x00" as a plain
		// bound, below every key: nothing is inside it.
		{"put after a from-key delete", []api.RequestOp{del("a", "\x00"), put("b", "1")}, false},
		{"put of a from-key delete's key", []api.RequestOp{put("a", "1"), del("a", "\x00")}, false},
		{"nested put beside an outer from-key delete", []api.RequestOp{del("a", "\x00"), nested([]api.RequestOp{put("b", "2")}, nil)}, false},
		{"put inside a delete to a later bound", []api.RequestOp{del("a", "b\x00"), put("b", "1")}, true},
		{"duplicate inside a nested branch", []api.RequestOp{nested([]api.RequestOp{put("a", "1"), put("a", "2")}, nil)}, true},
	}
	for _, tt := range tests {
		err := CheckTxn(&api.TxnRequest{Success: tt.ops}, 0)
		if got := errors.Is(err, ErrDuplicateKey); got != tt.dup || (!tt.dup && err != nil) {
			t.Errorf("%s: %v, want duplicate=%v", tt.name, err, tt.dup)
		}
	}
	many := &api.TxnRequest{Failure: []api.RequestOp{put("a", ""), put("b", ""), put("c", "")}}
	if err := CheckTxn(many, 2); !errors.Is(err, ErrTooManyOps) {
		t.Errorf("3 ops with a limit of 2: %v", err)
	}
	deep := &api.TxnRequest{Success: []api.RequestOp{nested(many.Failure, nil)}}
	if err := CheckTxn(deep, 2); !errors.Is(err, ErrTooManyOps) {
		t.Errorf("3 nested ops with a limit of 2: %v", err)
	}
	if err := CheckTxn(many, 3); err != nil {
		t.Errorf("3 ops with a limit of 3: %v", err)
	}
}

// TestTxnIsAllOrNothing: a transaction whose later operation is invalid
// fails before any of its operations is applied.
func TestTxnIsAllOrNothing(t *testing.T) {
	s := openMem(t, fsx.NewMem(), 10)
	for i, k := range []string{"pp", "x"} {
		if _, err := s.Put(uint64(i+1), 1, &api.PutRequest{Key: []byte(k), Value: []byte("0")}); err != nil {
			t.Fatal(err)
		}
	}
	w, _ := s.Watch([]byte{0}, []byte{0}, WatchOptions{})
	bad := []struct {
		name string
		op   api.RequestOp
		want error
	}{
		{"unknown lease", api.RequestOp{Put: &api.PutRequest{Key: []byte("b"), Lease: 99}}, ErrLeaseNotFound},
		{"ignore_value on a missing key", api.RequestOp{Put: &api.PutRequest{Key: []byte("b"), IgnoreValue: true}}, ErrKeyNotFound},
		{"ignore_value with a value", api.RequestOp{Put: &api.PutRequest{Key: []byte("x"), IgnoreValue: true, Value: []byte("v")}}, ErrValueProvided},
		{"ignore_lease with a lease", api.RequestOp{Put: &api.PutRequest{Key: []byte("x"), IgnoreLease: true, Lease: 5}}, ErrLeaseProvided},
		{"read of a future revision", api.RequestOp{Range: &api.RangeRequest{Key: []byte("x"), Revision: 100}}, ErrFutureRev},
		{"empty key", api.RequestOp{DeleteRange: &api.DeleteRangeRequest{}}, ErrEmptyKey},
		{"empty operation", api.RequestOp{}, ErrEmptyOp},
		{"bad op in a nested txn", nested([]api.RequestOp{put("c", "1"), {Put: &api.PutRequest{Key: []byte("d"), Lease: 7}}}, nil), ErrLeaseNotFound},
	}
	for i, tt := range bad {
		req := &api.TxnRequest{Success: []api.RequestOp{put("a", "1"), del("p", "q"), tt.op}}
		if _, err := s.Txn(uint64(10+i), 1, req); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
		if s.Rev() != 3 {
			t.Fatalf("%s: revision moved to %d", tt.name, s.Rev())
		}
		res, _ := s.Range([]byte{0}, []byte{0}, RangeOptions{})
		if len(res.KVs) != 2 || string(res.KVs[0].Key) != "pp" || string(res.KVs[1].Key) != "x" {
			t.Fatalf("%s: partial transaction applied: %v", tt.name, res.KVs)
		}
	}
	select {
	case r := <-w.C():
		t.Fatalf("watcher saw a failed transaction: %+v", r)
	default:
	}
	// Compares of nested transactions see the state before the
	// transaction, not its earlier writes.
	req := &api.TxnRequest{Success: []api.RequestOp{
		put("y", "new"),
		{Txn: &api.TxnRequest{
			Compare: []api.Compare{{Key: []byte("y"), Target: api.CompareVersion, Result: api.CompareEqual, Version: 0}},
			Success: []api.RequestOp{put("z", "saw-no-y")},
			Failure: []api.RequestOp{put("z", "saw-y")},
		}},
	}}
	resp, err := s.Txn(30, 1, req)
	if err != nil || !resp.Responses[1].Txn.Succeeded {
		t.Fatalf("nested compare: %+v %v", resp, err)
	}
	if s.ConsistentIndex() > 30 || s.AppliedIndex() != 30 {
		t.Fatalf("applied index %d", s.AppliedIndex())
	}
}

func TestRangeSortTargetWithoutOrderSortsAscending(t *testing.T) {
	s := openMem(t, fsx.NewMem(), 10)
	for i, kv := range [][2]string{{"a", "3"}, {"b", "1"}, {"c", "2"}} {
		_, _ = s.Put(uint64(i+1), 1, &api.PutRequest{Key: []byte(kv[0]), Value: []byte(kv[1])})
	}
	resp, err := s.RangeRequest(&api.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), SortTarget: api.SortByValue}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for _, kv := range resp.Kvs {
		got += string(kv.Key)
	}
	if got != "bca" {
		t.Fatalf("sorted by value: %s, want bca", got)
	}
	resp, _ = s.RangeRequest(&api.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), SortTarget: api.SortByValue, SortOrder: api.SortDescend, KeysOnly: true}, 0)
	got = ""
	for _, kv := range resp.Kvs {
		got += string(kv.Key) + string(kv.Value)
	}
	if got != "acb" {
		t.Fatalf("keys only, sorted by value descending: %s, want acb", got)
	}
}

// TestLeaseAttachmentFollowsTheKeysCurrentVersion: a key belongs to the
// lease of its current version; overwriting it without the lease or
// deleting it detaches it, and the attachments survive a reopen.
func TestLeaseAttachmentFollowsTheKeysCurrentVersion(t *testing.T) {
	disk := fsx.NewMem()
	s := openMem(t, disk, 2)
	if err := s.LeaseGrant(1, 1, 7, 60); err != nil {
		t.Fatal(err)
	}
	if err := s.LeaseGrant(2, 1, 7, 60); !errors.Is(err, ErrLeaseExists) {
		t.Fatalf("second grant of 7: %v", err)
	}
	if err := s.LeaseGrant(3, 1, 0, 60); !errors.Is(err, ErrLeaseIDZero) {
		t.Fatalf("grant of 0: %v", err)
	}
	for i, k := range []string{"a", "b", "c"} {
		if _, err := s.Put(uint64(10+i), 1, &api.PutRequest{Key: []byte(k), Lease: 7}); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = s.Put(20, 1, &api.PutRequest{Key: []byte("a"), Value: []byte("no lease")})
	_, _ = s.DeleteRange(21, 1, &api.DeleteRangeRequest{Key: []byte("b")})
	_, _ = s.Put(22, 1, &api.PutRequest{Key: []byte("c"), Value: []byte("keeps it"), IgnoreLease: true})
	check := func(when string) {
		got := s.Leases()
		if len(got) != 1 || got[0].ID != 7 || len(got[0].Keys) != 1 || got[0].Keys[0] != "c" {
			t.Fatalf("%s: leases %+v, want 7 holding c", when, got)
		}
	}
	check("before reopen")
	_ = s.Close()
	s = openMem(t, disk, 2)
	check("after reopen")
	keys, err := s.LeaseRevoke(30, 1, 7)
	if err != nil || len(keys) != 1 || keys[0] != "c" {
		t.Fatalf("revoke: %v %v", keys, err)
	}
	res, _ := s.Range([]byte("a"), []byte{0}, RangeOptions{})
	if len(res.KVs) != 1 || string(res.KVs[0].Key) != "a" {
		t.Fatalf("after revoke: %v", res.KVs)
	}
}

// txnGen draws random transactions over a few keys: compares on every
// target, branches of puts, deletes and reads, nested transactions; no
// key written twice on a path (etcd's rule), so CheckTxn accepts them.
type txnGen struct {
	t    *rapid.T
	keys []string
	rev  int64
}

func (g *txnGen) txn(depth int, free []string) *api.TxnRequest {
	req := &api.TxnRequest{}
	for range rapid.IntRange(0, 2).Draw(g.t, "compares") {
		c := api.Compare{
			Key:    []byte(rapid.SampledFrom(g.keys).Draw(g.t, "ckey")),
			Target: api.CompareTarget(rapid.IntRange(0, 4).Draw(g.t, "target")),
			Result: api.CompareResult(rapid.IntRange(0, 3).Draw(g.t, "result")),
		}
		switch c.Target {
		case api.CompareVersion:
			c.Version = int64(rapid.IntRange(0, 3).Draw(g.t, "version"))
		case api.CompareCreate:
			c.CreateRevision = int64(rapid.IntRange(0, int(g.rev)+1).Draw(g.t, "create"))
		case api.CompareMod:
			c.ModRevision = int64(rapid.IntRange(0, int(g.rev)+1).Draw(g.t, "mod"))
		case api.CompareValue:
			c.Value = []byte(rapid.SampledFrom([]string{"", "0", "1", "2"}).Draw(g.t, "cvalue"))
		case api.CompareLease:
			c.Lease = int64(rapid.IntRange(0, 1).Draw(g.t, "clease"))
		}
		req.Compare = append(req.Compare, c)
	}
	req.Success = g.branch(depth, free)
	req.Failure = g.branch(depth, free)
	return req
}

// branch draws operations writing only keys in free, each at most once.
func (g *txnGen) branch(depth int, free []string) []api.RequestOp {
	free = slices.Clone(free)
	var ops []api.RequestOp
	for range rapid.IntRange(0, 3).Draw(g.t, "ops") {
		switch rapid.IntRange(0, 3).Draw(g.t, "kind") {
		case 0: // read
			ops = append(ops, api.RequestOp{Range: &api.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}}})
		case 1, 2: // put or delete of a key not yet written
			if len(free) == 0 {
				continue
			}
			i := rapid.IntRange(0, len(free)-1).Draw(g.t, "wkey")
			k := free[i]
			free = slices.Delete(free, i, i+1)
			if rapid.Bool().Draw(g.t, "put") {
				ops = append(ops, put(k, fmt.Sprint(rapid.IntRange(0, 2).Draw(g.t, "value"))))
			} else {
				ops = append(ops, del(k, ""))
			}
		case 3: // nested, writing keys this branch leaves alone
			if depth < 2 && len(free) > 0 {
				n := rapid.IntRange(0, len(free)).Draw(g.t, "nestedKeys")
				ops = append(ops, api.RequestOp{Txn: g.txn(depth+1, free[:n])})
				free = free[n:]
			}
		}
	}
	return ops
}

// modelTxn runs req on a copy of the state cur (all at revision rev),
// with the compares judged against before: the transaction's response
// and the state after it.
func modelTxn(req *api.TxnRequest, before, cur map[string]api.KeyValue, rev int64) (*api.TxnResponse, bool) {
	ok := true
	for _, c := range req.Compare {
		kv, exists := before[string(c.Key)]
		if !exists && c.Target == api.CompareValue {
			ok = false
			break
		}
		if !compareOne(c, kv) {
			ok = false
			break
		}
	}
	ops := req.Failure
	if ok {
		ops = req.Success
	}
	resp := &api.TxnResponse{Succeeded: ok}
	wrote := false
	for _, op := range ops {
		var r api.ResponseOp
		switch {
		case op.Range != nil:
			var kvs []api.KeyValue
			for _, k := range slices.Sorted(maps.Keys(cur)) {
				kvs = append(kvs, cur[k])
			}
			r.Range = &api.RangeResponse{Kvs: kvs, Count: int64(len(kvs))}
		case op.Put != nil:
			k := string(op.Put.Key)
			kv := api.KeyValue{Key: []byte(k), Value: op.Put.Value, CreateRevision: rev, ModRevision: rev, Version: 1}
			if prev, exists := cur[k]; exists {
				kv.CreateRevision, kv.Version = prev.CreateRevision, prev.Version+1
			}
			cur[k] = kv
			wrote = true
			r.Put = &api.PutResponse{}
		case op.DeleteRange != nil:
			k := string(op.DeleteRange.Key)
			n := int64(0)
			if _, exists := cur[k]; exists {
				delete(cur, k)
				n, wrote = 1, true
			}
			r.DeleteRange = &api.DeleteRangeResponse{Deleted: n}
		case op.Txn != nil:
			var w bool
			r.Txn, w = modelTxn(op.Txn, before, cur, rev)
			wrote = wrote || w
		}
		resp.Responses = append(resp.Responses, r)
	}
	return resp, wrote
}

// sameTxnAnswer compares a store's response with the model's, ignoring
// headers.
func sameTxnAnswer(got, want *api.TxnResponse) bool {
	if got.Succeeded != want.Succeeded || len(got.Responses) != len(want.Responses) {
		return false
	}
	for i, w := range want.Responses {
		g := got.Responses[i]
		switch {
		case w.Range != nil:
			if g.Range == nil || g.Range.Count != w.Range.Count || (w.Range.Count > 0 && !reflect.DeepEqual(g.Range.Kvs, w.Range.Kvs)) {
				return false
			}
		case w.Put != nil:
			if g.Put == nil {
				return false
			}
		case w.DeleteRange != nil:
			if g.DeleteRange == nil || g.DeleteRange.Deleted != w.DeleteRange.Deleted {
				return false
			}
		case w.Txn != nil:
			if g.Txn == nil || !sameTxnAnswer(g.Txn, w.Txn) {
				return false
			}
		}
	}
	return true
}

// TestTxnAgainstModel runs random transactions (compares on every
// target, nested transactions, reads after writes inside them) and
// checks each response and every revision's state against the model.
func TestTxnAgainstModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := openMem(t, fsx.NewMem(), rapid.IntRange(1, 10).Draw(rt, "batch"))
		m := newModel()
		keys := []string{"a", "b", "c", "d"}
		for i := range rapid.IntRange(1, 30).Draw(rt, "txns") {
			g := &txnGen{t: rt, keys: keys, rev: m.rev()}
			req := g.txn(0, keys)
			if err := CheckTxn(req, 0); err != nil {
				rt.Fatalf("generated txn refused: %v", err)
			}
			before := m.states[m.rev()]
			after := maps.Clone(before)
			want, wrote := modelTxn(req, before, after, m.rev()+1)
			got, err := s.Txn(uint64(i+1), 1, req)
			if err != nil {
				rt.Fatal(err)
			}
			if !sameTxnAnswer(got, want) {
				rt.Fatalf("txn %+v:\n got %+v\nwant %+v", req, got, want)
			}
			if wrote {
				m.states = append(m.states, after)
			}
			if got.Header.Revision != m.rev() {
				rt.Fatalf("txn header at revision %d, model at %d", got.Header.Revision, m.rev())
			}
			checkAgainstModel(rt, s, m)
		}
	})
}

// checkBranch, which compares the operations of a short branch without
// nested transactions pair by pair, finds exactly the duplicates that
// branchWrites' write set finds, in branches short and long, flat and
// nested.
func TestCheckBranchAgreesWithWriteSet(t *testing.T) {
	key := rapid.SampledFrom([]string{"a", "b", "c", "d", "e"})
	var branch func(depth int) *rapid.Generator[[]api.RequestOp]
	branch = func(depth int) *rapid.Generator[[]api.RequestOp] {
		return rapid.Custom(func(rt *rapid.T) []api.RequestOp {
			n := rapid.IntRange(0, flatBranchPairLimit+4).Draw(rt, "n")
			ops := make([]api.RequestOp, n)
			for i := range ops {
				switch kind := rapid.IntRange(0, 3).Draw(rt, "kind"); {
				case kind == 0:
					ops[i] = put(key.Draw(rt, "key"), "v")
				case kind == 1:
					ops[i] = del(key.Draw(rt, "from"), rapid.SampledFrom([]string{"", "c", "f", "\x00"}).Draw(rt, "end"))
				case kind == 2 && depth < 2 && rapid.IntRange(0, 3).Draw(rt, "nest") == 0:
					ops[i] = nested(branch(depth+1).Draw(rt, "then"), branch(depth+1).Draw(rt, "else"))
				default:
					ops[i] = api.RequestOp{Range: &api.RangeRequest{Key: []byte(key.Draw(rt, "key"))}}
				}
			}
			return ops
		})
	}
	rapid.Check(t, func(rt *rapid.T) {
		ops := branch(0).Draw(rt, "ops")
		_, want := branchWrites(ops)
		if got := checkBranch(ops); got != want {
			rt.Fatalf("checkBranch: %v, branchWrites: %v", got, want)
		}
	})
}

// TestCheckTxnArgsBeforeDuplicates: as etcd's, the check of a txn finds
// a bad operation anywhere in it (either branch, nested or not) before a
// duplicate key, and a nested txn gets what its parent leaves of the
// operation limit.
func TestCheckTxnArgsBeforeDuplicates(t *testing.T) {
	ignored := api.RequestOp{Put: &api.PutRequest{Key: []byte("k"), Value: []byte("v"), IgnoreValue: true}}
	emptyGet := api.RequestOp{Range: &api.RangeRequest{}}
	dup := []api.RequestOp{put("a", "1"), put("a", "2")}
	tests := []struct {
		name string
		req  *api.TxnRequest
		want error
	}{
		{"value provided in the failure branch, duplicate in the success branch",
			&api.TxnRequest{Success: dup, Failure: []api.RequestOp{ignored}}, ErrValueProvided},
		{"empty key in a nested txn after a duplicate",
			&api.TxnRequest{Success: dup, Failure: []api.RequestOp{nested(nil, []api.RequestOp{emptyGet})}}, ErrEmptyKey},
		{"empty compare key",
			&api.TxnRequest{Compare: []api.Compare{{}}, Success: dup}, ErrEmptyKey},
		{"nested txn over what its parent leaves",
			&api.TxnRequest{Success: []api.RequestOp{put("a", ""), nested([]api.RequestOp{put("b", ""), put("c", "")}, nil)}}, ErrTooManyOps},
		{"nested txn within what its parent leaves",
			&api.TxnRequest{Success: []api.RequestOp{put("a", ""), nested([]api.RequestOp{put("b", "")}, nil)}}, nil},
	}
	for _, tt := range tests {
		if err := CheckTxn(tt.req, 3); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}
