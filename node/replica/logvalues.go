package replica

import (
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"unsafe"

	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/btreekv/pagefile"
	"github.com/cairndb/cairn/logstore"
)

// errStoreValuesLost reports a store whose values in the raft log are
// gone: a corrupt store (IsStoreCorrupt), repaired from the cluster.
var errStoreValuesLost = fmt.Errorf("%w: values the store keeps in the raft log are lost", pagefile.ErrCorrupt)

// Large values kept in the raft log (docs/value-log.md).
//
// Every member writes each entry to its log before it applies it (the
// core saves a Ready before it applies the Ready's committed entries), so
// the bytes of a put's value are durable in a segment of the log when the
// store applies the put. With Config.Store.MinLogValue set (the server's
// --log-value-min-bytes), the store does not copy values of that size or
// more into its page file: its record points at the value's bytes in the
// log (mvcc.LogValues), and the log keeps the
// segments the store points into (logstore.Log.KeepSegmentsFrom) until
// compaction frees the values or the store's collector moves them into
// the page file. A 64 KiB put then costs each member one write of its
// value instead of two.
//
// logValues is the bridge: it tells the store where a value being applied
// lies in the log, reads values back, and keeps the log's retention bound
// at the oldest segment that the durable store, or a copy of the store
// being streamed to another member, points into.

// logValues implements mvcc.LogValues on a member's raft log.
type logValues struct {
	log *logstore.Log

	// mu guards the retention bound's inputs: the oldest segment the
	// durable store points into, and the oldest of each store copy being
	// streamed (pins, by segment, counted).
	mu          sync.Mutex
	storeOldest uint64 // logstore.KeepNoSegments: none
	pins        map[uint64]int
}

func newLogValues(log *logstore.Log) *logValues {
	return &logValues{log: log, storeOldest: logstore.KeepNoSegments, pins: map[uint64]int{}}
}

var _ mvcc.LogValues = (*logValues)(nil)

// Place implements mvcc.LogValues: value must be a slice of the data of
// raft entry index, as the log holds it in memory. The state machine is
// given the entry's data, and the decoder slices a put's value out of it
// without a copy (its capacity cut to its length), so the offset of the
// value in the entry is the distance between the addresses of their
// first bytes. A value whose bytes are not inside the entry's (a copy, a
// command the simulator rewrote) is not in the log as far as Place knows,
// and the store keeps it itself.
func (v *logValues) Place(index uint64, value []byte) (mvcc.LogPlace, bool) {
	ents, err := v.log.Entries(index, index+1, math.MaxUint64)
	if err != nil || len(ents) != 1 || len(value) == 0 || len(value) > len(ents[0].Data) {
		return mvcc.LogPlace{}, false
	}
	data := ents[0].Data
	// Addresses only compared, never turned back into pointers: Go's
	// heap objects do not move.
	start := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	at := uintptr(unsafe.Pointer(unsafe.SliceData(value)))
	if at < start || at-start > uintptr(len(data)-len(value)) {
		return mvcc.LogPlace{}, false
	}
	p, ok := v.log.EntryPlace(index)
	if !ok {
		return mvcc.LogPlace{}, false
	}
	return mvcc.LogPlace{Segment: p.Segment, Offset: p.Offset + int64(at-start)}, true
}

// ReadValue implements mvcc.LogValues.
func (v *logValues) ReadValue(place mvcc.LogPlace, p []byte) error {
	return v.log.ReadAt(p, logstore.Place{Segment: place.Segment, Offset: place.Offset})
}

// LogBytes implements mvcc.LogValues.
func (v *logValues) LogBytes() int64 { return v.log.SegmentBytes() }

// storeDurable records the oldest segment the durable store points into
// (from mvcc.Store.OldestLogSegment) and moves the log's retention bound:
// the segments nothing points into any more are removed (an error is the
// removal's).
func (v *logValues) storeDurable(s *mvcc.Store) error {
	seq, ok := s.OldestLogSegment()
	if !ok {
		seq = logstore.KeepNoSegments
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.storeOldest = seq
	return v.keepLocked()
}

// pin keeps segment seq and the later ones until the returned function
// is called: a copy of the store being streamed points into them.
func (v *logValues) pin(seq uint64) (unpin func()) {
	v.mu.Lock()
	v.pins[seq]++
	_ = v.keepLocked() // lowers the bound: removes nothing
	v.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			v.mu.Lock()
			defer v.mu.Unlock()
			if v.pins[seq]--; v.pins[seq] == 0 {
				delete(v.pins, seq)
			}
			// A removal that fails is tried again by the next purge.
			_ = v.keepLocked()
		})
	}
}

// keepLocked gives the log the oldest segment anything points into.
func (v *logValues) keepLocked() error {
	keep := v.storeOldest
	for seq := range v.pins {
		keep = min(keep, seq)
	}
	if err := v.log.KeepSegmentsFrom(keep); err != nil {
		return fmt.Errorf("node: the raft log's segments from %d on: %w", keep, err)
	}
	return nil
}

// checkSegments reports, as a corrupt store, a store that points into
// segments the log lost: missing or shorter than written
// (logstore.Log.CheckSegmentsFrom), or holding other bytes than the
// values, from where damage the log found (its Damage, found at this
// start or an earlier one whose repair is not over) begins: salvage cut
// the log there, and the entries raft's repair brings back are written
// from there on, so the values of the entries lost no longer check out
// (mvcc.Store.CheckLogValues), while those applied from the new copies
// do.
func (v *logValues) checkSegments(s *mvcc.Store) error {
	oldest, ok := s.OldestLogSegment()
	if !ok {
		return nil
	}
	if err := v.log.CheckSegmentsFrom(oldest); err != nil {
		return fmt.Errorf("%w: the store keeps values in the raft log's segments from %d on: %w", errStoreValuesLost, oldest, err)
	}
	d := v.log.Damage()
	if d == nil {
		return nil
	}
	from, _ := damagePlace(d) // damage that names no segment: every value
	if _, err := s.CheckLogValues(from); err != nil {
		return fmt.Errorf("%w: the log lost data (%v): %w", errStoreValuesLost, d, err)
	}
	return nil
}

// damagePlace returns where in the log's segments damage begins, if it
// names a segment (other damage may have taken any of the log's data).
func damagePlace(d *logstore.Damage) (mvcc.LogPlace, bool) {
	seq, _, ok := logstore.ParseSegmentName(filepath.Base(d.File))
	if d.File == "" || !ok {
		return mvcc.LogPlace{}, false
	}
	return mvcc.LogPlace{Segment: seq, Offset: d.Offset}, true
}

// StoreSize is the size of the store as etcd reports its backend's (db
// size, and the part of it in use), and as the quota counts it: its page
// file, and the values it keeps in the raft log, which are its data as
// much as the page file's are.
func StoreSize(s *mvcc.Store) (total, inUse int64) {
	st := s.DB().Stats()
	_, logged := s.LogRefStats()
	return st.FileSize + logged, int64(st.InUsePages)*int64(st.PageSize) + logged
}
