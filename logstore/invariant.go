package logstore

import (
	"math"

	"github.com/cairndb/cairn/internal/invariant"
	"github.com/cairndb/cairn/raftcore"
)

// The ordering invariants the log asserts, on every Save and over the
// whole log after recovery. A violation is an *invariant.Error (see
// package invariant): Save refuses the batch and writes nothing, Open
// refuses the directory; the member stops with the message.
const (
	// invIndexesContiguous: the entries' indexes count up by one, the
	// first one past the snapshot, and a batch starts at most one past
	// the log's end.
	invIndexesContiguous = "indexes contiguous"
	// invTermsNonDecreasing: each entry's term is at least its
	// predecessor's (and the first's at least the snapshot's).
	invTermsNonDecreasing = "terms non-decreasing"
)

// violated returns the log's error for a broken invariant.
func violated(name, format string, args ...any) error {
	return invariant.Violated("logstore", name, format, args...)
}

// checkBatch asserts the ordering invariants of a batch about to be
// appended after the entries before ents[0].Index (whose last term is
// prevTerm, when the log holds that entry: known).
func checkBatch(ents []raftcore.Entry, last, prevTerm uint64, known bool) error {
	if len(ents) == 0 {
		return nil
	}
	if ents[0].Index > last+1 {
		return violated(invIndexesContiguous, "save: entries start at %d but the log ends at %d (a gap)", ents[0].Index, last)
	}
	for i := range ents {
		if i > 0 && ents[i].Index != ents[i-1].Index+1 {
			return violated(invIndexesContiguous, "save: entry index %d follows %d", ents[i].Index, ents[i-1].Index)
		}
		if i == 0 && known && ents[0].Term < prevTerm {
			return violated(invTermsNonDecreasing, "save: entry %d has term %d after term %d", ents[0].Index, ents[0].Term, prevTerm)
		}
		if i > 0 && ents[i].Term < ents[i-1].Term {
			return violated(invTermsNonDecreasing, "save: entry %d has term %d after term %d", ents[i].Index, ents[i].Term, ents[i-1].Term)
		}
	}
	return nil
}

// checkOrder asserts the ordering invariants over the whole log in
// memory: what recovery rebuilt from the segments.
func checkOrder(mem *raftcore.MemoryStorage) error {
	first, _ := mem.FirstIndex()
	last, _ := mem.LastIndex()
	prevTerm, err := mem.Term(first - 1) // the snapshot's term (0: none)
	if err != nil {
		return violated(invIndexesContiguous, "recovery: no term for the snapshot index %d: %v", first-1, err)
	}
	if last < first {
		return nil
	}
	ents, err := mem.Entries(first, last+1, math.MaxUint64)
	if err != nil {
		return violated(invIndexesContiguous, "recovery: entries [%d, %d]: %v", first, last, err)
	}
	for i, e := range ents {
		if want := first + uint64(i); e.Index != want {
			return violated(invIndexesContiguous, "recovery: entry %d holds index %d", want, e.Index)
		}
		if e.Term < prevTerm {
			return violated(invTermsNonDecreasing, "recovery: entry %d has term %d after term %d", e.Index, e.Term, prevTerm)
		}
		prevTerm = e.Term
	}
	return nil
}
