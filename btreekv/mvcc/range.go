package mvcc

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/pagefile"
)

// readCommitted reads the record of rev from a page-file snapshot.
func readCommitted(rtx *pagefile.Tx, rev Revision) (api.KeyValue, bool, error) {
	v, err := rtx.Bucket(bucketKey).Get(revBytes(rev))
	if err != nil {
		return api.KeyValue{}, false, err
	}
	if v == nil {
		return api.KeyValue{}, false, fmt.Errorf("%w: index names revision %v but the page file has no record", pagefile.ErrCorrupt, rev)
	}
	return decodeRecord(v)
}

// RangeOptions shape a read.
type RangeOptions struct {
	// Limit caps the keys returned (0: no limit); Count still counts all.
	Limit int64
	// Rev is the revision to read at (0 or less: the current one).
	Rev int64
	// CountOnly returns the count and no keys.
	CountOnly bool
	// KeysOnly returns the keys without their values.
	KeysOnly bool
}

// RangeResult is a read's answer.
type RangeResult struct {
	// KVs are the keys found, in key order.
	KVs []api.KeyValue
	// Count is how many keys the range holds, ignoring the limit.
	Count int64
	// Rev is the store revision the read was served at.
	Rev int64
}

// Range reads the keys in [key, end) as of ro.Rev (0: now).
//
// The store's lock is held only to decide which revisions to read (from
// the in-memory index) and to pin a page-file snapshot; the records are
// read after it is released, so a long read does not hold up writes.
func (s *Store) Range(key, end []byte, ro RangeOptions) (*RangeResult, error) {
	s.mu.RLock()
	res, revs, err := s.rangeRevs(key, end, ro, s.currentRev)
	var f *fetcher
	if err == nil && len(revs) > 0 {
		f, err = s.newFetcher(revs)
	}
	s.mu.RUnlock()
	if err != nil || f == nil {
		return res, err
	}
	defer f.close()
	if err := f.fill(res, revs, ro.KeysOnly); err != nil {
		return nil, err
	}
	return res, nil
}

// rangeLocked is Range for a caller that holds the store's lock (a write
// transaction), as of store revision current.
func (s *Store) rangeLocked(key, end []byte, ro RangeOptions, current int64) (*RangeResult, error) {
	res, revs, err := s.rangeRevs(key, end, ro, current)
	if err != nil || len(revs) == 0 {
		return res, err
	}
	f, err := s.newFetcher(revs)
	if err != nil {
		return nil, err
	}
	defer f.close()
	if err := f.fill(res, revs, ro.KeysOnly); err != nil {
		return nil, err
	}
	return res, nil
}

// rangeRevs answers a read from the index: the count, and the revisions
// of the records to return (up to the limit).
func (s *Store) rangeRevs(key, end []byte, ro RangeOptions, current int64) (*RangeResult, []Revision, error) {
	if len(key) == 0 {
		return nil, nil, ErrEmptyKey
	}
	rev := ro.Rev
	if rev <= 0 {
		rev = current
	}
	if rev > current {
		return nil, nil, fmt.Errorf("%w: %d > current %d", ErrFutureRev, rev, current)
	}
	if rev < s.compactRev {
		return nil, nil, fmt.Errorf("%w: %d < compacted %d", ErrCompacted, rev, s.compactRev)
	}
	res := &RangeResult{Rev: current}
	var revs []Revision
	s.idx.visit(key, end, func(ki *keyIndex) bool {
		if r, _, _, ok := ki.get(rev); ok {
			res.Count++
			if !ro.CountOnly && (ro.Limit <= 0 || int64(len(revs)) < ro.Limit) {
				revs = append(revs, r)
			}
		}
		return true
	})
	return res, revs, nil
}

// fetcher reads the records of a set of revisions as they were when it
// was made: those of the open batch are copied from the overlay, the rest
// are read from a page-file snapshot that later commits and compactions
// do not change.
type fetcher struct {
	rtx *pagefile.Tx
	mem map[Revision][]byte
}

// newFetcher is called with the store's lock held.
func (s *Store) newFetcher(revs []Revision) (*fetcher, error) {
	rtx, err := s.db.Begin(false)
	if err != nil {
		return nil, err
	}
	f := &fetcher{rtx: rtx}
	if len(s.overlay) > 0 {
		for _, r := range revs {
			if rec, ok := s.overlay[r]; ok {
				if f.mem == nil {
					f.mem = map[Revision][]byte{}
				}
				f.mem[r] = rec // records are never modified
			}
		}
	}
	return f, nil
}

func (f *fetcher) get(r Revision) (api.KeyValue, error) {
	if rec, ok := f.mem[r]; ok {
		kv, _, err := decodeRecord(rec)
		return kv, err
	}
	kv, _, err := readCommitted(f.rtx, r)
	return kv, err
}

// fill reads the records of revs into res.
func (f *fetcher) fill(res *RangeResult, revs []Revision, keysOnly bool) error {
	res.KVs = make([]api.KeyValue, len(revs))
	for i, r := range revs {
		kv, err := f.get(r)
		if err != nil {
			return err
		}
		if keysOnly {
			kv.Value = nil
		}
		res.KVs[i] = kv
	}
	return nil
}

func (f *fetcher) close() { f.rtx.Rollback() }

// RangeRequest serves a RangeRequest (sorting, filters and limits
// included).
func (s *Store) RangeRequest(req *api.RangeRequest) (*api.RangeResponse, error) {
	return rangeRequest(req, s.Range)
}

// rangeFunc reads a range: Store.Range, or a write transaction's read.
type rangeFunc func(key, end []byte, ro RangeOptions) (*RangeResult, error)

// rangeRequest turns a RangeRequest into a read and shapes its answer.
func rangeRequest(req *api.RangeRequest, read rangeFunc) (*api.RangeResponse, error) {
	ro := RangeOptions{Rev: req.Revision, CountOnly: req.CountOnly, KeysOnly: req.KeysOnly, Limit: req.Limit}
	filtered := req.MinModRevision != 0 || req.MaxModRevision != 0 || req.MinCreateRevision != 0 || req.MaxCreateRevision != 0
	order := req.SortOrder
	if order == api.SortNone && req.SortTarget != api.SortByKey {
		// As etcd: a sort target without an order sorts ascending.
		order = api.SortAscend
	}
	// Results come in key order; any other order needs a sort.
	sorted := order != api.SortNone && !(req.SortTarget == api.SortByKey && order == api.SortAscend)
	// The limit applies after filtering and sorting, and the count after
	// filtering.
	switch {
	case filtered:
		ro.Limit, ro.CountOnly = 0, false
	case sorted:
		ro.Limit = 0
	}
	// Sorting by value needs the values, even for a keys-only answer.
	stripValues := sorted && req.SortTarget == api.SortByValue && req.KeysOnly
	if stripValues {
		ro.KeysOnly = false
	}
	res, err := read(req.Key, req.RangeEnd, ro)
	if err != nil {
		return nil, err
	}
	kvs := res.KVs
	if filtered {
		kept := kvs[:0]
		for _, kv := range kvs {
			if (req.MinModRevision == 0 || kv.ModRevision >= req.MinModRevision) &&
				(req.MaxModRevision == 0 || kv.ModRevision <= req.MaxModRevision) &&
				(req.MinCreateRevision == 0 || kv.CreateRevision >= req.MinCreateRevision) &&
				(req.MaxCreateRevision == 0 || kv.CreateRevision <= req.MaxCreateRevision) {
				kept = append(kept, kv)
			}
		}
		kvs = kept
		res.Count = int64(len(kvs))
	}
	if sorted {
		less := sortLess(req.SortTarget)
		sort.SliceStable(kvs, func(i, j int) bool {
			if order == api.SortDescend {
				return less(kvs[j], kvs[i])
			}
			return less(kvs[i], kvs[j])
		})
	}
	resp := &api.RangeResponse{Header: api.ResponseHeader{Revision: res.Rev}, Count: res.Count}
	if req.CountOnly {
		return resp, nil
	}
	if req.Limit > 0 && int64(len(kvs)) > req.Limit {
		kvs = kvs[:req.Limit]
	}
	if stripValues {
		for i := range kvs {
			kvs[i].Value = nil
		}
	}
	resp.Kvs = kvs
	resp.More = int64(len(kvs)) < res.Count
	return resp, nil
}

func sortLess(t api.SortTarget) func(a, b api.KeyValue) bool {
	switch t {
	case api.SortByVersion:
		return func(a, b api.KeyValue) bool { return a.Version < b.Version }
	case api.SortByCreate:
		return func(a, b api.KeyValue) bool { return a.CreateRevision < b.CreateRevision }
	case api.SortByMod:
		return func(a, b api.KeyValue) bool { return a.ModRevision < b.ModRevision }
	case api.SortByValue:
		return func(a, b api.KeyValue) bool { return bytes.Compare(a.Value, b.Value) < 0 }
	}
	return func(a, b api.KeyValue) bool { return bytes.Compare(a.Key, b.Key) < 0 }
}
