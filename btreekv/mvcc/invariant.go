package mvcc

import "github.com/cairndb/cairn/internal/invariant"

// The invariants the store asserts, on every write and on every record
// Open loads. A violation is an *invariant.Error (see package invariant):
// the store fails (ErrStoreFailed, refusing writes from then on), and the
// member stops with the message.
const (
	// invRevisionsIncreasing: each change's revision is greater than
	// every earlier one, in the store and in a key's history.
	invRevisionsIncreasing = "revisions increasing"
	// invCreatedBeforeModified: a generation's creation revision is at
	// most each of its revisions.
	invCreatedBeforeModified = "created <= modified"
	// invTombstoneEndsGeneration: only a live generation gets a
	// tombstone, and nothing follows it in that generation.
	invTombstoneEndsGeneration = "tombstone ends a generation"
	// invVersionsCountUp: within a generation, versions count up by one
	// from 1 at its creation.
	invVersionsCountUp = "versions count up"
)

// violated returns the store's error for a broken invariant.
func violated(name, format string, args ...any) error {
	return invariant.Violated("mvcc", name, format, args...)
}
