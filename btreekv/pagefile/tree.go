package pagefile

import (
	"slices"
)

// tree is one B+tree (a bucket, or the bucket directory) as a transaction
// sees it.
type tree struct {
	tx     *Tx
	rootID pgid  // committed root page, 0 if the tree was empty
	root   *node // loaded root (a private copy once written)
	loaded bool
}

// directory is the tree of buckets: name -> root page of the bucket's tree.
func (tx *Tx) directory() *tree {
	if tx.dir == nil {
		tx.dir = &tree{tx: tx, rootID: tx.meta.root}
	}
	return tx.dir
}

// getRoot returns the tree's root node (nil for an empty tree), loading
// it on first use.
func (t *tree) getRoot() (*node, error) {
	if !t.loaded {
		if t.rootID != 0 {
			n, err := t.tx.db.readNodeCaching(t.rootID, t.tx.meta.hwm, true, !t.tx.readOnce)
			if err != nil {
				return nil, err
			}
			t.root = n
		}
		t.loaded = true
	}
	return t.root, nil
}

// childNode returns branch n's child i, loading it if needed.
func (t *tree) childNode(n *node, i int) (*node, error) {
	if c := n.children[i].node; c != nil {
		return c, nil
	}
	return t.tx.db.readChild(n, i, t.tx.meta.hwm, !t.tx.readOnce)
}

func (t *tree) get(key []byte) ([]byte, bool, error) {
	n, err := t.getRoot()
	if err != nil || n == nil {
		return nil, false, err
	}
	for !n.leaf {
		if n, err = t.childNode(n, n.childIndex(key)); err != nil {
			return nil, false, err
		}
	}
	i, ok := n.search(key)
	if !ok {
		return nil, false, nil
	}
	return n.vals[i], true, nil
}

// writable returns a private copy of n for this transaction, recording the
// page the committed version occupied as freed.
func (t *tree) writable(n *node) *node {
	if n.owner == t.tx {
		return n
	}
	if n.id != 0 {
		t.tx.freeNode(n)
	}
	return n.clone(t.tx)
}

func (tx *Tx) freeNode(n *node) {
	if n.id == 0 {
		return
	}
	for i := pgid(0); i < pgid(n.pages()); i++ {
		tx.freed = append(tx.freed, n.id+i)
	}
}

// pages is how many pages the node's committed encoding occupies.
func (n *node) pages() int { return max(n.diskPages, 1) }

func (t *tree) writableChild(n *node, i int) (*node, error) {
	c, err := t.childNode(n, i)
	if err != nil {
		return nil, err
	}
	c = t.writable(c)
	n.children[i].node = c
	return c, nil
}

type split struct {
	key  []byte
	node *node
}

func (t *tree) put(key, val []byte) error {
	root, err := t.getRoot()
	if err != nil {
		return err
	}
	if root == nil {
		root = &node{leaf: true, owner: t.tx}
	} else {
		root = t.writable(root)
	}
	t.root = root
	splits, err := t.insert(root, key, val)
	if err != nil {
		return err
	}
	for len(splits) > 0 {
		// The root split: grow the tree by one level.
		nr := &node{owner: t.tx, level: t.root.level + 1, keys: [][]byte{t.root.keys[0]}, children: []child{{node: t.root}}}
		for _, s := range splits {
			nr.keys = append(nr.keys, s.key)
			nr.children = append(nr.children, child{node: s.node})
		}
		t.root = nr
		splits = t.splitIfNeeded(nr)
	}
	return nil
}

// insert puts key/val under n (writable) and returns the new right
// siblings n had to split off.
func (t *tree) insert(n *node, key, val []byte) ([]split, error) {
	if n.leaf {
		i, exact := n.search(key)
		if exact {
			n.vals[i] = val
		} else {
			n.keys = slices.Insert(n.keys, i, key)
			n.vals = slices.Insert(n.vals, i, val)
		}
		return t.splitIfNeeded(n), nil
	}
	ci := n.childIndex(key)
	c, err := t.writableChild(n, ci)
	if err != nil {
		return nil, err
	}
	splits, err := t.insert(c, key, val)
	if err != nil {
		return nil, err
	}
	if len(splits) == 0 {
		// n's keys are as they were, so is its size: no need to
		// measure it (which costs all its keys, at every level of
		// every put).
		return nil, nil
	}
	for j, s := range splits {
		n.keys = slices.Insert(n.keys, ci+1+j, s.key)
		n.children = slices.Insert(n.children, ci+1+j, child{node: s.node})
	}
	return t.splitIfNeeded(n), nil
}

// splitIfNeeded cuts an oversized node into pieces that each fit a page
// (a single element larger than a page stays alone, spanning overflow
// pages) and returns the pieces after the first.
func (t *tree) splitIfNeeded(n *node) []split {
	ps := t.tx.db.pageSize
	var out []split
	cur := n
	for cur.size() > ps {
		p := cur.splitPoint(ps)
		if p == 0 {
			break
		}
		right := &node{leaf: cur.leaf, level: cur.level, owner: t.tx}
		right.keys = slices.Clone(cur.keys[p:])
		cur.keys = cur.keys[:p:p]
		if cur.leaf {
			right.vals = slices.Clone(cur.vals[p:])
			cur.vals = cur.vals[:p:p]
		} else {
			right.children = slices.Clone(cur.children[p:])
			cur.children = cur.children[:p:p]
		}
		out = append(out, split{key: right.keys[0], node: right})
		cur = right
	}
	return out
}

func (t *tree) del(key []byte) (bool, error) {
	root, err := t.getRoot()
	if err != nil || root == nil {
		return false, err
	}
	// Look first, so that deleting a missing key copies nothing.
	if _, ok, err := t.get(key); err != nil || !ok {
		return false, err
	}
	root = t.writable(root)
	t.root = root
	if err := t.remove(root, key); err != nil {
		return false, err
	}
	// Shrink the tree: an empty leaf root, or a branch root with one child.
	for {
		switch {
		case t.root.leaf && len(t.root.keys) == 0:
			t.root = nil
			return true, nil
		case !t.root.leaf && len(t.root.children) == 1:
			c, err := t.writableChild(t.root, 0)
			if err != nil {
				return false, err
			}
			t.root = c
			continue
		}
		return true, nil
	}
}

// remove deletes key (known to exist) under n (writable), merging
// children that became small into a sibling.
func (t *tree) remove(n *node, key []byte) error {
	if n.leaf {
		i, _ := n.search(key)
		n.keys = slices.Delete(n.keys, i, i+1)
		n.vals = slices.Delete(n.vals, i, i+1)
		return nil
	}
	ci := n.childIndex(key)
	c, err := t.writableChild(n, ci)
	if err != nil {
		return err
	}
	if err := t.remove(c, key); err != nil {
		return err
	}
	if len(c.keys) == 0 {
		n.keys = slices.Delete(n.keys, ci, ci+1)
		n.children = slices.Delete(n.children, ci, ci+1)
		return nil
	}
	// Deleting only raises a child's smallest key, so its separator stays
	// a valid lower bound: no need to touch it.
	if c.size() >= t.tx.db.pageSize/4 || len(n.children) < 2 {
		return nil
	}
	// Merge c with a neighbour if the two fit in one page.
	left, right := ci-1, ci
	if ci == 0 {
		left, right = 0, 1
	}
	ln, err := t.writableChild(n, left)
	if err != nil {
		return err
	}
	rn, err := t.writableChild(n, right)
	if err != nil {
		return err
	}
	if ln.size()+rn.size()-pageHeaderSize > t.tx.db.pageSize {
		return nil
	}
	if !rn.leaf {
		// rn's first key was never maintained; the parent's separator is
		// the bound its first child needs inside ln.
		rn.keys[0] = n.keys[right]
	}
	ln.keys = append(ln.keys, rn.keys...)
	if ln.leaf {
		ln.vals = append(ln.vals, rn.vals...)
	} else {
		ln.children = append(ln.children, rn.children...)
	}
	n.keys = slices.Delete(n.keys, right, right+1)
	n.children = slices.Delete(n.children, right, right+1)
	return nil
}

// free frees every committed page of the tree that this transaction has
// not freed already: a node it copied (tree.writable) freed its page then,
// and its copy was never written, so only the subtrees the transaction
// left untouched remain to free. Freeing the committed tree from its old
// root instead would free the copied nodes' pages a second time.
func (t *tree) free() error {
	if !t.loaded {
		return t.tx.freeTree(t.rootID)
	}
	return t.tx.freeWritten(t.root)
}

// freeWritten frees the committed pages under n, a node of this
// transaction's tree: n's own page (if it was a copy) was freed when it
// was copied; children it still shares with the committed tree are freed
// whole.
func (tx *Tx) freeWritten(n *node) error {
	if n == nil {
		return nil
	}
	if n.owner != tx {
		return tx.freeSubtree(n)
	}
	for _, c := range n.children {
		var err error
		if c.node != nil {
			err = tx.freeWritten(c.node)
		} else {
			err = tx.freeTree(c.id)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// freeTree frees every page of the committed subtree rooted at id.
func (tx *Tx) freeTree(id pgid) error {
	if id == 0 {
		return nil
	}
	n, err := tx.db.readNode(id, tx.meta.hwm)
	if err != nil {
		return err
	}
	return tx.freeSubtree(n)
}

func (tx *Tx) freeSubtree(n *node) error {
	if !n.leaf {
		for i := range n.children {
			c, err := tx.db.readChild(n, i, tx.meta.hwm, true)
			if err != nil {
				return err
			}
			if err := tx.freeSubtree(c); err != nil {
				return err
			}
		}
	}
	tx.freeNode(n)
	return nil
}
