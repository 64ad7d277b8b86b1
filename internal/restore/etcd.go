package restore

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/internal/etcdschema"
	"github.com/cairndb/cairn/internal/fsx"
)

// An etcd snapshot is the bbolt file of an etcd member's store, followed
// (when etcdctl saved it) by the SHA-256 of the file. The store keeps:
//
//	bucket "key":   revision -> mvccpb.KeyValue, the whole history not yet
//	                compacted; a revision is 8 bytes of main revision (big
//	                endian), "_", 8 bytes of sub revision, and a final "t"
//	                for a deletion (whose value holds only the key)
//	bucket "meta":  "finishedCompactRev" and "scheduledCompactRev" (a
//	                revision as above: the last compaction, and one that
//	                may not have finished), the raft index and term, ...
//	bucket "lease": 8-byte lease id -> leasepb.Lease (ID 1, TTL 2,
//	                RemainingTTL 3, all varints)
//	buckets "auth", "authUsers", "authRoles": whether auth is on, and the
//	                users and roles (authpb), passwords as bcrypt hashes
//
// plus the old cluster's membership and alarms, which a restore drops.
// cairn's store keeps its history the same way (revision -> record), so
// the whole history goes over, revisions, versions and leases unchanged:
// the restored store answers every read etcd's would, at every revision
// from the compacted one on.

// bboltMagic marks a bbolt file's meta pages, after the page header.
const (
	bboltMagic      = 0xED0CDAED
	bboltPageHeader = 16
)

// isBolt reports whether the start of a file is a bbolt meta page (the
// first, or the second at the usual 4096-byte page size, should the
// first be damaged).
func isBolt(head []byte) bool {
	for _, off := range []int{bboltPageHeader, 4096 + bboltPageHeader} {
		if len(head) >= off+4 && binary.LittleEndian.Uint32(head[off:]) == bboltMagic {
			return true
		}
	}
	return false
}

// etcdRevBytes is the length of a revision key in etcd's "key" bucket
// (18 with the tombstone mark).
const etcdRevBytes = 17

// restoreEtcd builds the member's store at dbPath from the etcd snapshot
// at path, then opens it.
func restoreEtcd(path, dbPath, clusterToken string, opts Options, rep *Report) (*mvcc.Store, error) {
	signingKey, err := checkEtcdHash(path, clusterToken, opts.SkipHashCheck)
	if err != nil {
		return nil, err
	}
	users, err := readEtcd(path, dbPath)
	if err != nil {
		_ = os.Remove(dbPath)
		return nil, err
	}
	store, err := mvcc.Open(dbPath, mvcc.Options{FS: fsx.OS{}})
	if err != nil {
		return nil, fmt.Errorf("open the store made of the etcd snapshot: %w", err)
	}
	notes, err := users.restore(store, signingKey)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	rep.Notes = append(rep.Notes, notes...)
	return store, nil
}

// checkEtcdHash checks the SHA-256 etcdctl appends to a snapshot, as
// etcdutl does: a file whose size is 32 more than a multiple of 512 ends
// with one (bbolt's pages are multiples of 512 bytes). It returns a key
// derived from the store's contents and the new cluster's token, for
// signed auth tokens: every member restored from the same file gets the
// same key, as it would from a cairn snapshot, which carries its key
// (whoever holds the file can make tokens: guard it like a data dir).
func checkEtcdHash(path, clusterToken string, skip bool) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	hasHash := size%512 == sha256.Size
	if !hasHash && !skip {
		return nil, fmt.Errorf("etcd snapshot of %d bytes has no SHA-256 at its end: it is truncated or damaged, "+
			"or it is a db file copied out of an etcd data dir (then restore it with --skip-hash-check)", size)
	}
	dbSize := size
	if hasHash {
		dbSize -= sha256.Size
	}
	sum, key := sha256.New(), sha256.New()
	key.Write([]byte("cairn: signing key of a cluster restored from an etcd snapshot\x00" + clusterToken + "\x00"))
	if _, err := io.CopyN(io.MultiWriter(sum, key), f, dbSize); err != nil {
		return nil, fmt.Errorf("reading the etcd snapshot: %w", err)
	}
	if hasHash && !skip {
		want := make([]byte, sha256.Size)
		if _, err := io.ReadFull(f, want); err != nil {
			return nil, fmt.Errorf("reading the etcd snapshot's SHA-256: %w", err)
		}
		if got := sum.Sum(nil); !bytes.Equal(got, want) {
			return nil, fmt.Errorf("etcd snapshot is damaged: its contents hash to SHA-256 %x, but it ends with %x "+
				"(restore with --skip-hash-check only if you know why)", got, want)
		}
	}
	return key.Sum(nil), nil
}

// readEtcd writes the keys, history and leases of the etcd snapshot at
// path into a new store at dbPath, and returns its auth records. A
// damaged file may make bbolt panic or fault: that is reported as an
// error, not a crash.
func readEtcd(path, dbPath string) (users *etcdAuth, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			users, err = nil, fmt.Errorf("etcd snapshot is damaged: reading it failed: %v", r)
		}
	}()
	db, err := bbolt.Open(path, 0o400, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open the etcd snapshot: %w", err)
	}
	defer db.Close()
	tx, err := db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("read the etcd snapshot: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if tx.Bucket(etcdschema.Key) == nil {
		return nil, errors.New(`etcd snapshot has no "key" bucket: not an etcd v3 store`)
	}
	compacted, err := etcdCompacted(tx)
	if err != nil {
		return nil, err
	}
	im, err := mvcc.NewImporter(dbPath, compacted, mvcc.Options{FS: fsx.OS{}})
	if err != nil {
		return nil, err
	}
	if err := importKeys(tx, im); err != nil {
		im.Abort()
		return nil, err
	}
	if err := importLeases(tx, im); err != nil {
		im.Abort()
		return nil, err
	}
	// The new cluster's log starts at index 1 (the store's index in the
	// old cluster means nothing in the new one).
	if err := im.Finish(1, 1); err != nil {
		return nil, err
	}
	return readEtcdAuth(tx)
}

// etcdCompacted is the revision the store is compacted at: the last
// compaction scheduled, finished or not (etcd finishes an interrupted
// one when it starts; opening the restored store does too).
func etcdCompacted(tx *bbolt.Tx) (int64, error) {
	meta := tx.Bucket(etcdschema.Meta)
	if meta == nil {
		return 0, nil
	}
	var compacted int64
	for _, name := range [][]byte{etcdschema.MetaFinishedCompact, etcdschema.MetaScheduledCompact} {
		v := meta.Get(name)
		if v == nil {
			continue
		}
		rev, _, err := parseEtcdRev(v)
		if err != nil {
			return 0, fmt.Errorf("etcd snapshot's %s: %w", name, err)
		}
		compacted = max(compacted, rev.Main)
	}
	return compacted, nil
}

// parseEtcdRev decodes a revision key of etcd's "key" bucket.
func parseEtcdRev(b []byte) (rev mvcc.Revision, tombstone bool, err error) {
	switch {
	case len(b) == etcdRevBytes+1 && b[etcdRevBytes] == 't':
		tombstone = true
	case len(b) != etcdRevBytes:
		return rev, false, fmt.Errorf("revision %x is %d bytes, want %d", b, len(b), etcdRevBytes)
	}
	if b[8] != '_' {
		return rev, false, fmt.Errorf("revision %x has no '_' between its main and sub revisions", b)
	}
	main, sub := binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[9:])
	if main > 1<<62 || sub > 1<<62 {
		return rev, false, fmt.Errorf("revision %x is out of range", b)
	}
	return mvcc.Revision{Main: int64(main), Sub: int64(sub)}, tombstone, nil
}

// importKeys copies the "key" bucket, in revision order.
func importKeys(tx *bbolt.Tx, im *mvcc.Importer) error {
	c := tx.Bucket(etcdschema.Key).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		rev, tomb, err := parseEtcdRev(k)
		if err != nil {
			return fmt.Errorf("etcd snapshot's key bucket: %w", err)
		}
		if v == nil {
			return fmt.Errorf("etcd snapshot's key bucket holds a bucket at revision %d.%d", rev.Main, rev.Sub)
		}
		var kv mvccpb.KeyValue
		if err := kv.Unmarshal(v); err != nil {
			return fmt.Errorf("etcd snapshot's record at revision %d.%d: %w", rev.Main, rev.Sub, err)
		}
		if tomb {
			err = im.Delete(rev, kv.Key)
		} else {
			err = im.Put(rev, api.KeyValue{Key: kv.Key, Value: kv.Value, CreateRevision: kv.CreateRevision,
				ModRevision: kv.ModRevision, Version: kv.Version, Lease: kv.Lease})
		}
		if err != nil {
			return fmt.Errorf("etcd snapshot's history: %w", err)
		}
	}
	return nil
}

// importLeases copies the "lease" bucket: each lease's id and granted
// TTL (a lease's time left starts over at its TTL when the new cluster
// elects its leader, as after any leader change).
func importLeases(tx *bbolt.Tx, im *mvcc.Importer) error {
	b := tx.Bucket(etcdschema.Lease)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 8 {
			return fmt.Errorf("etcd snapshot's lease bucket has a key of %d bytes, want 8", len(k))
		}
		id, ttl, err := decodeEtcdLease(v)
		if err != nil {
			return fmt.Errorf("etcd snapshot's lease %x: %w", k, err)
		}
		if uint64(id) != binary.BigEndian.Uint64(k) {
			return fmt.Errorf("etcd snapshot's lease %x holds the id %x", k, id)
		}
		if err := im.Lease(id, ttl); err != nil {
			return fmt.Errorf("etcd snapshot's lease %x: %w", k, err)
		}
	}
	return nil
}

// decodeEtcdLease decodes a leasepb.Lease (field 1 ID, 2 TTL, 3
// RemainingTTL: varints; other fields are skipped).
func decodeEtcdLease(b []byte) (id, ttl int64, err error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, 0, fmt.Errorf("bad protobuf: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if (num == 1 || num == 2) && typ == protowire.VarintType {
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return 0, 0, fmt.Errorf("bad protobuf: %w", protowire.ParseError(m))
			}
			if num == 1 {
				id = int64(v)
			} else {
				ttl = int64(v)
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return 0, 0, fmt.Errorf("bad protobuf: %w", protowire.ParseError(m))
		}
		b = b[m:]
	}
	return id, ttl, nil
}
