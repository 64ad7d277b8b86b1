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
	// budget bounds what the transaction's reads put in its answer (nil:
	// no bound); refused is set once a read would have passed it.
	budget  *byteBudget
	refused *ResponseTooLargeError
}

// Write starts a write transaction applying raft entry (index, term). It
// holds the store's lock until End.
func (s *Store) Write(index, term uint64) *TxnWrite {
	s.mu.Lock()
	return &TxnWrite{s: s, rev: s.currentRev + 1, index: index, term: term, budget: newBudget(s.opts.MaxTxnResponseBytes)}
}

// Rev is the revision the transaction's changes get.
func (tw *TxnWrite) Rev() int64 { return tw.rev }

// Range reads as of the transaction's own state.
func (tw *TxnWrite) Range(key, end []byte, ro RangeOptions) (*RangeResult, error) {
	return tw.rangeAt(key, end, &rangeQuery{RangeOptions: ro, budget: newBudget(ro.MaxBytes)})
}

// Put writes key = value with lease. It returns the previous version of
// the key (nil if it did not exist).
func (tw *TxnWrite) Put(key, value []byte, lease int64) (*api.KeyValue, error) {
	return tw.write(key, value, lease, true)
}

// write is Put, reading the previous version's record only if wantPrev or
// a watcher of the key asks for previous versions (otherwise the previous
// version returned is nil). Everything else a put needs of the key's
// current version (creation revision, version) is in the index, so a
// plain put reads nothing from the page file.
func (tw *TxnWrite) write(key, value []byte, lease int64, wantPrev bool) (*api.KeyValue, error) {
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
	ki := &s.wki
	at := s.idx.load(key, ki)
	kv := api.KeyValue{Key: key, Value: value, ModRevision: tw.rev, Version: 1, CreateRevision: tw.rev, Lease: lease}
	var prev *api.KeyValue
	if cur, r, ok := s.latest(ki); ok {
		kv.CreateRevision = cur.CreateRevision
		kv.Version = cur.Version + 1
		if wantPrev || s.watch.wantPrev(key) {
			p, err := tw.record(r)
			if err != nil {
				return nil, err
			}
			prev = &p
		}
	}
	rev := Revision{Main: tw.rev, Sub: tw.sub}
	rec := encodeRecord(kv, false)
	// The event's key and value share the record's bytes (neither is
	// ever modified), not the caller's.
	kv.Key, kv.Value = recordKey(rec, len(key)), recordValue(rec, value)
	// The caller's value, not the record's copy: it may be a slice of
	// the raft entry applied, which the record can point at instead.
	if err := s.putRecord(rev, rec, value, tw.index); err != nil {
		return nil, err
	}
	if err := ki.put(rev); err != nil {
		return nil, s.fail(err)
	}
	s.idx.write(at, ki)
	s.trackLease(kv, false)
	tw.sub++
	tw.changes = append(tw.changes, api.Event{Type: api.EventPut, Kv: kv, PrevKv: prev})
	return prev, nil
}

// latest returns the current version of ki's key without its value, and
// the revision of its record: everything comes from the index and the
// lease map, nothing from the page file. ok is false if the key does not
// exist now.
func (s *Store) latest(ki *keyIndex) (kv api.KeyValue, rev Revision, ok bool) {
	rev, created, version, ok := ki.last()
	if !ok {
		return api.KeyValue{}, Revision{}, false
	}
	kv = api.KeyValue{Key: ki.key, CreateRevision: created, ModRevision: rev.Main, Version: version}
	if len(s.keyLease) > 0 {
		kv.Lease = s.keyLease[string(ki.key)]
	}
	return kv, rev, true
}

// current returns the key's latest version as the transaction sees it,
// value included.
func (tw *TxnWrite) current(key []byte) (*api.KeyValue, error) {
	var ki keyIndex
	if !tw.s.idx.get(key, &ki) {
		return nil, nil
	}
	_, r, ok := tw.s.latest(&ki)
	if !ok {
		return nil, nil
	}
	kv, err := tw.record(r)
	if err != nil {
		return nil, err
	}
	return &kv, nil
}

// record reads the record of revision r: from the open batch, or from
// the page file.
func (tw *TxnWrite) record(r Revision) (api.KeyValue, error) {
	if rec, ok := tw.s.overlay.get(r); ok {
		kv, _, err := decodeRecord(rec)
		return kv, err
	}
	rtx, err := tw.s.db.Begin(false)
	if err != nil {
		return api.KeyValue{}, err
	}
	defer rtx.Rollback()
	kv, _, err := readCommitted(rtx, tw.s.opts.LogValues, r)
	return kv, err
}

// DeleteRange deletes the keys in [key, end) and returns their last
// versions.
func (tw *TxnWrite) DeleteRange(key, end []byte) ([]api.KeyValue, error) {
	_, prevs, err := tw.deleteKeys(key, end, true)
	return prevs, err
}

// deleteKeys is DeleteRange returning how many keys it deleted, and their
// last versions only if wantPrev (it reads a key's last version only then
// or if a watcher of the key asks for previous versions).
func (tw *TxnWrite) deleteKeys(key, end []byte, wantPrev bool) (int64, []api.KeyValue, error) {
	s := tw.s
	if err := s.usable(); err != nil {
		return 0, nil, err
	}
	if len(key) == 0 {
		return 0, nil, ErrEmptyKey
	}
	var live [][]byte
	s.idx.visit(key, end, func(ki *keyIndex) bool {
		if ki.alive() {
			live = append(live, bytes.Clone(ki.key))
		}
		return true
	})
	var prevs []api.KeyValue
	ki := &s.wki
	for _, k := range live {
		at := s.idx.load(k, ki)
		_, r, _ := s.latest(ki)
		var prev *api.KeyValue
		if wantPrev || s.watch.wantPrev(k) {
			p, err := tw.record(r)
			if err != nil {
				return 0, nil, err
			}
			prev = &p
		}
		rev := Revision{Main: tw.rev, Sub: tw.sub}
		kv := api.KeyValue{Key: k, ModRevision: tw.rev}
		if err := s.putRecord(rev, encodeRecord(kv, true), nil, tw.index); err != nil {
			return 0, nil, err
		}
		if err := ki.tombstone(rev); err != nil {
			return 0, nil, s.fail(err)
		}
		s.idx.write(at, ki)
		s.trackLease(kv, true)
		tw.sub++
		tw.changes = append(tw.changes, api.Event{Type: api.EventDelete, Kv: kv, PrevKv: prev})
		if wantPrev {
			prevs = append(prevs, *prev)
		}
	}
	return int64(len(live)), prevs, nil
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
		if tw.rev != s.currentRev+1 {
			return s.fail(violated(invRevisionsIncreasing, "a write transaction at revision %d after revision %d", tw.rev, s.currentRev))
		}
		s.currentRev = tw.rev
		s.watch.notify(s, tw.changes, tw.rev)
	}
	s.publish()
	if s.pending >= s.opts.BatchLimit {
		return s.freezeLocked()
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
	// A put of its own checks its lease before the key that ignore_value
	// or ignore_lease needs, as etcd does (a put in a txn checks them the
	// other way round: see checkPut).
	err := checkPutArgs(req)
	if err == nil {
		err = tw.checkPutLease(req)
	}
	var resp *api.PutResponse
	if err == nil {
		resp, err = tw.put(req)
	}
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
	prev, err := tw.write(req.Key, value, lease, req.PrevKv)
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
	deleted, prevs, err := tw.deleteKeys(req.Key, req.RangeEnd, req.PrevKv)
	if err != nil {
		return nil, err
	}
	rev := tw.s.currentRev
	if len(tw.changes) > 0 {
		rev = tw.rev
	}
	resp := &api.DeleteRangeResponse{Header: api.ResponseHeader{Revision: rev}, Deleted: deleted}
	if req.PrevKv {
		resp.PrevKvs = prevs
	}
	return resp, nil
}
