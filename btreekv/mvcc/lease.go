package mvcc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// Leases in the store: the store keeps what must survive a restart and be
// the same on every member — each lease's id and granted TTL, and which
// keys are attached to it (the Lease field of each key's current version,
// so attachments are rebuilt from the key records on open). Expiry is not
// the store's business: the leader decides it, with its own clock, and
// proposes a revoke through raft, so every member deletes the same keys
// at the same revision. After a restart or a leader change the new leader
// starts every lease over at its full TTL.

// ErrLeaseExists is returned for a grant of a lease id already in use.
var ErrLeaseExists = errors.New("mvcc: lease already exists")

// ErrLeaseIDZero is returned for a grant of lease id 0, which means "no
// lease" on a key.
var ErrLeaseIDZero = errors.New("mvcc: lease id 0 is reserved")

// LeaseGrant records a lease as raft entry (index, term).
func (s *Store) LeaseGrant(index, term uint64, id, ttl int64) error {
	tw := s.Write(index, term)
	err := tw.leaseGrant(id, ttl)
	if endErr := tw.End(); err == nil {
		err = endErr
	}
	return err
}

func (tw *TxnWrite) leaseGrant(id, ttl int64) error {
	s := tw.s
	if id == 0 {
		return ErrLeaseIDZero
	}
	if _, ok := s.leases[id]; ok {
		return fmt.Errorf("%w: %x", ErrLeaseExists, id)
	}
	tx, err := s.batchTx()
	if err != nil {
		return err
	}
	var k, v [8]byte
	binary.BigEndian.PutUint64(k[:], uint64(id))
	binary.BigEndian.PutUint64(v[:], uint64(ttl))
	if err := tx.Bucket(bucketLease).Put(k[:], v[:]); err != nil {
		return s.fail(err)
	}
	s.leases[id] = ttl
	return nil
}

// LeaseRevoke deletes a lease and every key attached to it, in one
// revision, as raft entry (index, term). It returns the deleted keys.
func (s *Store) LeaseRevoke(index, term uint64, id int64) ([]string, error) {
	tw := s.Write(index, term)
	keys, err := tw.leaseRevoke(id)
	if endErr := tw.End(); err == nil {
		err = endErr
	}
	return keys, err
}

func (tw *TxnWrite) leaseRevoke(id int64) ([]string, error) {
	s := tw.s
	if err := s.usable(); err != nil {
		return nil, err
	}
	if _, ok := s.leases[id]; !ok {
		return nil, ErrLeaseNotFound
	}
	keys := keysInOrder(s.leaseKeys[id])
	for _, k := range keys {
		if _, _, err := tw.deleteKeys([]byte(k), nil, false); err != nil {
			return nil, err
		}
	}
	tx, err := s.batchTx()
	if err != nil {
		return nil, err
	}
	var kb [8]byte
	binary.BigEndian.PutUint64(kb[:], uint64(id))
	if err := tx.Bucket(bucketLease).Delete(kb[:]); err != nil {
		return nil, s.fail(err)
	}
	delete(s.leases, id)
	delete(s.leaseKeys, id)
	return keys, nil
}

// Lease is a lease as the store keeps it.
type Lease struct {
	ID int64
	// TTL is the granted time to live, in seconds.
	TTL int64
	// Keys are the keys attached to the lease, sorted.
	Keys []string
}

// LeaseKeys returns the keys attached to lease id, sorted, and whether
// the lease exists.
func (s *Store) LeaseKeys(id int64) ([]string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.leases[id]; !ok {
		return nil, false
	}
	return keysInOrder(s.leaseKeys[id]), true
}

// Leases returns every lease with its attached keys, by id.
func (s *Store) Leases() []Lease {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Lease, 0, len(s.leases))
	for id, ttl := range s.leases {
		out = append(out, Lease{ID: id, TTL: ttl, Keys: keysInOrder(s.leaseKeys[id])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
