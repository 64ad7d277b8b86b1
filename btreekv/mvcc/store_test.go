package mvcc

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/fsx"
	"pgregory.net/rapid"
)

func openMem(t testing.TB, disk *fsx.MemFS, batch int) *Store {
	t.Helper()
	s, err := Open("/db", Options{FS: disk, BatchLimit: batch, PageSize: 1024, StrictPages: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mvModel is the store as a list of states, one per revision.
type mvModel struct {
	states  []map[string]api.KeyValue // states[r] = keys at revision r
	events  []api.Event               // every change, in order
	compact int64
	leases  map[int64]int64 // id -> TTL
}

func newModel() *mvModel {
	// Revision 1 is the empty store, as in etcd: the first write is 2.
	return &mvModel{states: []map[string]api.KeyValue{{}, {}}, leases: map[int64]int64{}}
}

// leaseList is the model's answer to Store.Leases: each lease with the
// keys whose current version carries it.
func (m *mvModel) leaseList() []Lease {
	out := []Lease{}
	for _, id := range slices.Sorted(maps.Keys(m.leases)) {
		l := Lease{ID: id, TTL: m.leases[id], Keys: []string{}}
		for _, k := range slices.Sorted(maps.Keys(m.states[m.rev()])) {
			if m.states[m.rev()][k].Lease == id {
				l.Keys = append(l.Keys, k)
			}
		}
		out = append(out, l)
	}
	return out
}

func (m *mvModel) rev() int64 { return int64(len(m.states) - 1) }

// apply records one write transaction: puts and deletes at the next
// revision.
func (m *mvModel) apply(puts map[string]string, dels []string) {
	m.applyLeased(puts, 0, dels)
}

// applyLeased is apply with the puts attaching lease.
func (m *mvModel) applyLeased(puts map[string]string, lease int64, dels []string) {
	cur := maps.Clone(m.states[len(m.states)-1])
	rev := m.rev() + 1
	changed := false
	for _, k := range slices.Sorted(maps.Keys(puts)) {
		prev, ok := cur[k]
		kv := api.KeyValue{Key: []byte(k), Value: []byte(puts[k]), ModRevision: rev, CreateRevision: rev, Version: 1, Lease: lease}
		if ok {
			kv.CreateRevision, kv.Version = prev.CreateRevision, prev.Version+1
		}
		cur[k] = kv
		ev := api.Event{Type: api.EventPut, Kv: kv}
		if ok {
			ev.PrevKv = &prev
		}
		m.events = append(m.events, ev)
		changed = true
	}
	for _, k := range dels {
		if prev, ok := cur[k]; ok {
			delete(cur, k)
			m.events = append(m.events, api.Event{Type: api.EventDelete, Kv: api.KeyValue{Key: []byte(k), ModRevision: rev}, PrevKv: &prev})
			changed = true
		}
	}
	if changed {
		m.states = append(m.states, cur)
	}
}

func checkAgainstModel(t *rapid.T, s *Store, m *mvModel) {
	sub := drawSubRange(t)
	if err := s.DB().Check(); err != nil {
		t.Fatalf("page file: %v", err)
	}
	if s.Rev() != m.rev() {
		t.Fatalf("store at revision %d, model at %d", s.Rev(), m.rev())
	}
	for r := int64(1); r <= m.rev()+1; r++ {
		res, err := s.Range([]byte{0}, []byte{0}, RangeOptions{Rev: r})
		switch {
		case r > m.rev():
			if !errors.Is(err, ErrFutureRev) {
				t.Fatalf("range at future %d: %v", r, err)
			}
			continue
		case r < m.compact:
			if !errors.Is(err, ErrCompacted) {
				t.Fatalf("range at compacted %d (compact %d): %v", r, m.compact, err)
			}
			continue
		case err != nil:
			t.Fatalf("range at %d: %v", r, err)
		}
		want := m.states[r]
		got := map[string]api.KeyValue{}
		for _, kv := range res.KVs {
			got[string(kv.Key)] = kv
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("range at %d:\n got %v\nwant %v", r, got, want)
		}
		checkSubRange(t, s, m, r, sub)
	}
}

// subRange is a read of part of the key space with options.
type subRange struct {
	key, end            string
	limit               int64
	keysOnly, countOnly bool
}

func drawSubRange(t *rapid.T) subRange {
	q := subRange{
		key:       rapid.SampledFrom([]string{"a", "b", "c", "d", "e"}).Draw(t, "rkey"),
		end:       rapid.SampledFrom([]string{"", "c", "d", "z", "\x00"}).Draw(t, "rend"),
		limit:     int64(rapid.IntRange(0, 3).Draw(t, "limit")),
		keysOnly:  rapid.Bool().Draw(t, "keysOnly"),
		countOnly: rapid.IntRange(0, 4).Draw(t, "countOnly") == 0,
	}
	return q
}

// checkSubRange compares one ranged read at revision r with the model.
func checkSubRange(t *rapid.T, s *Store, m *mvModel, r int64, q subRange) {
	in := func(k string) bool {
		switch q.end {
		case "":
			return k == q.key
		case "\x00":
			return k >= q.key
		}
		return k >= q.key && k < q.end
	}
	var want []api.KeyValue
	for _, k := range slices.Sorted(maps.Keys(m.states[r])) {
		if in(k) {
			kv := m.states[r][k]
			if q.keysOnly {
				kv.Value = nil
			}
			want = append(want, kv)
		}
	}
	count := int64(len(want))
	if q.countOnly {
		want = nil
	} else if q.limit > 0 && int64(len(want)) > q.limit {
		want = want[:q.limit]
	}
	res, err := s.Range([]byte(q.key), []byte(q.end), RangeOptions{Rev: r, Limit: q.limit, KeysOnly: q.keysOnly, CountOnly: q.countOnly})
	if err != nil {
		t.Fatalf("range %+v at %d: %v", q, r, err)
	}
	if res.Count != count || len(res.KVs) != len(want) || (len(want) > 0 && !reflect.DeepEqual(res.KVs, want)) {
		t.Fatalf("range %+v at %d: count %d, %v; want count %d, %v", q, r, res.Count, res.KVs, count, want)
	}
}

// TestStoreModel checks every Range at every revision against the model
// across random writes, transactions, compactions, commits and reopens.
func TestStoreModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		disk := fsx.NewMem()
		s := openMem(t, disk, rapid.IntRange(1, 20).Draw(rt, "batch"))
		s.compactKeys = rapid.IntRange(1, 5).Draw(rt, "compactKeys")
		s.compactBatch = rapid.IntRange(1, 5).Draw(rt, "compactBatch")
		// Every value out of line, or none; a restart below reopens
		// with the default (small values inline), so the file then
		// holds both forms, as a store's file does after an upgrade.
		s.separateMin = rapid.SampledFrom([]int{1, separateValueMin}).Draw(rt, "separateMin")
		m := newModel()
		keys := []string{"a", "b", "c", "d"}
		index := uint64(0)
		revAt := map[uint64]int64{0: 1} // store revision after each applied raft index (1: the empty store)
		leasesAt := map[uint64]map[int64]int64{0: {}}
		for range 10 * rapid.IntRange(1, 6).Draw(rt, "ops/10") {
			index++
			switch rapid.IntRange(0, 12).Draw(rt, "op") {
			case 10: // grant
				id := int64(rapid.IntRange(1, 3).Draw(rt, "lease"))
				err := s.LeaseGrant(index, 1, id, 10+id)
				if _, exists := m.leases[id]; exists != errors.Is(err, ErrLeaseExists) || (!exists && err != nil) {
					rt.Fatalf("grant %d (exists=%v): %v", id, exists, err)
				}
				m.leases[id] = 10 + id
			case 11: // put attached to a lease
				id := int64(rapid.IntRange(1, 3).Draw(rt, "lease"))
				k := rapid.SampledFrom(keys).Draw(rt, "key")
				_, err := s.Put(index, 1, &api.PutRequest{Key: []byte(k), Value: []byte("leased"), Lease: id})
				if _, exists := m.leases[id]; !exists {
					if !errors.Is(err, ErrLeaseNotFound) {
						rt.Fatalf("put with missing lease %d: %v", id, err)
					}
					break
				}
				if err != nil {
					rt.Fatal(err)
				}
				m.applyLeased(map[string]string{k: "leased"}, id, nil)
			case 12: // revoke: the lease's keys go at one revision
				id := int64(rapid.IntRange(1, 3).Draw(rt, "lease"))
				_, err := s.LeaseRevoke(index, 1, id)
				if _, exists := m.leases[id]; !exists {
					if !errors.Is(err, ErrLeaseNotFound) {
						rt.Fatalf("revoke of missing lease %d: %v", id, err)
					}
					break
				}
				if err != nil {
					rt.Fatal(err)
				}
				var dels []string
				for _, l := range m.leaseList() {
					if l.ID == id {
						dels = l.Keys
					}
				}
				m.apply(nil, dels)
				delete(m.leases, id)
			case 0, 1, 2:
				k, v := rapid.SampledFrom(keys).Draw(rt, "key"), fmt.Sprint(rapid.IntRange(0, 99).Draw(rt, "val"))
				if _, err := s.Put(index, 1, &api.PutRequest{Key: []byte(k), Value: []byte(v)}); err != nil {
					rt.Fatal(err)
				}
				m.apply(map[string]string{k: v}, nil)
			case 3:
				from := rapid.SampledFrom(keys).Draw(rt, "from")
				to := rapid.SampledFrom(append(keys, "")).Draw(rt, "to")
				var end []byte
				if to != "" {
					end = []byte(to)
				}
				if _, err := s.DeleteRange(index, 1, &api.DeleteRangeRequest{Key: []byte(from), RangeEnd: end}); err != nil {
					rt.Fatal(err)
				}
				var dels []string
				for _, k := range keys {
					if (end == nil && k == from) || (end != nil && k >= from && k < to) {
						dels = append(dels, k)
					}
				}
				m.apply(nil, dels)
			case 4, 5: // txn: CAS on a's value, puts b and deletes c if it holds
				want := fmt.Sprint(rapid.IntRange(0, 99).Draw(rt, "expect"))
				req := &api.TxnRequest{
					Compare: []api.Compare{{Target: api.CompareValue, Result: api.CompareEqual, Key: []byte("a"), Value: []byte(want)}},
					Success: []api.RequestOp{{Put: &api.PutRequest{Key: []byte("b"), Value: []byte("txn")}}, {DeleteRange: &api.DeleteRangeRequest{Key: []byte("c")}}},
					Failure: []api.RequestOp{{Range: &api.RangeRequest{Key: []byte("a")}}},
				}
				resp, err := s.Txn(index, 1, req)
				if err != nil {
					rt.Fatal(err)
				}
				cur, ok := m.states[m.rev()]["a"]
				holds := ok && string(cur.Value) == want
				if resp.Succeeded != holds {
					rt.Fatalf("txn succeeded=%v, compare holds=%v", resp.Succeeded, holds)
				}
				if holds {
					m.apply(map[string]string{"b": "txn"}, []string{"c"})
				}
			case 6:
				if m.rev() > m.compact {
					c := m.compact + 1 + int64(rapid.IntRange(0, int(m.rev()-m.compact-1)).Draw(rt, "compact"))
					if err := s.Compact(c); err != nil {
						rt.Fatal(err)
					}
					m.compact = c
				}
			case 7:
				if err := s.Commit(); err != nil {
					rt.Fatal(err)
				}
			case 8:
				_ = s.Close()
				s = openMem(t, disk, 5)
			case 9: // crash, maybe cutting a commit short
				ciBefore, applied := s.ConsistentIndex(), s.AppliedIndex()
				cut := rapid.IntRange(0, 3).Draw(rt, "cut")
				switch cut {
				case 0:
					disk.FailNext("write", errors.New("power cut"))
				case 1:
					disk.FailNext("sync", errors.New("power cut"))
				case 2: // the meta page's sync
					syncs := 0
					d := disk
					d.OnSync = func(string) {
						if syncs++; syncs == 2 {
							d.FailNext("sync", errors.New("power cut"))
						}
					}
				}
				if cut < 3 {
					_ = s.Commit()
				}
				disk = disk.Crash(fsx.TearUnsynced, rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "tear"), 2)))
				disk.OnSync = nil
				s = openMem(t, disk, 5)
				// The store holds exactly the entries up to its
				// consistent index: the last durable one, or the cut
				// commit's if it reached the disk.
				ci := s.ConsistentIndex()
				if ci != ciBefore && (cut == 3 || ci != applied) {
					rt.Fatalf("consistent index %d after crash; %d durable before, %d applied", ci, ciBefore, applied)
				}
				if s.Rev() != revAt[ci] {
					rt.Fatalf("revision %d after crash at consistent index %d, which followed revision %d", s.Rev(), ci, revAt[ci])
				}
				// Replaying the lost entries is the server's job; here
				// the model is cut back to what the store kept.
				m.states = m.states[:s.Rev()+1]
				if m.compact > s.Rev() || s.CompactRev() < m.compact {
					m.compact = s.CompactRev()
				}
				for i := range revAt {
					if i > ci {
						delete(revAt, i)
						delete(leasesAt, i)
					}
				}
				m.leases = maps.Clone(leasesAt[ci])
				index = ci
			}
			if s.AppliedIndex() == index {
				revAt[index] = m.rev()
				leasesAt[index] = maps.Clone(m.leases)
			}
			if got, want := s.Leases(), m.leaseList(); !reflect.DeepEqual(normalizeLeases(got), want) {
				rt.Fatalf("leases %+v, want %+v", got, want)
			}
			checkAgainstModel(rt, s, m)
		}
		_ = s.Close()
	})
}

func TestWatchDeliversEveryEventInOrder(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := openMem(t, fsx.NewMem(), 3)
		s.separateMin = rapid.SampledFrom([]int{1, separateValueMin}).Draw(rt, "separateMin")
		m := newModel()
		// A watcher from the start with a tiny buffer: it falls behind
		// and is caught up from the page file.
		w, err := s.Watch([]byte{0}, []byte{0}, WatchOptions{StartRev: 1, Buffer: 1})
		if err != nil {
			rt.Fatal(err)
		}
		var got []api.Event
		drain := func() {
			for {
				select {
				case r := <-w.C():
					got = append(got, r.Events...)
				default:
					return
				}
			}
		}
		for i := range 10 * rapid.IntRange(1, 6).Draw(rt, "ops/10") {
			k := rapid.SampledFrom([]string{"a", "b", "c"}).Draw(rt, "key")
			if rapid.Bool().Draw(rt, "delete") {
				_, _ = s.DeleteRange(uint64(i+1), 1, &api.DeleteRangeRequest{Key: []byte(k)})
				m.apply(nil, []string{k})
			} else {
				_, _ = s.Put(uint64(i+1), 1, &api.PutRequest{Key: []byte(k), Value: []byte(fmt.Sprint(i))})
				m.apply(map[string]string{k: fmt.Sprint(i)}, nil)
			}
			if rapid.Bool().Draw(rt, "drain") {
				drain()
			}
			if rapid.Bool().Draw(rt, "sync") {
				if _, err := s.SyncWatchers(int64(rapid.IntRange(1, 5).Draw(rt, "maxRevs"))); err != nil {
					rt.Fatal(err)
				}
			}
		}
		for range 1000 {
			drain()
			behind, err := s.SyncWatchers(1000)
			if err != nil {
				rt.Fatal(err)
			}
			if behind == 0 {
				drain()
				break
			}
		}
		want := watchExpect(m, watchSpec{key: "\x00", end: "\x00", start: 1})
		if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			rt.Fatalf("watch delivered %d events, want %d:\n got %v\nwant %v", len(got), len(want), got, want)
		}
	})
}

func TestWatchFromCompactedRevision(t *testing.T) {
	s := openMem(t, fsx.NewMem(), 10)
	for i := range 5 {
		_, _ = s.Put(uint64(i+1), 1, &api.PutRequest{Key: []byte("k"), Value: []byte{byte(i)}})
	}
	if err := s.Compact(3); err != nil {
		t.Fatal(err)
	}
	_, err := s.Watch([]byte("k"), nil, WatchOptions{StartRev: 2})
	var ce *CompactedError
	if !errors.As(err, &ce) || ce.CompactRev != 3 || !errors.Is(err, ErrCompacted) {
		t.Fatalf("watch below compaction: %v", err)
	}
	// A watcher behind when compaction happens is canceled with the
	// compact revision.
	w, _ := s.Watch([]byte("k"), nil, WatchOptions{StartRev: 4, Buffer: 1})
	_ = s.Compact(5)
	_, _ = s.SyncWatchers(100)
	var last WatchResponse
	for r := range w.C() {
		last = r
	}
	if !last.Canceled || last.CompactRevision != 5 {
		t.Fatalf("lagging watcher after compaction: %+v", last)
	}
}

func TestTxnCompares(t *testing.T) {
	s := openMem(t, fsx.NewMem(), 10)
	_, _ = s.Put(1, 1, &api.PutRequest{Key: []byte("k"), Value: []byte("v")})
	_, _ = s.Put(2, 1, &api.PutRequest{Key: []byte("k"), Value: []byte("w")})
	tests := []struct {
		c    api.Compare
		want bool
	}{
		{api.Compare{Key: []byte("k"), Target: api.CompareVersion, Result: api.CompareEqual, Version: 2}, true},
		{api.Compare{Key: []byte("k"), Target: api.CompareCreate, Result: api.CompareEqual, CreateRevision: 2}, true},
		{api.Compare{Key: []byte("k"), Target: api.CompareMod, Result: api.CompareGreater, ModRevision: 2}, true},
		{api.Compare{Key: []byte("k"), Target: api.CompareValue, Result: api.CompareLess, Value: []byte("x")}, true},
		{api.Compare{Key: []byte("k"), Target: api.CompareValue, Result: api.CompareNotEqual, Value: []byte("w")}, false},
		{api.Compare{Key: []byte("k"), Target: api.CompareLease, Result: api.CompareEqual, Lease: 0}, true},
		{api.Compare{Key: []byte("missing"), Target: api.CompareVersion, Result: api.CompareEqual, Version: 0}, true},
		{api.Compare{Key: []byte("missing"), Target: api.CompareValue, Result: api.CompareEqual, Value: nil}, false},
		{api.Compare{Key: []byte("a"), RangeEnd: []byte("z"), Target: api.CompareVersion, Result: api.CompareGreater, Version: 1}, true},
	}
	for i, tt := range tests {
		resp, err := s.Txn(uint64(10+i), 1, &api.TxnRequest{Compare: []api.Compare{tt.c}})
		if err != nil || resp.Succeeded != tt.want {
			t.Errorf("compare %d: succeeded=%v err=%v, want %v", i, resp != nil && resp.Succeeded, err, tt.want)
		}
	}
	dup := &api.TxnRequest{Success: []api.RequestOp{
		{Put: &api.PutRequest{Key: []byte("x"), Value: []byte("1")}},
		{DeleteRange: &api.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte("z")}},
	}}
	if _, err := s.Txn(50, 1, dup); !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("txn writing x twice: %v", err)
	}
}

func TestLeasesSurviveRestartAndRevokeDeletesKeys(t *testing.T) {
	disk := fsx.NewMem()
	s := openMem(t, disk, 10)
	if err := s.LeaseGrant(1, 1, 7, 30); err != nil {
		t.Fatal(err)
	}
	_, _ = s.Put(2, 1, &api.PutRequest{Key: []byte("a"), Value: []byte("1"), Lease: 7})
	_, _ = s.Put(3, 1, &api.PutRequest{Key: []byte("b"), Value: []byte("2"), Lease: 7})
	_, _ = s.Put(4, 1, &api.PutRequest{Key: []byte("c"), Value: []byte("3")})
	if _, err := s.Put(5, 1, &api.PutRequest{Key: []byte("d"), Lease: 99}); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("put with unknown lease: %v", err)
	}
	_ = s.Close()
	s = openMem(t, disk, 10)
	if got := s.Leases(); len(got) != 1 || got[0].TTL != 30 || !slices.Equal(got[0].Keys, []string{"a", "b"}) {
		t.Fatalf("leases after reopen: %+v", got)
	}
	before := s.Rev()
	keys, err := s.LeaseRevoke(6, 1, 7)
	if err != nil || !slices.Equal(keys, []string{"a", "b"}) {
		t.Fatalf("revoke: %v %v", keys, err)
	}
	if s.Rev() != before+1 {
		t.Fatalf("revoke took %d revisions, want 1", s.Rev()-before)
	}
	res, _ := s.Range([]byte{0}, []byte{0}, RangeOptions{})
	if len(res.KVs) != 1 || string(res.KVs[0].Key) != "c" {
		t.Fatalf("after revoke: %v", res.KVs)
	}
}

func TestHashEqualAcrossReplicas(t *testing.T) {
	a, b := openMem(t, fsx.NewMem(), 2), openMem(t, fsx.NewMem(), 1000)
	for i := range 20 {
		for _, s := range []*Store{a, b} {
			_, _ = s.Put(uint64(i+1), 1, &api.PutRequest{Key: []byte(fmt.Sprint(i % 5)), Value: []byte(fmt.Sprint(i))})
		}
	}
	_ = a.Compact(10)
	_ = b.Compact(10)
	ha, _, _ := a.Hash(0)
	hb, _, _ := b.Hash(0)
	if ha != hb {
		t.Fatalf("hashes differ: %x vs %x", ha, hb)
	}
	_, _ = b.Put(100, 1, &api.PutRequest{Key: []byte("x")})
	if h, _, _ := b.Hash(21); h != ha {
		t.Fatalf("hash at an old revision changed after a newer write")
	}
	if h, _, _ := b.Hash(0); h == ha {
		t.Fatal("hash did not change with the store")
	}
	if _, _, err := b.Hash(5); !errors.Is(err, ErrCompacted) {
		t.Fatalf("hash below the compaction: %v", err)
	}
	if _, _, err := b.Hash(b.Rev() + 1); !errors.Is(err, ErrFutureRev) {
		t.Fatalf("hash of a future revision: %v", err)
	}
}

func TestRangeRequestSortLimitFilter(t *testing.T) {
	s := openMem(t, fsx.NewMem(), 10)
	for i, k := range []string{"c", "a", "b", "a"} {
		_, _ = s.Put(uint64(i+1), 1, &api.PutRequest{Key: []byte(k), Value: []byte(fmt.Sprint(9 - i))})
	}
	resp, err := s.RangeRequest(&api.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), SortOrder: api.SortDescend, SortTarget: api.SortByMod, Limit: 2}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range resp.Kvs {
		keys = append(keys, string(kv.Key))
	}
	if !slices.Equal(keys, []string{"a", "b"}) || resp.Count != 3 || !resp.More {
		t.Fatalf("keys %v count %d more %v", keys, resp.Count, resp.More)
	}
	resp, _ = s.RangeRequest(&api.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), MinCreateRevision: 4}, 0)
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Key) != "b" {
		t.Fatalf("filtered: %v", resp.Kvs)
	}
	resp, _ = s.RangeRequest(&api.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), CountOnly: true}, 0)
	if resp.Count != 3 || len(resp.Kvs) != 0 {
		t.Fatalf("count only: %+v", resp)
	}
}

// normalizeLeases makes empty key lists comparable with the model's.
func normalizeLeases(ls []Lease) []Lease {
	out := []Lease{}
	for _, l := range ls {
		if l.Keys == nil {
			l.Keys = []string{}
		}
		out = append(out, l)
	}
	return out
}
