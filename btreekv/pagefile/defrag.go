package pagefile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// The limits of a defragmentation's phases.
const (
	// defragCatchUpRounds bounds the rounds of catching up with the
	// writers before the final pause.
	defragCatchUpRounds = 32
	// defragQuietChanges and defragQuietBytes end the catch-up early: a
	// round that copied at most this many changes and bytes leaves
	// little for the pause, whose length is about that of copying them.
	defragQuietChanges = 256
	defragQuietBytes   = 2 << 20
	// defragReaderWait is how long the swap waits, writers paused, for
	// open readers to finish; then it lets the writers go, catches up
	// again and retries, at most defragSwapAttempts times.
	defragReaderWait   = 500 * time.Millisecond
	defragSwapAttempts = 60
	// defragBatchKeys and defragBatchBytes bound one transaction of the
	// copy: its memory, whatever the size of the values.
	defragBatchKeys  = 10000
	defragBatchBytes = 16 << 20
)

// ErrDefragReaders is returned by Defragment when read transactions
// stayed open through every attempt to swap the files (a reader open for
// minutes, such as a copy of the whole file being sent).
var ErrDefragReaders = errors.New("pagefile: defragment: read transactions stayed open; try again later")

// Defragment rewrites the database compactly into a new file and swaps it
// in atomically, while writers go on. The copy is built in a temporary
// file through ordinary transactions (so as crash-safely as any other
// file) in three phases:
//
//  1. copy: every bucket as a read transaction sees it, in key order,
//     while writers commit to the database as usual;
//  2. catch up: a newer read transaction is compared with the one copied
//     (see diffTrees: the subtrees both share are skipped unread, so the
//     work is that of the changes) and the changes are copied; repeated
//     while a round finds many;
//  3. swap: writers wait (the only pause they see) while the last changes
//     are copied, open readers finish, and the copy is renamed over the
//     database and the directory synced.
//
// A crash at any point leaves either the old file or the new one, both
// holding the database's last commit: the old file is written only by
// ordinary commits, and the rename happens while no commit runs.
//
// Readers may run throughout; the swap waits up to defragReaderWait for
// the open ones to finish and holds off new ones meanwhile. If some stay
// open longer, the writers are let go and the swap is tried again after
// another catch-up, up to defragSwapAttempts times (then
// ErrDefragReaders). So the calling goroutine must not hold a transaction
// open across the call. Pages freed while it runs are not reused until it
// ends (it keeps a read transaction open): the old file grows by what is
// written meanwhile.
func (db *DB) Defragment() error {
	db.defragMu.Lock()
	defer db.defragMu.Unlock()
	if err := db.writable(); err != nil {
		return fmt.Errorf("pagefile: defragment: %w", err)
	}
	tmpPath := db.path + ".defrag"
	if err := db.fs.Remove(tmpPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pagefile: defragment: %w", err)
	}
	dst, err := Open(tmpPath, Options{FS: db.fs, PageSize: db.pageSize, StrictMode: db.strict})
	if err != nil {
		return fmt.Errorf("pagefile: defragment: %w", err)
	}
	d := &defrag{db: db, dst: dst, tmpPath: tmpPath, pace: newDefragPacer(db)}
	err = d.run()
	if d.base != nil {
		d.base.Rollback()
	}
	if !d.dstClosed {
		_ = dst.Close()
	}
	if err != nil {
		if !d.renamed {
			_ = db.fs.Remove(tmpPath)
		}
		return fmt.Errorf("pagefile: defragment: %w", err)
	}
	return nil
}

// writable reports why the database takes no writes, if it does not.
func (db *DB) writable() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	switch {
	case db.closed:
		return ErrClosed
	case db.broken != nil:
		return fmt.Errorf("%w: %w", ErrNeedsReopen, db.broken)
	}
	return nil
}

// defrag is one run of Defragment.
type defrag struct {
	db      *DB
	dst     *DB
	tmpPath string
	// base is the read transaction whose tree dst holds.
	base *Tx
	// dstClosed and renamed tell how far the swap went.
	dstClosed, renamed bool
	// pace paces the copy while writers are active (defrag_pace.go).
	pace *defragPacer
}

func (d *defrag) run() error {
	db := d.db
	var err error
	if d.base, err = db.Begin(false); err != nil {
		return err
	}
	d.base.ReadOnce() // the copy reads every leaf once: leave the cache to the writers and readers
	if err := d.copyAll(); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	for attempt := 1; ; attempt++ {
		if err := d.catchUp(); err != nil {
			return fmt.Errorf("catch up: %w", err)
		}
		db.writeMu.Lock()
		done, err := d.finish()
		if done || err != nil {
			db.writeMu.Unlock()
			return err
		}
		// Readers stayed open: dst holds the last commit, and no commit
		// can run while the writers are held; take it as the new base.
		d.base, err = db.Begin(false)
		db.writeMu.Unlock()
		if err != nil {
			return err
		}
		d.base.ReadOnce()
		if attempt == defragSwapAttempts {
			return ErrDefragReaders
		}
	}
}

// copyAll copies every bucket of base into dst in key order.
func (d *defrag) copyAll() error {
	names, err := d.base.BucketNames()
	if err != nil {
		return err
	}
	w := d.newWriter()
	for _, name := range names {
		if err := w.createBucket(name); err != nil {
			return err
		}
		c := d.base.Bucket(name).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if err := w.put(name, k, v); err != nil {
				return err
			}
		}
		if err := c.Err(); err != nil {
			return err
		}
	}
	return w.flush()
}

// catchUp copies the changes committed since base, round after round,
// until a round finds few or defragCatchUpRounds have run.
func (d *defrag) catchUp() error {
	for range defragCatchUpRounds {
		w, err := d.copyChanges()
		if err != nil {
			return err
		}
		if w.total <= defragQuietChanges && w.totalBytes <= defragQuietBytes {
			return nil
		}
	}
	return nil
}

// copyChanges copies into dst the changes between base and the current
// tree, which becomes the base; its writer tells how many it copied.
func (d *defrag) copyChanges() (*copyWriter, error) {
	next, err := d.db.Begin(false)
	if err != nil {
		return nil, err
	}
	next.ReadOnce()
	w := d.newWriter()
	err = diffDatabases(d.base, next, w)
	if err == nil {
		err = w.flush()
	}
	d.base.Rollback()
	d.base = next
	return w, err
}

// finish, with the writers held, copies the last changes and swaps the
// files if the open readers finish in time (true), or leaves things as
// they were with base rolled back (false).
func (d *defrag) finish() (bool, error) {
	db := d.db
	d.pace.off = true // the writers wait for this phase: no pause in it
	defer func() { d.pace.off = false }()
	// A frozen commit is written to the old file: write it now (no other
	// can be frozen while the writers are held), so that the copy holds
	// it and nothing writes to the old file once it is replaced.
	if err := db.Flush(); err != nil {
		return false, err
	}
	if err := db.writable(); err != nil {
		return false, err
	}
	if _, err := d.copyChanges(); err != nil {
		return false, err
	}
	d.base.Rollback()
	d.base = nil
	db.mu.Lock()
	defer db.mu.Unlock()
	db.swapping = true
	defer func() {
		db.swapping = false
		db.readersChanged.Broadcast()
	}()
	// No reader may be between pages of the old file when the page ids
	// start naming pages of the new one.
	expired := false
	timer := time.AfterFunc(defragReaderWait, func() {
		db.mu.Lock()
		expired = true
		db.mu.Unlock()
		db.readersChanged.Broadcast()
	})
	defer timer.Stop()
	for len(db.readers) > 0 && !expired {
		db.readersChanged.Wait()
	}
	if len(db.readers) > 0 {
		return false, nil
	}
	if db.closed {
		return false, ErrClosed
	}
	d.dstClosed = true
	if err := d.dst.Close(); err != nil {
		return false, err
	}
	// Open the new file before the rename so that a failure leaves the
	// database as it was; after the rename the path names the new file
	// and the handle opened here reads it.
	f, err := db.fs.OpenFile(d.tmpPath, os.O_RDWR, 0)
	if err != nil {
		return false, fmt.Errorf("open copy: %w", err)
	}
	if err := db.fs.Rename(d.tmpPath, db.path); err != nil {
		_ = f.Close()
		return false, fmt.Errorf("swap: %w", err)
	}
	d.renamed = true
	old := db.f
	db.f = mapReads(f, db.mapStep)
	_ = old.Close()
	db.cache.reset()
	if err := db.load(); err != nil {
		db.closed = true
		return false, fmt.Errorf("reload: %w", err)
	}
	// Until the directory is synced a crash may bring back the old file,
	// which holds the same data: an error here loses nothing.
	if err := db.fs.SyncDir(filepath.Dir(db.path)); err != nil {
		return true, fmt.Errorf("sync dir: %w", err)
	}
	return true, nil
}

// copyWriter applies changes to the copy in transactions of at most
// defragBatchKeys changes and defragBatchBytes bytes.
type copyWriter struct {
	dst   *DB
	pace  *defragPacer // nil: no pacing
	ops   []copyOp
	bytes int
	// total and totalBytes count every change and its bytes.
	total, totalBytes int
}

// copyOp is one change: a put, a delete (val nil), or a bucket created
// (key nil) or deleted (key nil, del).
type copyOp struct {
	bucket, key, val []byte
	del              bool
}

func (d *defrag) newWriter() *copyWriter { return &copyWriter{dst: d.dst, pace: d.pace} }

func (w *copyWriter) add(op copyOp) error {
	w.ops = append(w.ops, op)
	w.bytes += len(op.key) + len(op.val)
	w.total++
	w.totalBytes += len(op.key) + len(op.val)
	limit := defragBatchBytes
	if w.pace != nil {
		limit = w.pace.batchBytes()
	}
	if len(w.ops) >= defragBatchKeys || w.bytes >= limit {
		return w.flush()
	}
	return nil
}

func (w *copyWriter) put(bucket, key, val []byte) error {
	return w.add(copyOp{bucket: bucket, key: key, val: val})
}

func (w *copyWriter) del(bucket, key []byte) error {
	return w.add(copyOp{bucket: bucket, key: key, del: true})
}

func (w *copyWriter) createBucket(name []byte) error { return w.add(copyOp{bucket: name}) }

func (w *copyWriter) deleteBucket(name []byte) error {
	return w.add(copyOp{bucket: name, del: true})
}

// flush commits the changes gathered so far to the copy.
func (w *copyWriter) flush() error {
	if len(w.ops) == 0 {
		return nil
	}
	err := w.dst.Update(func(tx *Tx) error {
		var b *Bucket
		for _, op := range w.ops {
			var err error
			switch {
			case op.key == nil && op.del:
				b, err = nil, tx.DeleteBucket(op.bucket)
			case op.key == nil:
				b, err = tx.CreateBucketIfNotExists(op.bucket)
			case b == nil || !bytes.Equal(b.name, op.bucket):
				b, err = tx.CreateBucketIfNotExists(op.bucket)
			}
			switch {
			case err != nil || op.key == nil:
			case op.del:
				err = b.Delete(op.key)
			default:
				err = b.Put(op.key, op.val)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	w.ops, w.bytes = w.ops[:0], 0
	if err == nil && w.pace != nil {
		w.pace.roundDone()
	}
	return err
}

// diffDatabases gives w the changes that turn older's tree into newer's:
// both read transactions of one database, older open throughout.
func diffDatabases(older, newer *Tx, w *copyWriter) error {
	oldNames, err := older.BucketNames()
	if err != nil {
		return err
	}
	newNames, err := newer.BucketNames()
	if err != nil {
		return err
	}
	for _, name := range oldNames {
		if newer.Bucket(name) == nil {
			if err := w.deleteBucket(name); err != nil {
				return err
			}
		}
	}
	for _, name := range newNames {
		nb := newer.Bucket(name)
		if nb.err != nil {
			return nb.err
		}
		var oldRoot pgid
		ob := older.Bucket(name)
		if ob == nil {
			if err := w.createBucket(name); err != nil {
				return err
			}
		} else if ob.err != nil {
			return ob.err
		} else {
			oldRoot = ob.t.rootID
			if oldRoot == nb.t.rootID {
				continue
			}
		}
		err := diffTrees(older, oldRoot, newer, nb.t.rootID,
			func(k []byte) error { return w.del(name, k) },
			func(k, v []byte) error { return w.put(name, k, v) })
		if err != nil {
			return fmt.Errorf("bucket %q: %w", name, err)
		}
	}
	return nil
}

// diffTrees calls del for each key of the tree at oldRoot (in older) that
// the tree at newRoot (in newer) lacks, and put for each key of the newer
// tree that the older one lacks or holds with another value, in key
// order. Both are read transactions of one database, older open
// throughout.
//
// Both trees are walked side by side as sequences in key order of
// unexpanded nodes and single entries. When both sequences start with the
// same page, that subtree is skipped unread: a page reachable from old's
// tree cannot have been rewritten while older is open (a page freed
// after older began is reused only once older ends), so the same page id in both
// trees is the same subtree, holding the same keys. Otherwise the node of
// the higher level is expanded into its children, and two entries are
// compared. The work is proportional to the changed leaves and their
// paths, not to the size of the trees.
func diffTrees(older *Tx, oldRoot pgid, newer *Tx, newRoot pgid, del func(k []byte) error, put func(k, v []byte) error) error {
	a, err := newDiffSide(older, oldRoot)
	if err != nil {
		return err
	}
	b, err := newDiffSide(newer, newRoot)
	if err != nil {
		return err
	}
	for {
		x, y := a.top(), b.top()
		switch {
		case x == nil && y == nil:
			return nil
		case x != nil && x.n != nil && y != nil && y.n != nil && x.n.id == y.n.id:
			a.pop()
			b.pop()
		case x != nil && x.n != nil && (y == nil || y.n == nil || x.n.level >= y.n.level):
			err = a.expand()
		case y != nil && y.n != nil:
			err = b.expand()
		case y == nil || (x != nil && bytes.Compare(x.key, y.key) < 0):
			err = del(x.key)
			a.pop()
		case x == nil || bytes.Compare(x.key, y.key) > 0:
			err = put(y.key, y.val)
			b.pop()
		default:
			if !bytes.Equal(x.val, y.val) {
				err = put(y.key, y.val)
			}
			a.pop()
			b.pop()
		}
		if err != nil {
			return err
		}
	}
}

// diffItem is a node not yet expanded (n set), or one entry of a leaf.
type diffItem struct {
	n        *node
	key, val []byte
}

// diffSide is one tree's sequence for diffTrees: a stack whose top is the
// next item in key order.
type diffSide struct {
	tx    *Tx
	items []diffItem
}

func newDiffSide(tx *Tx, root pgid) (*diffSide, error) {
	s := &diffSide{tx: tx}
	if root != 0 {
		n, err := tx.db.readNode(root, tx.meta.hwm)
		if err != nil {
			return nil, err
		}
		s.items = append(s.items, diffItem{n: n})
	}
	return s, nil
}

func (s *diffSide) top() *diffItem {
	if len(s.items) == 0 {
		return nil
	}
	return &s.items[len(s.items)-1]
}

func (s *diffSide) pop() { s.items = s.items[:len(s.items)-1] }

// expand replaces the node on top with its children (or, for a leaf, its
// entries).
func (s *diffSide) expand() error {
	n := s.top().n
	s.pop()
	if n.leaf {
		for i := len(n.keys) - 1; i >= 0; i-- {
			s.items = append(s.items, diffItem{key: n.keys[i], val: n.vals[i]})
		}
		return nil
	}
	for i := len(n.children) - 1; i >= 0; i-- {
		// The copy reads each leaf once: caching them would evict
		// what the writers and readers going on meanwhile use.
		c, err := s.tx.db.readChild(n, i, s.tx.meta.hwm, false)
		if err != nil {
			return err
		}
		s.items = append(s.items, diffItem{n: c})
	}
	return nil
}
