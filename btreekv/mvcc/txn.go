package mvcc

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/cairndb/cairn/api"
)

// Errors of transactions and of the requests inside them.
var (
	// ErrDuplicateKey is returned for a transaction that writes one key
	// twice (two puts, or a put inside a deleted range).
	ErrDuplicateKey = errors.New("mvcc: duplicate key given in txn request")
	// ErrTooManyOps is returned for a branch with more operations than
	// the limit given to CheckTxn.
	ErrTooManyOps = errors.New("mvcc: too many operations in txn request")
	// ErrValueProvided is returned for a put with ignore_value and a value.
	ErrValueProvided = errors.New("mvcc: value is provided (ignore_value is set)")
	// ErrLeaseProvided is returned for a put with ignore_lease and a lease.
	ErrLeaseProvided = errors.New("mvcc: lease is provided (ignore_lease is set)")
	// ErrEmptyOp is returned for a transaction operation with no request.
	ErrEmptyOp = errors.New("mvcc: txn operation with no request")
	// ErrInvalidSortOption is returned for a read whose sort order or
	// target is none of the API's.
	ErrInvalidSortOption = errors.New("mvcc: invalid sort option")
)

// checkSort refuses a read's unknown sort order or target, as etcd does.
func checkSort(r *api.RangeRequest) error {
	if r.SortOrder > api.SortDescend || r.SortTarget > api.SortByValue {
		return fmt.Errorf("%w (order %d, target %d)", ErrInvalidSortOption, r.SortOrder, r.SortTarget)
	}
	return nil
}

// Txn applies a TxnRequest as raft entry (index, term). Like etcd, it is
// all or nothing, in three steps:
//
//  1. decide: the compares of the transaction, and of the nested
//     transactions on the branch taken, are evaluated against the state
//     before the transaction: which branch runs never depends on the
//     transaction's own writes;
//  2. check: every operation on the chosen path is validated (keys,
//     leases, ignore_value/ignore_lease, revisions of reads), so that a
//     bad request fails before anything is written;
//  3. run: the operations are applied in order, all at one revision.
//
// A transaction that writes nothing does not advance the revision.
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

// ErrTxnWrites is returned by ReadTxn for a transaction that puts or
// deletes.
var ErrTxnWrites = errors.New("mvcc: txn request puts or deletes: it must be applied through raft")

// ReadTxn runs a transaction that writes nothing (TxnReadOnly) without
// the write lock: under the store's read lock, so that its compares and
// reads all see one revision, as in Txn, while other reads run beside
// it. The response is the one Txn would give at this revision. The keys
// its reads return, encoded, may add up to at most maxBytes (0: no
// bound): past that it fails with a *ResponseTooLargeError, having read
// no more records than the limit let in.
func (s *Store) ReadTxn(req *api.TxnRequest, maxBytes int64) (*api.TxnResponse, error) {
	if !TxnReadOnly(req) {
		return nil, ErrTxnWrites
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	// A write transaction that never writes only reads the store: its
	// decide, check and run steps serve a read view as well.
	view := &TxnWrite{s: s, budget: newBudget(maxBytes)}
	path, err := view.decide(req)
	if err != nil {
		return nil, err
	}
	if err := view.check(req, path); err != nil {
		return nil, err
	}
	resp, err := view.run(req, path)
	if err == nil && view.refused != nil {
		return nil, view.refusal()
	}
	if err == nil {
		resp.Header.Revision = view.readRev()
	}
	return resp, err
}

// TxnReadOnly reports whether a transaction neither puts nor deletes, in
// either branch, nested transactions included.
func TxnReadOnly(req *api.TxnRequest) bool {
	for op := range req.Ops() {
		switch op.(type) {
		case *api.PutRequest, *api.DeleteRangeRequest:
			return false
		}
	}
	return true
}

// txnPath is the outcome of step 1: which branch a transaction takes, and
// the paths of the nested transactions in that branch.
type txnPath struct {
	succeeded bool
	nested    map[int]*txnPath // by position in the branch taken
}

func branch(req *api.TxnRequest, succeeded bool) []api.RequestOp {
	if succeeded {
		return req.Success
	}
	return req.Failure
}

func (tw *TxnWrite) txn(req *api.TxnRequest) (*api.TxnResponse, error) {
	if err := tw.s.usable(); err != nil {
		return nil, err
	}
	path, err := tw.decide(req)
	if err != nil {
		return nil, err
	}
	if err := tw.check(req, path); err != nil {
		return nil, err
	}
	resp, err := tw.run(req, path)
	if err == nil && tw.refused != nil {
		return nil, tw.refusal()
	}
	if err == nil {
		// Only the whole transaction's answer has a revision: a nested
		// one's header is left empty, as etcd leaves it.
		resp.Header.Revision = tw.readRev()
	}
	return resp, err
}

// refusal is the error of a transaction whose answer passed its budget;
// its writes, if any, were all applied.
func (tw *TxnWrite) refusal() error {
	e := *tw.refused
	if len(tw.changes) > 0 {
		e.Applied = tw.rev
	}
	return &e
}

// decide evaluates the compares of req and of the nested transactions on
// the path it takes.
func (tw *TxnWrite) decide(req *api.TxnRequest) (*txnPath, error) {
	ok, err := tw.compares(req.Compare)
	if err != nil {
		return nil, err
	}
	p := &txnPath{succeeded: ok}
	for i, op := range branch(req, ok) {
		if op.Txn == nil {
			continue
		}
		np, err := tw.decide(op.Txn)
		if err != nil {
			return nil, err
		}
		if p.nested == nil {
			p.nested = map[int]*txnPath{}
		}
		p.nested[i] = np
	}
	return p, nil
}

// check validates the operations on path before any of them runs.
func (tw *TxnWrite) check(req *api.TxnRequest, p *txnPath) error {
	var fromKeys [][]byte
	return tw.checkPath(req, p, &fromKeys)
}

// checkPath is check, fromKeys the keys that the from-key deletes run
// so far start from. The duplicate check (as etcd's) does not see that
// such a delete spans a later put's key, so a put with ignore_value or
// ignore_lease may follow the delete of its key: it would fail halfway
// through the transaction (etcd 3.6 panics there), so the transaction
// is refused here, before anything is written, for its key not found.
func (tw *TxnWrite) checkPath(req *api.TxnRequest, p *txnPath, fromKeys *[][]byte) error {
	for i, op := range branch(req, p.succeeded) {
		var err error
		switch {
		case op.Range != nil:
			err = tw.s.checkRange(op.Range)
		case op.Put != nil:
			err = tw.checkPut(op.Put)
			if err == nil && (op.Put.IgnoreValue || op.Put.IgnoreLease) &&
				slices.ContainsFunc(*fromKeys, func(from []byte) bool { return bytes.Compare(op.Put.Key, from) >= 0 }) {
				err = ErrKeyNotFound
			}
		case op.DeleteRange != nil:
			if len(op.DeleteRange.Key) == 0 {
				err = ErrEmptyKey
			} else if end := op.DeleteRange.RangeEnd; len(end) == 1 && end[0] == 0 {
				*fromKeys = append(*fromKeys, op.DeleteRange.Key)
			}
		case op.Txn != nil:
			err = tw.checkPath(op.Txn, p.nested[i], fromKeys)
		default:
			err = ErrEmptyOp
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkRange validates a read against the store's revisions.
func (s *Store) checkRange(r *api.RangeRequest) error {
	switch {
	case len(r.Key) == 0:
		return ErrEmptyKey
	case r.Revision > s.currentRev:
		return fmt.Errorf("%w: %d > current %d", ErrFutureRev, r.Revision, s.currentRev)
	case r.Revision > 0 && r.Revision < s.compactRev:
		return fmt.Errorf("%w: %d < compacted %d", ErrCompacted, r.Revision, s.compactRev)
	}
	return nil
}

// checkPut validates a put against the state before the write
// transaction (a transaction never writes one key twice, so that is the
// state the put will see).
func (tw *TxnWrite) checkPut(req *api.PutRequest) error {
	if err := checkPutArgs(req); err != nil {
		return err
	}
	if req.IgnoreValue || req.IgnoreLease {
		var ki keyIndex
		if !tw.s.idx.get(req.Key, &ki) || !ki.alive() {
			return ErrKeyNotFound
		}
	}
	return tw.checkPutLease(req)
}

// checkPutArgs validates what a put asks for on its own, whatever the
// store holds.
func checkPutArgs(req *api.PutRequest) error {
	switch {
	case len(req.Key) == 0:
		return ErrEmptyKey
	case req.IgnoreValue && len(req.Value) != 0:
		return ErrValueProvided
	case req.IgnoreLease && req.Lease != 0:
		return ErrLeaseProvided
	}
	return nil
}

// checkPutLease refuses a put to a lease the store does not hold.
func (tw *TxnWrite) checkPutLease(req *api.PutRequest) error {
	if req.Lease != 0 {
		if _, ok := tw.s.leases[req.Lease]; !ok {
			return ErrLeaseNotFound
		}
	}
	return nil
}

// run applies the operations on path, in order.
func (tw *TxnWrite) run(req *api.TxnRequest, p *txnPath) (*api.TxnResponse, error) {
	ops := branch(req, p.succeeded)
	resp := &api.TxnResponse{Succeeded: p.succeeded, Responses: make([]api.ResponseOp, len(ops))}
	for i, op := range ops {
		switch {
		case op.Range != nil:
			if tw.refused != nil {
				continue // the answer is refused already: read nothing more
			}
			r, err := rangeRequest(op.Range, tw.rangeAt, tw.budget)
			var tooLarge *ResponseTooLargeError
			if errors.As(err, &tooLarge) {
				// Only the answer is refused: the writes still all apply,
				// as on every member, whatever its limit.
				tw.refused = tooLarge
				continue
			}
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
			r, err := tw.run(op.Txn, p.nested[i])
			if err != nil {
				return nil, err
			}
			resp.Responses[i].Txn = r
		}
	}
	return resp, nil
}

// readRev is the revision the transaction's reads see: its own, once it
// has written something.
func (tw *TxnWrite) readRev() int64 {
	if len(tw.changes) > 0 {
		return tw.rev
	}
	return tw.s.currentRev
}

// rangeAt reads as the transaction sees the store: with its own writes.
func (tw *TxnWrite) rangeAt(key, end []byte, q *rangeQuery) (*RangeResult, error) {
	return tw.s.queryLocked(key, end, q, tw.readRev())
}

// compares evaluates a transaction's guards against the state before the
// transaction.
func (tw *TxnWrite) compares(cmps []api.Compare) (bool, error) {
	for _, c := range cmps {
		if len(c.Key) == 0 {
			return false, ErrEmptyKey
		}
		ok, err := tw.compare(c)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// compare evaluates one guard against the current versions of the keys it
// names (the transaction has written nothing yet): it holds when every
// one of them passes; with none, when a missing key (zero values) passes,
// except that a value compare on a missing key fails. Only a value
// compare reads records, one at a time: the revisions, version and lease
// are in the index.
func (tw *TxnWrite) compare(c api.Compare) (bool, error) {
	s := tw.s
	var f *fetcher
	found, holds := false, true
	var err error
	s.idx.visit(c.Key, c.RangeEnd, func(ki *keyIndex) bool {
		kv, r, ok := s.latest(ki)
		if !ok {
			return true
		}
		found = true
		if c.Target == api.CompareValue {
			if f == nil {
				if f, err = s.lockedFetcher(); err != nil {
					return false
				}
			}
			var rec api.KeyValue
			if rec, err = f.get(r, false); err != nil {
				return false
			}
			kv.Value = rec.Value
		}
		holds = compareOne(c, kv)
		return holds
	})
	if f != nil {
		f.close()
	}
	switch {
	case err != nil:
		return false, err
	case !found:
		return c.Target != api.CompareValue && compareOne(c, api.KeyValue{}), nil
	}
	return holds, nil
}

// lockedFetcher reads current records for a caller that holds the store's
// lock and writes nothing while it reads.
func (s *Store) lockedFetcher() (*fetcher, error) {
	rtx, err := s.db.Begin(false)
	if err != nil {
		return nil, err
	}
	return &fetcher{rtx: rtx, log: s.opts.LogValues, mem: &s.overlay}, nil
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

// --- validation before proposing ------------------------------------------------

// CheckTxn validates a transaction's shape before it is proposed (the
// store checks it again when applying): with etcd's rules, no key is put
// twice and no key is put inside a range the transaction deletes,
// counting the operations of nested transactions (a put in a nested
// transaction's success branch may repeat one in its failure branch: only
// one of them runs); deleted ranges may overlap each other. If maxOps > 0,
// no branch may hold more than maxOps operations nor the transaction more
// than maxOps compares.
//
// As etcd does, it checks every operation's arguments, on both branches
// and in nested transactions, before any duplicate: a request with both a
// bad operation and a duplicate key fails for the bad operation.
func CheckTxn(req *api.TxnRequest, maxOps int) error {
	if err := checkTxnArgs(req, maxOps, maxOps > 0); err != nil {
		return err
	}
	if err := checkBranch(req.Success); err != nil {
		return err
	}
	return checkBranch(req.Failure)
}

// checkTxnArgs checks a transaction's operations one by one, in etcd's
// order: the number of operations, the compares' keys, then each
// operation of the success branch and of the failure branch (a nested
// transaction's whole tree in its place). If limited, a transaction holds
// at most maxOps compares or operations a branch, and a nested one at
// most what its parent leaves of maxOps, as in etcd.
func checkTxnArgs(req *api.TxnRequest, maxOps int, limited bool) error {
	n := max(len(req.Compare), len(req.Success), len(req.Failure))
	if limited && n > maxOps {
		return fmt.Errorf("%w (%d > %d)", ErrTooManyOps, n, maxOps)
	}
	for _, c := range req.Compare {
		if len(c.Key) == 0 {
			return ErrEmptyKey
		}
	}
	for _, ops := range [][]api.RequestOp{req.Success, req.Failure} {
		for _, op := range ops {
			var err error
			switch {
			case op.Range != nil:
				if len(op.Range.Key) == 0 {
					err = ErrEmptyKey
				} else {
					err = checkSort(op.Range)
				}
			case op.Put != nil:
				err = checkPutArgs(op.Put)
			case op.DeleteRange != nil:
				if len(op.DeleteRange.Key) == 0 {
					err = ErrEmptyKey
				}
			case op.Txn != nil:
				err = checkTxnArgs(op.Txn, maxOps-n, limited)
			default:
				err = ErrEmptyOp
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// writeSet is what one branch writes: the keys it puts and the ranges it
// deletes.
type writeSet struct {
	puts map[string]bool
	dels []keyRange
}

// keyRange is a delete's [key, end) as etcd's duplicate check sees it:
// an empty end is the one key, and every other end is a plain bound, the
// "\x00" of a from-key delete included. etcd 3.6 checks a txn's puts
// against its deletes that way, so a put beside a from-key delete of its
// key is no duplicate there, though the delete, applied, does span to the
// end of the keys; cairn answers as etcd does.
type keyRange struct{ key, end []byte }

func (r keyRange) contains(k []byte) bool {
	if len(r.end) == 0 {
		return bytes.Equal(k, r.key)
	}
	return bytes.Compare(k, r.key) >= 0 && bytes.Compare(k, r.end) < 0
}

func (ws *writeSet) deletes(k []byte) bool {
	for _, r := range ws.dels {
		if r.contains(k) {
			return true
		}
	}
	return false
}

// branchWrites collects a branch's writes, failing on a duplicate.
func branchWrites(ops []api.RequestOp) (*writeSet, error) {
	ws := &writeSet{puts: map[string]bool{}}
	// This level's deletes first: a put anywhere in the branch, nested
	// or not, before or after them, must stay outside them.
	for _, op := range ops {
		if op.DeleteRange != nil {
			ws.dels = append(ws.dels, keyRange{op.DeleteRange.Key, op.DeleteRange.RangeEnd})
		}
	}
	for _, op := range ops {
		if op.Txn == nil {
			continue
		}
		then, err := branchWrites(op.Txn.Success)
		if err != nil {
			return nil, err
		}
		els, err := branchWrites(op.Txn.Failure)
		if err != nil {
			return nil, err
		}
		for k := range then.puts {
			if ws.puts[k] || ws.deletes([]byte(k)) {
				return nil, ErrDuplicateKey
			}
		}
		for k := range els.puts {
			if (ws.puts[k] && !then.puts[k]) || ws.deletes([]byte(k)) {
				return nil, ErrDuplicateKey
			}
		}
		for _, sub := range []*writeSet{then, els} {
			for k := range sub.puts {
				ws.puts[k] = true
			}
			ws.dels = append(ws.dels, sub.dels...)
		}
	}
	for _, op := range ops {
		if op.Put == nil {
			continue
		}
		k := string(op.Put.Key)
		if ws.puts[k] || ws.deletes(op.Put.Key) {
			return nil, ErrDuplicateKey
		}
		ws.puts[k] = true
	}
	return ws, nil
}
