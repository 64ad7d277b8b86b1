package mvcc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/cairndb/cairn/btreekv/pagefile"
)

// Compact discards the history before rev: reads below rev fail with
// ErrCompacted from now on, and watchers that still needed it are
// canceled. Reads at rev and later are unchanged: for every key the
// version current at rev is kept, unless it is a deletion. The records
// no read needs any more are gone from the page file when it returns
// (StartCompact followed by FinishCompaction).
func (s *Store) Compact(rev int64) error {
	if err := s.StartCompact(rev); err != nil {
		return err
	}
	return s.FinishCompaction()
}

// StartCompact is Compact without the removal of the records: it
// compacts the index and records the compacted revision, and leaves the
// records the index dropped in the page file, for the next Commits to
// remove a few at a time (compactBatch per Commit, in slices of
// compactSlice each under the store's lock), or FinishCompaction at once.
// It is what the apply loop calls: removing a compaction's records means
// reading each one's page run (a large value's whole run) to delete it,
// seconds for gigabytes of history, and writes waiting behind that would
// stop for as long.
//
// Leaving them is safe: a compaction at rev only drops records that no
// read at rev or later can reach (the index no longer names them), and
// the store's hash covers only records above the compacted revision. A
// restart finds them again (load compacts the index it rebuilds) and
// leaves them to its Commits in the same way.
//
// The index is compacted compactKeys keys at a time, each step taking the
// store's lock on its own, so that reads interleave with it.
func (s *Store) StartCompact(rev int64) error {
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
	s.publish()
	s.watch.onCompact(rev)
	err := s.writeCompactRev(rev)
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("mvcc: compact: %w", err)
	}
	s.compactFrom(rev, nil)
	return nil
}

const (
	// defaultCompactKeys is how many keys one step of a compaction
	// compacts in the index.
	defaultCompactKeys = 10000
	// defaultCompactBatch is how many of a compaction's records one
	// page-file commit removes.
	defaultCompactBatch = 1000
	// compactSlice is how many records a Commit removes in one hold of
	// the store's lock: deleting a record reads its page run, 68 KiB for
	// a 64 KiB value, so 100 of them hold a write back a few
	// milliseconds.
	compactSlice = 100
)

// compactFrom compacts the index from key from (nil: the first) on, a
// step at a time, queuing the records it drops for removal (s.removing)
// and telling Options.OnCompactStep how far it has gone.
func (s *Store) compactFrom(rev int64, from []byte) {
	report := s.opts.OnCompactStep
	if report == nil {
		report = func(CompactStep) {}
	}
	s.mu.RLock()
	step := CompactStep{Revision: rev, Keys: s.idx.len()}
	s.mu.RUnlock()
	report(step)
	for {
		s.mu.Lock()
		drop, next := s.compactIndex(rev, from, s.compactKeys)
		s.removing = append(s.removing, drop...)
		s.mu.Unlock()
		step.RecordsRemoved += len(drop)
		if next == nil {
			step.KeysDone, step.Done = step.Keys, true
			report(step)
			return
		}
		step.KeysDone = min(step.KeysDone+s.compactKeys, step.Keys)
		report(step)
		from = next
	}
}

// compactIndex drops from the index the history no read at rev or later
// can see, for up to n keys from key from (nil: the first; n <= 0: all
// keys). It returns the revisions whose records must go, sorted, and the
// key to continue from (nil when done).
func (s *Store) compactIndex(rev int64, from []byte, n int) (drop []Revision, next []byte) {
	for {
		var keys [][]byte
		step := n
		if n <= 0 {
			step = defaultCompactKeys
		}
		keys, next = s.idx.keysFrom(from, step)
		ki := &s.wki
		for _, k := range keys {
			at := s.idx.load(k, ki)
			if d, _ := ki.compact(rev); len(d) > 0 {
				drop = append(drop, d...)
				s.idx.write(at, ki) // removes the key if nothing is left
			}
		}
		if n > 0 || next == nil {
			break
		}
		from = next // n <= 0: every key, a step at a time
	}
	s.seen.keys.Store(int64(s.idx.len()))
	slices.SortFunc(drop, cmpRev)
	return drop, next
}

// FinishCompaction removes from the page file every record that
// compactions dropped and left there (StartCompact), compactBatch per
// commit, taking the store's lock for one batch at a time. The batches
// are written on the calling goroutine, without the lock, and the last
// is durable when it returns.
func (s *Store) FinishCompaction() error {
	for {
		// Write the last batch first, without the lock (see Commit).
		if err := s.flush(); err != nil {
			return fmt.Errorf("mvcc: compact: %w", err)
		}
		s.mu.Lock()
		if len(s.removing) == 0 {
			s.mu.Unlock()
			return nil
		}
		err := s.removeLocked(s.compactBatch)
		if err == nil {
			err = s.freezeLocked()
		}
		s.mu.Unlock()
		if err != nil {
			return fmt.Errorf("mvcc: compact: %w", err)
		}
	}
}

// removeCompacted removes up to n of the records compactions left in the
// page file into the open batch, compactSlice at a time, releasing the
// store's lock in between so that writes interleave (see Commit).
func (s *Store) removeCompacted(n int) error {
	for n > 0 {
		s.mu.Lock()
		if len(s.removing) == 0 {
			s.mu.Unlock()
			return nil
		}
		k := min(n, compactSlice)
		err := s.removeLocked(k)
		s.mu.Unlock()
		if err != nil {
			return fmt.Errorf("mvcc: compact: %w", err)
		}
		n -= k
	}
	return nil
}

// removeLocked deletes up to n of the records compactions left in the
// page file (s.removing) in the open batch: the record and the value
// stored out of line, if any (deleting a missing key is no error).
func (s *Store) removeLocked(n int) error {
	tx, err := s.batchTx()
	if err != nil {
		return err
	}
	part := s.removing[:min(n, len(s.removing))]
	b, values := tx.Bucket(bucketKey), tx.Bucket(bucketValue)
	for _, r := range part {
		if err := b.Delete(revBytes(r)); err != nil {
			return s.fail(err)
		}
		if err := values.Delete(revBytes(r)); err != nil {
			return s.fail(err)
		}
		delete(s.overlay, r)
	}
	s.removing = s.removing[len(part):]
	if len(s.removing) == 0 {
		s.removing = nil // let the array go
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

// Defragment removes the records compactions left (FinishCompaction),
// commits what is pending and rewrites the page file compactly
// (see pagefile.DB.Defragment). Reads and writes go on while it runs,
// except for a short pause at its end, when the page file swaps the
// copy in: the store's next batch waits for it to begin (the store holds
// its lock meanwhile), and so do the reads that need the lock.
func (s *Store) Defragment() error {
	// What compactions left to remove is removed first: it is what a
	// defragmentation after a compaction is meant to give back.
	if err := s.FinishCompaction(); err != nil {
		return err
	}
	if err := s.Commit(); err != nil {
		return err
	}
	if err := s.db.Defragment(); err != nil {
		return fmt.Errorf("mvcc: %w", err)
	}
	return nil
}

// Hash returns a CRC-32C over the compacted revision and every record
// the store holds above it and at or below rev (0: the current revision),
// in revision order, with the compacted revision it covers. Members that
// applied the same log agree on it; it is how they check each other.
func (s *Store) Hash(rev int64) (hash uint32, compactRev int64, err error) {
	// Write what an earlier freeze left first, without the lock: the
	// freeze below then need not wait for it.
	if err := s.flush(); err != nil {
		return 0, 0, err
	}
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
		// The records are read from the page file: freeze the open
		// batch into it, and pin the snapshot before a later
		// compaction can remove anything from it.
		err = s.freezeLocked()
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
	rtx.ReadOnce() // the hash reads every record once
	h := crc32.New(castagnoli)
	var cr [8]byte
	binary.BigEndian.PutUint64(cr[:], uint64(compactRev))
	h.Write(cr[:])
	upper := revBytes(Revision{Main: rev + 1})
	c := rtx.Bucket(bucketKey).Cursor()
	for k, v := c.Seek(revBytes(Revision{Main: compactRev + 1})); k != nil && bytes.Compare(k, upper) < 0; k, v = c.Next() {
		h.Write(k)
		if len(v) > 0 && v[0] == flagSeparate {
			// The hash covers the whole record, wherever its value is
			// stored: members that store it differently agree.
			rev, err := bytesRev(k)
			if err != nil {
				return 0, 0, err
			}
			kv, _, err := readStored(rtx, rev, v, false)
			if err != nil {
				return 0, 0, err
			}
			v = encodeRecord(kv, false)
		}
		h.Write(v)
	}
	return h.Sum32(), compactRev, c.Err()
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)
