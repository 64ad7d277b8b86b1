package mvcc

import (
	"bytes"
	"sort"

	"github.com/cairndb/cairn/api"
)

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

// Put applies a PutRequest as raft entry (index, term).
func (s *Store) Put(index, term uint64, req *api.PutRequest) (*api.PutResponse, error) {
	tw := s.Write(index, term)
	resp, err := tw.put(req)
	if endErr := tw.End(); err == nil {
		err = endErr
	}
	return resp, err
}

func (tw *TxnWrite) put(req *api.PutRequest) (*api.PutResponse, error) {
	if err := tw.checkPut(req); err != nil {
		return nil, err
	}
	value, lease := req.Value, req.Lease
	if req.IgnoreValue || req.IgnoreLease {
		cur, err := tw.current(req.Key)
		if err != nil {
			return nil, err
		}
		if cur == nil {
			return nil, ErrKeyNotFound
		}
		if req.IgnoreValue {
			value = cur.Value
		}
		if req.IgnoreLease {
			lease = cur.Lease
		}
	}
	prev, err := tw.Put(req.Key, value, lease)
	if err != nil {
		return nil, err
	}
	resp := &api.PutResponse{Header: api.ResponseHeader{Revision: tw.rev}}
	if req.PrevKv {
		resp.PrevKv = prev
	}
	return resp, nil
}

// DeleteRange applies a DeleteRangeRequest as raft entry (index, term).
func (s *Store) DeleteRange(index, term uint64, req *api.DeleteRangeRequest) (*api.DeleteRangeResponse, error) {
	tw := s.Write(index, term)
	resp, err := tw.deleteRange(req)
	if endErr := tw.End(); err == nil {
		err = endErr
	}
	return resp, err
}

func (tw *TxnWrite) deleteRange(req *api.DeleteRangeRequest) (*api.DeleteRangeResponse, error) {
	prevs, err := tw.DeleteRange(req.Key, req.RangeEnd)
	if err != nil {
		return nil, err
	}
	rev := tw.s.currentRev
	if len(tw.changes) > 0 {
		rev = tw.rev
	}
	resp := &api.DeleteRangeResponse{Header: api.ResponseHeader{Revision: rev}, Deleted: int64(len(prevs))}
	if req.PrevKv {
		resp.PrevKvs = prevs
	}
	return resp, nil
}
