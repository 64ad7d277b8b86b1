package pagefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/cairndb/cairn/internal/fsx"
)

// DefaultPageSize is the size of a page.
const DefaultPageSize = 4096

// Errors of the page file API.
var (
	ErrClosed        = errors.New("pagefile: database is closed")
	ErrTxDone        = errors.New("pagefile: transaction already committed or rolled back")
	ErrTxReadOnly    = errors.New("pagefile: transaction is read-only")
	ErrBucketMissing = errors.New("pagefile: bucket does not exist")
	ErrKeyRequired   = errors.New("pagefile: key must not be empty")
	// ErrNeedsReopen is wrapped by the error of every write transaction
	// after a commit's write failed: the file may or may not hold that
	// commit (if its meta page was being written), and the transactions
	// frozen on top of it cannot be written without it, so writing on
	// would risk overwriting pages it uses. Reopening the file settles
	// which meta page is valid.
	ErrNeedsReopen = errors.New("pagefile: a commit failed; reopen the database")
)

// Options configures Open.
type Options struct {
	// FS is the file system; fsx.OS{} if nil.
	FS fsx.FS
	// PageSize for a new file (an existing file keeps its own).
	PageSize int
	// CacheBytes bounds the memory of the cache of decoded committed
	// nodes (default DefaultCacheBytes). Only clean nodes are cached, so
	// the bound holds whatever a write transaction changes: its nodes are
	// its own until it commits.
	CacheBytes int64
	// StrictMode checks the whole file (as Check does) after every
	// commit has written its pages and before it writes its meta page,
	// so a commit that would leave a damaged tree fails instead,
	// naming the invariant it breaks. It reads every page of the file
	// on each commit: for tests, fuzzing and crash tests, not
	// production.
	StrictMode bool

	// mapStep is the granularity of the reads' mapping (mmap_mapped.go);
	// 0 means defaultMapStep. Tests make it small to map again often.
	mapStep int64
}

// DefaultCacheBytes is the default of Options.CacheBytes: 256 MiB holds
// every branch page of a file of tens of gigabytes (a 4 KiB branch
// names a hundred or more pages) and the hot leaves besides, while a
// member's memory stays well under what a store that maps its whole file
// (etcd) shows as resident.
const DefaultCacheBytes = 256 << 20

// DB is an open page file.
type DB struct {
	fs       fsx.FS
	path     string
	f        fsx.File
	pageSize int
	strict   bool
	mapStep  int64 // Options.mapStep

	// writeMu admits one write transaction at a time.
	writeMu sync.Mutex
	// defragMu admits one Defragment at a time.
	defragMu sync.Mutex

	// mu guards the fields below and is held only briefly: readers never
	// wait for a writer's I/O.
	mu sync.Mutex
	// meta is the current tree, which transactions begin on: the last
	// one frozen (see Tx.Freeze), durable or still being written.
	meta meta
	// freelist is meta's freelist, and freelistPages its run's length.
	freelist      *freelist
	freelistPages int
	// durableTxID is the newest transaction whose meta page is durable.
	durableTxID uint64
	// frozen is the last frozen commit until it is written (and after,
	// if its write failed).
	frozen  *Frozen
	readers map[uint64]int // open read transactions by txid
	closed  bool
	// broken is set when a commit's write failed (see ErrNeedsReopen);
	// reads go on, writes are refused.
	broken error
	// swapping is set while Defragment replaces the file: new readers
	// wait on readersChanged until it is done.
	swapping       bool
	readersChanged *sync.Cond

	cache nodeCache
	// pinned holds the nodes of the frozen commit being written, by
	// page: they are not on disk yet, so it is looked up before the cache
	// and the file (nil when nothing is being written).
	pinned atomic.Pointer[map[pgid]*node]

	// writeBuf is where writePages encodes the pages it writes, kept
	// from one commit to the next; only the commit being written uses it.
	writeBuf []byte
}

// Open opens the page file at path, creating it if it does not exist.
func Open(path string, opts Options) (*DB, error) {
	if opts.FS == nil {
		opts.FS = fsx.OS{}
	}
	if opts.PageSize == 0 {
		opts.PageSize = DefaultPageSize
	}
	if opts.PageSize < 512 || opts.PageSize&(opts.PageSize-1) != 0 {
		return nil, fmt.Errorf("pagefile: page size %d must be a power of two >= 512", opts.PageSize)
	}
	if opts.CacheBytes < 0 {
		return nil, fmt.Errorf("pagefile: cache budget of %d bytes is negative", opts.CacheBytes)
	}
	if opts.CacheBytes == 0 {
		opts.CacheBytes = DefaultCacheBytes
	}
	if opts.mapStep == 0 {
		opts.mapStep = defaultMapStep
	}
	db := &DB{fs: opts.FS, path: path, pageSize: opts.PageSize, strict: opts.StrictMode, mapStep: opts.mapStep, readers: map[uint64]int{}}
	db.readersChanged = sync.NewCond(&db.mu)
	db.cache.init(opts.CacheBytes)
	if err := initializeIfEmpty(opts.FS, path, opts.PageSize); err != nil {
		return nil, fmt.Errorf("pagefile: open %s: %w", path, err)
	}
	f, err := opts.FS.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("pagefile: open %s: %w", path, err)
	}
	db.f = mapReads(f, db.mapStep)
	if err := db.load(); err != nil {
		_ = db.f.Close()
		return nil, fmt.Errorf("pagefile: open %s: %w", path, err)
	}
	return db, nil
}

// initializeIfEmpty creates an empty database at path (two meta pages and
// an empty freelist page) if there is no file there or only an empty one.
// It builds the file under a temporary name and renames it into place, so
// a crash during creation never leaves a half-written file at path that
// Open would refuse.
func initializeIfEmpty(fsys fsx.FS, path string, ps int) error {
	switch info, err := fsys.Stat(path); {
	case err == nil && info.Size() > 0:
		return nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	}
	fl := make([]byte, ps)
	newFreelist().encode(fl, ps)
	buf := make([]byte, 0, 3*ps)
	buf = append(buf, meta{pageSize: uint32(ps), txid: 0, freelist: 2, hwm: 3}.encode(ps)...)
	buf = append(buf, meta{pageSize: uint32(ps), txid: 1, freelist: 2, hwm: 3}.encode(ps)...)
	buf = append(buf, fl...)
	tmp := path + ".init"
	f, err := fsx.Create(fsys, tmp)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(buf, 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, path)
	}
	if err == nil {
		err = fsys.SyncDir(filepath.Dir(path))
	}
	if err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("create: %w", err)
	}
	return nil
}

// load reads the meta pages and the freelist.
func (db *DB) load() error {
	var best meta
	var errs []error
	found := false
	for id := pgid(0); id < 2; id++ {
		m, err := db.readMeta(id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !found || m.txid > best.txid {
			best, found = m, true
		}
	}
	if !found {
		return fmt.Errorf("no valid meta page: %w", errors.Join(errs...))
	}
	if int(best.pageSize) != db.pageSize {
		db.pageSize = int(best.pageSize)
	}
	b, h, err := db.readRun(best.freelist, best.hwm, pageFreelist, false)
	if err != nil {
		return err
	}
	fl, err := decodeFreelist(b, best.freelist, h, best.hwm)
	if err != nil {
		return err
	}
	db.meta, db.durableTxID = best, best.txid
	db.freelist, db.freelistPages = fl, int(h.overflow)+1
	return nil
}

// readMeta reads meta page id, trying the configured page size and the
// size the page itself records.
func (db *DB) readMeta(id pgid) (meta, error) {
	try := func(ps int) (meta, error) {
		b := make([]byte, ps)
		n, err := db.readUnmapped(b, int64(id)*int64(ps))
		if err != nil && !(errors.Is(err, io.EOF) && n == ps) {
			return meta{}, fmt.Errorf("%w %d: short file: %v", ErrCorrupt, id, err)
		}
		m, err := decodeMeta(b, id)
		if err == nil && int(m.pageSize) != ps {
			return meta{}, fmt.Errorf("page size %d", m.pageSize)
		}
		return m, err
	}
	m, err := try(db.pageSize)
	if err == nil {
		return m, nil
	}
	for ps := 512; ps <= 64<<10; ps *= 2 {
		if ps == db.pageSize {
			continue
		}
		if m2, err2 := try(ps); err2 == nil {
			return m2, nil
		}
	}
	return meta{}, err
}

// readRun reads the page run starting at id (the header tells how many
// pages follow); through the file's mapping if mapped (a lookup's read),
// else with a system call (a scan's, which reads each page once: through
// the mapping it would leave the whole file resident in the member).
func (db *DB) readRun(id pgid, hwm pgid, want pageType, mapped bool) ([]byte, pageHeader, error) {
	if id < 2 || id >= hwm {
		return nil, pageHeader{}, fmt.Errorf("%w: page id %d out of range [2, %d)", ErrCorrupt, id, hwm)
	}
	ps := int64(db.pageSize)
	b := make([]byte, ps)
	if _, err := db.readAt(b, int64(id)*ps, mapped); err != nil {
		return nil, pageHeader{}, fmt.Errorf("%w %d: read: %v", ErrCorrupt, id, err)
	}
	h := pageHeader{overflow: uint32(b[12]) | uint32(b[13])<<8 | uint32(b[14])<<16 | uint32(b[15])<<24}
	if h.overflow > 0 {
		if id+pgid(h.overflow) >= hwm {
			return nil, pageHeader{}, fmt.Errorf("%w %d: overflow of %d pages runs past the end of the file", ErrCorrupt, id, h.overflow)
		}
		full := make([]byte, ps*int64(h.overflow+1))
		copy(full, b)
		if _, err := db.readAt(full[ps:], (int64(id)+1)*ps, mapped); err != nil {
			return nil, pageHeader{}, fmt.Errorf("%w %d: read overflow: %v", ErrCorrupt, id, err)
		}
		b = full
	}
	h, err := checkPage(b, id, want)
	if err != nil {
		return nil, h, err
	}
	return b, h, nil
}

// readNode returns the committed node at id (shared, read-only): from the
// frozen commit being written, the cache, or the file (then the cache
// takes it).
func (db *DB) readNode(id, hwm pgid) (*node, error) {
	return db.readNodeCaching(id, hwm, true, true)
}

// readNodeCaching is readNode, but a leaf read from the file enters the
// cache only if cacheLeaf (see Tx.ReadOnce), and the file is read through
// its mapping only if mapped (see readRun).
func (db *DB) readNodeCaching(id, hwm pgid, cacheLeaf, mapped bool) (*node, error) {
	if p := db.pinned.Load(); p != nil {
		if n := (*p)[id]; n != nil {
			return n, nil
		}
	}
	if n := db.cache.get(id); n != nil {
		return n, nil
	}
	b, h, err := db.readRun(id, hwm, pageBranch, mapped)
	if err != nil {
		return nil, err
	}
	n, err := decodeNode(b, id, h, hwm)
	if err != nil {
		return nil, err
	}
	if cacheLeaf || !n.leaf {
		db.cache.put(id, n, nodeCost(n, db.pageSize))
	}
	return n, nil
}

// readChild returns the committed child i of branch n, checking that it
// is one level below n: with levels strictly decreasing on every path, a
// damaged file cannot send a reader around a cycle or to uneven depths.
// A leaf read from the file enters the cache, and the file is read
// through its mapping, only if cacheLeaf (a scan's reads do neither).
func (db *DB) readChild(n *node, i int, hwm pgid, cacheLeaf bool) (*node, error) {
	c, err := db.readNodeCaching(n.children[i].id, hwm, cacheLeaf, cacheLeaf)
	if err != nil {
		return nil, err
	}
	if c.level+1 != n.level {
		return nil, fmt.Errorf("%w %d: node at level %d is a child of page %d at level %d", ErrCorrupt, c.id, c.level, n.id, n.level)
	}
	return c, nil
}

// Begin starts a transaction on the current tree: the last one committed
// or frozen (Tx.Freeze), durable or not. Only one writable transaction
// runs at a time (Begin(true) waits for the previous one to commit,
// freeze or roll back); read transactions never wait.
func (db *DB) Begin(writable bool) (*Tx, error) {
	if writable {
		db.writeMu.Lock()
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	for db.swapping && !writable {
		db.readersChanged.Wait()
	}
	if db.closed || (writable && db.broken != nil) {
		if writable {
			db.writeMu.Unlock()
		}
		if db.closed {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("%w: %w", ErrNeedsReopen, db.broken)
	}
	tx := &Tx{db: db, meta: db.meta, writable: writable, freelistPages: db.freelistPages}
	if writable {
		// Pages freed by commits up to the oldest open reader's txid can
		// no longer be reached: reuse them — but not those freed by a
		// commit whose meta page is not durable yet, which a crash would
		// bring back into use.
		oldest := db.durableTxID
		for t := range db.readers {
			oldest = min(oldest, t)
		}
		if err := db.freelist.release(oldest); err != nil {
			db.writeMu.Unlock()
			db.broken = err
			return nil, err
		}
		tx.freelist = db.freelist.copy()
		tx.buckets = map[string]*Bucket{}
	} else {
		db.readers[tx.meta.txid]++
	}
	return tx, nil
}

// View runs fn in a read transaction.
func (db *DB) View(fn func(*Tx) error) error {
	tx, err := db.Begin(false)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(tx)
}

// Update runs fn in a write transaction and commits it if fn succeeds.
func (db *DB) Update(fn func(*Tx) error) error {
	tx, err := db.Begin(true)
	if err != nil {
		return err
	}
	// After Commit this does nothing; if fn panics, it frees the writer.
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// Stats describes the file.
type Stats struct {
	PageSize     int
	FilePages    uint64 // pages in the file (high-water mark)
	FreePages    int    // reusable now
	PendingPages int    // freed, waiting for readers to finish
	InUsePages   uint64
	FileSize     int64
	TxID         uint64
	// Cache is the node cache's size and counters.
	Cache CacheStats
}

// Stats returns current statistics.
func (db *DB) Stats() Stats {
	db.mu.Lock()
	defer db.mu.Unlock()
	s := Stats{
		PageSize:     db.pageSize,
		FilePages:    db.meta.hwm,
		FreePages:    db.freelist.freeCount(),
		PendingPages: db.freelist.pendingCount(),
		TxID:         db.meta.txid,
		Cache:        db.cache.stats(),
	}
	s.InUsePages = s.FilePages - uint64(s.FreePages) - uint64(s.PendingPages)
	if sz, err := db.f.Size(); err == nil {
		s.FileSize = sz
	}
	return s
}

// Close writes the frozen commit, if any, and closes the file. Open
// transactions must be finished first.
func (db *DB) Close() error {
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	db.mu.Lock()
	f, broken := db.frozen, db.broken
	db.mu.Unlock()
	var err error
	if f != nil && broken == nil {
		err = f.Write()
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil
	}
	db.closed = true
	if cerr := db.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Path returns the file's path.
func (db *DB) Path() string { return db.path }

// unmappedReader is a file whose reads are served from a mapping
// (mmap_mapped.go) that can also read with a system call.
type unmappedReader interface {
	ReadAtUnmapped(p []byte, off int64) (int, error)
}

// readAt reads from the file: through its mapping if mapped.
func (db *DB) readAt(p []byte, off int64, mapped bool) (int, error) {
	if !mapped {
		return db.readUnmapped(p, off)
	}
	return db.f.ReadAt(p, off)
}

// readUnmapped reads from the file with a system call: for a scan, which
// through the mapping would leave every page it read resident.
func (db *DB) readUnmapped(p []byte, off int64) (int, error) {
	if u, ok := db.f.(unmappedReader); ok {
		return u.ReadAtUnmapped(p, off)
	}
	return db.f.ReadAt(p, off)
}
