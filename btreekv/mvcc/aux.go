package mvcc

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/cairndb/cairn/btreekv/pagefile"
)

// bucketAux holds the server's own replicated records — membership,
// alarms, auth — beside the key space: they have no revisions and no
// watchers, but they are committed in the same page-file transactions as
// the keys and the applied raft index, so a snapshot of the page file or a
// restart carries them exactly as of that index.
var bucketAux = []byte("aux")

// AuxRecord is one record of the auxiliary table.
type AuxRecord struct {
	Key, Value []byte
}

// PutAux sets key to value in the auxiliary table as part of the write
// transaction; a nil value deletes the key. It changes no revision.
func (tw *TxnWrite) PutAux(key, value []byte) error {
	s := tw.s
	if err := s.usable(); err != nil {
		return err
	}
	if len(key) == 0 {
		return ErrEmptyKey
	}
	tx, err := s.batchTx()
	if err != nil {
		return err
	}
	b := tx.Bucket(bucketAux)
	if value == nil {
		if err := b.Delete(key); err != nil {
			return s.fail(err)
		}
		delete(s.aux, string(key))
	} else {
		if err := b.Put(key, value); err != nil {
			return s.fail(err)
		}
		s.aux[string(key)] = bytes.Clone(value)
	}
	s.pending++
	return nil
}

// Aux returns the auxiliary records whose keys start with prefix, sorted
// by key, as applied (durable or not yet).
func (s *Store) Aux(prefix []byte) []AuxRecord {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.auxLocked(prefix)
}

// Aux reads the auxiliary table as of the transaction's own changes.
func (tw *TxnWrite) Aux(prefix []byte) []AuxRecord { return tw.s.auxLocked(prefix) }

func (s *Store) auxLocked(prefix []byte) []AuxRecord {
	var out []AuxRecord
	for k, v := range s.aux {
		if strings.HasPrefix(k, string(prefix)) {
			out = append(out, AuxRecord{Key: []byte(k), Value: bytes.Clone(v)})
		}
	}
	slices.SortFunc(out, func(a, b AuxRecord) int { return bytes.Compare(a.Key, b.Key) })
	return out
}

// loadAux reads the auxiliary table into memory (called by load).
func (s *Store) loadAux(tx *pagefile.Tx) error {
	s.aux = map[string][]byte{}
	c := tx.Bucket(bucketAux).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		s.aux[string(k)] = bytes.Clone(v)
	}
	if err := c.Err(); err != nil {
		return fmt.Errorf("aux table: %w", err)
	}
	return nil
}

// Err is the page-file failure that stopped the store's writes, or nil.
// After it, the store must be closed and reopened (and the raft log
// replayed from ConsistentIndex).
func (s *Store) Err() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.usable()
}

// AppliedTerm is the raft term of the last applied entry (with
// AppliedIndex, where the store's history stands in the raft log).
func (s *Store) AppliedTerm() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.appliedTerm
}
