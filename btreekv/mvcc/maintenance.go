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

// StartCompact is Compact without the work: it records the compacted
// revision, from which reads below it fail and watchers that needed the
// history are canceled, and leaves the rest to the next Commits, a part
// each: compacting the index compactKeys keys per step (at most
// compactSteps steps per Commit), and removing the records it drops
// from the page file (at most compactBatch per Commit, compactSlice per
// hold of the store's lock). FinishCompaction does what is left at once.
// It is what the apply loop calls: the index pass costs microseconds a
// key, and removing a record reads its page run (a 64 KiB value's 17
// pages) to delete it, so a compaction of gigabytes of history or
// millions of keys would stop writes for seconds.
//
// Leaving the work is safe: a compaction at rev only drops history that
// no read at rev or later can see, whether it is still in the index and
// the page file or not, and the store's hash covers only the records
// above the compacted revision. A restart finds what is left (load
// rebuilds the index from the records) and leaves it to its Commits in
// the same way. A later compaction before the work is done starts the
// index pass again at its own revision, which drops all the first one
// would have.
func (s *Store) StartCompact(rev int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	if rev <= s.compactRev {
		return fmt.Errorf("%w: %d <= compacted %d", ErrCompacted, rev, s.compactRev)
	}
	if rev > s.currentRev {
		return fmt.Errorf("%w: %d > current %d", ErrFutureRev, rev, s.currentRev)
	}
	s.compactRev = rev
	s.publish()
	s.watch.onCompact(rev)
	if err := s.writeCompactRev(rev); err != nil {
		return fmt.Errorf("mvcc: compact: %w", err)
	}
	s.compacting = &indexPass{step: CompactStep{Revision: rev, Keys: s.idx.len()}}
	return nil
}

// indexPass is a compaction's pass over the index, left to the Commits
// (StartCompact): step says how far it has gone, next is the key it
// goes on from (nil: the first).
type indexPass struct {
	step     CompactStep
	next     []byte
	reported bool // its start was reported
}

const (
	// defaultCompactKeys is how many keys one step of a compaction
	// compacts in the index: a few milliseconds under the store's lock.
	defaultCompactKeys = 1000
	// compactSteps is how many steps of the index pass one Commit takes.
	compactSteps = 10
	// defaultCompactBatch is how many of a compaction's records one
	// page-file commit removes.
	defaultCompactBatch = 1000
	// compactSlice is how many records are removed in one hold of the
	// store's lock: deleting a record reads its page run, 68 KiB for a
	// 64 KiB value, so 32 of them hold a write back a millisecond or two.
	compactSlice = 32
)

// indexStep compacts the next compactKeys keys of the pending index pass,
// queuing the records they drop for removal (s.removing), and tells
// Options.OnCompactStep how far it has gone. It reports false if no pass
// is pending. The caller holds compactMu, which keeps the reports in
// order.
func (s *Store) indexStep() bool {
	s.mu.Lock()
	p := s.compacting
	if p == nil {
		s.mu.Unlock()
		return false
	}
	first := !p.reported
	p.reported = true
	start := CompactStep{Revision: p.step.Revision, Keys: p.step.Keys}
	drop, next := s.compactIndex(p.step.Revision, p.next, s.compactKeys)
	s.removing = append(s.removing, drop...)
	p.step.RecordsRemoved += len(drop)
	if next == nil {
		p.step.KeysDone, p.step.Done = p.step.Keys, true
		s.compacting = nil
	} else {
		p.step.KeysDone = min(p.step.KeysDone+s.compactKeys, p.step.Keys)
		p.next = next
	}
	step := p.step
	s.mu.Unlock()
	if report := s.opts.OnCompactStep; report != nil {
		if first {
			report(start)
		}
		report(step)
	}
	return true
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

// FinishCompaction does the work compactions left (StartCompact): the
// rest of the index pass, and the removal of the records it drops,
// compactBatch per page-file commit. It takes the store's lock for one
// step or batch at a time; the batches are written on the calling
// goroutine, without the lock, and the last is durable when it returns.
func (s *Store) FinishCompaction() error {
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	for {
		// Write the last batch first, without the lock (see Commit).
		if err := s.flush(); err != nil {
			return fmt.Errorf("mvcc: compact: %w", err)
		}
		// Steps of the index pass until a batch is queued or it ends.
		for s.queued() < s.compactBatch && s.indexStep() {
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

// CompactionPending reports whether compactions left work to the store's
// commits (StartCompact): records a read can no longer see still in the
// index or the page file. A physical compaction request waits for it to
// turn false.
func (s *Store) CompactionPending() bool { return s.pendingCompaction() }

// pendingCompaction reports whether compactions left work to do.
func (s *Store) pendingCompaction() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.compacting != nil || len(s.removing) > 0
}

// queued is how many records wait for removal.
func (s *Store) queued() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.removing)
}

// compactSome does a Commit's part of what compactions left: up to
// compactSteps steps of the index pass and the removal of up to
// compactBatch records into the open batch, releasing the store's lock
// between steps and every compactSlice records, so that writes
// interleave. It does nothing while FinishCompaction runs.
func (s *Store) compactSome() error {
	if !s.compactMu.TryLock() {
		// FinishCompaction is at it (a Defragment): the Commit goes on
		// without waiting for all of it.
		return nil
	}
	defer s.compactMu.Unlock()
	steps, budget := compactSteps, s.compactBatch
	for budget > 0 {
		if s.queued() == 0 {
			if steps == 0 || !s.indexStep() {
				return nil
			}
			steps--
			continue
		}
		k := min(budget, compactSlice)
		s.mu.Lock()
		err := s.removeLocked(k)
		s.mu.Unlock()
		if err != nil {
			return fmt.Errorf("mvcc: compact: %w", err)
		}
		budget -= k
	}
	return nil
}

// removeLocked deletes up to n of the records compactions left in the
// page file (s.removing) in the open batch: the record, the value stored
// out of line, if any, and the reference to the raft log, if any
// (deleting a missing key is no error).
func (s *Store) removeLocked(n int) error {
	tx, err := s.batchTx()
	if err != nil {
		return err
	}
	part := s.removing[:min(n, len(s.removing))]
	b, values := tx.Bucket(bucketKey), tx.Bucket(bucketValue)
	for _, r := range part {
		if s.refs.count > 0 {
			// The record may point into the raft log: its reference
			// goes with it. (A store that never kept a value in the
			// log reads nothing more.)
			head, err := b.Get(revBytes(r))
			if err != nil {
				return s.fail(err)
			}
			if err := s.dropLogRef(tx, r, head); err != nil {
				return err
			}
		}
		if err := b.Delete(revBytes(r)); err != nil {
			return s.fail(err)
		}
		if err := values.Delete(revBytes(r)); err != nil {
			return s.fail(err)
		}
		s.overlay.remove(r)
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
// in revision order, with the compacted revision it covers. Each record
// is hashed whole, as its inline form ('p' or 't'), wherever its value
// is stored (inline, out of line, in the raft log): members store values
// differently (after a snapshot install or a collection, or with other
// options), and members that applied the same log agree on it all the
// same; it is how they check each other.
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
		if len(v) > 0 && (v[0] == flagSeparate || v[0] == flagLogValue) {
			// The hash covers the whole record, wherever its value is
			// stored (inline, out of line, in the raft log): members
			// that store it differently agree.
			rev, err := bytesRev(k)
			if err != nil {
				return 0, 0, err
			}
			kv, _, err := readStored(rtx, s.opts.LogValues, rev, v, false)
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
