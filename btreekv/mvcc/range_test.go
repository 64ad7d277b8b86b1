package mvcc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/fsx"
	"pgregory.net/rapid"
)

// referenceRange answers req the simple way — read every key of the
// range with its value, then filter, sort, count and cut — with no byte
// limit. It is what RangeRequest did before it learned to decide from the
// index; all is the whole filtered range, values included.
func referenceRange(s *Store, req *api.RangeRequest) (resp *api.RangeResponse, all []api.KeyValue, err error) {
	res, err := s.Range(req.Key, req.RangeEnd, RangeOptions{Rev: req.Revision})
	if err != nil {
		return nil, nil, err
	}
	for _, kv := range res.KVs {
		if (req.MinModRevision == 0 || kv.ModRevision >= req.MinModRevision) &&
			(req.MaxModRevision == 0 || kv.ModRevision <= req.MaxModRevision) &&
			(req.MinCreateRevision == 0 || kv.CreateRevision >= req.MinCreateRevision) &&
			(req.MaxCreateRevision == 0 || kv.CreateRevision <= req.MaxCreateRevision) {
			all = append(all, kv)
		}
	}
	kvs := slices.Clone(all)
	order := req.SortOrder
	if order == api.SortNone && req.SortTarget != api.SortByKey {
		order = api.SortAscend
	}
	if order != api.SortNone {
		less := map[api.SortTarget]func(a, b api.KeyValue) bool{
			api.SortByKey:     func(a, b api.KeyValue) bool { return bytes.Compare(a.Key, b.Key) < 0 },
			api.SortByVersion: func(a, b api.KeyValue) bool { return a.Version < b.Version },
			api.SortByCreate:  func(a, b api.KeyValue) bool { return a.CreateRevision < b.CreateRevision },
			api.SortByMod:     func(a, b api.KeyValue) bool { return a.ModRevision < b.ModRevision },
			api.SortByValue:   func(a, b api.KeyValue) bool { return bytes.Compare(a.Value, b.Value) < 0 },
		}[req.SortTarget]
		sort.SliceStable(kvs, func(i, j int) bool {
			if order == api.SortDescend {
				return less(kvs[j], kvs[i])
			}
			return less(kvs[i], kvs[j])
		})
	}
	// etcd counts the range's keys before the revision filters.
	resp = &api.RangeResponse{Header: api.ResponseHeader{Revision: res.Rev}, Count: int64(len(res.KVs))}
	if req.CountOnly {
		return resp, all, nil
	}
	if req.Limit > 0 && int64(len(kvs)) > req.Limit {
		kvs = kvs[:req.Limit]
	}
	if req.KeysOnly {
		for i := range kvs {
			kvs[i].Value = nil
		}
	}
	resp.Kvs, resp.More = kvs, len(kvs) < len(all)
	return resp, all, nil
}

func encodedSize(kvs []api.KeyValue) int64 {
	var n int64
	for i := range kvs {
		n += int64(kvs[i].EncodedSize())
	}
	return n
}

func sameRangeResponse(got, want *api.RangeResponse) bool {
	return got.Header == want.Header && got.Count == want.Count && got.More == want.More &&
		len(got.Kvs) == len(want.Kvs) && (len(got.Kvs) == 0 || slices.EqualFunc(got.Kvs, want.Kvs, func(a, b api.KeyValue) bool {
		return bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value) && a.CreateRevision == b.CreateRevision &&
			a.ModRevision == b.ModRevision && a.Version == b.Version && a.Lease == b.Lease
	}))
}

// RangeRequest, which filters and orders from the index and reads only
// the records of its answer, answers every request as the reference does;
// with a byte limit it answers exactly when the answer fits, and refuses
// with ErrResponseTooLarge otherwise. An order by value must hold the
// values it sorts, so it may also refuse when the keys it sorts pass the
// limit, never when they fit.
func TestRangeRequestAgainstReference(t *testing.T) {
	keys := []string{"a", "b", "c", "d", "e", "f"}
	rapid.Check(t, func(rt *rapid.T) {
		s := openMem(t, fsx.NewMem(), rapid.IntRange(1, 8).Draw(rt, "batch"))
		defer s.Close()
		for i := range rapid.IntRange(1, 40).Draw(rt, "writes") {
			k := rapid.SampledFrom(keys).Draw(rt, "key")
			var err error
			if rapid.IntRange(0, 5).Draw(rt, "op") == 0 {
				_, err = s.DeleteRange(uint64(i+1), 1, &api.DeleteRangeRequest{Key: []byte(k)})
			} else {
				v := strings.Repeat(rapid.SampledFrom([]string{"x", "y", "z"}).Draw(rt, "letter"), rapid.IntRange(0, 30).Draw(rt, "len"))
				_, err = s.Put(uint64(i+1), 1, &api.PutRequest{Key: []byte(k), Value: []byte(v)})
			}
			if err != nil {
				rt.Fatal(err)
			}
		}
		revOrZero := func(label string) int64 {
			if rapid.Bool().Draw(rt, label+"?") {
				return 0
			}
			return rapid.Int64Range(1, s.Rev()+1).Draw(rt, label)
		}
		for range 20 {
			req := &api.RangeRequest{
				Key:               []byte(rapid.SampledFrom(keys).Draw(rt, "from")),
				RangeEnd:          []byte(rapid.SampledFrom([]string{"", "c", "e", "z", "\x00"}).Draw(rt, "end")),
				Revision:          revOrZero("rev"),
				Limit:             rapid.Int64Range(-1, 5).Draw(rt, "limit"),
				CountOnly:         rapid.IntRange(0, 4).Draw(rt, "countOnly") == 0,
				KeysOnly:          rapid.Bool().Draw(rt, "keysOnly"),
				SortOrder:         rapid.SampledFrom([]api.SortOrder{api.SortNone, api.SortAscend, api.SortDescend}).Draw(rt, "order"),
				SortTarget:        rapid.SampledFrom([]api.SortTarget{api.SortByKey, api.SortByVersion, api.SortByCreate, api.SortByMod, api.SortByValue}).Draw(rt, "target"),
				MinModRevision:    revOrZero("minMod"),
				MaxModRevision:    revOrZero("maxMod"),
				MinCreateRevision: revOrZero("minCreate"),
				MaxCreateRevision: revOrZero("maxCreate"),
			}
			if len(req.RangeEnd) == 0 {
				req.RangeEnd = nil
			}
			maxBytes := rapid.SampledFrom([]int64{0, 1, 20, 60, 150, 400}).Draw(rt, "maxBytes")
			want, all, wantErr := referenceRange(s, req)
			got, err := s.RangeRequest(req, maxBytes)
			switch {
			case wantErr != nil:
				if err == nil || err.Error() != wantErr.Error() {
					rt.Fatalf("%+v: error %v, want %v", req, err, wantErr)
				}
			case err == nil:
				if !sameRangeResponse(got, want) {
					rt.Fatalf("%+v (max %d):\ngot  %+v\nwant %+v", req, maxBytes, got, want)
				}
				if size := encodedSize(got.Kvs); maxBytes > 0 && size > maxBytes {
					rt.Fatalf("%+v: answered with %d bytes of keys, limit %d", req, size, maxBytes)
				}
			case errors.Is(err, ErrResponseTooLarge):
				var tl *ResponseTooLargeError
				if !errors.As(err, &tl) || tl.Limit != maxBytes || !errors.Is(err, api.ErrRequestTooLarge) {
					rt.Fatalf("refusal %#v does not name the limit %d, or is not RequestTooLarge", err, maxBytes)
				}
				fits := maxBytes == 0 || encodedSize(want.Kvs) <= maxBytes
				if req.SortTarget == api.SortByValue {
					fits = maxBytes == 0 || encodedSize(all) <= maxBytes
				}
				if req.CountOnly || fits {
					rt.Fatalf("%+v (max %d): refused though its answer fits: %v", req, maxBytes, err)
				}
			default:
				rt.Fatalf("%+v: %v", req, err)
			}
		}
	})
}

// The reads of one read-only transaction share its limit: each fits, both
// do not.
func TestReadTxnReadsShareOneLimit(t *testing.T) {
	s := openMem(t, fsx.NewMem(), 10)
	defer s.Close()
	for i, k := range []string{"a", "b", "c", "d"} {
		if _, err := s.Put(uint64(i+1), 1, &api.PutRequest{Key: []byte(k), Value: bytes.Repeat([]byte("v"), 100)}); err != nil {
			t.Fatal(err)
		}
	}
	half := func(from, to string) api.RequestOp {
		return api.RequestOp{Range: &api.RangeRequest{Key: []byte(from), RangeEnd: []byte(to)}}
	}
	req := &api.TxnRequest{Success: []api.RequestOp{half("a", "c"), half("c", "e")}}
	one, err := s.RangeRequest(half("a", "c").Range, 0)
	if err != nil {
		t.Fatal(err)
	}
	size := encodedSize(one.Kvs) // each half's keys, encoded
	if _, err := s.ReadTxn(req, size); !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("two reads of %d bytes each with a limit of %d: %v", size, size, err)
	}
	resp, err := s.ReadTxn(req, 2*size)
	if err != nil || len(resp.Responses) != 2 || len(resp.Responses[1].Range.Kvs) != 2 {
		t.Fatalf("within the limit: %+v, %v", resp, err)
	}
	// A nested transaction's reads count too.
	nestedReq := &api.TxnRequest{Success: []api.RequestOp{half("a", "c"), {Txn: &api.TxnRequest{Success: []api.RequestOp{half("c", "e")}}}}}
	if _, err := s.ReadTxn(nestedReq, size); !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("nested: %v", err)
	}
}

// A write transaction whose answer passes Options.MaxTxnResponseBytes
// still applies all its writes — every member must, whatever its limit —
// and says so in its error.
func TestWriteTxnAppliesItsWritesWhenItsAnswerIsRefused(t *testing.T) {
	s, err := Open("/db", Options{FS: fsx.NewMem(), PageSize: 1024, MaxTxnResponseBytes: 250})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, k := range []string{"a", "b", "c"} {
		if _, err := s.Put(uint64(i+1), 1, &api.PutRequest{Key: []byte(k), Value: bytes.Repeat([]byte("v"), 100)}); err != nil {
			t.Fatal(err)
		}
	}
	all := api.RequestOp{Range: &api.RangeRequest{Key: []byte("a"), RangeEnd: []byte("d")}}
	req := &api.TxnRequest{Success: []api.RequestOp{put("x", "1"), all, put("y", "2")}}
	_, err = s.Txn(4, 1, req)
	var tl *ResponseTooLargeError
	if !errors.As(err, &tl) || tl.Applied != 5 || tl.Limit != 250 || !strings.Contains(err.Error(), "applied at revision 5") {
		t.Fatalf("txn over its limit: %v", err)
	}
	for _, k := range []string{"x", "y"} {
		if res, err := s.Range([]byte(k), nil, RangeOptions{}); err != nil || len(res.KVs) != 1 {
			t.Fatalf("%s after the refused answer: %+v, %v", k, res, err)
		}
	}
	if s.Rev() != 5 {
		t.Fatalf("revision %d, want 5 (three puts after the empty store's 1, then the txn)", s.Rev())
	}
	// Within the limit, the answer is the transaction's.
	resp, err := s.Txn(5, 1, &api.TxnRequest{Success: []api.RequestOp{{Range: &api.RangeRequest{Key: []byte("a"), RangeEnd: []byte("c")}}}})
	if err != nil || len(resp.Responses[0].Range.Kvs) != 2 {
		t.Fatalf("within the limit: %+v, %v", resp, err)
	}
}

// A value compare reads the records of its range one at a time and stops
// at the first that fails it, with the same outcomes as before.
func TestValueCompareOverARange(t *testing.T) {
	s := openMem(t, fsx.NewMem(), 2)
	defer s.Close()
	for i, k := range []string{"a", "b", "c"} {
		if _, err := s.Put(uint64(i+1), 1, &api.PutRequest{Key: []byte(k), Value: []byte("v" + k)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		key, end, value string
		result          api.CompareResult
		want            bool
	}{
		{"a", "d", "va", api.CompareGreater, false}, // "va" is not greater than itself
		{"b", "d", "va", api.CompareGreater, true},
		{"a", "d", "vd", api.CompareLess, true},
		{"x", "z", "", api.CompareEqual, false}, // no key: a value compare fails
		{"a", "", "va", api.CompareEqual, true},
	} {
		c := api.Compare{Key: []byte(tc.key), Target: api.CompareValue, Result: tc.result, Value: []byte(tc.value)}
		if tc.end != "" {
			c.RangeEnd = []byte(tc.end)
		}
		resp, err := s.ReadTxn(&api.TxnRequest{Compare: []api.Compare{c}}, 0)
		if err != nil || resp.Succeeded != tc.want {
			t.Errorf("%+v: succeeded %v, want %v (%v)", tc, resp != nil && resp.Succeeded, tc.want, err)
		}
	}
}

// memoryKeys is how many keys of 1 KiB the memory tests load: 200,000
// (about 200 MiB) with CAIRN_LONG=1, else 20,000, which is still ten
// times the limit.
func memoryKeys() int {
	if os.Getenv("CAIRN_LONG") != "" {
		return 200_000
	}
	return 20_000
}

// allocated runs f and returns the bytes it allocated: an upper bound of
// how much it can have grown the heap, however short-lived its garbage.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A range over far more than its limit is refused after reading about
// the limit's worth of records, not all of them; within the limit (a
// limit on the keys, the count only, keys only of a few) it is answered
// in about the memory of its answer.
func TestRangeOverItsLimitStopsReading(t *testing.T) {
	n := memoryKeys()
	dir := t.TempDir()
	s, err := Open(dir+"/db", Options{FS: fsx.OS{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	value := bytes.Repeat([]byte("v"), 1024)
	for i := range n {
		if _, err := s.Put(uint64(i+1), 1, &api.PutRequest{Key: fmt.Appendf(nil, "w/%08d", i), Value: value}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	const limit = 2 << 20
	prefix := &api.RangeRequest{Key: []byte("w/"), RangeEnd: []byte("w0")}
	for _, tc := range []struct {
		name    string
		req     api.RangeRequest
		refused bool
		count   int64
		keys    int
		most    uint64 // bytes it may allocate
	}{
		{"everything", *prefix, true, 0, 0, 16 << 20},
		{"sorted by mod, descending", withSort(*prefix, api.SortByMod, api.SortDescend, 0), true, 0, 0, 16 << 20},
		{"sorted by value", withSort(*prefix, api.SortByValue, api.SortAscend, 0), true, 0, 0, 16 << 20},
		{"a limit of 1000", withLimit(*prefix, 1000), false, int64(n), 1000, 16 << 20},
		{"the newest 10 by mod", withSort(*prefix, api.SortByMod, api.SortDescend, 10), false, int64(n), 10, 16 << 20},
		{"count only", api.RangeRequest{Key: prefix.Key, RangeEnd: prefix.RangeEnd, CountOnly: true}, false, int64(n), 0, 1 << 20},
	} {
		var resp *api.RangeResponse
		var err error
		used := allocated(func() { resp, err = s.RangeRequest(&tc.req, limit) })
		switch {
		case tc.refused && !errors.Is(err, api.ErrRequestTooLarge):
			t.Errorf("%s: %v, want a refusal", tc.name, err)
		case tc.refused && !strings.Contains(err.Error(), fmt.Sprint(limit)):
			t.Errorf("%s: the refusal %q does not name the limit", tc.name, err)
		case !tc.refused && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !tc.refused && (resp.Count != tc.count || len(resp.Kvs) != tc.keys):
			t.Errorf("%s: count %d with %d keys, want %d with %d", tc.name, resp.Count, len(resp.Kvs), tc.count, tc.keys)
		}
		t.Logf("%s over %d keys: allocated %.1f MiB", tc.name, n, float64(used)/(1<<20))
		if used > tc.most {
			t.Errorf("%s over %d keys allocated %d bytes, more than %d", tc.name, n, used, tc.most)
		}
	}
}

func withSort(r api.RangeRequest, target api.SortTarget, order api.SortOrder, limit int64) api.RangeRequest {
	r.SortTarget, r.SortOrder, r.Limit = target, order, limit
	return r
}

func withLimit(r api.RangeRequest, limit int64) api.RangeRequest {
	r.Limit = limit
	return r
}
