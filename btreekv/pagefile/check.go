package pagefile

import (
	"bytes"
	"fmt"
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
//   - all leaves of a tree are at the same depth.
//
// It reads through a read transaction, so it runs beside writers. It is
// what the tests call after every step of their random histories, and
// what an operator runs on a file they doubt.
func (db *DB) Check() error {
	tx, err := db.Begin(false)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	c := checker{db: db, hwm: tx.meta.hwm, owner: make(map[pgid]string, tx.meta.hwm)}
	if err := c.mark(0, 2, "meta"); err != nil {
		return err
	}
	b, h, err := db.readRun(tx.meta.freelist, c.hwm, pageFreelist)
	if err != nil {
		return err
	}
	if err := c.mark(tx.meta.freelist, int(h.overflow)+1, "the freelist"); err != nil {
		return err
	}
	fl, err := decodeFreelist(b, tx.meta.freelist, h, c.hwm)
	if err != nil {
		return err
	}
	for _, id := range fl.free {
		if err := c.mark(id, 1, "free"); err != nil {
			return err
		}
	}
	if tx.meta.root != 0 {
		if _, err := c.walk(tx.meta.root, nil, nil, -1, "the bucket directory"); err != nil {
			return err
		}
	}
	names, err := tx.BucketNames()
	if err != nil {
		return err
	}
	for _, name := range names {
		b := tx.Bucket(name)
		if b.err != nil {
			return b.err
		}
		if b.t.rootID == 0 {
			continue
		}
		if _, err := c.walk(b.t.rootID, nil, nil, -1, fmt.Sprintf("bucket %q", name)); err != nil {
			return err
		}
	}
	for id := pgid(0); id < c.hwm; id++ {
		if _, ok := c.owner[id]; !ok {
			return fmt.Errorf("%w %d: page is neither used nor free (leaked)", ErrCorrupt, id)
		}
	}
	return nil
}

type checker struct {
	db    *DB
	hwm   pgid
	owner map[pgid]string // what uses each page
}

// mark records that what uses pages [id, id+n).
func (c *checker) mark(id pgid, n int, what string) error {
	for p := id; p < id+pgid(n); p++ {
		if p >= c.hwm {
			return fmt.Errorf("%w %d: %s uses a page past the end of the file (%d pages)", ErrCorrupt, p, what, c.hwm)
		}
		if prev, ok := c.owner[p]; ok {
			return fmt.Errorf("%w %d: page used by both %s and %s", ErrCorrupt, p, prev, what)
		}
		c.owner[p] = what
	}
	return nil
}

// walk checks the subtree at id, whose keys must lie in [lo, hi) (nil: no
// bound) and whose root must be at level (-1: any), and returns its
// height (1 for a leaf).
func (c *checker) walk(id pgid, lo, hi []byte, level int, what string) (int, error) {
	n, err := c.db.readNode(id, c.hwm)
	if err != nil {
		return 0, err
	}
	if level >= 0 && int(n.level) != level {
		return 0, fmt.Errorf("%w %d: node of %s at level %d where level %d was expected", ErrCorrupt, id, what, n.level, level)
	}
	if err := c.mark(id, n.pages(), what); err != nil {
		return 0, err
	}
	if len(n.keys) == 0 {
		return 0, fmt.Errorf("%w %d: empty node in %s", ErrCorrupt, id, what)
	}
	inBounds := func(k []byte) bool {
		return (lo == nil || bytes.Compare(k, lo) >= 0) && (hi == nil || bytes.Compare(k, hi) < 0)
	}
	if n.leaf {
		for _, k := range n.keys {
			if !inBounds(k) {
				return 0, fmt.Errorf("%w %d: key %q of %s outside its parent's bounds", ErrCorrupt, id, k, what)
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
				return 0, fmt.Errorf("%w %d: separator %q of %s outside its parent's bounds", ErrCorrupt, id, clo, what)
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
			return 0, fmt.Errorf("%w %d: children of one branch of %s have heights %d and %d", ErrCorrupt, id, what, height, h)
		}
		height = h
	}
	return height + 1, nil
}
