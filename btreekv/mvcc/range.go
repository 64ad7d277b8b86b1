package mvcc

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"sort"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/pagefile"
)

// readCommitted reads the record of rev from a page-file snapshot.
func readCommitted(rtx *pagefile.Tx, log LogValues, rev Revision) (api.KeyValue, bool, error) {
	v, err := rtx.Bucket(bucketKey).Get(revBytes(rev))
	if err != nil {
		return api.KeyValue{}, false, err
	}
	if v == nil {
		return api.KeyValue{}, false, missingRecord(rev)
	}
	kv, tomb, err := readStored(rtx, log, rev, v, false)
	if err != nil {
		return kv, tomb, err
	}
	return cloneKV(kv), tomb, nil
}

// cloneKV copies the key and value of kv into memory of its own.
func cloneKV(kv api.KeyValue) api.KeyValue {
	b := make([]byte, 0, len(kv.Key)+len(kv.Value))
	b = append(b, kv.Key...)
	kv.Key = b[:len(kv.Key):len(kv.Key)]
	if kv.Value != nil {
		kv.Value = append(b, kv.Value...)[len(kv.Key):]
	}
	return kv
}

func missingRecord(rev Revision) error {
	return fmt.Errorf("%w: index names revision %v but the page file has no record", pagefile.ErrCorrupt, rev)
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
	// MaxBytes bounds the answer (0: no bound): the keys it returns,
	// encoded (api.KeyValue.EncodedSize, summed), may not pass it. A read
	// that would pass it stops as soon as it knows, reading nothing more,
	// and fails with a *ResponseTooLargeError. The count needs no records
	// and is never refused.
	MaxBytes int64
}

// RangeResult is a read's answer.
type RangeResult struct {
	// KVs are the keys found, in key order (or the order asked for).
	KVs []api.KeyValue
	// Count is how many keys the range holds, ignoring the limit and, as
	// etcd's count does, the revision filters of a RangeRequest.
	Count int64
	// Rev is the store revision the read was served at.
	Rev int64
	// matched is how many keys pass the revision filters, ignoring the
	// limit: the answer has more than it holds if that is past the limit.
	matched int64
}

// ErrResponseTooLarge is matched (errors.Is) by every
// *ResponseTooLargeError.
var ErrResponseTooLarge = errors.New("mvcc: response too large")

// ResponseTooLargeError is the error of a read whose answer would pass its
// byte limit (RangeOptions.MaxBytes, the limit given to RangeRequest or
// ReadTxn, Options.MaxTxnResponseBytes). It matches ErrResponseTooLarge
// and api.ErrRequestTooLarge, so it reaches a client with that code.
type ResponseTooLargeError struct {
	// Limit is the byte limit that would have been passed.
	Limit int64
	// Applied is, for a write transaction, the revision its writes were
	// applied at: they were, only its answer is refused (0: the
	// transaction wrote nothing).
	Applied int64
}

func (e *ResponseTooLargeError) Error() string {
	msg := fmt.Sprintf("response exceeds the limit of %d bytes: ask for less (a narrower range, a limit, keys only or the count only)", e.Limit)
	if e.Applied > 0 {
		return fmt.Sprintf("mvcc: txn applied at revision %d, but its %s", e.Applied, msg)
	}
	return "mvcc: " + msg
}

// Unwrap makes the error match ErrResponseTooLarge and
// api.ErrRequestTooLarge.
func (e *ResponseTooLargeError) Unwrap() []error {
	return []error{ErrResponseTooLarge, api.ErrRequestTooLarge}
}

// byteBudget is what a read may still add to its answer. The reads of one
// transaction share one: its answer is one message. A nil budget is
// unbounded.
type byteBudget struct {
	limit int64
	used  int64
}

func newBudget(limit int64) *byteBudget {
	if limit <= 0 {
		return nil
	}
	return &byteBudget{limit: limit}
}

// fits reports whether n more bytes stay within the limit.
func (b *byteBudget) fits(n int64) bool { return b == nil || b.used+n <= b.limit }

// take charges n bytes, failing instead if that would pass the limit.
func (b *byteBudget) take(n int) error {
	if b == nil {
		return nil
	}
	if !b.fits(int64(n)) {
		return b.exceeded()
	}
	b.used += int64(n)
	return nil
}

// give returns n bytes taken before.
func (b *byteBudget) give(n int) {
	if b != nil {
		b.used -= int64(n)
	}
}

func (b *byteBudget) exceeded() error { return &ResponseTooLargeError{Limit: b.limit} }

// rangeQuery is a read as a RangeRequest asks for it: the options, the
// filters on revisions and the order. All of it but an order by value is
// decided from the index, before any record is read, so only the records
// of the keys in the answer are read.
type rangeQuery struct {
	RangeOptions
	// Bounds on the keys' mod and create revisions (0: none).
	minMod, maxMod, minCreate, maxCreate int64
	// sorted is set for any order but ascending keys; target and descend
	// say which.
	sorted  bool
	target  api.SortTarget
	descend bool
	budget  *byteBudget
}

// keeps reports whether a key with these revisions passes the filters.
func (q *rangeQuery) keeps(mod, create int64) bool {
	return (q.minMod == 0 || mod >= q.minMod) && (q.maxMod == 0 || mod <= q.maxMod) &&
		(q.minCreate == 0 || create >= q.minCreate) && (q.maxCreate == 0 || create <= q.maxCreate)
}

func (q *rangeQuery) byValue() bool { return q.sorted && q.target == api.SortByValue }

// rangeEntry is a key of a read sorted from the index: what it is sorted
// by and its rank in key order (ties keep key order), with the revision
// of its record.
type rangeEntry struct {
	rev Revision
	by  int64
	pos int64
}

// sortKey is what q sorts a key by (never its value): its version, create
// or mod revision, or its rank in key order.
func (q *rangeQuery) sortKey(mod, created, version, pos int64) int64 {
	switch q.target {
	case api.SortByVersion:
		return version
	case api.SortByCreate:
		return created
	case api.SortByMod:
		return mod
	}
	return pos
}

// entryLess orders a read's keys as q asks (never by value); ties keep
// key order, as a stable sort of the keys would.
func (q *rangeQuery) entryLess() func(a, b rangeEntry) bool {
	descend := q.descend
	return func(a, b rangeEntry) bool {
		c := cmp.Compare(a.by, b.by)
		if descend {
			c = -c
		}
		return c < 0 || (c == 0 && a.pos < b.pos)
	}
}

// minSize is a lower bound of a key's size in a read's answer: exact but
// for its value and lease, which only its record knows.
func minSize(key []byte, mod, created, version int64) int64 {
	kv := api.KeyValue{Key: key, CreateRevision: created, ModRevision: mod, Version: version}
	return int64(kv.EncodedSize())
}

// rangePlan is what the index decided about a read: the count, and the
// records to read, in the answer's order (in key order for an order by
// value, which reads every key of the range to sort them).
type rangePlan struct {
	res  *RangeResult
	revs []Revision
}

// plan answers a read from the index, as of store revision current: its
// count, and the records it must read. An answer that the index alone
// shows to be too large (its keys and revisions already pass the budget)
// is refused here, before any record is read.
func (s *Store) plan(key, end []byte, q *rangeQuery, current int64) (rangePlan, error) {
	if len(key) == 0 {
		return rangePlan{}, ErrEmptyKey
	}
	rev := q.Rev
	if rev <= 0 {
		rev = current
	}
	if rev > current {
		return rangePlan{}, fmt.Errorf("%w: %d > current %d", ErrFutureRev, rev, current)
	}
	if rev < s.compactRev {
		return rangePlan{}, fmt.Errorf("%w: %d < compacted %d", ErrCompacted, rev, s.compactRev)
	}
	p := rangePlan{res: &RangeResult{Rev: current}}
	// Every key the read will answer with is charged its lower bound as
	// it is found: past the budget, the read stops.
	var lower int64
	fits := func(n int64) bool {
		lower += n
		return q.budget.fits(lower)
	}
	var top *topK[rangeEntry]
	if q.sorted && !q.byValue() {
		top = newTopK(q.Limit, q.entryLess())
	}
	tooLarge := false
	s.idx.visit(key, end, func(ki *keyIndex) bool {
		r, created, version, ok := ki.get(rev)
		if !ok {
			return true
		}
		p.res.Count++ // as etcd's count, before the revision filters
		if !q.keeps(r.Main, created) {
			return true
		}
		pos := p.res.matched
		p.res.matched++
		switch {
		case q.CountOnly:
		case top != nil:
			// Sorted from the index: every key is a candidate, and without
			// a limit every key is in the answer.
			if q.Limit <= 0 && !fits(minSize(ki.key, r.Main, created, version)) {
				tooLarge = true
				return false
			}
			top.push(rangeEntry{rev: r, by: q.sortKey(r.Main, created, version, pos), pos: pos})
		case q.byValue() || q.Limit <= 0 || int64(len(p.revs)) < q.Limit:
			// In key order, the keys up to the limit are the answer. An
			// order by value reads every key; without a limit every key
			// is in its answer.
			if (!q.byValue() || q.Limit <= 0) && !fits(minSize(ki.key, r.Main, created, version)) {
				tooLarge = true
				return false
			}
			p.revs = append(p.revs, r)
		}
		return true
	})
	if tooLarge {
		return rangePlan{}, q.budget.exceeded()
	}
	if top != nil {
		entries := top.sorted()
		p.revs = make([]Revision, len(entries))
		for i := range entries {
			p.revs[i] = entries[i].rev
		}
	}
	return p, nil
}

// fill reads the records of the plan into its result, charging each key
// to q's budget as it is read.
func (p *rangePlan) fill(f *fetcher, q *rangeQuery) error {
	if q.byValue() {
		return p.fillByValue(f, q)
	}
	// The keys that fit, not all the plan names: past the budget, only
	// a part of them is read.
	kvs := make([]api.KeyValue, 0, min(len(p.revs), 1024))
	for _, r := range p.revs {
		kv, err := f.get(r, q.KeysOnly)
		if err != nil {
			return err
		}
		if err := q.budget.take(kv.EncodedSize()); err != nil {
			return err
		}
		kvs = append(kvs, kv)
	}
	p.res.KVs = kvs
	return nil
}

// valued is a key read for an order by value, with its rank in key order.
type valued struct {
	kv  api.KeyValue
	pos int64
}

// fillByValue reads every key of the range and keeps those of the answer
// (the first Limit by value). The values it keeps count against the
// budget even when the answer leaves them out (keys only): sorting needs
// them in memory.
func (p *rangePlan) fillByValue(f *fetcher, q *rangeQuery) error {
	descend := q.descend
	top := newTopK(q.Limit, func(a, b valued) bool {
		c := bytes.Compare(a.kv.Value, b.kv.Value)
		if descend {
			c = -c
		}
		return c < 0 || (c == 0 && a.pos < b.pos)
	})
	for i, r := range p.revs {
		kv, err := f.get(r, false)
		if err != nil {
			return err
		}
		if err := q.budget.take(kv.EncodedSize()); err != nil {
			return err
		}
		if out, dropped := top.push(valued{kv, int64(i)}); dropped {
			q.budget.give(out.kv.EncodedSize())
		}
	}
	kept := top.sorted()
	kvs := make([]api.KeyValue, len(kept))
	for i := range kept {
		kvs[i] = kept[i].kv
		if q.KeysOnly {
			size := kvs[i].EncodedSize()
			kvs[i].Value = nil
			q.budget.give(size - kvs[i].EncodedSize())
		}
	}
	p.res.KVs = kvs
	return nil
}

// Range reads the keys in [key, end) as of ro.Rev (0: now).
//
// The store's lock is held only to decide which revisions to read (from
// the in-memory index) and to pin a page-file snapshot; the records are
// read after it is released, so a long read does not hold up writes.
func (s *Store) Range(key, end []byte, ro RangeOptions) (*RangeResult, error) {
	return s.query(key, end, &rangeQuery{RangeOptions: ro, budget: newBudget(ro.MaxBytes)})
}

// query serves a read: the index under the store's read lock, the records
// after it is released.
func (s *Store) query(key, end []byte, q *rangeQuery) (*RangeResult, error) {
	s.mu.RLock()
	p, err := s.plan(key, end, q, s.currentRev)
	var f *fetcher
	if err == nil && len(p.revs) > 0 {
		f, err = s.newFetcher(p.revs)
	}
	s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	if f == nil {
		return p.res, nil
	}
	defer f.close()
	if err := p.fill(f, q); err != nil {
		return nil, err
	}
	return p.res, nil
}

// queryLocked is query for a caller that holds the store's lock (a write
// transaction), as of store revision current.
func (s *Store) queryLocked(key, end []byte, q *rangeQuery, current int64) (*RangeResult, error) {
	p, err := s.plan(key, end, q, current)
	if err != nil {
		return nil, err
	}
	if len(p.revs) == 0 {
		return p.res, nil
	}
	f, err := s.newFetcher(p.revs)
	if err != nil {
		return nil, err
	}
	defer f.close()
	if err := p.fill(f, q); err != nil {
		return nil, err
	}
	return p.res, nil
}

// fetcher reads the records of a set of revisions as they were when it
// was made: those of the open batch are copied from the overlay, the rest
// are read from a page-file snapshot that later commits and compactions
// do not change.
type fetcher struct {
	rtx *pagefile.Tx
	log LogValues
	mem *overlay // the open batch's records it may be asked for (nil: none)
}

// newFetcher is called with the store's lock held, with the revisions it
// will be asked for.
func (s *Store) newFetcher(revs []Revision) (*fetcher, error) {
	rtx, err := s.db.Begin(false)
	if err != nil {
		return nil, err
	}
	f := &fetcher{rtx: rtx, log: s.opts.LogValues}
	if !s.overlay.empty() {
		f.mem = s.overlay.subset(revs) // records are never modified
	}
	return f, nil
}

// get reads the record of r, without its value if keysOnly. The key-value
// returned is the caller's: it shares no memory with the page file.
func (f *fetcher) get(r Revision, keysOnly bool) (api.KeyValue, error) {
	var kv api.KeyValue
	if rec, ok := f.mem.get(r); ok {
		var err error
		if kv, _, err = parseRecord(rec); err != nil {
			return api.KeyValue{}, err
		}
	} else {
		rec, err := f.rtx.Bucket(bucketKey).Get(revBytes(r))
		if err != nil {
			return api.KeyValue{}, err
		}
		if rec == nil {
			return api.KeyValue{}, missingRecord(r)
		}
		if kv, _, err = readStored(f.rtx, f.log, r, rec, keysOnly); err != nil {
			return api.KeyValue{}, err
		}
		if rec[0] == flagLogValue && !keysOnly {
			// A value read from the raft log is new memory already:
			// only the key aliases the page file.
			kv.Key = bytes.Clone(kv.Key)
			return kv, nil
		}
	}
	// One allocation for the key and the value (not a copy of the whole
	// record, and nothing for a value left out).
	n := len(kv.Key)
	if !keysOnly {
		n += len(kv.Value)
	}
	b := append(make([]byte, 0, n), kv.Key...)
	key := b[:len(kv.Key):len(kv.Key)]
	var value []byte
	if !keysOnly && len(kv.Value) > 0 {
		value = append(b, kv.Value...)[len(kv.Key):]
	}
	kv.Key, kv.Value = key, value
	return kv, nil
}

func (f *fetcher) close() { f.rtx.Rollback() }

// RangeRequest serves a RangeRequest (sorting, filters and limits
// included). Its keys, encoded, may add up to at most maxBytes (0: no
// bound): past that it fails with a *ResponseTooLargeError, having read
// no more records than the limit let in.
func (s *Store) RangeRequest(req *api.RangeRequest, maxBytes int64) (*api.RangeResponse, error) {
	return rangeRequest(req, s.query, newBudget(maxBytes))
}

// queryFunc serves a read: Store.query, or a transaction's read.
type queryFunc func(key, end []byte, q *rangeQuery) (*RangeResult, error)

// rangeRequest turns a RangeRequest into a read charged to budget and
// shapes its answer. The limit applies after filtering and sorting; the
// count, as etcd's, is of the keys in the range before the revision
// filters (and the limit).
func rangeRequest(req *api.RangeRequest, read queryFunc, budget *byteBudget) (*api.RangeResponse, error) {
	if len(req.Key) != 0 { // an empty key is refused first, as etcd does
		if err := checkSort(req); err != nil {
			return nil, err
		}
	}
	order := req.SortOrder
	if order == api.SortNone && req.SortTarget != api.SortByKey {
		// As etcd: a sort target without an order sorts ascending.
		order = api.SortAscend
	}
	q := &rangeQuery{
		RangeOptions: RangeOptions{Rev: req.Revision, CountOnly: req.CountOnly, KeysOnly: req.KeysOnly, Limit: req.Limit},
		minMod:       req.MinModRevision, maxMod: req.MaxModRevision,
		minCreate: req.MinCreateRevision, maxCreate: req.MaxCreateRevision,
		// Results come in key order; any other order needs a sort.
		sorted:  order != api.SortNone && !(req.SortTarget == api.SortByKey && order == api.SortAscend),
		target:  req.SortTarget,
		descend: order == api.SortDescend,
		budget:  budget,
	}
	res, err := read(req.Key, req.RangeEnd, q)
	if err != nil {
		return nil, err
	}
	resp := &api.RangeResponse{Header: api.ResponseHeader{Revision: res.Rev}, Count: res.Count}
	if req.CountOnly {
		return resp, nil
	}
	resp.Kvs = res.KVs
	resp.More = int64(len(res.KVs)) < res.matched
	return resp, nil
}

// topK keeps, of the items pushed, the first k under less (k <= 0: all of
// them), so that a sorted read with a limit holds no more than its answer.
type topK[T any] struct {
	k    int64
	less func(a, b T) bool
	// items, once k of them are kept, is a heap with the last of them
	// (under less) on top.
	items []T
}

func newTopK[T any](k int64, less func(a, b T) bool) *topK[T] {
	return &topK[T]{k: k, less: less}
}

// push offers x. If that makes an item leave (x itself, when it comes
// after every item kept), push returns it and true.
func (t *topK[T]) push(x T) (out T, dropped bool) {
	if t.k <= 0 || int64(len(t.items)) < t.k {
		t.items = append(t.items, x)
		if int64(len(t.items)) == t.k {
			for i := len(t.items)/2 - 1; i >= 0; i-- {
				t.down(i)
			}
		}
		return out, false
	}
	if !t.less(x, t.items[0]) {
		return x, true
	}
	out, t.items[0] = t.items[0], x
	t.down(0)
	return out, true
}

// down restores the heap below i.
func (t *topK[T]) down(i int) {
	n := len(t.items)
	for {
		last := i
		for _, c := range [2]int{2*i + 1, 2*i + 2} {
			if c < n && t.less(t.items[last], t.items[c]) {
				last = c
			}
		}
		if last == i {
			return
		}
		t.items[i], t.items[last] = t.items[last], t.items[i]
		i = last
	}
}

// sorted returns the items kept, in order; t is spent.
func (t *topK[T]) sorted() []T {
	sort.Slice(t.items, func(i, j int) bool { return t.less(t.items[i], t.items[j]) })
	return t.items
}
