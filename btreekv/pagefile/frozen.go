package pagefile

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
)

// Frozen is a write transaction that Freeze ended: its tree is final and
// is what transactions begun since see, but its pages and meta page are
// written to the file only by Write. Until then its new nodes are held
// in memory (DB.pinned), where readers and the next writer find them.
type Frozen struct {
	db *DB
	// then, if set, is told how the write ended (see Freeze).
	then func(error)

	// Set by Freeze, read by Write.
	meta     meta
	writes   []pendingWrite
	nodes    []*node // the nodes written: the cache takes the branches once on disk
	freed    []pgid  // the pages freed: they leave the cache once on disk
	wantFree []pgid  // StrictMode: the freelist as it must read back

	// mu serializes Write: the first call writes, later ones wait for it
	// and return its result.
	mu   sync.Mutex
	done bool
	err  error
}

// TxID is the transaction id of the frozen tree (its meta page's).
func (f *Frozen) TxID() uint64 { return f.meta.txid }

// Freeze ends the write transaction and makes its tree the database's
// current one, without writing it: transactions begun from now on see it,
// and the next write transaction may begin at once, on top of it. The
// pages and meta page are written by Write, which any goroutine may call;
// only then is the tree durable. Commit is Freeze and Write in one call.
//
// This is what lets a writer go on while a commit's I/O is under way:
// the copy-on-write tree never changes a node it shares, so the frozen
// tree's nodes are immutable; its pages were taken from pages the
// durable tree does not use, and the pages it frees stay pending until
// its meta page is durable (Begin releases pending pages only up to the
// durable transaction). A crash before Write finishes leaves the file as
// the last durable commit left it.
//
// One frozen commit is written at a time, in order: Freeze first writes
// (or waits for) the previous frozen commit, which is the back-pressure
// on a writer faster than the disk. If that write failed, Freeze fails
// with its error. then, if not nil, is called once the write ends — with
// nil once the meta page is durable, or with the error — on the
// goroutine that wrote it, before the next commit is written; it must not
// wait for anything that waits for a commit. A failed write leaves the
// database refusing writes until it is reopened (ErrNeedsReopen); reads
// go on, and see the frozen tree.
func (tx *Tx) Freeze(then func(error)) (*Frozen, error) {
	if err := tx.checkWrite(); err != nil {
		return nil, err
	}
	defer tx.Rollback() // releases the writer lock
	db := tx.db
	if err := db.Flush(); err != nil {
		return nil, err
	}
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
			return nil, err
		}
	}
	dirRoot := tx.meta.root
	if tx.dir != nil && tx.dir.loaded {
		dirRoot = tx.writeTree(tx.dir.root, &writes, &written)
	}
	if len(writes) == 0 && len(tx.freed) == 0 && dirRoot == tx.meta.root {
		// Nothing changed: nothing to write, and the tree it began on
		// is durable (Flush above).
		f := &Frozen{db: db, meta: tx.meta, done: true}
		if then != nil {
			then(nil)
		}
		return f, nil
	}
	// 2. The freelist: the old one's pages are freed, this commit's freed
	// pages become pending under the new txid.
	newTxid := tx.meta.txid + 1
	for i := range pgid(tx.freelistPages) {
		tx.freed = append(tx.freed, tx.meta.freelist+i)
	}
	slices.Sort(tx.freed)
	if id, ok := firstWritten(tx.freed, writes); ok {
		return nil, violated(invPageFreedOnce, "page %d freed by the commit that writes a node to it", id)
	}
	if err := tx.freelist.freeLater(newTxid, tx.freed, tx.meta.hwm); err != nil {
		return nil, err
	}
	ps := db.pageSize
	flPages := (tx.freelist.encodedSize() + ps - 1) / ps
	flID := tx.allocate(flPages)
	// The freelist goes on changing once it is the database's (Begin
	// releases pending pages): encode it now.
	flPage := make([]byte, flPages*ps)
	tx.freelist.encode(flPage, ps)
	writes = append(writes, pendingWrite{flID, flPages, func(buf []byte) { copy(buf, flPage) }})
	f := &Frozen{db: db, then: then, writes: writes, nodes: written, freed: tx.freed,
		meta: meta{pageSize: uint32(ps), txid: newTxid, root: dirRoot, freelist: flID, hwm: max(tx.meta.hwm, tx.hwm)}}
	if db.strict {
		f.wantFree = tx.freelist.all()
	}
	// 3. Publish: the written nodes become shared, immutable nodes, found
	// by page id in the pinned map until they are on disk.
	pinned := make(map[pgid]*node, len(written))
	for _, n := range written {
		n.owner = nil
		for i := range n.children {
			n.children[i].node = nil // children are found by page id
		}
		n.withHeads()
		pinned[n.id] = n
	}
	db.pinned.Store(&pinned)
	db.mu.Lock()
	db.meta = f.meta
	db.freelist = tx.freelist
	db.freelistPages = flPages
	db.frozen = f
	db.mu.Unlock()
	return f, nil
}

// Write writes the frozen transaction durably: its pages, a sync, its
// meta page, a sync. It returns the result of the first call to whoever
// calls it again, and waits for a call under way.
func (f *Frozen) Write() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return f.err
	}
	db := f.db
	err := db.writeFrozen(f)
	f.done, f.err = true, err
	if err == nil {
		// The nodes are on disk: the cache takes the branches (replacing
		// what a reused page held before) and forgets what the leaves'
		// pages held before and the freed pages (see nodeCache), then
		// the pinned map goes.
		for _, n := range f.nodes {
			if n.leaf {
				db.cache.remove(n.id)
			} else {
				db.cache.put(n.id, n, nodeCost(n, db.pageSize))
			}
		}
		db.cache.remove(f.freed...)
		db.pinned.Store(nil)
	}
	db.mu.Lock()
	if err == nil {
		db.durableTxID = f.meta.txid
		if db.frozen == f {
			db.frozen = nil
		}
	} else if db.broken == nil {
		// The next write transaction may already be built on this tree:
		// nothing may be written until a reopen says what the file holds.
		db.broken = err
	}
	db.mu.Unlock()
	f.nodes, f.writes, f.wantFree, f.freed = nil, nil, nil, nil
	if f.then != nil {
		f.then(err)
	}
	return err
}

// writeFrozen is the I/O of a commit: the pages, a sync, the meta page of
// the slot its transaction id selects, a sync.
func (db *DB) writeFrozen(f *Frozen) error {
	if err := db.writePages(f.writes); err != nil {
		return err
	}
	if err := db.f.Sync(); err != nil {
		return fmt.Errorf("pagefile: commit %d: sync: %w", f.meta.txid, err)
	}
	if db.strict {
		if err := db.checkCommit(f.meta, f.wantFree); err != nil {
			return err
		}
	}
	ps := db.pageSize
	if _, err := db.f.WriteAt(f.meta.encode(ps), int64(f.meta.txid%2)*int64(ps)); err != nil {
		return fmt.Errorf("pagefile: commit %d: write meta: %w", f.meta.txid, err)
	}
	if err := db.f.Sync(); err != nil {
		return fmt.Errorf("pagefile: commit %d: sync meta: %w", f.meta.txid, err)
	}
	return nil
}

// Flush writes the frozen commit, if there is one, and returns once it
// is durable: then everything committed or frozen before the call is on
// disk. It returns the error of a frozen commit whose write failed.
func (db *DB) Flush() error {
	db.mu.Lock()
	f := db.frozen
	db.mu.Unlock()
	if f == nil {
		return nil
	}
	return f.Write()
}

// DurableTxID is the transaction id of the newest tree whose meta page is
// durable: what a crash now would leave.
func (db *DB) DurableTxID() uint64 {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.durableTxID
}

// flushTo makes sure the pages of tree txid are in the file, writing the
// frozen commit if it is not older.
func (db *DB) flushTo(txid uint64) error {
	if db.DurableTxID() >= txid {
		return nil
	}
	return db.Flush()
}
