package pagefile

import "github.com/cairndb/cairn/internal/invariant"

// The invariants the page file asserts. A violation is returned as an
// *invariant.Error (see package invariant): the commit that found it
// fails and writes nothing more.
const (
	// invPageFreedOnce: a page is freed at most once, and only if it is
	// not already free or pending (checked by every commit).
	invPageFreedOnce = "page freed once"
	// invPageUsedOnce: every page below the high-water mark is used by
	// exactly one node, meta page or freelist, or is free (StrictMode).
	invPageUsedOnce = "page used once"
	// invKeysSorted: keys are sorted within a node and across nodes
	// (each inside the bounds its parent's separators set) (StrictMode).
	invKeysSorted = "keys sorted"
	// invTreeBalanced: every node is one level below its parent and all
	// leaves are at the same depth (StrictMode).
	invTreeBalanced = "tree balanced"
	// invMetaConsistent: the file holds the pages the meta page counts,
	// and the freelist written is the freelist in memory (StrictMode).
	invMetaConsistent = "meta consistent"
	// invPagesDecode: every page the tree reaches has its checksum, type
	// and layout right (StrictMode; the reads of every transaction check
	// the same and report ErrCorrupt).
	invPagesDecode = "pages decode"
)

// violated returns the page file's error for a broken invariant.
func violated(name, format string, args ...any) error {
	return invariant.Violated("pagefile", name, format, args...)
}
