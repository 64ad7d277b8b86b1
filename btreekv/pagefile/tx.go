package pagefile

import (
	"encoding/binary"
	"fmt"
	"slices"
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
	freed    []pgid             // pages this transaction stops using
	hwm      pgid               // grows as pages are allocated past the end
}

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

// pendingWrite is a page run to write at commit: pages [id, id+pages),
// filled in by encode.
type pendingWrite struct {
	id     pgid
	pages  int
	encode func(buf []byte)
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
// changed (children first, so that a branch knows its children's pages
// when it is encoded) and returns the new root page.
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
	*out = append(*out, pendingWrite{n.id, pages, func(buf []byte) { n.encode(buf, ps) }})
	*written = append(*written, n)
	return n.id
}

// writePages encodes and writes the page runs, sorted by page: runs that
// follow each other on disk go out in one write.
func (db *DB) writePages(writes []pendingWrite) error {
	ps := db.pageSize
	slices.SortFunc(writes, func(a, b pendingWrite) int { return cmpPgid(a.id, b.id) })
	for i := 0; i < len(writes); {
		j, pages := i+1, writes[i].pages
		for j < len(writes) && writes[j].id == writes[i].id+pgid(pages) {
			pages += writes[j].pages
			j++
		}
		buf := make([]byte, pages*ps)
		off := 0
		for _, w := range writes[i:j] {
			w.encode(buf[off : off+w.pages*ps])
			off += w.pages * ps
		}
		if _, err := db.f.WriteAt(buf, int64(writes[i].id)*int64(ps)); err != nil {
			return fmt.Errorf("pagefile: commit: write pages %d-%d: %w", writes[i].id, writes[i].id+pgid(pages)-1, err)
		}
		i = j
	}
	return nil
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
	slices.Sort(tx.freed)
	if id, ok := firstWritten(tx.freed, writes); ok {
		return violated(invPageFreedOnce, "page %d freed by the commit that writes a node to it", id)
	}
	if err := tx.freelist.freeLater(newTxid, tx.freed, tx.meta.hwm); err != nil {
		return err
	}
	ps := db.pageSize
	flPages := (tx.freelist.encodedSize() + ps - 1) / ps
	flID := tx.allocate(flPages)
	fl := tx.freelist
	writes = append(writes, pendingWrite{flID, flPages, func(buf []byte) { fl.encode(buf, ps) }})
	// 3. Write and sync the pages, then the meta page, then sync again.
	if err := db.writePages(writes); err != nil {
		return err
	}
	if err := db.f.Sync(); err != nil {
		return fmt.Errorf("pagefile: commit: sync: %w", err)
	}
	// From here on a failure leaves the file ambiguous: the new meta page
	// may or may not be on disk. The next commit would reuse this one's
	// pages (the freelist in memory does not know about it), so refuse
	// further writes until a reopen reads which meta page is valid.
	m := meta{pageSize: uint32(ps), txid: newTxid, root: dirRoot, freelist: flID, hwm: max(tx.meta.hwm, tx.hwm)}
	if db.strict {
		if err := db.checkCommit(m, tx.freelist); err != nil {
			return err
		}
	}
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
		db.cache.put(n.id, n, nodeCost(n, ps))
	}
	db.mu.Lock()
	db.meta = m
	db.freelist = tx.freelist
	db.mu.Unlock()
	return nil
}

// firstWritten returns the first of the sorted ids that lies in one of
// the page runs writes: a page this commit both frees and fills.
func firstWritten(ids []pgid, writes []pendingWrite) (pgid, bool) {
	slices.SortFunc(writes, func(a, b pendingWrite) int { return cmpPgid(a.id, b.id) })
	i := 0
	for _, w := range writes {
		for i < len(ids) && ids[i] < w.id {
			i++
		}
		if i < len(ids) && ids[i] < w.id+pgid(w.pages) {
			return ids[i], true
		}
	}
	return 0, false
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
