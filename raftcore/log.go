package raftcore

import (
	"errors"
	"fmt"
)

// raftLog is a node's view of the replicated log: the durable part read
// through Storage, followed by the unstable part that raft has accepted but
// the application has not yet persisted.
//
//	snapshot | storage entries ......... | unstable entries ....... |
//	         ^ first                  applied  committed           last
type raftLog struct {
	storage  Storage
	unstable unstable

	// committed is the highest index known to be stored on a quorum.
	committed uint64
	// applied is the highest index the application has applied (as told
	// by Advance). applied <= committed always.
	applied uint64
}

func newRaftLog(storage Storage, applied uint64) (*raftLog, error) {
	first, err := storage.FirstIndex()
	if err != nil {
		return nil, fmt.Errorf("raftcore: storage first index: %w", err)
	}
	last, err := storage.LastIndex()
	if err != nil {
		return nil, fmt.Errorf("raftcore: storage last index: %w", err)
	}
	l := &raftLog{storage: storage}
	l.unstable.offset = last + 1
	// Everything up to the snapshot is both committed and applied.
	l.committed = first - 1
	l.applied = max(first-1, applied)
	return l, nil
}

func (l *raftLog) firstIndex() uint64 {
	if s := l.unstable.snapshot; s != nil {
		return s.Metadata.Index + 1
	}
	i, err := l.storage.FirstIndex()
	if err != nil {
		panic(fmt.Sprintf("raftcore: storage first index: %v", err))
	}
	return i
}

func (l *raftLog) lastIndex() uint64 {
	if i, ok := l.unstable.maybeLastIndex(); ok {
		return i
	}
	i, err := l.storage.LastIndex()
	if err != nil {
		panic(fmt.Sprintf("raftcore: storage last index: %v", err))
	}
	return i
}

func (l *raftLog) lastTerm() uint64 {
	t, err := l.term(l.lastIndex())
	if err != nil {
		panic(fmt.Sprintf("raftcore: term of last entry: %v", err))
	}
	return t
}

// term returns the term of entry i; ErrCompacted or ErrUnavailable when the
// log does not know it.
func (l *raftLog) term(i uint64) (uint64, error) {
	if t, ok := l.unstable.maybeTerm(i); ok {
		return t, nil
	}
	if i+1 < l.firstIndex() {
		return 0, ErrCompacted
	}
	if i > l.lastIndex() {
		return 0, ErrUnavailable
	}
	t, err := l.storage.Term(i)
	if err == nil || errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable) {
		return t, err
	}
	panic(fmt.Sprintf("raftcore: storage term of %d: %v", i, err))
}

// zeroTermOnOutOfBounds is term with "unknown" read as term 0, which never
// matches a real entry.
func (l *raftLog) zeroTermOnOutOfBounds(i uint64) uint64 {
	t, err := l.term(i)
	if err != nil {
		return 0
	}
	return t
}

func (l *raftLog) matchTerm(i, term uint64) bool {
	t, err := l.term(i)
	return err == nil && t == term
}

// isUpToDate reports whether a log ending at (lastIndex, term) is at least
// as up-to-date as ours (§5.4.1): a later last term wins; equal terms are
// decided by length.
func (l *raftLog) isUpToDate(lastIndex, term uint64) bool {
	ourTerm := l.lastTerm()
	return term > ourTerm || (term == ourTerm && lastIndex >= l.lastIndex())
}

// findConflict returns the index of the first entry of ents that is not
// already in the log with the same term, or 0 if all of them are.
func (l *raftLog) findConflict(ents []Entry) uint64 {
	for _, e := range ents {
		if !l.matchTerm(e.Index, e.Term) {
			return e.Index
		}
	}
	return 0
}

// findConflictByTerm returns the largest index <= index whose term is <=
// term, with that term. A follower uses it to tell the leader where its log
// may match; the leader uses it to pick where to probe next. Since terms
// never decrease along the log, everything above the returned index has a
// term > term and cannot match.
func (l *raftLog) findConflictByTerm(index, term uint64) (uint64, uint64) {
	for ; index > 0; index-- {
		t, err := l.term(index)
		if err != nil {
			// Below the first known index: cannot look further.
			return index, 0
		}
		if t <= term {
			return index, t
		}
	}
	return 0, 0
}

// maybeAppend is the follower's half of AppendEntries: if the log contains
// the entry (prevIndex, prevTerm), it appends ents (dropping any conflicting
// suffix), advances commit to min(commit, last new index) and returns the
// last new index. ok is false if the consistency check failed.
func (l *raftLog) maybeAppend(prevIndex, prevTerm, commit uint64, ents []Entry) (lastNew uint64, truncatedAt uint64, ok bool) {
	if !l.matchTerm(prevIndex, prevTerm) {
		return 0, 0, false
	}
	lastNew = prevIndex + uint64(len(ents))
	ci := l.findConflict(ents)
	if ci != 0 {
		if ci <= l.committed {
			panic(fmt.Sprintf("raftcore: entry %d conflicts with committed entry (committed %d)", ci, l.committed))
		}
		l.append(ents[ci-prevIndex-1:]...)
		truncatedAt = ci
	}
	l.commitTo(min(commit, lastNew))
	return lastNew, truncatedAt, true
}

// append adds entries, replacing any suffix of the log from ents[0].Index.
func (l *raftLog) append(ents ...Entry) uint64 {
	if len(ents) == 0 {
		return l.lastIndex()
	}
	if after := ents[0].Index - 1; after < l.committed {
		panic(fmt.Sprintf("raftcore: append after %d is below committed %d", after, l.committed))
	}
	l.unstable.truncateAndAppend(ents)
	return l.lastIndex()
}

// entries returns entries from lo to the end of the log, at most maxSize
// bytes (but at least one entry).
func (l *raftLog) entries(lo, maxSize uint64) ([]Entry, error) {
	if lo > l.lastIndex() {
		return nil, nil
	}
	return l.slice(lo, l.lastIndex()+1, maxSize)
}

// slice returns entries in [lo, hi), limited to maxSize bytes beyond the
// first entry.
func (l *raftLog) slice(lo, hi, maxSize uint64) ([]Entry, error) {
	if lo >= hi {
		return nil, nil
	}
	if lo < l.firstIndex() {
		return nil, ErrCompacted
	}
	if hi > l.lastIndex()+1 {
		panic(fmt.Sprintf("raftcore: slice [%d,%d) out of range [%d,%d]", lo, hi, l.firstIndex(), l.lastIndex()))
	}
	var ents []Entry
	if lo < l.unstable.offset {
		stored, err := l.storage.Entries(lo, min(hi, l.unstable.offset), maxSize)
		if err != nil {
			if errors.Is(err, ErrCompacted) {
				return nil, err
			}
			panic(fmt.Sprintf("raftcore: storage entries [%d,%d): %v", lo, min(hi, l.unstable.offset), err))
		}
		// Stop at the size limit, or if storage returned fewer entries.
		if uint64(len(stored)) < min(hi, l.unstable.offset)-lo {
			return stored, nil
		}
		ents = stored
	}
	if hi > l.unstable.offset {
		unstable := l.unstable.slice(max(lo, l.unstable.offset), hi)
		if len(ents) > 0 {
			// Copy so that appending never writes into storage's array.
			combined := make([]Entry, 0, len(ents)+len(unstable))
			combined = append(combined, ents...)
			ents = append(combined, unstable...)
		} else {
			ents = unstable
		}
	}
	return limitSize(ents, maxSize), nil
}

func (l *raftLog) commitTo(c uint64) {
	if c > l.committed {
		if c > l.lastIndex() {
			panic(fmt.Sprintf("raftcore: commit %d is beyond last index %d", c, l.lastIndex()))
		}
		l.committed = c
	}
}

// maybeCommit commits up to index if that entry is of the given term (the
// leader only commits entries of its own term by counting, §5.4.2).
func (l *raftLog) maybeCommit(index, term uint64) bool {
	if index > l.committed && l.zeroTermOnOutOfBounds(index) == term {
		l.commitTo(index)
		return true
	}
	return false
}

func (l *raftLog) appliedTo(i uint64) {
	if i == 0 {
		return
	}
	if i > l.committed || i < l.applied {
		panic(fmt.Sprintf("raftcore: applied %d out of range [%d, %d]", i, l.applied, l.committed))
	}
	l.applied = i
}

// restore replaces the log with a snapshot received from the leader.
func (l *raftLog) restore(s Snapshot) {
	l.committed = s.Metadata.Index
	l.unstable.restore(s)
}

// unstable holds what raft has accepted but the application has not yet
// persisted: possibly a snapshot, then entries from offset on.
type unstable struct {
	snapshot *Snapshot
	entries  []Entry
	// offset is the index of entries[0] (or where it would be).
	offset uint64
}

func (u *unstable) maybeLastIndex() (uint64, bool) {
	if n := len(u.entries); n != 0 {
		return u.offset + uint64(n) - 1, true
	}
	if u.snapshot != nil {
		return u.snapshot.Metadata.Index, true
	}
	return 0, false
}

func (u *unstable) maybeTerm(i uint64) (uint64, bool) {
	if i < u.offset {
		if u.snapshot != nil && u.snapshot.Metadata.Index == i {
			return u.snapshot.Metadata.Term, true
		}
		return 0, false
	}
	last, ok := u.maybeLastIndex()
	if !ok || i > last {
		return 0, false
	}
	return u.entries[i-u.offset].Term, true
}

// stableTo marks entries up to (i, t) as persisted, if they are still ours:
// an entry at i with term t. A newer leader may have replaced it while the
// application was writing, in which case nothing is removed.
func (u *unstable) stableTo(i, t uint64) {
	gt, ok := u.maybeTerm(i)
	if !ok || gt != t || i < u.offset {
		return
	}
	n := int(i + 1 - u.offset)
	u.entries = u.entries[n:]
	u.offset = i + 1
	if len(u.entries) == 0 {
		u.entries = nil // let the array be collected
	}
}

func (u *unstable) stableSnapTo(i uint64) {
	if u.snapshot != nil && u.snapshot.Metadata.Index == i {
		u.snapshot = nil
	}
}

func (u *unstable) restore(s Snapshot) {
	u.offset = s.Metadata.Index + 1
	u.entries = nil
	u.snapshot = &s
}

func (u *unstable) truncateAndAppend(ents []Entry) {
	first := ents[0].Index
	switch {
	case first == u.offset+uint64(len(u.entries)):
		u.entries = append(u.entries, ents...)
	case first <= u.offset:
		// Replaces every unstable entry (and, in storage, the suffix from
		// first on: the application overwrites it when it persists these).
		u.offset = first
		u.entries = append([]Entry(nil), ents...)
	default:
		// Keep the unstable entries before first, replace the rest. Copy
		// so a slice handed out earlier is never overwritten.
		kept := u.entries[:first-u.offset]
		u.entries = append(append(make([]Entry, 0, len(kept)+len(ents)), kept...), ents...)
	}
}

func (u *unstable) slice(lo, hi uint64) []Entry {
	return u.entries[lo-u.offset : hi-u.offset : hi-u.offset]
}
