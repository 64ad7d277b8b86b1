package pagefile

import (
	"bytes"
	"sort"
)

// Cursor walks a bucket in key order. Positioning methods return the key
// and value there, or nil at the end; after a nil key, Err tells whether
// the walk ended or failed. A cursor holds the path from the root to its
// position: after a Put or Delete in its bucket (in a write transaction)
// that path may be stale, so position it again (First, Last, Seek).
type Cursor struct {
	t     *tree
	stack []frame
	err   error
	// lookupErr is the error of the bucket's lookup, if it failed.
	lookupErr error
}

type frame struct {
	n *node
	i int
}

// Err returns the error that stopped the cursor, if any.
func (c *Cursor) Err() error { return c.err }

func (c *Cursor) fail(err error) ([]byte, []byte) {
	c.err = err
	c.stack = c.stack[:0]
	return nil, nil
}

func (c *Cursor) current() ([]byte, []byte) {
	if len(c.stack) == 0 {
		return nil, nil
	}
	f := c.stack[len(c.stack)-1]
	if f.i < 0 || f.i >= len(f.n.keys) {
		return nil, nil
	}
	return f.n.keys[f.i], f.n.vals[f.i]
}

// descend pushes frames from n down to a leaf, taking the first (or last)
// child at each level.
func (c *Cursor) descend(n *node, last bool) error {
	for {
		i := 0
		if last {
			i = len(n.keys) - 1
		}
		c.stack = append(c.stack, frame{n, i})
		if n.leaf {
			return nil
		}
		var err error
		if n, err = c.t.childNode(n, i); err != nil {
			return err
		}
	}
}

func (c *Cursor) start() (*node, bool) {
	if c.lookupErr != nil {
		c.err = c.lookupErr
		return nil, false
	}
	if c.t.tx.done {
		c.err = ErrTxDone
		return nil, false
	}
	c.err = nil
	c.stack = c.stack[:0]
	root, err := c.t.getRoot()
	if err != nil {
		c.err = err
		return nil, false
	}
	return root, root != nil
}

// First moves to the first key.
func (c *Cursor) First() ([]byte, []byte) {
	root, ok := c.start()
	if !ok {
		return nil, nil
	}
	if err := c.descend(root, false); err != nil {
		return c.fail(err)
	}
	if k, v := c.current(); k != nil {
		return k, v
	}
	return c.Next()
}

// Last moves to the last key.
func (c *Cursor) Last() ([]byte, []byte) {
	root, ok := c.start()
	if !ok {
		return nil, nil
	}
	if err := c.descend(root, true); err != nil {
		return c.fail(err)
	}
	if k, v := c.current(); k != nil {
		return k, v
	}
	return c.Prev()
}

// Seek moves to the first key >= key.
func (c *Cursor) Seek(key []byte) ([]byte, []byte) {
	n, ok := c.start()
	if !ok {
		return nil, nil
	}
	for {
		if n.leaf {
			i := sort.Search(len(n.keys), func(i int) bool { return bytes.Compare(n.keys[i], key) >= 0 })
			c.stack = append(c.stack, frame{n, i})
			break
		}
		i := n.childIndex(key)
		c.stack = append(c.stack, frame{n, i})
		var err error
		if n, err = c.t.childNode(n, i); err != nil {
			return c.fail(err)
		}
	}
	if k, v := c.current(); k != nil {
		return k, v
	}
	return c.Next()
}

// Next moves to the next key.
func (c *Cursor) Next() ([]byte, []byte) {
	for len(c.stack) > 0 {
		top := &c.stack[len(c.stack)-1]
		top.i++
		if top.i < len(top.n.keys) {
			if top.n.leaf {
				return c.current()
			}
			child, err := c.t.childNode(top.n, top.i)
			if err != nil {
				return c.fail(err)
			}
			if err := c.descend(child, false); err != nil {
				return c.fail(err)
			}
			if k, v := c.current(); k != nil {
				return k, v
			}
			continue
		}
		c.stack = c.stack[:len(c.stack)-1]
	}
	return nil, nil
}

// Prev moves to the previous key.
func (c *Cursor) Prev() ([]byte, []byte) {
	for len(c.stack) > 0 {
		top := &c.stack[len(c.stack)-1]
		top.i--
		if top.i >= 0 {
			if top.n.leaf {
				return c.current()
			}
			child, err := c.t.childNode(top.n, top.i)
			if err != nil {
				return c.fail(err)
			}
			if err := c.descend(child, true); err != nil {
				return c.fail(err)
			}
			if k, v := c.current(); k != nil {
				return k, v
			}
			continue
		}
		c.stack = c.stack[:len(c.stack)-1]
	}
	return nil, nil
}
