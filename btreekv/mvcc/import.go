package mvcc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/pagefile"
)

// Importer fills a new store with a history another program wrote: its
// records with their own revisions, versions and leases, as read from
// that program's snapshot (a restore from etcd's, which keeps its history
// the way this store does). It writes the records straight into a new
// page file; Open then builds the index from them as from any store's.
//
// Records come in revision order, and the history must be one this store
// could have written: each generation of a key starts at version 1 with
// its creation revision, and counts up by one. Only what a compaction at
// the compacted revision may have dropped can be missing: everything of
// a key before its version current at that revision, and generations
// deleted at or before it. A record breaking these rules is refused with
// an error naming it, so a damaged history never becomes a store that
// answers reads wrongly.
type Importer struct {
	db        *pagefile.DB
	tx        *pagefile.Tx
	batch     int
	pending   int
	compacted int64
	last      Revision
	keys      map[string]importedKey
	leases    map[int64]bool
	err       error
}

// importedKey is what the importer checks the next record of a key
// against: the key's generation so far.
type importedKey struct {
	created, version int64
	alive            bool
}

// NewImporter creates the page file at path, which must not exist, for
// the history of a store compacted at revision compacted (0: never).
func NewImporter(path string, compacted int64, opts Options) (*Importer, error) {
	if opts.BatchLimit <= 0 {
		opts.BatchLimit = 10000
	}
	if compacted < 0 {
		return nil, fmt.Errorf("mvcc: import: compacted revision %d is negative", compacted)
	}
	if _, err := opts.FS.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("mvcc: import: %s already exists (or cannot be checked: %v)", path, err)
	}
	db, err := pagefile.Open(path, pagefile.Options{FS: opts.FS, PageSize: opts.PageSize, CacheBytes: opts.CacheBytes, StrictMode: opts.StrictPages})
	if err != nil {
		return nil, fmt.Errorf("mvcc: import: %w", err)
	}
	im := &Importer{db: db, batch: opts.BatchLimit, compacted: compacted,
		keys: map[string]importedKey{}, leases: map[int64]bool{}}
	tx, err := im.begin()
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	for _, b := range [][]byte{bucketKey, bucketMeta, bucketLease, bucketAux} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			tx.Rollback()
			_ = db.Close()
			return nil, fmt.Errorf("mvcc: import: %w", err)
		}
	}
	return im, nil
}

// begin returns the open page-file transaction, beginning one if needed.
func (im *Importer) begin() (*pagefile.Tx, error) {
	if im.tx == nil {
		tx, err := im.db.Begin(true)
		if err != nil {
			return nil, fmt.Errorf("mvcc: import: %w", err)
		}
		im.tx = tx
	}
	return im.tx, nil
}

// put writes one record of the "key" bucket or the "lease" bucket,
// committing every batch-limit records.
func (im *Importer) put(bucket, k, v []byte) error {
	tx, err := im.begin()
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucket).Put(k, v); err != nil {
		return fmt.Errorf("mvcc: import: %w", err)
	}
	if im.pending++; im.pending >= im.batch {
		im.pending = 0
		im.tx = nil
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("mvcc: import: commit: %w", err)
		}
	}
	return nil
}

// check records the first error: after it the importer refuses
// everything.
func (im *Importer) check(err error) error {
	if im.err == nil && err != nil {
		im.err = err
	}
	return err
}

// next checks that rev comes after the previous record's revision.
func (im *Importer) next(rev Revision) error {
	if rev.Main < 1 || rev.Sub < 0 || !im.last.Less(rev) {
		return fmt.Errorf("mvcc: import: revision %d.%d does not follow %d.%d", rev.Main, rev.Sub, im.last.Main, im.last.Sub)
	}
	return nil
}

// Put adds the put of kv at revision rev. kv.ModRevision must be
// rev.Main; its creation revision and version must continue the key's
// history.
func (im *Importer) Put(rev Revision, kv api.KeyValue) error {
	if im.err != nil {
		return im.err
	}
	if err := im.next(rev); err != nil {
		return im.check(err)
	}
	bad := func(why string, args ...any) error {
		return im.check(fmt.Errorf("mvcc: import: put of %q at revision %d: %s", kv.Key, rev.Main, fmt.Sprintf(why, args...)))
	}
	if len(kv.Key) == 0 {
		return bad("empty key")
	}
	if kv.ModRevision != rev.Main {
		return bad("its mod revision is %d", kv.ModRevision)
	}
	st, seen := im.keys[string(kv.Key)]
	switch {
	case seen && st.alive:
		if kv.CreateRevision != st.created || kv.Version != st.version+1 {
			return bad("create revision %d and version %d do not follow create revision %d and version %d",
				kv.CreateRevision, kv.Version, st.created, st.version)
		}
	case seen || rev.Main > im.compacted || kv.Version == 1:
		// A new generation (or the key's first record after the
		// compacted revision, where nothing may be missing).
		if kv.CreateRevision != rev.Main || kv.Version != 1 {
			return bad("create revision %d and version %d where a new key starts (create revision %d, version 1)",
				kv.CreateRevision, kv.Version, rev.Main)
		}
	default:
		// The key's first record, its older versions compacted.
		if kv.Version < 1 || kv.CreateRevision < 1 || kv.CreateRevision >= rev.Main {
			return bad("create revision %d and version %d", kv.CreateRevision, kv.Version)
		}
	}
	if err := im.put(bucketKey, revBytes(rev), encodeRecord(kv, false)); err != nil {
		return im.check(err)
	}
	im.keys[string(kv.Key)] = importedKey{created: kv.CreateRevision, version: kv.Version, alive: true}
	im.last = rev
	return nil
}

// Delete adds the deletion of key at revision rev. The key must exist,
// unless rev is at or before the compacted revision (a compaction
// interrupted after it removed the generation's puts leaves its
// tombstone; Open finishes that compaction).
func (im *Importer) Delete(rev Revision, key []byte) error {
	if im.err != nil {
		return im.err
	}
	if err := im.next(rev); err != nil {
		return im.check(err)
	}
	if len(key) == 0 {
		return im.check(fmt.Errorf("mvcc: import: deletion of an empty key at revision %d", rev.Main))
	}
	st := im.keys[string(key)]
	if !st.alive && rev.Main > im.compacted {
		return im.check(fmt.Errorf("mvcc: import: deletion of %q at revision %d, which does not exist then", key, rev.Main))
	}
	rec := encodeRecord(api.KeyValue{Key: key, ModRevision: rev.Main}, true)
	if err := im.put(bucketKey, revBytes(rev), rec); err != nil {
		return im.check(err)
	}
	im.keys[string(key)] = importedKey{}
	im.last = rev
	return nil
}

// Lease adds a lease with its granted TTL in seconds.
func (im *Importer) Lease(id, ttl int64) error {
	if im.err != nil {
		return im.err
	}
	switch {
	case id == 0:
		return im.check(ErrLeaseIDZero)
	case ttl <= 0:
		return im.check(fmt.Errorf("mvcc: import: lease %x has TTL %d", id, ttl))
	case im.leases[id]:
		return im.check(fmt.Errorf("%w: %x", ErrLeaseExists, id))
	}
	var k, v [8]byte
	binary.BigEndian.PutUint64(k[:], uint64(id))
	binary.BigEndian.PutUint64(v[:], uint64(ttl))
	if err := im.put(bucketLease, k[:], v[:]); err != nil {
		return im.check(err)
	}
	im.leases[id] = true
	return nil
}

// Finish records the compacted revision and the raft index and term the
// store stands at, commits and closes the page file. Open it then.
func (im *Importer) Finish(index, term uint64) error {
	if im.err != nil {
		im.Abort()
		return im.err
	}
	tx, err := im.begin()
	if err != nil {
		im.Abort()
		return err
	}
	meta := tx.Bucket(bucketMeta)
	var ci [16]byte
	binary.BigEndian.PutUint64(ci[:], index)
	binary.BigEndian.PutUint64(ci[8:], term)
	err = meta.Put(metaConsistentIndex, ci[:])
	if err == nil && im.compacted > 0 {
		var cr [8]byte
		binary.BigEndian.PutUint64(cr[:], uint64(im.compacted))
		err = meta.Put(metaCompacted, cr[:])
	}
	if err == nil {
		im.tx = nil
		err = tx.Commit()
	}
	if err != nil {
		im.Abort()
		return fmt.Errorf("mvcc: import: finish: %w", err)
	}
	if err := im.db.Close(); err != nil {
		return fmt.Errorf("mvcc: import: close: %w", err)
	}
	return nil
}

// Abort gives up: the page file is closed as it is (the caller removes
// it).
func (im *Importer) Abort() {
	if im.tx != nil {
		im.tx.Rollback()
		im.tx = nil
	}
	_ = im.db.Close()
}
