package pagefile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
)

// Tx is a transaction: a consistent view of the database and, if
// writable, a set of changes committed atomically. A Tx is not safe for
// concurrent use.
type Tx struct {
	db       *DB
	meta     meta
	writable bool
	done     bool

	// Writer state.
	freelist *freelist
	dir      *tree              // bucket directory, loaded on demand
	buckets  map[string]*Bucket // buckets opened in this transaction
	deleted  [][]byte           // buckets deleted in this transaction
	freed    []pgid             // pages this transaction stops using
	hwm      pgid               // grows as pages are allocated past the end
}

// tree is one B+tree (a bucket, or the bucket directory) as a transaction
// sees it.
type tree struct {
	tx     *Tx
	rootID pgid  // committed root page, 0 if the tree was empty
	root   *node // loaded root (a private copy once written)
	loaded bool
}

func (tx *Tx) directory() *tree {
	if tx.dir == nil {
		tx.dir = &tree{tx: tx, rootID: tx.meta.root}
	}
	return tx.dir
}

func (tx *Tx) hwmNow() pgid {
	if tx.writable && tx.hwm > tx.meta.hwm {
		return tx.hwm
	}
	return tx.meta.hwm
}

func (t *tree) getRoot() (*node, error) {
	if !t.loaded {
		if t.rootID != 0 {
			n, err := t.tx.db.readNode(t.rootID, t.tx.meta.hwm)
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
	return t.tx.db.readChild(n, i, t.tx.meta.hwm)
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
			c, err := tx.db.readChild(n, i, tx.meta.hwm)
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

// --- buckets ---------------------------------------------------------------

// Bucket is a named key-value tree.
type Bucket struct {
	tx   *Tx
	name []byte
	t    *tree
	// err is why the bucket could not be looked up (a damaged bucket
	// directory); every method reports it.
	err error
}

func decodeRoot(v []byte) (pgid, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: bucket directory entry of %d bytes", ErrCorrupt, len(v))
	}
	return binary.LittleEndian.Uint64(v), nil
}

// Bucket returns the named bucket, or nil if it does not exist.
//
// If the lookup itself fails (the bucket directory is damaged), the
// returned bucket is not nil: each of its methods reports the error, so
// a damaged file is never mistaken for a missing bucket.
func (tx *Tx) Bucket(name []byte) *Bucket {
	b, err := tx.bucket(name)
	if err != nil {
		return &Bucket{tx: tx, name: slices.Clone(name), err: err}
	}
	return b
}

func (tx *Tx) bucket(name []byte) (*Bucket, error) {
	if tx.writable {
		if b, ok := tx.buckets[string(name)]; ok {
			return b, nil
		}
	}
	v, ok, err := tx.directory().get(name)
	if err != nil || !ok {
		return nil, err
	}
	root, err := decodeRoot(v)
	if err != nil {
		return nil, err
	}
	b := &Bucket{tx: tx, name: slices.Clone(name), t: &tree{tx: tx, rootID: root}}
	if tx.writable {
		tx.buckets[string(name)] = b
	}
	return b, nil
}

// CreateBucketIfNotExists returns the named bucket, creating it if needed.
func (tx *Tx) CreateBucketIfNotExists(name []byte) (*Bucket, error) {
	if err := tx.checkWrite(); err != nil {
		return nil, err
	}
	if len(name) == 0 {
		return nil, ErrKeyRequired
	}
	b, err := tx.bucket(name)
	if err != nil || b != nil {
		return b, err
	}
	b = &Bucket{tx: tx, name: slices.Clone(name), t: &tree{tx: tx, loaded: true}}
	tx.buckets[string(name)] = b
	return b, tx.directory().put(b.name, make([]byte, 8))
}

// DeleteBucket deletes a bucket and frees its pages.
func (tx *Tx) DeleteBucket(name []byte) error {
	if err := tx.checkWrite(); err != nil {
		return err
	}
	b, err := tx.bucket(name)
	if err != nil {
		return err
	}
	if b == nil {
		return ErrBucketMissing
	}
	if err := tx.freeTree(b.t.rootID); err != nil {
		return err
	}
	// Pages of the tree copied in this transaction were never written;
	// forget them.
	delete(tx.buckets, string(name))
	_, err = tx.directory().del(name)
	return err
}

// BucketNames lists the buckets in name order.
func (tx *Tx) BucketNames() ([][]byte, error) {
	var names [][]byte
	c := &Cursor{t: tx.directory()}
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		names = append(names, slices.Clone(k))
	}
	return names, c.Err()
}

func (tx *Tx) checkWrite() error {
	if tx.done {
		return ErrTxDone
	}
	if !tx.writable {
		return ErrTxReadOnly
	}
	return nil
}

// Get returns the value of key, or nil if it is absent. The value is valid
// for the life of the database; it must not be modified.
func (b *Bucket) Get(key []byte) ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	if b.tx.done {
		return nil, ErrTxDone
	}
	v, _, err := b.t.get(key)
	return v, err
}

// Put sets key to val (both are copied).
func (b *Bucket) Put(key, val []byte) error {
	if b.err != nil {
		return b.err
	}
	if err := b.tx.checkWrite(); err != nil {
		return err
	}
	if len(key) == 0 {
		return ErrKeyRequired
	}
	return b.t.put(slices.Clone(key), append(make([]byte, 0, len(val)), val...))
}

// Delete removes key; deleting a missing key is not an error.
func (b *Bucket) Delete(key []byte) error {
	if b.err != nil {
		return b.err
	}
	if err := b.tx.checkWrite(); err != nil {
		return err
	}
	_, err := b.t.del(key)
	return err
}

// Cursor returns a cursor over the bucket, in key order.
func (b *Bucket) Cursor() *Cursor { return &Cursor{t: b.t, lookupErr: b.err} }

// --- cursor -------------------------------------------------------------------

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

// --- commit -------------------------------------------------------------------

// Rollback ends the transaction, discarding its changes.
func (tx *Tx) Rollback() {
	if tx.done {
		return
	}
	tx.done = true
	if tx.writable {
		tx.db.writeMu.Unlock()
		return
	}
	db := tx.db
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.readers[tx.meta.txid]--; db.readers[tx.meta.txid] <= 0 {
		delete(db.readers, tx.meta.txid)
		if db.swapping {
			db.readersChanged.Broadcast()
		}
	}
}

// pendingWrite is a page run to write at commit.
type pendingWrite struct {
	id  pgid
	buf []byte
}

// allocate finds a run of n pages: free ones, or new ones at the end.
func (tx *Tx) allocate(n int) pgid {
	if id := tx.freelist.allocate(n); id != 0 {
		return id
	}
	if tx.hwm < tx.meta.hwm {
		tx.hwm = tx.meta.hwm
	}
	id := tx.hwm
	tx.hwm += pgid(n)
	return id
}

// writeTree assigns pages to every node of the tree this transaction
// changed (children first) and returns the new root page.
func (tx *Tx) writeTree(n *node, out *[]pendingWrite, written *[]*node) pgid {
	if n == nil {
		return 0
	}
	if n.owner != tx {
		return n.id // untouched subtree: keep its page
	}
	if !n.leaf {
		for i := range n.children {
			if c := n.children[i].node; c != nil && c.owner == tx {
				n.children[i].id = tx.writeTree(c, out, written)
			}
		}
	}
	ps := tx.db.pageSize
	pages := (n.size() + ps - 1) / ps
	n.id = tx.allocate(pages)
	n.diskPages = pages
	buf := make([]byte, pages*ps)
	n.encode(buf, ps)
	*out = append(*out, pendingWrite{n.id, buf})
	*written = append(*written, n)
	return n.id
}

// Commit writes the transaction's changes durably and atomically.
func (tx *Tx) Commit() error {
	if err := tx.checkWrite(); err != nil {
		return err
	}
	defer tx.Rollback() // releases the writer lock
	db := tx.db
	var writes []pendingWrite
	var written []*node
	// 1. Buckets, then the directory that points at their roots.
	names := make([]string, 0, len(tx.buckets))
	for name := range tx.buckets {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		b := tx.buckets[name]
		if !b.t.loaded || (b.t.root != nil && b.t.root.owner != tx) || (b.t.root == nil && b.t.rootID == 0) {
			continue // unchanged
		}
		root := tx.writeTree(b.t.root, &writes, &written)
		var v [8]byte
		binary.LittleEndian.PutUint64(v[:], root)
		if err := tx.directory().put(b.name, v[:]); err != nil {
			return err
		}
	}
	dirRoot := tx.meta.root
	if tx.dir != nil && tx.dir.loaded {
		dirRoot = tx.writeTree(tx.dir.root, &writes, &written)
	}
	if len(writes) == 0 && len(tx.freed) == 0 && dirRoot == tx.meta.root {
		return nil // nothing changed: nothing to write
	}
	// 2. The freelist: the old one's pages are freed, this commit's freed
	// pages become pending under the new txid.
	newTxid := tx.meta.txid + 1
	oldFL, err := db.readRunHeader(tx.meta.freelist, tx.meta.hwm)
	if err != nil {
		return err
	}
	for i := pgid(0); i <= pgid(oldFL.overflow); i++ {
		tx.freed = append(tx.freed, tx.meta.freelist+i)
	}
	// A page can be freed twice (a bucket changed, then deleted).
	slices.Sort(tx.freed)
	tx.freelist.freeLater(newTxid, slices.Compact(tx.freed))
	ps := db.pageSize
	flPages := (tx.freelist.encodedSize() + ps - 1) / ps
	flID := tx.allocate(flPages)
	flBuf := make([]byte, flPages*ps)
	tx.freelist.encode(flBuf, ps)
	writes = append(writes, pendingWrite{flID, flBuf})
	// 3. Write and sync the pages, then the meta page, then sync again.
	slices.SortFunc(writes, func(a, b pendingWrite) int { return cmpPgid(a.id, b.id) })
	for _, w := range writes {
		if _, err := db.f.WriteAt(w.buf, int64(w.id)*int64(ps)); err != nil {
			return fmt.Errorf("pagefile: commit: write page %d: %w", w.id, err)
		}
	}
	if err := db.f.Sync(); err != nil {
		return fmt.Errorf("pagefile: commit: sync: %w", err)
	}
	// From here on a failure leaves the file ambiguous: the new meta page
	// may or may not be on disk. The next commit would reuse this one's
	// pages (the freelist in memory does not know about it), so refuse
	// further writes until a reopen reads which meta page is valid.
	m := meta{pageSize: uint32(ps), txid: newTxid, root: dirRoot, freelist: flID, hwm: max(tx.meta.hwm, tx.hwm)}
	if _, err := db.f.WriteAt(m.encode(ps), int64(newTxid%2)*int64(ps)); err != nil {
		return db.fail(fmt.Errorf("pagefile: commit: write meta: %w", err))
	}
	if err := db.f.Sync(); err != nil {
		return db.fail(fmt.Errorf("pagefile: commit: sync meta: %w", err))
	}
	// 4. Publish: the written nodes become shared committed nodes.
	for _, n := range written {
		n.owner = nil
		for i := range n.children {
			n.children[i].node = nil // children are found by page id
		}
		db.cache.put(n.id, n)
	}
	db.mu.Lock()
	db.meta = m
	db.freelist = tx.freelist
	db.mu.Unlock()
	return nil
}

func cmpPgid(a, b pgid) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// readRunHeader reads just the header of the page run at id.
func (db *DB) readRunHeader(id, hwm pgid) (pageHeader, error) {
	_, h, err := db.readRun(id, hwm, 0)
	return h, err
}

// fail records a commit failure that makes further writes unsafe (see
// ErrNeedsReopen) and returns err.
func (db *DB) fail(err error) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.broken == nil {
		db.broken = err
	}
	return err
}
