package raftcore

import (
	"errors"
	"sync"
)

// ErrCompacted is returned by Storage when the requested index is below the
// first available one because the log was compacted into a snapshot.
var ErrCompacted = errors.New("raftcore: requested index is unavailable due to compaction")

// ErrUnavailable is returned by Storage when the requested index is beyond
// the last entry it holds.
var ErrUnavailable = errors.New("raftcore: requested entry at index is unavailable")

// ErrSnapshotOutOfDate is returned when applying or creating a snapshot
// older than the one already held.
var ErrSnapshotOutOfDate = errors.New("raftcore: requested index is older than the existing snapshot")

// ErrSnapshotTemporarilyUnavailable is returned by Storage.Snapshot when a
// snapshot is being prepared; raft will ask again later.
var ErrSnapshotTemporarilyUnavailable = errors.New("raftcore: snapshot is temporarily unavailable")

// Storage is the durable log as raft reads it. The application implements
// it (logstore does) and writes to it what each Ready says to persist;
// raft only reads. Index 0 and the entries covered by the last snapshot are
// never returned: the log starts at FirstIndex, and the entry before it is
// known only through Term (the snapshot's index and term).
type Storage interface {
	// InitialState returns the persisted HardState and the membership as of
	// the snapshot (raft itself replays conf changes found in the log).
	InitialState() (HardState, ConfState, error)
	// Entries returns the entries in [lo, hi), at least one if lo < hi,
	// and no more than maxSize bytes beyond the first (see EntrySize).
	Entries(lo, hi, maxSize uint64) ([]Entry, error)
	// Term returns the term of entry i, for i in [FirstIndex-1, LastIndex].
	Term(i uint64) (uint64, error)
	// FirstIndex is the index of the first entry held (snapshot index + 1).
	FirstIndex() (uint64, error)
	// LastIndex is the index of the last entry held.
	LastIndex() (uint64, error)
	// Snapshot returns the most recent snapshot.
	Snapshot() (Snapshot, error)
}

// MemoryStorage is a Storage kept in memory. Tests and the simulator use it
// as the "disk"; it is safe for concurrent use.
type MemoryStorage struct {
	mu        sync.Mutex
	hardState HardState
	snapshot  Snapshot
	// ents[0] is a dummy entry holding the index and term of the snapshot.
	ents []Entry
}

// NewMemoryStorage returns an empty MemoryStorage.
func NewMemoryStorage() *MemoryStorage {
	return &MemoryStorage{ents: make([]Entry, 1)}
}

// InitialState implements Storage.
func (ms *MemoryStorage) InitialState() (HardState, ConfState, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.hardState, cloneConfState(ms.snapshot.Metadata.ConfState), nil
}

// SetHardState records the HardState.
func (ms *MemoryStorage) SetHardState(hs HardState) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.hardState = hs
}

// HardState returns the recorded HardState.
func (ms *MemoryStorage) HardState() HardState {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.hardState
}

// Entries implements Storage.
func (ms *MemoryStorage) Entries(lo, hi, maxSize uint64) ([]Entry, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if lo <= offset {
		return nil, ErrCompacted
	}
	if hi > ms.lastIndex()+1 {
		return nil, ErrUnavailable
	}
	ents := ms.ents[lo-offset : hi-offset]
	return limitSize(ents, maxSize), nil
}

// Term implements Storage.
func (ms *MemoryStorage) Term(i uint64) (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if i < offset {
		return 0, ErrCompacted
	}
	if int(i-offset) >= len(ms.ents) {
		return 0, ErrUnavailable
	}
	return ms.ents[i-offset].Term, nil
}

// FirstIndex implements Storage.
func (ms *MemoryStorage) FirstIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.ents[0].Index + 1, nil
}

// LastIndex implements Storage.
func (ms *MemoryStorage) LastIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.lastIndex(), nil
}

func (ms *MemoryStorage) lastIndex() uint64 {
	return ms.ents[0].Index + uint64(len(ms.ents)) - 1
}

// Snapshot implements Storage.
func (ms *MemoryStorage) Snapshot() (Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.snapshot, nil
}

// ApplySnapshot replaces the whole log with snap.
func (ms *MemoryStorage) ApplySnapshot(snap Snapshot) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.snapshot.Metadata.Index >= snap.Metadata.Index {
		return ErrSnapshotOutOfDate
	}
	ms.snapshot = snap
	ms.ents = []Entry{{Term: snap.Metadata.Term, Index: snap.Metadata.Index}}
	return nil
}

// CreateSnapshot records a snapshot of the state machine as of index i
// (which must be in the log) with membership cs, and returns it. The log
// is not compacted; call Compact for that.
func (ms *MemoryStorage) CreateSnapshot(i uint64, cs ConfState, data []byte) (Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if i <= ms.snapshot.Metadata.Index {
		return Snapshot{}, ErrSnapshotOutOfDate
	}
	offset := ms.ents[0].Index
	if i > ms.lastIndex() {
		return Snapshot{}, ErrUnavailable
	}
	ms.snapshot = Snapshot{
		Metadata: SnapshotMetadata{Index: i, Term: ms.ents[i-offset].Term, ConfState: cloneConfState(cs)},
		Data:     data,
	}
	return ms.snapshot, nil
}

// Compact discards the entries before compactIndex; compactIndex itself
// stays as the dummy entry that remembers its term.
func (ms *MemoryStorage) Compact(compactIndex uint64) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if compactIndex <= offset {
		return ErrCompacted
	}
	if compactIndex > ms.lastIndex() {
		return ErrUnavailable
	}
	i := compactIndex - offset
	ents := make([]Entry, 1, uint64(len(ms.ents))-i)
	ents[0] = Entry{Index: ms.ents[i].Index, Term: ms.ents[i].Term}
	ms.ents = append(ents, ms.ents[i+1:]...)
	return nil
}

// Append adds entries to the log, replacing any existing suffix that
// conflicts with them. Entries already compacted away are ignored.
func (ms *MemoryStorage) Append(entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	first := ms.ents[0].Index + 1
	if last := entries[len(entries)-1].Index; last < first {
		return nil
	}
	if entries[0].Index < first {
		entries = entries[first-entries[0].Index:]
	}
	offset := entries[0].Index - ms.ents[0].Index
	switch {
	case uint64(len(ms.ents)) > offset:
		ms.ents = append(ms.ents[:offset:offset], entries...)
	case uint64(len(ms.ents)) == offset:
		ms.ents = append(ms.ents, entries...)
	default:
		return errors.New("raftcore: MemoryStorage.Append leaves a gap in the log")
	}
	return nil
}

func cloneConfState(cs ConfState) ConfState {
	return ConfState{
		Voters:   append([]uint64(nil), cs.Voters...),
		Learners: append([]uint64(nil), cs.Learners...),
	}
}

// EntrySize is the size an entry counts for in the max-size limits: its
// data plus a fixed allowance for the header.
func EntrySize(e Entry) uint64 { return uint64(len(e.Data)) + 24 }

// limitSize returns the longest prefix of ents (at least one entry) whose
// total EntrySize is at most maxSize.
func limitSize(ents []Entry, maxSize uint64) []Entry {
	if len(ents) == 0 {
		return ents
	}
	size := EntrySize(ents[0])
	n := 1
	for ; n < len(ents); n++ {
		size += EntrySize(ents[n])
		if size > maxSize {
			break
		}
	}
	return ents[:n]
}
