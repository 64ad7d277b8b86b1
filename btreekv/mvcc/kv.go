package mvcc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/cairndb/cairn/api"
)

// ErrDuplicateKey is returned for a transaction that writes one key twice.
var ErrDuplicateKey = errors.New("mvcc: duplicate key given in txn request")

// Range serves a RangeRequest (sorting, filters and limits included).
func (s *Store) RangeRequest(req *api.RangeRequest) (*api.RangeResponse, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rangeRequest(req, s.currentRev, s.rangeLocked)
}

type rangeFunc func(key, end []byte, ro RangeOptions, current int64) (*RangeResult, error)

func (s *Store) rangeRequest(req *api.RangeRequest, current int64, read rangeFunc) (*api.RangeResponse, error) {
	ro := RangeOptions{Rev: req.Revision, CountOnly: req.CountOnly, KeysOnly: req.KeysOnly, Limit: req.Limit}
	filtered := req.MinModRevision != 0 || req.MaxModRevision != 0 || req.MinCreateRevision != 0 || req.MaxCreateRevision != 0
	sorted := req.SortOrder != api.SortNone && !(req.SortTarget == api.SortByKey && req.SortOrder == api.SortAscend)
	if filtered || sorted {
		// The limit applies after sorting and filtering.
		ro.Limit, ro.CountOnly = 0, false
	}
	res, err := read(req.Key, req.RangeEnd, ro, current)
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
			if req.SortOrder == api.SortDescend {
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

// Txn applies a TxnRequest as raft entry (index, term): the compares are
// evaluated, then one branch's operations run as one write transaction at
// one revision.
func (s *Store) Txn(index, term uint64, req *api.TxnRequest) (*api.TxnResponse, error) {
	if err := CheckTxn(req, 0); err != nil {
		return nil, err
	}
	tw := s.Write(index, term)
	resp, err := tw.txn(req)
	if endErr := tw.End(); err == nil {
		err = endErr
	}
	return resp, err
}

// CheckTxn validates a transaction before it is proposed: no branch writes
// a key twice (counting nested transactions), and, if maxOps > 0, no
// branch has more than maxOps operations.
func CheckTxn(req *api.TxnRequest, maxOps int) error {
	for _, ops := range [][]api.RequestOp{req.Success, req.Failure} {
		if maxOps > 0 && len(ops) > maxOps {
			return fmt.Errorf("mvcc: too many operations in txn request (%d > %d)", len(ops), maxOps)
		}
		if _, err := writtenKeys(ops); err != nil {
			return err
		}
	}
	return nil
}

// writtenKeys collects the keys (and ranges) a branch writes, failing on a
// key written twice.
func writtenKeys(ops []api.RequestOp) ([][2][]byte, error) {
	var ranges [][2][]byte
	overlaps := func(k, end []byte) bool {
		for _, r := range ranges {
			if rangesOverlap(r[0], r[1], k, end) {
				return true
			}
		}
		return false
	}
	for _, op := range ops {
		switch {
		case op.Put != nil:
			if overlaps(op.Put.Key, nil) {
				return nil, ErrDuplicateKey
			}
			ranges = append(ranges, [2][]byte{op.Put.Key, nil})
		case op.DeleteRange != nil:
			if overlaps(op.DeleteRange.Key, op.DeleteRange.RangeEnd) {
				return nil, ErrDuplicateKey
			}
			ranges = append(ranges, [2][]byte{op.DeleteRange.Key, op.DeleteRange.RangeEnd})
		case op.Txn != nil:
			// Either branch of the nested transaction may run.
			for _, branch := range [][]api.RequestOp{op.Txn.Success, op.Txn.Failure} {
				inner, err := writtenKeys(branch)
				if err != nil {
					return nil, err
				}
				for _, r := range inner {
					if overlaps(r[0], r[1]) {
						return nil, ErrDuplicateKey
					}
				}
			}
			for _, branch := range [][]api.RequestOp{op.Txn.Success, op.Txn.Failure} {
				inner, _ := writtenKeys(branch)
				ranges = append(ranges, inner...)
			}
		}
	}
	return ranges, nil
}

// rangesOverlap reports whether [a, aEnd) and [b, bEnd) share a key (an
// empty end means the single key).
func rangesOverlap(a, aEnd, b, bEnd []byte) bool {
	hiA, hiB := upper(a, aEnd), upper(b, bEnd)
	// [a, hiA) and [b, hiB) overlap if a < hiB and b < hiA (nil hi = +inf).
	return (hiB == nil || bytes.Compare(a, hiB) < 0) && (hiA == nil || bytes.Compare(b, hiA) < 0)
}

func upper(k, end []byte) []byte {
	switch {
	case len(end) == 0:
		return append(bytes.Clone(k), 0)
	case len(end) == 1 && end[0] == 0:
		return nil
	}
	return end
}

func (tw *TxnWrite) txn(req *api.TxnRequest) (*api.TxnResponse, error) {
	ok, err := tw.compares(req.Compare)
	if err != nil {
		return nil, err
	}
	ops := req.Failure
	if ok {
		ops = req.Success
	}
	resp := &api.TxnResponse{Succeeded: ok, Responses: make([]api.ResponseOp, len(ops))}
	for i, op := range ops {
		switch {
		case op.Range != nil:
			r, err := tw.s.rangeRequest(op.Range, tw.readRev(), tw.rangeAt)
			if err != nil {
				return nil, err
			}
			resp.Responses[i].Range = r
		case op.Put != nil:
			r, err := tw.put(op.Put)
			if err != nil {
				return nil, err
			}
			resp.Responses[i].Put = r
		case op.DeleteRange != nil:
			r, err := tw.deleteRange(op.DeleteRange)
			if err != nil {
				return nil, err
			}
			resp.Responses[i].DeleteRange = r
		case op.Txn != nil:
			r, err := tw.txn(op.Txn)
			if err != nil {
				return nil, err
			}
			resp.Responses[i].Txn = r
		default:
			return nil, errors.New("mvcc: txn operation with no request")
		}
	}
	resp.Header.Revision = tw.readRev()
	return resp, nil
}

// readRev is the revision the transaction's reads see.
func (tw *TxnWrite) readRev() int64 {
	if len(tw.changes) > 0 {
		return tw.rev
	}
	return tw.s.currentRev
}

func (tw *TxnWrite) rangeAt(key, end []byte, ro RangeOptions, current int64) (*RangeResult, error) {
	res, err := tw.s.rangeLocked(key, end, ro, current)
	if res != nil {
		res.Rev = current
	}
	return res, err
}

// compares evaluates a transaction's guards as of the transaction's start.
func (tw *TxnWrite) compares(cmps []api.Compare) (bool, error) {
	for _, c := range cmps {
		res, err := tw.s.rangeLocked(c.Key, c.RangeEnd, RangeOptions{}, tw.s.currentRev)
		if err != nil {
			return false, err
		}
		if len(res.KVs) == 0 {
			// A missing key compares as zero values; a value compare on
			// a missing key fails.
			if c.Target == api.CompareValue {
				return false, nil
			}
			if !compareOne(c, api.KeyValue{}) {
				return false, nil
			}
			continue
		}
		for _, kv := range res.KVs {
			if !compareOne(c, kv) {
				return false, nil
			}
		}
	}
	return true, nil
}

func compareOne(c api.Compare, kv api.KeyValue) bool {
	var r int
	switch c.Target {
	case api.CompareVersion:
		r = cmpInt(kv.Version, c.Version)
	case api.CompareCreate:
		r = cmpInt(kv.CreateRevision, c.CreateRevision)
	case api.CompareMod:
		r = cmpInt(kv.ModRevision, c.ModRevision)
	case api.CompareLease:
		r = cmpInt(kv.Lease, c.Lease)
	case api.CompareValue:
		r = bytes.Compare(kv.Value, c.Value)
	default:
		return false
	}
	switch c.Result {
	case api.CompareEqual:
		return r == 0
	case api.CompareGreater:
		return r > 0
	case api.CompareLess:
		return r < 0
	case api.CompareNotEqual:
		return r != 0
	}
	return false
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// --- leases -----------------------------------------------------------------------

// LeaseGrant records a lease as raft entry (index, term).
func (s *Store) LeaseGrant(index, term uint64, id, ttl int64) error {
	tw := s.Write(index, term)
	defer tw.End()
	if _, ok := s.leases[id]; ok {
		return fmt.Errorf("mvcc: lease %x already exists", id)
	}
	tx, err := s.batchTx()
	if err != nil {
		return err
	}
	var k, v [8]byte
	binary.BigEndian.PutUint64(k[:], uint64(id))
	binary.BigEndian.PutUint64(v[:], uint64(ttl))
	if err := tx.Bucket(bucketLease).Put(k[:], v[:]); err != nil {
		return err
	}
	s.leases[id] = ttl
	return nil
}

// LeaseRevoke deletes a lease and every key attached to it, in one
// revision, as raft entry (index, term). It returns the deleted keys.
func (s *Store) LeaseRevoke(index, term uint64, id int64) ([]string, error) {
	tw := s.Write(index, term)
	keys, err := tw.leaseRevoke(id)
	if endErr := tw.End(); err == nil {
		err = endErr
	}
	return keys, err
}

func (tw *TxnWrite) leaseRevoke(id int64) ([]string, error) {
	s := tw.s
	if _, ok := s.leases[id]; !ok {
		return nil, ErrLeaseNotFound
	}
	keys := keysInOrder(s.leaseKeys[id])
	for _, k := range keys {
		if _, err := tw.DeleteRange([]byte(k), nil); err != nil {
			return nil, err
		}
	}
	tx, err := s.batchTx()
	if err != nil {
		return nil, err
	}
	var kb [8]byte
	binary.BigEndian.PutUint64(kb[:], uint64(id))
	if err := tx.Bucket(bucketLease).Delete(kb[:]); err != nil {
		return nil, err
	}
	delete(s.leases, id)
	delete(s.leaseKeys, id)
	return keys, nil
}

// Lease is a lease as the store keeps it.
type Lease struct {
	ID   int64
	TTL  int64
	Keys []string
}

// Leases returns every lease with its attached keys, by id.
func (s *Store) Leases() []Lease {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Lease, 0, len(s.leases))
	for id, ttl := range s.leases {
		out = append(out, Lease{ID: id, TTL: ttl, Keys: keysInOrder(s.leaseKeys[id])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
