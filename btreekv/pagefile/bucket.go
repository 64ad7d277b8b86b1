package pagefile

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Bucket is a named key-value tree.
type Bucket struct {
	tx   *Tx
	name []byte
	t    *tree
	// err is why the bucket could not be looked up (a damaged bucket
	// directory); every method reports it.
	err error
}

func decodeRoot(v []byte) (pgid, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: bucket directory entry of %d bytes", ErrCorrupt, len(v))
	}
	return binary.LittleEndian.Uint64(v), nil
}

// Bucket returns the named bucket, or nil if it does not exist.
//
// If the lookup itself fails (the bucket directory is damaged), the
// returned bucket is not nil: each of its methods reports the error, so
// a damaged file is never mistaken for a missing bucket.
func (tx *Tx) Bucket(name []byte) *Bucket {
	b, err := tx.bucket(name)
	if err != nil {
		return &Bucket{tx: tx, name: slices.Clone(name), err: err}
	}
	return b
}

func (tx *Tx) bucket(name []byte) (*Bucket, error) {
	if tx.writable {
		if b, ok := tx.buckets[string(name)]; ok {
			return b, nil
		}
	}
	v, ok, err := tx.directory().get(name)
	if err != nil || !ok {
		return nil, err
	}
	root, err := decodeRoot(v)
	if err != nil {
		return nil, err
	}
	b := &Bucket{tx: tx, name: slices.Clone(name), t: &tree{tx: tx, rootID: root}}
	if tx.writable {
		tx.buckets[string(name)] = b
	}
	return b, nil
}

// CreateBucketIfNotExists returns the named bucket, creating it if needed.
func (tx *Tx) CreateBucketIfNotExists(name []byte) (*Bucket, error) {
	if err := tx.checkWrite(); err != nil {
		return nil, err
	}
	if len(name) == 0 {
		return nil, ErrKeyRequired
	}
	b, err := tx.bucket(name)
	if err != nil || b != nil {
		return b, err
	}
	b = &Bucket{tx: tx, name: slices.Clone(name), t: &tree{tx: tx, loaded: true}}
	tx.buckets[string(name)] = b
	return b, tx.directory().put(b.name, make([]byte, 8))
}

// DeleteBucket deletes a bucket and frees its pages.
func (tx *Tx) DeleteBucket(name []byte) error {
	if err := tx.checkWrite(); err != nil {
		return err
	}
	b, err := tx.bucket(name)
	if err != nil {
		return err
	}
	if b == nil {
		return ErrBucketMissing
	}
	if err := b.t.free(); err != nil {
		return err
	}
	delete(tx.buckets, string(name))
	_, err = tx.directory().del(name)
	return err
}

// BucketNames lists the buckets in name order.
func (tx *Tx) BucketNames() ([][]byte, error) {
	var names [][]byte
	c := &Cursor{t: tx.directory()}
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		names = append(names, slices.Clone(k))
	}
	return names, c.Err()
}

func (tx *Tx) checkWrite() error {
	if tx.done {
		return ErrTxDone
	}
	if !tx.writable {
		return ErrTxReadOnly
	}
	return nil
}

// Get returns the value of key, or nil if it is absent. The value is valid
// for the life of the database; it must not be modified.
func (b *Bucket) Get(key []byte) ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	if b.tx.done {
		return nil, ErrTxDone
	}
	v, _, err := b.t.get(key)
	return v, err
}

// Put sets key to val (both are copied).
func (b *Bucket) Put(key, val []byte) error {
	if b.err != nil {
		return b.err
	}
	if err := b.tx.checkWrite(); err != nil {
		return err
	}
	if len(key) == 0 {
		return ErrKeyRequired
	}
	return b.t.put(slices.Clone(key), append(make([]byte, 0, len(val)), val...))
}

// PutOwned is Put without the copy of val: the bucket keeps val itself,
// and the caller must never change it afterwards. For a value built for
// the put alone (an MVCC record), it saves a copy of every value, which
// for large values is a good part of the write's CPU.
func (b *Bucket) PutOwned(key, val []byte) error {
	if b.err != nil {
		return b.err
	}
	if err := b.tx.checkWrite(); err != nil {
		return err
	}
	if len(key) == 0 {
		return ErrKeyRequired
	}
	if val == nil {
		val = []byte{}
	}
	return b.t.put(slices.Clone(key), val[:len(val):len(val)])
}

// Delete removes key; deleting a missing key is not an error.
func (b *Bucket) Delete(key []byte) error {
	if b.err != nil {
		return b.err
	}
	if err := b.tx.checkWrite(); err != nil {
		return err
	}
	_, err := b.t.del(key)
	return err
}

// Cursor returns a cursor over the bucket, in key order.
func (b *Bucket) Cursor() *Cursor { return &Cursor{t: b.t, lookupErr: b.err} }
