package mvcc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"sort"
	"sync"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/pagefile"
	"github.com/cairndb/cairn/internal/fsx"
)

// Errors of reads and compactions.
var (
	ErrCompacted     = errors.New("mvcc: required revision has been compacted")
	ErrFutureRev     = errors.New("mvcc: required revision is a future revision")
	ErrEmptyKey      = errors.New("mvcc: key is not provided")
	ErrKeyNotFound   = errors.New("mvcc: key not found (ignore_value or ignore_lease needs an existing key)")
	ErrLeaseNotFound = errors.New("mvcc: lease not found")
	// ErrStoreFailed is wrapped by the errors of every write after a
	// write to the page file failed: the store's memory may hold changes
	// the file lost, so it must be reopened (and the raft log replayed
	// from its ConsistentIndex).
	ErrStoreFailed = errors.New("mvcc: a page-file write failed; reopen the store")
)

var (
	bucketKey   = []byte("key")
	bucketMeta  = []byte("meta")
	bucketLease = []byte("lease")

	metaConsistentIndex = []byte("consistent_index")
	metaCompacted       = []byte("compacted_revision")
)

const (
	flagPut       = 'p'
	flagTombstone = 't'
)

// Options configures Open.
type Options struct {
	FS fsx.FS
	// BatchLimit is how many changes are buffered before the store
	// commits to the page file on its own (default 10000).
	BatchLimit int
	// PageSize of a new page file.
	PageSize int
}

// Store is the multi-version store. Its methods are safe for concurrent
// use; writes are expected from one goroutine (the server's apply loop).
type Store struct {
	db   *pagefile.DB
	opts Options

	mu          sync.RWMutex
	idx         *index
	currentRev  int64
	compactRev  int64
	appliedIdx  uint64 // raft index of the last applied write (maybe not durable)
	appliedTerm uint64
	durableIdx  uint64 // raft index committed to the page file

	// The open page-file write transaction and what it holds.
	batch   *pagefile.Tx
	pending int
	overlay map[Revision][]byte // records written in the open batch

	leases    map[int64]int64               // id -> TTL
	leaseKeys map[int64]map[string]struct{} // id -> attached keys
	keyLease  map[string]int64              // key -> its lease
	watch     watchers

	// failed is the page-file error that stopped writes (see
	// ErrStoreFailed).
	failed error

	// The sizes of a compaction's steps (constants; tests shrink them).
	compactKeys, compactBatch int
}

// Open opens (or creates) the store in the page file at path.
func Open(path string, opts Options) (*Store, error) {
	if opts.BatchLimit <= 0 {
		opts.BatchLimit = 10000
	}
	db, err := pagefile.Open(path, pagefile.Options{FS: opts.FS, PageSize: opts.PageSize})
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, opts: opts, idx: newIndex(), overlay: map[Revision][]byte{},
		leases: map[int64]int64{}, leaseKeys: map[int64]map[string]struct{}{}, keyLease: map[string]int64{},
		compactKeys: defaultCompactKeys, compactBatch: defaultCompactBatch}
	s.watch.init()
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("mvcc: open %s: %w", path, err)
	}
	return s, nil
}

// load rebuilds the index, revisions and leases from the page file.
func (s *Store) load() error {
	err := s.db.Update(func(tx *pagefile.Tx) error {
		for _, b := range [][]byte{bucketKey, bucketMeta, bucketLease} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var orphans []Revision
	err = s.db.View(func(tx *pagefile.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if v, err := meta.Get(metaConsistentIndex); err != nil {
			return err
		} else if len(v) == 16 {
			s.durableIdx = binary.BigEndian.Uint64(v)
			s.appliedTerm = binary.BigEndian.Uint64(v[8:])
			s.appliedIdx = s.durableIdx
		}
		if v, err := meta.Get(metaCompacted); err != nil {
			return err
		} else if len(v) == 8 {
			s.compactRev = int64(binary.BigEndian.Uint64(v))
			s.currentRev = s.compactRev
		}
		c := tx.Bucket(bucketKey).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			rev, err := bytesRev(k)
			if err != nil {
				return err
			}
			kv, tomb, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("revision %v: %w", rev, err)
			}
			ki := s.idx.getOrCreate(kv.Key)
			if tomb {
				if !ki.alive() {
					// Left by a compaction interrupted after it removed
					// the generation's puts: finish the job below.
					orphans = append(orphans, rev)
				}
				ki.tombstone(rev)
			} else {
				ki.restore(rev, Revision{Main: kv.CreateRevision}, kv.Version)
			}
			s.currentRev = max(s.currentRev, rev.Main)
			s.trackLease(kv, tomb)
		}
		if err := c.Err(); err != nil {
			return err
		}
		lc := tx.Bucket(bucketLease).Cursor()
		for k, v := lc.First(); k != nil; k, v = lc.Next() {
			if len(k) != 8 || len(v) != 8 {
				return fmt.Errorf("%w: lease record", pagefile.ErrCorrupt)
			}
			s.leases[int64(binary.BigEndian.Uint64(k))] = int64(binary.BigEndian.Uint64(v))
		}
		return lc.Err()
	})
	if err != nil || s.compactRev == 0 {
		return err
	}
	// A crash may have interrupted the last compaction, which removes
	// records in several page-file commits after recording the compacted
	// revision: redo it (removing what is left is idempotent).
	drop, _ := s.compactIndex(s.compactRev, nil, 0)
	return s.removeRevisions(append(drop, orphans...))
}

// trackLease keeps the lease -> keys map in step with the latest version
// of each key (called in revision order).
func (s *Store) trackLease(kv api.KeyValue, tomb bool) {
	k := string(kv.Key)
	if old, ok := s.keyLease[k]; ok {
		delete(s.leaseKeys[old], k)
		if len(s.leaseKeys[old]) == 0 {
			delete(s.leaseKeys, old)
		}
		delete(s.keyLease, k)
	}
	if !tomb && kv.Lease != 0 {
		if s.leaseKeys[kv.Lease] == nil {
			s.leaseKeys[kv.Lease] = map[string]struct{}{}
		}
		s.leaseKeys[kv.Lease][k] = struct{}{}
		s.keyLease[k] = kv.Lease
	}
}

// Close commits pending changes and closes the page file.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.commitLocked()
	if s.batch != nil {
		s.batch.Rollback()
		s.batch = nil
	}
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// Rev returns the current revision.
func (s *Store) Rev() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.currentRev
}

// CompactRev returns the revision of the last compaction.
func (s *Store) CompactRev() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.compactRev
}

// ConsistentIndex is the raft index of the last write that is durable in
// the page file: after a restart the server replays the log after it.
func (s *Store) ConsistentIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.durableIdx
}

// AppliedIndex is the raft index of the last write applied (durable or
// not).
func (s *Store) AppliedIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.appliedIdx
}

// DB exposes the page file (for defragment, stats and snapshots).
func (s *Store) DB() *pagefile.DB { return s.db }

// --- records ------------------------------------------------------------------

func encodeRecord(kv api.KeyValue, tomb bool) []byte {
	flag := byte(flagPut)
	if tomb {
		flag = flagTombstone
	}
	b := make([]byte, 0, 1+len(kv.Key)+len(kv.Value)+32)
	b = append(b, flag)
	b = binary.AppendUvarint(b, uint64(len(kv.Key)))
	b = append(b, kv.Key...)
	b = binary.AppendVarint(b, kv.CreateRevision)
	b = binary.AppendVarint(b, kv.ModRevision)
	b = binary.AppendVarint(b, kv.Version)
	b = binary.AppendVarint(b, kv.Lease)
	b = binary.AppendUvarint(b, uint64(len(kv.Value)))
	return append(b, kv.Value...)
}

func decodeRecord(b []byte) (api.KeyValue, bool, error) {
	bad := func(what string) (api.KeyValue, bool, error) {
		return api.KeyValue{}, false, fmt.Errorf("%w: bad record %s", pagefile.ErrCorrupt, what)
	}
	if len(b) == 0 || (b[0] != flagPut && b[0] != flagTombstone) {
		return bad("flag")
	}
	tomb := b[0] == flagTombstone
	p := b[1:]
	var kv api.KeyValue
	bytesField := func() ([]byte, bool) {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return nil, false
		}
		f := p[k : k+int(n) : k+int(n)]
		p = p[k+int(n):]
		return f, true
	}
	varint := func() (int64, bool) {
		v, k := binary.Varint(p)
		if k <= 0 {
			return 0, false
		}
		p = p[k:]
		return v, true
	}
	var ok bool
	if kv.Key, ok = bytesField(); !ok {
		return bad("key")
	}
	for _, f := range []*int64{&kv.CreateRevision, &kv.ModRevision, &kv.Version, &kv.Lease} {
		if *f, ok = varint(); !ok {
			return bad("number")
		}
	}
	if kv.Value, ok = bytesField(); !ok || len(p) != 0 {
		return bad("value")
	}
	if len(kv.Value) == 0 {
		kv.Value = nil
	}
	return kv, tomb, nil
}

// --- batching -------------------------------------------------------------------

// usable reports whether the store still accepts writes.
func (s *Store) usable() error {
	if s.failed != nil {
		return fmt.Errorf("%w: %w", ErrStoreFailed, s.failed)
	}
	return nil
}

// fail records a page-file error after which the store's memory and file
// may disagree, and returns it.
func (s *Store) fail(err error) error {
	if s.failed == nil {
		s.failed = err
	}
	return err
}

// batchTx returns the open page-file write transaction, beginning one if
// needed: changes accumulate in it until commitLocked.
func (s *Store) batchTx() (*pagefile.Tx, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	if s.batch == nil {
		tx, err := s.db.Begin(true)
		if err != nil {
			return nil, s.fail(err)
		}
		s.batch = tx
	}
	return s.batch, nil
}

// Commit makes every applied change durable in the page file, with the
// applied raft index. The server calls it on a short interval.
func (s *Store) Commit() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commitLocked()
}

func (s *Store) commitLocked() error {
	if err := s.usable(); err != nil {
		return err
	}
	if s.batch == nil {
		return nil
	}
	meta := s.batch.Bucket(bucketMeta)
	var ci [16]byte
	binary.BigEndian.PutUint64(ci[:], s.appliedIdx)
	binary.BigEndian.PutUint64(ci[8:], s.appliedTerm)
	if err := meta.Put(metaConsistentIndex, ci[:]); err != nil {
		return s.fail(err)
	}
	tx := s.batch
	s.batch = nil
	if err := tx.Commit(); err != nil {
		return s.fail(fmt.Errorf("mvcc: commit: %w", err))
	}
	s.durableIdx = s.appliedIdx
	s.pending = 0
	clear(s.overlay)
	return nil
}

func (s *Store) putRecord(rev Revision, rec []byte) error {
	tx, err := s.batchTx()
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketKey).Put(revBytes(rev), rec); err != nil {
		return s.fail(err)
	}
	s.overlay[rev] = rec
	s.pending++
	return nil
}

// readRecord fetches the record of rev: from the open batch's overlay, or
// from the committed page file through a read transaction. The caller
// holds the store's lock.
func (s *Store) readRecord(rtx *pagefile.Tx, rev Revision) (api.KeyValue, bool, error) {
	if rec, ok := s.overlay[rev]; ok {
		return decodeRecord(rec)
	}
	return readCommitted(rtx, rev)
}

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

// --- reads ------------------------------------------------------------------------

// RangeOptions shape a read.
type RangeOptions struct {
	Limit     int64
	Rev       int64
	CountOnly bool
	KeysOnly  bool
}

// RangeResult is a read's answer.
type RangeResult struct {
	KVs   []api.KeyValue
	Count int64
	Rev   int64
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
	return res, f.fill(res, revs, ro.KeysOnly)
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
	return res, f.fill(res, revs, ro.KeysOnly)
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

// --- writes -------------------------------------------------------------------------

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

// --- compaction -------------------------------------------------------------------------

// Compact discards the history before rev: reads below rev fail with
// ErrCompacted from now on, and watchers that still needed it are
// canceled. Reads at rev and later are unchanged: for every key the
// version current at rev is kept, unless it is a deletion.
//
// The work is done in small steps so that writes interleave with a large
// compaction instead of waiting for it: the index is compacted
// compactKeys keys at a time, and the records those keys no longer need
// are removed from the page file compactBatch per commit, each step
// taking the store's lock on its own. That is safe because a compaction
// at rev only drops revisions no read at rev or later can see, whatever
// is written meanwhile.
func (s *Store) Compact(rev int64) error {
	s.mu.Lock()
	if err := s.usable(); err != nil {
		s.mu.Unlock()
		return err
	}
	if rev <= s.compactRev {
		s.mu.Unlock()
		return fmt.Errorf("%w: %d <= compacted %d", ErrCompacted, rev, s.compactRev)
	}
	if rev > s.currentRev {
		s.mu.Unlock()
		return fmt.Errorf("%w: %d > current %d", ErrFutureRev, rev, s.currentRev)
	}
	s.compactRev = rev
	s.watch.onCompact(rev)
	err := s.writeCompactRev(rev)
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("mvcc: compact: %w", err)
	}
	return s.compactFrom(rev, nil)
}

const (
	// defaultCompactKeys is how many keys one step of a compaction
	// compacts in the index.
	defaultCompactKeys = 10000
	// defaultCompactBatch is how many records one page-file commit of a
	// compaction removes.
	defaultCompactBatch = 1000
)

// compactFrom compacts the keys from key from (nil: the first) on, a step
// at a time.
func (s *Store) compactFrom(rev int64, from []byte) error {
	for {
		s.mu.Lock()
		drop, next := s.compactIndex(rev, from, s.compactKeys)
		s.mu.Unlock()
		if err := s.removeRevisions(drop); err != nil {
			return err
		}
		if next == nil {
			return nil
		}
		from = next
	}
}

// compactIndex drops from the index the history no read at rev or later
// can see, for up to n keys from key from (nil: the first; n <= 0: all
// keys). It returns the revisions whose records must go, sorted, and the
// key to continue from (nil when done).
func (s *Store) compactIndex(rev int64, from []byte, n int) (drop []Revision, next []byte) {
	var emptied []*keyIndex
	seen := 0
	step := func(ki *keyIndex) bool {
		if n > 0 && seen == n {
			next = ki.key
			return false
		}
		seen++
		d, empty := ki.compact(rev)
		drop = append(drop, d...)
		if empty {
			emptied = append(emptied, ki)
		}
		return true
	}
	if from == nil {
		s.idx.tree.Ascend(step)
	} else {
		s.idx.tree.AscendGreaterOrEqual(&keyIndex{key: from}, step)
	}
	for _, ki := range emptied {
		s.idx.tree.Delete(ki)
	}
	slices.SortFunc(drop, func(a, b Revision) int {
		if a.Less(b) {
			return -1
		}
		if b.Less(a) {
			return 1
		}
		return 0
	})
	return drop, next
}

// removeRevisions deletes records from the page file, compactBatch per
// commit, taking the store's lock for one batch at a time.
func (s *Store) removeRevisions(drop []Revision) error {
	for len(drop) > 0 {
		n := min(s.compactBatch, len(drop))
		part := drop[:n]
		drop = drop[n:]
		s.mu.Lock()
		tx, err := s.batchTx()
		if err == nil {
			b := tx.Bucket(bucketKey)
			for _, r := range part {
				if err = b.Delete(revBytes(r)); err != nil {
					err = s.fail(err)
					break
				}
				delete(s.overlay, r)
			}
		}
		if err == nil {
			err = s.commitLocked()
		}
		s.mu.Unlock()
		if err != nil {
			return fmt.Errorf("mvcc: compact: %w", err)
		}
	}
	return nil
}

func (s *Store) writeCompactRev(rev int64) error {
	tx, err := s.batchTx()
	if err != nil {
		return err
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(rev))
	if err := tx.Bucket(bucketMeta).Put(metaCompacted, v[:]); err != nil {
		return s.fail(err)
	}
	return nil
}

// Defragment commits what is pending and rewrites the page file compactly
// (see pagefile.DB.Defragment). Reads and writes wait while it runs.
func (s *Store) Defragment() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.commitLocked(); err != nil {
		return err
	}
	if err := s.db.Defragment(); err != nil {
		return fmt.Errorf("mvcc: %w", err)
	}
	return nil
}

// --- hash -------------------------------------------------------------------------------

// Hash returns a CRC-32C over the compacted revision and every record
// the store holds above it and at or below rev (0: the current revision),
// in revision order, with the compacted revision it covers. Members that
// applied the same log agree on it; it is how they check each other.
func (s *Store) Hash(rev int64) (hash uint32, compactRev int64, err error) {
	s.mu.Lock()
	if rev <= 0 {
		rev = s.currentRev
	}
	compactRev = s.compactRev
	switch {
	case rev > s.currentRev:
		err = fmt.Errorf("%w: %d > current %d", ErrFutureRev, rev, s.currentRev)
	case rev < compactRev:
		err = fmt.Errorf("%w: %d < compacted %d", ErrCompacted, rev, compactRev)
	default:
		// The records are read from the page file: commit what is in
		// memory, and pin the snapshot before a later compaction can
		// remove anything from it.
		err = s.commitLocked()
	}
	var rtx *pagefile.Tx
	if err == nil {
		rtx, err = s.db.Begin(false)
	}
	s.mu.Unlock()
	if err != nil {
		return 0, 0, err
	}
	defer rtx.Rollback()
	h := crc32.New(castagnoli)
	var cr [8]byte
	binary.BigEndian.PutUint64(cr[:], uint64(compactRev))
	h.Write(cr[:])
	upper := revBytes(Revision{Main: rev + 1})
	c := rtx.Bucket(bucketKey).Cursor()
	for k, v := c.Seek(revBytes(Revision{Main: compactRev + 1})); k != nil && bytes.Compare(k, upper) < 0; k, v = c.Next() {
		h.Write(k)
		h.Write(v)
	}
	return h.Sum32(), compactRev, c.Err()
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// keysInOrder returns the sorted keys of a set.
func keysInOrder(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
