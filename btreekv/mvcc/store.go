package mvcc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

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
	bucketValue = []byte("value") // values stored out of line (record.go)
	bucketMeta  = []byte("meta")
	bucketLease = []byte("lease")

	metaConsistentIndex = []byte("consistent_index")
	metaCompacted       = []byte("compacted_revision")
)

const (
	flagPut       = 'p'
	flagTombstone = 't'
	flagSeparate  = 'v' // a put whose value is stored out of line
	flagLogValue  = 'l' // a put whose value is in the raft log (logvalues.go)
)

// Options configures Open.
type Options struct {
	FS fsx.FS
	// BatchLimit is how many changes are buffered before the store
	// commits to the page file on its own (default 10000).
	BatchLimit int
	// PageSize of a new page file.
	PageSize int
	// CacheBytes bounds the memory of the page file's cache of decoded
	// nodes (0: pagefile.DefaultCacheBytes). Reads of records not in it
	// cost a pread from the operating system's page cache; the store's
	// own index never needs the page file.
	CacheBytes int64
	// MaxTxnResponseBytes bounds the answer of a write transaction (Txn)
	// as ReadTxn's limit bounds a read-only one: its reads stop once the
	// keys they return would pass it. The writes still all apply (every
	// member must apply them alike, whatever its limit); the transaction
	// then fails with a *ResponseTooLargeError that gives their revision.
	// 0: no bound.
	MaxTxnResponseBytes int64
	// OnCompactStep, if set, is told how far a compaction has gone: once
	// when it starts (KeysDone 0), after each step, and at the end (Done).
	// It runs on the goroutine doing the compaction's work (Commit or
	// FinishCompaction: see StartCompact), one call at a time, between
	// steps, with no lock of the store held.
	OnCompactStep func(CompactStep)
	// StrictPages turns on the page file's StrictMode: every commit
	// checks the whole file first (for tests and crash tests; costly).
	StrictPages bool
	// LogValues, with MinLogValue > 0, lets a put of a value of at least
	// MinLogValue bytes keep it in the raft log instead of the page file
	// (logvalues.go): the record points at the value's bytes in the
	// entry the put applies, when LogValues.Place finds them there. Nil
	// LogValues or MinLogValue 0: every value is stored in the page
	// file. A store whose records point into the log needs LogValues to
	// read those values (without it, reads of them fail with
	// ErrNoLogValues), whatever MinLogValue.
	LogValues   LogValues
	MinLogValue int
	// MinRetainedLog is how many bytes of raft log the collector lets
	// the store's references keep before it moves values out of the
	// oldest segment into the page file: it does once the log takes
	// more than max(MinRetainedLog, 2 x the bytes of the values the store
	// keeps in it). 0: DefaultMinRetainedLog (1 GiB).
	MinRetainedLog int64
}

// CompactStep is how far a compaction has gone.
type CompactStep struct {
	// Revision is the revision compacted up to.
	Revision int64
	// KeysDone of Keys (the keys in the index when it started) are
	// compacted; RecordsRemoved is how many old records the index
	// dropped (Compact removes them from the page file before it
	// returns, StartCompact leaves them to the next Commits).
	KeysDone, Keys int
	RecordsRemoved int
	// Done marks the last call.
	Done bool
}

// Store is the multi-version store. Its methods are safe for concurrent
// use; writes are expected from one goroutine (the server's apply loop).
type Store struct {
	db   *pagefile.DB
	opts Options

	mu          sync.RWMutex
	idx         *index
	wki         keyIndex // a key's history as a write changes it
	currentRev  int64
	compactRev  int64
	appliedIdx  uint64 // raft index of the last applied write (maybe not durable)
	appliedTerm uint64
	// fileRev is the revision up to which every record is in the page
	// file's current tree (frozen, durable or not: see freezeLocked);
	// later ones are in the overlay.
	fileRev int64

	// Copies of currentRev, compactRev and appliedIdx for the getters
	// (Rev, ...), which every response header calls, so that they never
	// wait for the lock; publish updates them. durableIdx is the applied
	// index of the last batch whose page-file commit is durable, set by
	// the goroutine that wrote it.
	seen struct {
		rev, compactRev, keys  atomic.Int64
		durableIdx, appliedIdx atomic.Uint64
		// oldestSeg is 1 + the oldest raft log segment the durable
		// page file points into (0: none): see OldestLogSegment.
		oldestSeg atomic.Uint64
	}
	// commitErr is the error of a batch's page-file write, set by the
	// goroutine that wrote it (see ErrStoreFailed).
	commitErr atomic.Pointer[error]

	// The open page-file write transaction (the batch) and what it
	// holds.
	batch   *pagefile.Tx
	pending int
	overlay overlay // records written in the open batch

	leases    map[int64]int64               // id -> TTL
	leaseKeys map[int64]map[string]struct{} // id -> attached keys
	aux       map[string][]byte             // the auxiliary table (aux.go)
	keyLease  map[string]int64              // key -> its lease
	watch     watchers

	// failed is the page-file error that stopped writes (see
	// ErrStoreFailed).
	failed error

	// The work compactions left to the Commits (see StartCompact): the
	// index pass, if one is pending, and the records dropped from the
	// index still in the page file (each step's sorted). compactMu
	// admits one goroutine at a time to that work.
	compacting *indexPass
	removing   []Revision
	compactMu  sync.Mutex

	// The sizes of a compaction's steps (constants; tests shrink them).
	compactKeys, compactBatch int
	// separateMin is the size from which values are stored out of line
	// (separateValueMin; tests change it).
	separateMin int

	// refs counts the references to the raft log in the open batch's
	// tree (under mu); collectMu admits one collector at a time, which
	// moves at most collectValues values and collectBytes bytes per
	// Commit (constants; tests shrink them).
	refs          logRefs
	collectMu     sync.Mutex
	collectValues int
	collectBytes  int64
}

// Open opens (or creates) the store in the page file at path.
func Open(path string, opts Options) (*Store, error) {
	if opts.BatchLimit <= 0 {
		opts.BatchLimit = 10000
	}
	db, err := pagefile.Open(path, pagefile.Options{FS: opts.FS, PageSize: opts.PageSize, CacheBytes: opts.CacheBytes, StrictMode: opts.StrictPages})
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, opts: opts, idx: newIndex(),
		leases: map[int64]int64{}, leaseKeys: map[int64]map[string]struct{}{}, keyLease: map[string]int64{},
		compactKeys: defaultCompactKeys, compactBatch: defaultCompactBatch, separateMin: separateValueMin,
		collectValues: defaultCollectValues, collectBytes: defaultCollectBytes}
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
		for _, b := range [][]byte{bucketKey, bucketValue, bucketMeta, bucketLease, bucketAux, bucketLogRefs} {
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
	var ki keyIndex
	var logged logRefs // the records pointing into the raft log
	err = s.db.View(func(tx *pagefile.Tx) error {
		tx.ReadOnce() // every record, once: the cache is for what is read again
		meta := tx.Bucket(bucketMeta)
		if v, err := meta.Get(metaConsistentIndex); err != nil {
			return err
		} else if len(v) == 16 {
			s.appliedIdx = binary.BigEndian.Uint64(v)
			s.appliedTerm = binary.BigEndian.Uint64(v[8:])
			s.seen.durableIdx.Store(s.appliedIdx)
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
			// The record is only looked at here (the index copies the
			// key), so it may alias the page.
			kv, tomb, ref, err := parseStored(v)
			if err != nil {
				return fmt.Errorf("revision %v: %w", rev, err)
			}
			if ref.form == flagLogValue {
				logged.count++
				logged.bytes += int64(ref.size)
			}
			at := s.idx.load(kv.Key, &ki)
			if tomb {
				if !ki.alive() {
					// Left by a compaction interrupted after it removed
					// the generation's puts: finish the job below.
					orphans = append(orphans, rev)
				} else if err := ki.tombstone(rev); err != nil {
					return err
				}
			} else if err := ki.restore(rev, kv.CreateRevision, kv.Version); err != nil {
				return err
			}
			s.idx.write(at, &ki)
			s.currentRev = max(s.currentRev, rev.Main)
			s.trackLease(kv, tomb)
		}
		if err := c.Err(); err != nil {
			return err
		}
		if err := s.loadLogRefs(tx, logged); err != nil {
			return err
		}
		if err := s.loadAux(tx); err != nil {
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
	if err != nil {
		return err
	}
	// As in etcd, revision 1 is the empty store and the first change is
	// revision 2: clients rely on it (a lock or election's first key
	// compares create revisions against the revision before it).
	s.currentRev = max(s.currentRev, 1)
	s.fileRev = s.currentRev
	s.publish()
	if s.compactRev == 0 {
		return nil
	}
	// The last compaction may have left history in the file (a restart
	// before the Commits that remove it, or a crash between them): the
	// index just rebuilt holds it again. Leave it to the Commits, as
	// StartCompact does (removing a record already gone is no error).
	slices.SortFunc(orphans, cmpRev)
	s.removing = orphans
	s.compacting = &indexPass{step: CompactStep{Revision: s.compactRev, Keys: s.idx.len()}}
	return nil
}

// publish copies the revisions and indexes the getters return (under
// the lock, after they change).
func (s *Store) publish() {
	s.seen.rev.Store(s.currentRev)
	s.seen.compactRev.Store(s.compactRev)
	s.seen.appliedIdx.Store(s.appliedIdx)
	s.seen.keys.Store(int64(s.idx.len()))
}

// trackLease keeps the lease -> keys map in step with the latest version
// of each key (called in revision order).
func (s *Store) trackLease(kv api.KeyValue, tomb bool) {
	lease := kv.Lease
	if tomb {
		lease = 0
	}
	// Lookups with string(kv.Key) do not copy the key: only a new
	// attachment does.
	old, had := s.keyLease[string(kv.Key)]
	if old == lease {
		return // unchanged (and most keys have no lease)
	}
	if had {
		delete(s.leaseKeys[old], string(kv.Key))
		if len(s.leaseKeys[old]) == 0 {
			delete(s.leaseKeys, old)
		}
		delete(s.keyLease, string(kv.Key))
	}
	if lease != 0 {
		k := string(kv.Key)
		if s.leaseKeys[lease] == nil {
			s.leaseKeys[lease] = map[string]struct{}{}
		}
		s.leaseKeys[lease][k] = struct{}{}
		s.keyLease[k] = lease
	}
}

// Close commits pending changes and closes the page file.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.freezeLocked()
	if s.batch != nil {
		s.batch.Rollback()
		s.batch = nil
	}
	// Closing writes what is frozen, unless a write failed.
	if cerr := s.db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("mvcc: commit: %w", cerr)
	}
	return err
}

// Rev returns the current revision.
func (s *Store) Rev() int64 {
	return s.seen.rev.Load()
}

// CompactRev returns the revision of the last compaction.
func (s *Store) CompactRev() int64 {
	return s.seen.compactRev.Load()
}

// Keys is the number of keys in the index: the live keys and the deleted
// ones whose history is not compacted yet.
func (s *Store) Keys() int64 {
	return s.seen.keys.Load()
}

// ConsistentIndex is the raft index of the last write that is durable in
// the page file: after a restart the server replays the log after it.
// It lags AppliedIndex while a commit is being written; anything that
// relies on the store holding an index across a crash (a raft snapshot,
// compacting the log) must use it, after Commit.
func (s *Store) ConsistentIndex() uint64 {
	return s.seen.durableIdx.Load()
}

// AppliedIndex is the raft index of the last write applied (durable or
// not).
func (s *Store) AppliedIndex() uint64 {
	return s.seen.appliedIdx.Load()
}

// DB exposes the page file, for its statistics and checks. Write to it
// and defragment it only through the store (Store.Defragment): the store
// keeps a page-file write transaction open between commits.
func (s *Store) DB() *pagefile.DB { return s.db }

// --- batching -------------------------------------------------------------------

// usable reports whether the store still accepts writes.
func (s *Store) usable() error {
	if s.failed != nil {
		return fmt.Errorf("%w: %w", ErrStoreFailed, s.failed)
	}
	if p := s.commitErr.Load(); p != nil {
		return fmt.Errorf("%w: %w", ErrStoreFailed, *p)
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
// needed: changes accumulate in it until freezeLocked.
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

// Commit makes every change applied so far durable in the page file,
// with the applied raft index: when it returns, ConsistentIndex is at
// least the AppliedIndex of its call. It also does a part of the work
// compactions left (StartCompact). The server calls it on a short
// interval. It holds the store's lock only to freeze the open batch
// (freezeLocked): the batch's pages are written and synced without it,
// while writes go on in the next batch.
func (s *Store) Commit() error {
	// Write what an earlier freeze left first, without the lock, so that
	// the freeze below does not wait for it holding the lock.
	if err := s.flush(); err != nil {
		return err
	}
	// A part of the work compactions left (see StartCompact): the
	// records it removes go out with this batch.
	if err := s.compactSome(); err != nil {
		return err
	}
	// Then the collector's part (logvalues.go). Its error (a value of
	// the log lost or damaged) is reported once the batch is committed.
	collectErr := s.collectSome()
	s.mu.Lock()
	err := s.freezeLocked()
	s.mu.Unlock()
	if err == nil {
		err = s.flush()
	}
	if err != nil {
		return err
	}
	return collectErr
}

// flush writes the frozen batch, if any, on the calling goroutine (see
// pagefile.DB.Flush).
func (s *Store) flush() error {
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("mvcc: commit: %w", err)
	}
	return nil
}

// freezeLocked ends the open batch: it records the applied raft index in
// it and freezes it (pagefile.Tx.Freeze). Reads see its changes in the
// page file from now on (the overlay empties), and the next batch begins
// on top of it at once; its pages are written by the next flush (Commit)
// or, if none came first, by the next freeze, which waits for that write:
// the back-pressure on writes faster than the disk. Once the write is
// durable, ConsistentIndex moves to the index recorded; if it fails, the
// store fails (ErrStoreFailed).
func (s *Store) freezeLocked() error {
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
	// The oldest segment the batch's tree points into, published with
	// the index once it is durable (see OldestLogSegment).
	var oldest uint64
	if s.refs.count > 0 {
		var err error
		if oldest, err = oldestIn(s.batch); err != nil {
			return s.fail(err)
		}
	}
	tx := s.batch
	s.batch = nil
	index := s.appliedIdx
	written := func(err error) {
		if err != nil {
			s.commitErr.CompareAndSwap(nil, &err)
			return
		}
		s.seen.oldestSeg.Store(oldest) // before the index: see OldestLogSegment
		s.seen.durableIdx.Store(index)
	}
	if _, err := tx.Freeze(written); err != nil {
		return s.fail(fmt.Errorf("mvcc: commit: %w", err))
	}
	s.fileRev = s.currentRev
	s.pending = 0
	s.overlay.reset()
	return nil
}

// putRecord writes the record rec of revision rev into the open batch
// and the overlay. value is the caller's own value of a put (nil for a
// deletion): a slice of raft entry index's data if the put comes from the
// log, in which case the record may point at it there instead of storing
// it (see logvalues.go).
func (s *Store) putRecord(rev Revision, rec, value []byte, index uint64) error {
	tx, err := s.batchTx()
	if err != nil {
		return err
	}
	place, logged := s.logPlace(index, value)
	if logged {
		// Two records never share a place: one whose value the log
		// says is where another's is stores its own.
		prior, err := tx.Bucket(bucketLogRefs).Get(logRefKey(place))
		if err != nil {
			return s.fail(err)
		}
		logged = prior == nil
	}
	var head []byte
	if logged {
		n := len(value)
		head, value = logHead(rec, n, place), nil
		if err := s.putLogRef(tx, rev, place, n); err != nil {
			return err
		}
	} else if head, value, err = storedForm(rec, s.separateMin); err != nil {
		return err
	}
	// rec is the record's own buffer, shared with the overlay and never
	// changed, and head a new one: the page file keeps them without a
	// copy (value is the tail of rec).
	if err := tx.Bucket(bucketKey).PutOwned(revBytes(rev), head); err != nil {
		return s.fail(err)
	}
	if value != nil {
		if err := tx.Bucket(bucketValue).PutOwned(revBytes(rev), value); err != nil {
			return s.fail(err)
		}
	}
	s.overlay.add(rev, rec)
	s.pending++
	return nil
}

// keysInOrder returns the sorted keys of a set.
func keysInOrder(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
