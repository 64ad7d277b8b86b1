package etcdsnap

import (
	"crypto/sha256"
	"fmt"
	"io"
	"time"

	"go.etcd.io/bbolt"

	"github.com/cairndb/cairn/internal/etcdschema"
)

// HashSize is the length of the SHA-256 that follows the database in a
// snapshot (as etcd appends it, and `etcdutl snapshot restore` checks).
const HashSize = sha256.Size

// Snapshot is a database Write made, open to be streamed: a read
// transaction on it, as etcd streams its own backend.
type Snapshot struct {
	db *bbolt.DB
	tx *bbolt.Tx
}

// Open opens the database Write made at path for streaming.
func Open(path string) (*Snapshot, error) {
	db, err := bbolt.Open(path, 0o400, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("etcdsnap: open %s: %w", path, err)
	}
	tx, err := db.Begin(false)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("etcdsnap: read %s: %w", path, err)
	}
	if tx.Bucket(etcdschema.Key) == nil || tx.Bucket(etcdschema.Meta) == nil {
		_ = tx.Rollback()
		_ = db.Close()
		return nil, fmt.Errorf("etcdsnap: %s: %w (no key or meta bucket)", path, errNotSnapshot)
	}
	return &Snapshot{db: db, tx: tx}, nil
}

// Size is the number of bytes WriteTo writes: the database's, then the
// hash's.
func (s *Snapshot) Size() int64 { return s.tx.Size() + HashSize }

// WriteTo writes the snapshot to w: the database (bbolt's pages, as of
// the read transaction), then its SHA-256.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	h := sha256.New()
	n, err := s.tx.WriteTo(io.MultiWriter(w, h))
	if err != nil {
		return n, fmt.Errorf("etcdsnap: stream the database: %w", err)
	}
	m, err := w.Write(h.Sum(nil))
	n += int64(m)
	if err != nil {
		return n, fmt.Errorf("etcdsnap: stream the hash: %w", err)
	}
	return n, nil
}

// Close releases the database.
func (s *Snapshot) Close() error {
	_ = s.tx.Rollback()
	return s.db.Close()
}
