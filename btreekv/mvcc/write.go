package mvcc

import (
	"bytes"

	"github.com/cairndb/cairn/api"
)

// TxnWrite is one write transaction: every change in it gets the same main
// revision. Reads inside it see its own changes. End finishes it.
type TxnWrite struct {
	s       *Store
	rev     int64 // the revision its changes get
	sub     int64
	changes []api.Event
	index   uint64
	term    uint64
}

// Write starts a write transaction applying raft entry (index, term). It
// holds the store's lock until End.
func (s *Store) Write(index, term uint64) *TxnWrite {
	s.mu.Lock()
	return &TxnWrite{s: s, rev: s.currentRev + 1, index: index, term: term}
}

// Rev is the revision the transaction's changes get.
func (tw *TxnWrite) Rev() int64 { return tw.rev }

// Range reads as of the transaction's own state.
func (tw *TxnWrite) Range(key, end []byte, ro RangeOptions) (*RangeResult, error) {
	return tw.rangeAt(key, end, ro)
}

// Put writes key = value with lease. It returns the previous version of
// the key (nil if it did not exist).
func (tw *TxnWrite) Put(key, value []byte, lease int64) (*api.KeyValue, error) {
	s := tw.s
	if err := s.usable(); err != nil {
		return nil, err
	}
	if len(key) == 0 {
		return nil, ErrEmptyKey
	}
	if lease != 0 {
		if _, ok := s.leases[lease]; !ok {
			return nil, ErrLeaseNotFound
		}
	}
	prev, err := tw.current(key)
	if err != nil {
		return nil, err
	}
	rev := Revision{Main: tw.rev, Sub: tw.sub}
	kv := api.KeyValue{Key: bytes.Clone(key), ModRevision: tw.rev, Version: 1, CreateRevision: tw.rev, Lease: lease}
	kv.Value = bytes.Clone(value)
	if prev != nil {
		kv.CreateRevision = prev.CreateRevision
		kv.Version = prev.Version + 1
	}
	if err := s.putRecord(rev, encodeRecord(kv, false)); err != nil {
		return nil, err
	}
	s.idx.getOrCreate(key).put(rev)
	s.trackLease(kv, false)
	tw.sub++
	tw.changes = append(tw.changes, api.Event{Type: api.EventPut, Kv: kv, PrevKv: prev})
	return prev, nil
}

// current returns the key's latest version as the transaction sees it.
func (tw *TxnWrite) current(key []byte) (*api.KeyValue, error) {
	ki := tw.s.idx.lookup(key)
	if ki == nil || !ki.alive() {
		return nil, nil
	}
	r, _, _, _ := ki.get(tw.rev)
	if rec, ok := tw.s.overlay[r]; ok {
		kv, _, err := decodeRecord(rec)
		return &kv, err
	}
	rtx, err := tw.s.db.Begin(false)
	if err != nil {
		return nil, err
	}
	defer rtx.Rollback()
	kv, _, err := readCommitted(rtx, r)
	if err != nil {
		return nil, err
	}
	return &kv, nil
}

// DeleteRange deletes the keys in [key, end) and returns their last
// versions.
func (tw *TxnWrite) DeleteRange(key, end []byte) ([]api.KeyValue, error) {
	s := tw.s
	if err := s.usable(); err != nil {
		return nil, err
	}
	if len(key) == 0 {
		return nil, ErrEmptyKey
	}
	var keys [][]byte
	s.idx.visit(key, end, func(ki *keyIndex) bool {
		if ki.alive() {
			keys = append(keys, ki.key)
		}
		return true
	})
	var prevs []api.KeyValue
	for _, k := range keys {
		prev, err := tw.current(k)
		if err != nil {
			return nil, err
		}
		rev := Revision{Main: tw.rev, Sub: tw.sub}
		kv := api.KeyValue{Key: bytes.Clone(k), ModRevision: tw.rev}
		if err := s.putRecord(rev, encodeRecord(kv, true)); err != nil {
			return nil, err
		}
		s.idx.lookup(k).tombstone(rev)
		s.trackLease(kv, true)
		tw.sub++
		tw.changes = append(tw.changes, api.Event{Type: api.EventDelete, Kv: kv, PrevKv: prev})
		prevs = append(prevs, *prev)
	}
	return prevs, nil
}

// End finishes the transaction: the revision advances if anything
// changed, watchers get the events, and the batch is committed to the page
// file if it is large enough.
func (tw *TxnWrite) End() error {
	s := tw.s
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		// Some of the changes may be missing from the page file: publish
		// none of them.
		return err
	}
	if tw.index != 0 {
		s.appliedIdx, s.appliedTerm = tw.index, tw.term
	}
	if len(tw.changes) > 0 {
		s.currentRev = tw.rev
		s.watch.notify(s, tw.changes, tw.rev)
	}
	if s.pending >= s.opts.BatchLimit {
		return s.commitLocked()
	}
	if tw.index != 0 && s.batch == nil {
		// Nothing else opened a batch: record the applied index anyway,
		// in a small commit of its own, at the next Commit.
		if _, err := s.batchTx(); err != nil {
			return err
		}
	}
	return nil
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
