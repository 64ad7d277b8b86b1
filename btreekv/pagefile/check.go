package pagefile

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Check walks the whole file as of the last commit and verifies its
// structure:
//
//   - every page below the high-water mark is used exactly once: by a meta
//     page, the freelist, a node of the bucket directory or of a bucket —
//     or is listed as free (a page in neither is leaked, a page in two is
//     shared and one of its users will overwrite the other);
//   - every node decodes, is not empty, and holds keys in order and inside
//     the bounds its parent's separators set;
//   - all leaves of a tree are at the same depth;
//   - the file holds every page the meta page counts.
//
// It reads through a read transaction, so it runs beside writers. It is
// what the tests call after every step of their random histories, and
// what an operator runs on a file they doubt. With Options.StrictMode,
// every commit runs the same walk before it writes its meta page.
func (db *DB) Check() error {
	tx, err := db.Begin(false)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// The freelist is read from the file: a frozen tree must be in it.
	if err := db.flushTo(tx.meta.txid); err != nil {
		return err
	}
	_, err = db.checkTree(tx.meta, db.readNode)
	return err
}

// checkTree walks the tree meta describes, reading nodes with read, and
// returns its freelist as decoded from the file. Its errors wrap
// ErrCorrupt and are *checkError, naming the invariant that failed.
func (db *DB) checkTree(m meta, read func(id, hwm pgid) (*node, error)) (*freelist, error) {
	c := checker{db: db, read: read, hwm: m.hwm, owner: make(map[pgid]string, m.hwm)}
	if size, err := db.f.Size(); err == nil && size < int64(m.hwm)*int64(db.pageSize) {
		return nil, c.broken(invMetaConsistent, m.hwm-1, "the meta page counts %d pages, the file holds %d bytes", m.hwm, size)
	}
	if err := c.mark(0, 2, "meta"); err != nil {
		return nil, err
	}
	b, h, err := db.readRun(m.freelist, c.hwm, pageFreelist, false)
	if err != nil {
		return nil, err
	}
	if err := c.mark(m.freelist, int(h.overflow)+1, "the freelist"); err != nil {
		return nil, err
	}
	fl, err := decodeFreelist(b, m.freelist, h, c.hwm)
	if err != nil {
		return nil, err
	}
	for _, sp := range fl.free {
		if err := c.mark(sp.start, int(sp.n), "free"); err != nil {
			return nil, err
		}
	}
	if m.root != 0 {
		c.buckets = map[string]pgid{}
		if _, err := c.walk(m.root, nil, nil, -1, "the bucket directory"); err != nil {
			return nil, err
		}
	}
	buckets := c.buckets
	c.buckets = nil // bucket trees hold data, not roots
	for _, name := range slices.Sorted(maps.Keys(buckets)) {
		root := buckets[name]
		if root == 0 {
			continue
		}
		if _, err := c.walk(root, nil, nil, -1, fmt.Sprintf("bucket %q", name)); err != nil {
			return nil, err
		}
	}
	for id := pgid(0); id < c.hwm; id++ {
		if _, ok := c.owner[id]; !ok {
			return nil, c.broken(invPageUsedOnce, id, "page is neither used nor free (leaked)")
		}
	}
	return fl, nil
}

// checkError is a failure found by checkTree: a corrupt page (it matches
// ErrCorrupt) and the invariant it breaks.
type checkError struct {
	inv string
	msg string
}

func (e *checkError) Error() string        { return e.msg }
func (e *checkError) Is(target error) bool { return target == ErrCorrupt }

type checker struct {
	db    *DB
	read  func(id, hwm pgid) (*node, error)
	hwm   pgid
	owner map[pgid]string // what uses each page
	// buckets collects the bucket directory's entries (name -> root)
	// while the directory is walked; nil while a bucket is.
	buckets map[string]pgid
}

// broken returns the checkError for page id.
func (c *checker) broken(inv string, id pgid, format string, args ...any) error {
	return &checkError{inv: inv, msg: fmt.Sprintf("%v %d: %s", ErrCorrupt, id, fmt.Sprintf(format, args...))}
}

// mark records that what uses pages [id, id+n).
func (c *checker) mark(id pgid, n int, what string) error {
	for p := id; p < id+pgid(n); p++ {
		if p >= c.hwm {
			return c.broken(invPageUsedOnce, p, "%s uses a page past the end of the file (%d pages)", what, c.hwm)
		}
		if prev, ok := c.owner[p]; ok {
			return c.broken(invPageUsedOnce, p, "page used by both %s and %s", prev, what)
		}
		c.owner[p] = what
	}
	return nil
}

// walk checks the subtree at id, whose keys must lie in [lo, hi) (nil: no
// bound) and whose root must be at level (-1: any), and returns its
// height (1 for a leaf).
func (c *checker) walk(id pgid, lo, hi []byte, level int, what string) (int, error) {
	n, err := c.read(id, c.hwm)
	if err != nil {
		return 0, err
	}
	if level >= 0 && int(n.level) != level {
		return 0, c.broken(invTreeBalanced, id, "node of %s at level %d where level %d was expected", what, n.level, level)
	}
	if err := c.mark(id, n.pages(), what); err != nil {
		return 0, err
	}
	if len(n.keys) == 0 {
		return 0, c.broken(invKeysSorted, id, "empty node in %s", what)
	}
	inBounds := func(k []byte) bool {
		return (lo == nil || bytes.Compare(k, lo) >= 0) && (hi == nil || bytes.Compare(k, hi) < 0)
	}
	if n.leaf {
		for i, k := range n.keys {
			if !inBounds(k) {
				return 0, c.broken(invKeysSorted, id, "key %q of %s outside its parent's bounds", k, what)
			}
			if i > 0 && bytes.Compare(n.keys[i-1], k) >= 0 {
				return 0, c.broken(invKeysSorted, id, "keys %q and %q of %s out of order", n.keys[i-1], k, what)
			}
			if c.buckets != nil {
				root, err := decodeRoot(n.vals[i])
				if err != nil {
					return 0, c.broken(invKeysSorted, id, "bucket %q: %v", k, err)
				}
				c.buckets[string(k)] = root
			}
		}
		return 1, nil
	}
	height := 0
	for i := range n.children {
		// Child i holds keys in [keys[i], keys[i+1]); the first child's
		// lower bound is the parent's.
		clo, chi := lo, hi
		if i > 0 {
			clo = n.keys[i]
			if !inBounds(clo) {
				return 0, c.broken(invKeysSorted, id, "separator %q of %s outside its parent's bounds", clo, what)
			}
		}
		if i+1 < len(n.keys) {
			chi = n.keys[i+1]
		}
		h, err := c.walk(n.children[i].id, clo, chi, int(n.level)-1, what)
		if err != nil {
			return 0, err
		}
		if i > 0 && h != height {
			return 0, c.broken(invTreeBalanced, id, "children of one branch of %s have heights %d and %d", what, height, h)
		}
		height = h
	}
	return height + 1, nil
}

// checkCommit is StrictMode's check of commit m: the pages it wrote are
// on disk, its meta page not yet. It reads every node from the file (the
// node cache may still hold what a reused page held before), walks the
// tree, and compares the freelist on disk with want, the pages free and
// pending in memory. A failure is an invariant violation: the commit
// must not happen.
func (db *DB) checkCommit(m meta, want []pgid) error {
	uncached := func(id, hwm pgid) (*node, error) {
		b, h, err := db.readRun(id, hwm, pageBranch, false)
		if err != nil {
			return nil, err
		}
		return decodeNode(b, id, h, hwm)
	}
	fl, err := db.checkTree(m, uncached)
	if err != nil {
		var ce *checkError
		if errors.As(err, &ce) {
			return violated(ce.inv, "commit %d: %s", m.txid, ce.msg)
		}
		return violated(invPagesDecode, "commit %d: %v", m.txid, err)
	}
	if got := fl.freePages(); !slices.Equal(got, want) {
		return violated(invMetaConsistent, "commit %d: the freelist on disk lists %d pages, the one in memory %d", m.txid, len(got), len(want))
	}
	return nil
}
