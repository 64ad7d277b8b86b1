package mvcc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cairndb/cairn/btreekv/pagefile"
	"github.com/cairndb/cairn/internal/wire"
)

// Values kept in the raft log (docs/value-log.md).
//
// A large value is already durable in the member's raft log before the
// member applies it: a record of flag 'l' (record.go) points at the
// value's bytes in the log's segment file instead of copying them into
// the page file. The "logrefs" bucket lists every place a record points
// at:
//
//	bucket "logrefs": segment (8 bytes, big endian) | offset (8 bytes,
//	                  big endian) -> revision (16 bytes) | value length
//	                  (uvarint)
//
// written in the page-file transaction that writes the record, deleted in
// the one that removes it (compaction) or moves its value into the page
// file (the collector, InternLogValues). Its first key is the oldest
// segment the store needs: the log keeps that one and every later one
// (OldestLogSegment).

// LogPlace is where a value's bytes lie in the raft log: a segment's
// sequence number and the byte offset in it.
type LogPlace struct {
	Segment uint64
	Offset  int64
}

// LogValues gives the store access to the values kept in the raft log.
// Its methods must be safe for concurrent use: reads call ReadValue from
// their own goroutines, without the store's lock; a write calls Place
// holding the store's lock (so Place must not wait for the store), and
// Commit calls LogBytes and ReadValue (the collector) without it.
type LogValues interface {
	// Place reports where value lies in the log, if value is a slice of
	// the data of raft entry index (the entry the write transaction
	// applies); ok is false otherwise (the store then stores the value
	// itself).
	Place(index uint64, value []byte) (LogPlace, bool)
	// ReadValue fills p with the bytes at place; an error (lost
	// segment...) is reported as corruption by the store.
	ReadValue(place LogPlace, p []byte) error
	// LogBytes is how many bytes the log's segment files take on disk
	// (for the collector's policy).
	LogBytes() int64
}

// ErrNoLogValues is wrapped by the error of a read that needs a value
// kept in the raft log from a store opened without Options.LogValues: the
// store is not damaged, it was opened without access to its log.
var ErrNoLogValues = errors.New("mvcc: the value is kept in the raft log, and the store was opened without access to it (Options.LogValues)")

var bucketLogRefs = []byte("logrefs")

// DefaultMinRetainedLog is the collector's default Options.MinRetainedLog.
const DefaultMinRetainedLog = 1 << 30

const (
	// defaultCollectValues and defaultCollectBytes bound what the
	// collector moves into the page file per Commit.
	defaultCollectValues = 64
	defaultCollectBytes  = 8 << 20
	// internValues and internBytes bound what InternLogValues moves per
	// page-file commit (the batch holds the values in memory until it is
	// written).
	internValues = 1024
	internBytes  = 64 << 20
)

// logRefKey is the "logrefs" key of place.
func logRefKey(place LogPlace) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, place.Segment)
	binary.BigEndian.PutUint64(k[8:], uint64(place.Offset))
	return k
}

// logRefValue is the "logrefs" value of a reference from revision rev's
// record to a value of size bytes.
func logRefValue(rev Revision, size int) []byte {
	return wire.AppendUvarint(revBytes(rev), uint64(size))
}

// parseLogRef decodes a "logrefs" entry.
func parseLogRef(k, v []byte) (LogPlace, Revision, int64, error) {
	bad := func(what string) (LogPlace, Revision, int64, error) {
		return LogPlace{}, Revision{}, 0, fmt.Errorf("%w: bad log reference %x: %s", pagefile.ErrCorrupt, k, what)
	}
	if len(k) != 16 || int64(binary.BigEndian.Uint64(k[8:])) < 0 {
		return bad("key")
	}
	if len(v) < 17 {
		return bad("value too short")
	}
	rev, err := bytesRev(v[:16])
	if err != nil {
		return bad(err.Error())
	}
	size, n, err := wire.Uvarint(v[16:])
	if err != nil || n != len(v)-16 || size > maxLogValue {
		return bad("value length")
	}
	return LogPlace{Segment: binary.BigEndian.Uint64(k), Offset: int64(binary.BigEndian.Uint64(k[8:]))}, rev, int64(size), nil
}

// logRefs is what the store knows of its references in the applied state
// (the open batch's tree): how many, and the bytes of the values they
// point at.
type logRefs struct {
	count, bytes int64
}

// logging reports whether puts may keep their values in the raft log.
func (s *Store) logging() bool {
	return s.opts.LogValues != nil && s.opts.MinLogValue > 0
}

// logPlace returns where value, which a put of raft entry index writes,
// lies in the raft log, if the store is to keep it there.
func (s *Store) logPlace(index uint64, value []byte) (LogPlace, bool) {
	if !s.logging() || len(value) < s.opts.MinLogValue || len(value) > maxLogValue {
		return LogPlace{}, false
	}
	place, ok := s.opts.LogValues.Place(index, value)
	return place, ok && place.Offset >= 0
}

// dropLogRef deletes, in the batch tx, the reference of the record
// stored as head under revision rev, if it has one ('l').
func (s *Store) dropLogRef(tx *pagefile.Tx, rev Revision, head []byte) error {
	if len(head) == 0 || head[0] != flagLogValue {
		return nil
	}
	_, _, ref, err := parseStored(head)
	if err != nil {
		return fmt.Errorf("revision %v: %w", rev, err)
	}
	if err := tx.Bucket(bucketLogRefs).Delete(logRefKey(ref.place)); err != nil {
		return s.fail(err)
	}
	s.refs.count--
	s.refs.bytes -= int64(ref.size)
	return nil
}

// oldestIn returns 1 + the segment of the first reference in tx's
// "logrefs" bucket, or 0 if it has none.
func oldestIn(tx *pagefile.Tx) (uint64, error) {
	b := tx.Bucket(bucketLogRefs)
	if b == nil {
		return 0, nil
	}
	c := b.Cursor()
	k, v := c.First()
	if err := c.Err(); err != nil || k == nil {
		return 0, err
	}
	place, _, _, err := parseLogRef(k, v)
	if err != nil {
		return 0, err
	}
	return place.Segment + 1, nil
}

// OldestLogSegment returns the oldest raft log segment that a record of
// the durable page file points at (ok false: none). The member's log must
// keep that segment and every later one.
//
// It moves only when a page-file commit becomes durable (with
// ConsistentIndex, just before it), so it holds what a crash would leave:
// a batch that deletes references (compaction, the collector) does not
// raise it until that batch is durable, and a crash before then finds
// the old records pointing into the old segments, still there. A batch
// that adds references need not lower it before it is durable: a new
// reference always points into the entry being applied, whose index is
// past ConsistentIndex, so no raft snapshot covers it yet and the log
// still keeps its segment for raft's own sake; once the batch is durable
// the bound includes it. So a caller that bounds the log's purge with a
// raft snapshot must read OldestLogSegment after the ConsistentIndex it
// took the snapshot at (the store publishes the bound before the index).
func (s *Store) OldestLogSegment() (seq uint64, ok bool) {
	v := s.seen.oldestSeg.Load()
	if v == 0 {
		return 0, false
	}
	return v - 1, true
}

// LogRefStats returns how many values the store keeps in the raft log and
// their bytes, as of the changes applied (durable or not): the live bytes
// the collector's policy weighs against the log's size.
func (s *Store) LogRefStats() (count, bytes int64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.refs.count, s.refs.bytes
}

// LogRefsIn calls fn with every reference to the raft log in rtx, a read
// transaction on a store's page file, in (segment, offset) order, with
// the length of the value there. They are exactly the places the 'l'
// records rtx sees point at: a copy of the page file written from rtx
// (pagefile.Tx.WriteTo, a raft snapshot) needs those values, and only
// those, sent along with it (read through the sender's LogValues.ReadValue
// while rtx is open), so that the receiver can move them into its copy
// (InternLogValues) before it uses it. While a copy is being sent, the
// sender's log must keep the segments it points at too: bound the log's
// purge by OldestLogSegmentIn(rtx) as well as by OldestLogSegment, since
// later commits may delete the references the copy still has. An error of
// fn stops the walk and is returned as is.
func LogRefsIn(rtx *pagefile.Tx, fn func(place LogPlace, size int64) error) error {
	b := rtx.Bucket(bucketLogRefs)
	if b == nil {
		return nil // a page file from before the value log: no references
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		place, _, size, err := parseLogRef(k, v)
		if err != nil {
			return fmt.Errorf("mvcc: log references: %w", err)
		}
		if err := fn(place, size); err != nil {
			return err
		}
	}
	if err := c.Err(); err != nil {
		return fmt.Errorf("mvcc: log references: %w", err)
	}
	return nil
}

// OldestLogSegmentIn returns the oldest raft log segment a record in
// rtx, a read transaction on a store's page file, points at (ok false:
// none): the first of LogRefsIn.
func OldestLogSegmentIn(rtx *pagefile.Tx) (seq uint64, ok bool, err error) {
	v, err := oldestIn(rtx)
	if err != nil {
		return 0, false, fmt.Errorf("mvcc: log references: %w", err)
	}
	if v == 0 {
		return 0, false, nil
	}
	return v - 1, true, nil
}

// CheckLogValues reads every value the page file's current tree keeps in
// the raft log at or after place from (in the same segment, or a later
// one) and checks it against its record (length, CRC-32C): the first that
// cannot be read, or differs, is an error wrapping pagefile.ErrCorrupt.
// It returns how many values it checked. A member whose log lost data
// from some place on (logstore's Damage) asks it whether the store lost
// values there: values applied from a later copy of the entries, written
// where the lost ones were, check out; those of the lost entries do not.
func (s *Store) CheckLogValues(from LogPlace) (checked int, err error) {
	log := s.opts.LogValues
	err = s.db.View(func(tx *pagefile.Tx) error {
		b := tx.Bucket(bucketLogRefs)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(logRefKey(from)); k != nil; k, v = c.Next() {
			_, rev, _, err := parseLogRef(k, v)
			if err != nil {
				return err
			}
			if _, _, err := readCommitted(tx, log, rev); err != nil {
				return err
			}
			checked++
		}
		return c.Err()
	})
	if err != nil {
		return checked, fmt.Errorf("mvcc: check the values kept in the raft log: %w", err)
	}
	return checked, nil
}

// InternLogValuesFile makes the store in the page file at path, a copy of
// a store that keeps values in a raft log, hold every value itself: it
// opens it (with opts, whose LogValues it ignores), moves the values in
// with InternLogValues, reading each through read, and closes it. The
// copy then needs no log: it can be sent to another member, or saved as a
// backup.
//
// It then commits once more, changing nothing, so that both of the page
// file's meta pages describe a tree that holds its values: a damaged
// newest meta page makes the page file fall back to the other one, which
// would otherwise describe the copy as it was made, pointing into the
// log of the member that made it.
func InternLogValuesFile(path string, opts Options, read func(place LogPlace, p []byte) error) error {
	opts.LogValues, opts.MinLogValue = nil, 0
	s, err := Open(path, opts)
	if err != nil {
		return err
	}
	err = s.InternLogValues(read)
	if err == nil {
		err = s.db.Update(func(tx *pagefile.Tx) error {
			meta := tx.Bucket(bucketMeta)
			ci, err := meta.Get(metaConsistentIndex)
			if err != nil {
				return err
			}
			return meta.Put(metaConsistentIndex, bytes.Clone(ci))
		})
		if err != nil {
			err = fmt.Errorf("mvcc: intern log values: second commit: %w", err)
		}
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// LogRefs calls fn with every reference to the raft log in the page
// file's current tree, as LogRefsIn: the changes of the last frozen batch
// are in it (durable or not), those applied since the last Commit are not.
func (s *Store) LogRefs(fn func(place LogPlace, size int64) error) error {
	return s.db.View(func(tx *pagefile.Tx) error { return LogRefsIn(tx, fn) })
}

// collectSome is the collector's part of a Commit: when the raft log
// takes more than max(Options.MinRetainedLog, 2 x the bytes of the values
// the store keeps in it), it moves up to collectValues values (at most
// collectBytes, but at least one) out of the oldest segment the store
// points into, into the page file, in the open batch. Once that batch is
// durable, OldestLogSegment moves past the segment when nothing else
// points into it. Compacted revisions free their references without any
// copy, so with regular compactions it has little to do.
func (s *Store) collectSome() error {
	log := s.opts.LogValues
	if log == nil {
		return nil
	}
	if !s.collectMu.TryLock() {
		return nil
	}
	defer s.collectMu.Unlock()
	s.mu.RLock()
	refs := s.refs
	s.mu.RUnlock()
	retain := s.opts.MinRetainedLog
	if retain <= 0 {
		retain = DefaultMinRetainedLog
	}
	if refs.count == 0 || log.LogBytes() <= max(retain, 2*refs.bytes) {
		return nil
	}
	if _, err := s.moveLogValues(true, s.collectValues, s.collectBytes, log.ReadValue); err != nil {
		return fmt.Errorf("mvcc: collect log values: %w", err)
	}
	return nil
}

// InternLogValues moves every value the store keeps in the raft log into
// the page file, reading each through read (which fills p with the bytes
// at place, as LogValues.ReadValue), checking it against its record
// (length, CRC-32C: a mismatch or an error of read is an error wrapping
// pagefile.ErrCorrupt), and commits: when it returns nil, the store
// points into no log, durably (OldestLogSegment reports none).
//
// It is for a store copy from another member (a raft snapshot's page
// file), whose records point into that member's log: the receiver reads
// the values the sender sent with the copy (LogRefsIn). It must run before
// anything reads such a store or commits it with Options.LogValues set
// (the collector would read the receiver's own log at those places, and
// report corruption): for example, open the received copy without
// LogValues, call InternLogValues, close it, then install it. It commits
// every internBytes of values, so that the batch's memory stays bounded.
func (s *Store) InternLogValues(read func(place LogPlace, p []byte) error) error {
	s.collectMu.Lock() // the collector stays out meanwhile
	defer s.collectMu.Unlock()
	for {
		listed, err := s.moveLogValues(false, internValues, internBytes, read)
		if err == nil {
			err = s.commitBatch()
		}
		if err != nil {
			return fmt.Errorf("mvcc: intern log values: %w", err)
		}
		if listed == 0 {
			return nil
		}
	}
}

// commitBatch freezes the open batch and writes it, as Commit does,
// without its compaction or collection.
func (s *Store) commitBatch() error {
	if err := s.flush(); err != nil {
		return err
	}
	s.mu.Lock()
	err := s.freezeLocked()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.flush()
}

// movingValue is a value the store moves from the raft log into the page
// file.
type movingValue struct {
	place LogPlace
	rev   Revision
	ref   valueRef
	value []byte
}

// moveLogValues moves up to n values from the raft log into the page file
// (at most maxBytes, but at least one), the first references in order —
// only those into the first segment if oneSegment — reading them through
// read. It lists them under the store's lock, reads them without it, and
// moves them under it again into the open batch: each value becomes a
// record stored as a put of that value would be without the log (inline
// or 'v'), its reference deleted. A reference a compaction removed in
// the meantime is skipped. It returns how many references it listed.
func (s *Store) moveLogValues(oneSegment bool, n int, maxBytes int64, read func(LogPlace, []byte) error) (int, error) {
	var moving []movingValue
	err := func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.refs.count == 0 {
			return nil
		}
		tx, err := s.batchTx()
		if err != nil {
			return err
		}
		var bytes int64
		c := tx.Bucket(bucketLogRefs).Cursor()
		for k, v := c.First(); k != nil && len(moving) < n; k, v = c.Next() {
			place, rev, size, err := parseLogRef(k, v)
			if err != nil {
				return err
			}
			if (oneSegment && len(moving) > 0 && place.Segment != moving[0].place.Segment) ||
				(len(moving) > 0 && bytes+size > maxBytes) {
				break
			}
			ref, err := s.logRecord(tx, rev, place, size)
			if err != nil {
				return err
			}
			bytes += size
			moving = append(moving, movingValue{place: place, rev: rev, ref: ref})
		}
		return c.Err()
	}()
	if err != nil || len(moving) == 0 {
		return len(moving), err
	}
	for i := range moving {
		m := &moving[i]
		v, err := readLogValue(logReader(read), m.rev, m.ref)
		if err != nil {
			return len(moving), err
		}
		m.value = v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.batchTx()
	if err != nil {
		return len(moving), err
	}
	refs := tx.Bucket(bucketLogRefs)
	for _, m := range moving {
		k := logRefKey(m.place)
		cur, err := refs.Get(k)
		if err != nil {
			return len(moving), s.fail(err)
		}
		if cur == nil {
			continue // its record was removed meanwhile (compaction)
		}
		_, rev, _, err := parseLogRef(k, cur)
		if err != nil {
			return len(moving), err
		}
		if rev != m.rev {
			return len(moving), fmt.Errorf("%w: log reference %v changed from revision %v to %v", pagefile.ErrCorrupt, m.place, m.rev, rev)
		}
		if err := s.internLocked(tx, m); err != nil {
			return len(moving), err
		}
	}
	return len(moving), nil
}

// logRecord returns what the 'l' record of revision rev in tx says of
// its value, checking that it is the one of the reference to place of
// size bytes.
func (s *Store) logRecord(tx *pagefile.Tx, rev Revision, place LogPlace, size int64) (valueRef, error) {
	head, err := tx.Bucket(bucketKey).Get(revBytes(rev))
	if err != nil {
		return valueRef{}, err
	}
	if head == nil {
		return valueRef{}, fmt.Errorf("%w: log reference %v names revision %v, which has no record", pagefile.ErrCorrupt, place, rev)
	}
	_, _, ref, err := parseStored(head)
	if err != nil {
		return valueRef{}, fmt.Errorf("revision %v: %w", rev, err)
	}
	if ref.form != flagLogValue || ref.place != place || int64(ref.size) != size {
		return valueRef{}, fmt.Errorf("%w: log reference %v (%d bytes) names revision %v, whose record does not point there",
			pagefile.ErrCorrupt, place, size, rev)
	}
	return ref, nil
}

// internLocked rewrites m's record, in the batch tx, with its value m.value
// stored in the page file, and deletes its reference.
func (s *Store) internLocked(tx *pagefile.Tx, m movingValue) error {
	rk := revBytes(m.rev)
	head, err := tx.Bucket(bucketKey).Get(rk)
	if err != nil {
		return s.fail(err)
	}
	if head == nil {
		return fmt.Errorf("%w: log reference %v names revision %v, which has no record", pagefile.ErrCorrupt, m.place, m.rev)
	}
	kv, _, ref, err := parseStored(head)
	if err != nil {
		return fmt.Errorf("revision %v: %w", m.rev, err)
	}
	if ref != m.ref {
		return fmt.Errorf("%w: revision %v: its record changed while its value was moved", pagefile.ErrCorrupt, m.rev)
	}
	kv.Value = m.value
	newHead, value, err := storedForm(encodeRecord(kv, false), s.separateMin)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketKey).PutOwned(rk, newHead); err != nil {
		return s.fail(err)
	}
	if value != nil {
		if err := tx.Bucket(bucketValue).PutOwned(rk, value); err != nil {
			return s.fail(err)
		}
	}
	if err := tx.Bucket(bucketLogRefs).Delete(logRefKey(m.place)); err != nil {
		return s.fail(err)
	}
	s.refs.count--
	s.refs.bytes -= int64(m.ref.size)
	s.pending++
	return nil
}

// logReader is a LogValues that only reads, through a function.
type logReader func(LogPlace, []byte) error

func (r logReader) Place(uint64, []byte) (LogPlace, bool)    { return LogPlace{}, false }
func (r logReader) ReadValue(place LogPlace, p []byte) error { return r(place, p) }
func (r logReader) LogBytes() int64                          { return 0 }

// loadLogRefs reads the "logrefs" bucket at Open: the references' count
// and bytes, which must be those of the 'l' records load found (want),
// and the oldest segment they point into. It reads one small entry per
// value kept in the log.
func (s *Store) loadLogRefs(tx *pagefile.Tx, want logRefs) error {
	var got logRefs
	err := LogRefsIn(tx, func(_ LogPlace, size int64) error {
		got.count++
		got.bytes += size
		return nil
	})
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%w: %d log references to %d bytes, but %d records to %d bytes point into the raft log",
			pagefile.ErrCorrupt, got.count, got.bytes, want.count, want.bytes)
	}
	oldest, err := oldestIn(tx)
	if err != nil {
		return err
	}
	s.refs = got
	s.seen.oldestSeg.Store(oldest)
	return nil
}

// putLogRef writes, in tx, the reference of revision rev's record to its
// value of size bytes at place.
func (s *Store) putLogRef(tx *pagefile.Tx, rev Revision, place LogPlace, size int) error {
	if err := tx.Bucket(bucketLogRefs).Put(logRefKey(place), logRefValue(rev, size)); err != nil {
		return s.fail(err)
	}
	s.refs.count++
	s.refs.bytes += int64(size)
	return nil
}
