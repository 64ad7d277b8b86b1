package node

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/internal/fsx"
	"pgregory.net/rapid"
)

// TestReadTxnAnswersAsTxn: a read-only transaction served with ReadTxn
// gets the answer applying it through raft (Store.Txn) gives, error or
// response, header revision included, on any store contents.
func TestReadTxnAnswersAsTxn(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s, err := mvcc.Open("/db", mvcc.Options{FS: fsx.NewMem(), BatchLimit: rapid.IntRange(1, 8).Draw(rt, "batch"), PageSize: 1024})
		if err != nil {
			rt.Fatal(err)
		}
		defer s.Close()
		keys := []string{"a", "b", "c", "d"}
		index := uint64(0)
		for range rapid.IntRange(0, 20).Draw(rt, "writes") {
			index++
			k := rapid.SampledFrom(keys).Draw(rt, "key")
			if rapid.IntRange(0, 3).Draw(rt, "kind") == 0 {
				_, err = s.DeleteRange(index, 1, &api.DeleteRangeRequest{Key: []byte(k)})
			} else {
				_, err = s.Put(index, 1, &api.PutRequest{Key: []byte(k), Value: []byte(rapid.SampledFrom(keys).Draw(rt, "value"))})
			}
			if err != nil {
				rt.Fatal(err)
			}
		}
		if rapid.Bool().Draw(rt, "compact") && s.Rev() > 1 {
			if err := s.Compact(s.Rev() / 2); err != nil {
				rt.Fatal(err)
			}
		}
		for range 5 {
			req := genReadTxn(rt, keys, s.Rev(), 0)
			if !mvcc.TxnReadOnly(req) {
				rt.Fatalf("generated txn %+v writes", req)
			}
			got, gotErr := s.ReadTxn(req, 0)
			index++
			want, wantErr := s.Txn(index, 1, req)
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
				rt.Fatalf("txn %+v:\nReadTxn %+v, %v\nTxn     %+v, %v", req, got, gotErr, want, wantErr)
			}
		}
	})
}

// genReadTxn draws a transaction of compares, reads (at revisions up to
// one past rev, some compacted away) and nested read-only transactions.
func genReadTxn(t *rapid.T, keys []string, rev int64, depth int) *api.TxnRequest {
	req := &api.TxnRequest{}
	targets := []api.CompareTarget{api.CompareVersion, api.CompareCreate, api.CompareMod, api.CompareValue, api.CompareLease}
	results := []api.CompareResult{api.CompareEqual, api.CompareGreater, api.CompareLess, api.CompareNotEqual}
	for range rapid.IntRange(0, 2).Draw(t, "compares") {
		c := api.Compare{Key: []byte(rapid.SampledFrom(keys).Draw(t, "cmpKey")),
			Target: rapid.SampledFrom(targets).Draw(t, "target"), Result: rapid.SampledFrom(results).Draw(t, "result")}
		n := rapid.Int64Range(0, rev+1).Draw(t, "cmpNum")
		c.Version, c.CreateRevision, c.ModRevision = n, n, n
		c.Value = []byte(rapid.SampledFrom(keys).Draw(t, "cmpValue"))
		if rapid.Bool().Draw(t, "cmpRange") {
			c.RangeEnd = []byte("z")
		}
		req.Compare = append(req.Compare, c)
	}
	ops := func(label string) []api.RequestOp {
		var out []api.RequestOp
		for range rapid.IntRange(0, 3).Draw(t, label) {
			if depth < 2 && rapid.IntRange(0, 4).Draw(t, "nest") == 0 {
				out = append(out, api.RequestOp{Txn: genReadTxn(t, keys, rev, depth+1)})
				continue
			}
			r := &api.RangeRequest{Key: []byte(rapid.SampledFrom(keys).Draw(t, "rangeKey")),
				Revision: rapid.Int64Range(0, rev+1).Draw(t, "rangeRev"), Limit: rapid.Int64Range(0, 2).Draw(t, "limit"),
				CountOnly: rapid.Bool().Draw(t, "countOnly"), KeysOnly: rapid.Bool().Draw(t, "keysOnly")}
			if rapid.Bool().Draw(t, "prefix") {
				r.RangeEnd = []byte("z")
			}
			if rapid.Bool().Draw(t, "sort") {
				r.SortTarget, r.SortOrder = api.SortByMod, api.SortDescend
			}
			out = append(out, api.RequestOp{Range: r})
		}
		return out
	}
	req.Success, req.Failure = ops("success"), ops("failure")
	return req
}

func TestReadTxnRefusesWrites(t *testing.T) {
	s, err := mvcc.Open("/db", mvcc.Options{FS: fsx.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, op := range []api.RequestOp{
		{Put: &api.PutRequest{Key: []byte("k")}},
		{DeleteRange: &api.DeleteRangeRequest{Key: []byte("k")}},
		{Txn: &api.TxnRequest{Failure: []api.RequestOp{{Put: &api.PutRequest{Key: []byte("k")}}}}},
	} {
		req := &api.TxnRequest{Success: []api.RequestOp{op}}
		if mvcc.TxnReadOnly(req) {
			t.Errorf("%+v counted read-only", op)
		}
		if _, err := s.ReadTxn(req, 0); !errors.Is(err, mvcc.ErrTxnWrites) {
			t.Errorf("ReadTxn of %+v: %v, want ErrTxnWrites", op, err)
		}
	}
	if s.Rev() != 1 {
		t.Fatalf("a refused ReadTxn wrote: revision %d", s.Rev())
	}
}
