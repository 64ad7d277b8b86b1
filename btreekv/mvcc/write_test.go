package mvcc

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/fsx"
	"pgregory.net/rapid"
)

// readKey reads key's current version through Range (from the records),
// nil if it does not exist.
func readKey(t *rapid.T, s *Store, key string) *api.KeyValue {
	res, err := s.Range([]byte(key), nil, RangeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.KVs) == 0 {
		return nil
	}
	return &res.KVs[0]
}

// metaTargets are the compare targets answered from the index.
var metaTargets = []api.CompareTarget{api.CompareVersion, api.CompareCreate, api.CompareMod, api.CompareLease}

// TestIndexAgreesWithRecords: a put reads nothing from the page file
// because the index and the lease map know each key's current revisions,
// version and lease (and a compare on those reads nothing either). After
// random puts with and without leases, deletes, revokes, transactions,
// compactions and reopens, what they say must be what the records say;
// and prev_kv answers must be the versions read just before the write.
func TestIndexAgreesWithRecords(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		disk := fsx.NewMem()
		s := openMem(t, disk, rapid.IntRange(1, 10).Draw(rt, "batch"))
		defer func() { _ = s.Close() }()
		keys := []string{"a", "b", "c"}
		index := uint64(0)
		for range rapid.IntRange(1, 50).Draw(rt, "steps") {
			index++
			k := rapid.SampledFrom(keys).Draw(rt, "key")
			before := readKey(rt, s, k)
			lease := int64(rapid.IntRange(0, 2).Draw(rt, "lease"))
			switch op := rapid.IntRange(0, 7).Draw(rt, "op"); op {
			case 0:
				if lease != 0 {
					if err := s.LeaseGrant(index, 1, lease, 10); err != nil && !errors.Is(err, ErrLeaseExists) {
						rt.Fatal(err)
					}
				}
			case 1, 2:
				resp, err := s.Put(index, 1, &api.PutRequest{Key: []byte(k), Value: []byte(fmt.Sprint(index)), Lease: lease, PrevKv: op == 1})
				if errors.Is(err, ErrLeaseNotFound) {
					continue
				}
				if err != nil {
					rt.Fatal(err)
				}
				if op == 1 && !reflect.DeepEqual(resp.PrevKv, before) {
					rt.Fatalf("put %s with prev_kv: prev %+v, read before %+v", k, resp.PrevKv, before)
				}
			case 3:
				resp, err := s.DeleteRange(index, 1, &api.DeleteRangeRequest{Key: []byte(k), PrevKv: true})
				if err != nil {
					rt.Fatal(err)
				}
				if (before == nil) != (resp.Deleted == 0) || (before != nil && !reflect.DeepEqual(resp.PrevKvs, []api.KeyValue{*before})) {
					rt.Fatalf("delete %s: deleted %d, prevs %+v, read before %+v", k, resp.Deleted, resp.PrevKvs, before)
				}
			case 4:
				if _, err := s.LeaseRevoke(index, 1, lease); err != nil && !errors.Is(err, ErrLeaseNotFound) {
					rt.Fatal(err)
				}
			case 5: // a compare on metadata must agree with the record
				c := api.Compare{Key: []byte(k), Target: rapid.SampledFrom(metaTargets).Draw(rt, "target"), Result: api.CompareEqual}
				var want bool
				if before != nil {
					c.Version, c.CreateRevision, c.ModRevision, c.Lease = before.Version, before.CreateRevision, before.ModRevision, before.Lease
					want = true
				} else {
					want = compareOne(c, api.KeyValue{})
				}
				resp, err := s.Txn(index, 1, &api.TxnRequest{Compare: []api.Compare{c}})
				if err != nil {
					rt.Fatal(err)
				}
				if resp.Succeeded != want {
					rt.Fatalf("compare %+v on %+v: succeeded %v", c, before, resp.Succeeded)
				}
			case 6:
				if rev := s.Rev(); rev > s.CompactRev() {
					if err := s.Compact(rev); err != nil {
						rt.Fatal(err)
					}
				}
			case 7:
				if err := s.Close(); err != nil {
					rt.Fatal(err)
				}
				s = openMem(t, disk, 5)
			}
			for _, key := range keys {
				rec := readKey(rt, s, key)
				s.mu.RLock()
				var ki keyIndex
				s.idx.get([]byte(key), &ki)
				meta, _, ok := s.latest(&ki)
				s.mu.RUnlock()
				if ok != (rec != nil) {
					rt.Fatalf("key %s: index says exists=%v, records say %+v", key, ok, rec)
				}
				if ok {
					want := *rec
					want.Value = nil
					if !reflect.DeepEqual(meta, want) {
						rt.Fatalf("key %s: index says %+v, record says %+v", key, meta, want)
					}
				}
			}
		}
	})
}
