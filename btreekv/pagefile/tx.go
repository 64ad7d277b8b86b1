package pagefile

import (
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
	// freelistPages is the length of the page run of meta's freelist,
	// which the commit frees (it may not be on disk yet: see Freeze).
	freelistPages int

	// readOnce: the leaves this transaction reads from the file do not
	// enter the cache (ReadOnce).
	readOnce bool
}

// ReadOnce tells a read transaction that it reads what it reads once,
// as a scan of a whole bucket does (rebuilding an index, hashing the
// store): the leaves it reads from the file do not enter the node
// cache, where they would evict what other transactions read again and
// hold memory that nobody uses. Cached nodes still serve it, and the
// branches it reads are cached as usual. A write transaction ignores it.
func (tx *Tx) ReadOnce() {
	if !tx.writable {
		tx.readOnce = true
	}
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

// writeChunk bounds the bytes writePages gathers into one write: enough
// that a commit takes few system calls, few enough that DB.writeBuf can
// be kept for the next commit instead of a new buffer each time (with
// 64 KiB values a commit of a tenth of a second wrote 5 MB of pages, all
// of it allocated, zeroed and garbage again at once).
const writeChunk = 1 << 20

// writePages encodes and writes the page runs, sorted by page: runs that
// follow each other on disk go out in one write of at most writeChunk
// bytes (or one run, if it is larger). The encoding happens in
// DB.writeBuf, which only the one commit being written uses (Freeze
// writes the previous frozen commit before it makes the next).
func (db *DB) writePages(writes []pendingWrite) error {
	ps := db.pageSize
	slices.SortFunc(writes, func(a, b pendingWrite) int { return cmpPgid(a.id, b.id) })
	buf, first := db.writeBuf[:0], pgid(0)
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		if _, err := db.f.WriteAt(buf, int64(first)*int64(ps)); err != nil {
			return fmt.Errorf("pagefile: commit: write pages %d-%d: %w", first, first+pgid(len(buf)/ps)-1, err)
		}
		buf = buf[:0]
		return nil
	}
	for _, w := range writes {
		n := w.pages * ps
		if len(buf) > 0 && (w.id != first+pgid(len(buf)/ps) || len(buf)+n > cap(buf)) {
			if err := flush(); err != nil {
				return err
			}
		}
		if len(buf) == 0 {
			first = w.id
			if n > cap(buf) { // the first use, or a run larger than writeChunk
				buf = make([]byte, 0, max(n, writeChunk))
			}
		}
		buf = buf[:len(buf)+n]
		w.encode(buf[len(buf)-n:]) // every byte: header, elements, zeros
	}
	if err := flush(); err != nil {
		return err
	}
	if cap(buf) == writeChunk {
		db.writeBuf = buf
	}
	return nil
}

// Commit writes the transaction's changes durably and atomically: it
// freezes the transaction (Freeze) and writes it (Frozen.Write) on the
// calling goroutine, returning once its meta page is durable.
func (tx *Tx) Commit() error {
	f, err := tx.Freeze(nil)
	if err != nil {
		return err
	}
	return f.Write()
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
