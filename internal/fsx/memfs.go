package fsx

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// MemFS is an in-memory file system that models what survives a power
// failure, for crash tests and the simulator:
//
//   - a file's contents are durable up to its last Sync; later writes are
//     lost, or partly kept and torn, by a crash;
//   - a directory entry (a create, rename or remove) is durable only once
//     its parent directory is synced with SyncDir — a file that was
//     fsynced but whose creation was not is gone after a crash;
//   - directories made by MkdirAll are durable at once.
//
// A crash does not change a MemFS in place: Crash returns a new MemFS
// holding what the disk would hold, and the old one, with every file
// opened from it, fails from then on with ErrCrashed.
//
// It can also fill up (SetQuota), flip a bit at rest (FlipBit) and fail
// the next operation of a kind (FailNext), and it counts syncs (Syncs).
// It is safe for concurrent use. It uses no clock, and randomness only
// from the *rand.Rand given to Crash.
type MemFS struct {
	mu       sync.Mutex
	root     *memDir
	crashed  bool
	quota    int64 // 0: unlimited
	used     int64 // bytes of file contents reachable from root
	syncs    int
	dirSyncs int
	failNext map[string]error
	// OnSync, if set, is called (without the lock held) before every
	// file Sync: the simulator charges fsync latency there.
	OnSync func(name string)
}

// memDir is a directory: its entries as they are now, and as a crash
// would leave them (the entries at its last SyncDir).
type memDir struct {
	entries map[string]any // *memFile or *memDir
	durable map[string]any
}

// memFile is a file's contents (an inode): what a reader sees now, what
// is durable, and the changes between the two.
type memFile struct {
	data    []byte
	synced  []byte
	pending []memWrite // changes since the last Sync, in order
}

// memWrite is one change to a file since its last Sync: data written at
// off, or a truncate to size off.
type memWrite struct {
	off      int64
	data     []byte
	truncate bool
}

var _ FS = (*MemFS)(nil)

// ErrCrashed is returned by every call on a MemFS, and on a file handle
// opened from it, after Crash: the handle is from before the crash.
var ErrCrashed = errors.New("fsx: file handle from before crash (use the file system Crash returned)")

// NewMem returns an empty in-memory file system.
func NewMem() *MemFS {
	return &MemFS{root: newMemDir(), failNext: map[string]error{}}
}

func newMemDir() *memDir { return &memDir{entries: map[string]any{}, durable: map[string]any{}} }

// CrashMode says what a crash does to writes that were not synced.
type CrashMode int

const (
	// LoseUnsynced keeps only synced contents and synced directory entries.
	LoseUnsynced CrashMode = iota
	// TearUnsynced is LoseUnsynced, except that each file keeps a random
	// prefix of the changes since its last Sync, in order, the first
	// change not kept whole torn at a random byte.
	TearUnsynced
)

// Crash simulates a power failure: it returns the file system as the disk
// would hold it afterwards, and makes this one (and its open files)
// unusable. rng decides what TearUnsynced keeps; the result depends only
// on the operations so far and rng. The quota and OnSync carry over;
// pending FailNext injections and the sync counters do not.
func (m *MemFS) Crash(mode CrashMode, rng *rand.Rand) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.crashed = true
	c := crasher{mode: mode, rng: rng, files: map[*memFile]*memFile{}}
	after := &MemFS{root: c.dir(m.root), quota: m.quota, failNext: map[string]error{}, OnSync: m.OnSync}
	after.used = after.root.size()
	return after
}

// crasher builds the after-crash image of a tree. A file reachable under
// two durable names (a rename synced in one directory but not the other)
// is one inode, so both names share one image.
type crasher struct {
	mode  CrashMode
	rng   *rand.Rand
	files map[*memFile]*memFile
}

func (c *crasher) dir(d *memDir) *memDir {
	out := newMemDir()
	for _, name := range sortedKeys(d.durable) { // sorted: rng is used in a fixed order
		var img any
		switch x := d.durable[name].(type) {
		case *memDir:
			img = c.dir(x)
		case *memFile:
			img = c.file(x)
		}
		out.entries[name], out.durable[name] = img, img
	}
	return out
}

func (c *crasher) file(f *memFile) *memFile {
	if img, ok := c.files[f]; ok {
		return img
	}
	data := slices.Clone(f.synced)
	if c.mode == TearUnsynced && len(f.pending) > 0 {
		whole := c.rng.IntN(len(f.pending) + 1)
		for _, w := range f.pending[:whole] {
			data = applyWrite(data, w)
		}
		if whole < len(f.pending) && !f.pending[whole].truncate {
			torn := f.pending[whole]
			if k := c.rng.IntN(len(torn.data)); k > 0 {
				torn.data = torn.data[:k]
				data = applyWrite(data, torn)
			}
		}
	}
	img := &memFile{data: data, synced: slices.Clone(data)}
	c.files[f] = img
	return img
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// applyWrite returns data with w applied; it may reuse data's array.
func applyWrite(data []byte, w memWrite) []byte {
	end := w.off + int64(len(w.data))
	if w.truncate && end < int64(len(data)) {
		return data[:end]
	}
	if end > int64(cap(data)) {
		// Double, rather than append's 1.25 for large slices: a growing
		// file is copied O(1) times per byte.
		grown := make([]byte, len(data), max(end, 2*int64(cap(data))))
		copy(grown, data)
		data = grown
	}
	if end > int64(len(data)) {
		old := len(data)
		data = data[:end]
		clear(data[old:]) // the array may hold bytes from before a truncate
	}
	copy(data[w.off:], w.data)
	return data
}

func (d *memDir) size() int64 {
	var n int64
	for _, x := range d.entries {
		switch x := x.(type) {
		case *memDir:
			n += x.size()
		case *memFile:
			n += int64(len(x.data))
		}
	}
	return n
}

// SetQuota limits the total bytes of file contents; a write or truncate
// that would grow them past it fails with an error wrapping
// syscall.ENOSPC and changes nothing. 0 removes the limit.
func (m *MemFS) SetQuota(bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.quota = bytes
}

// FlipBit flips bit (0-7) of the byte at offset of a file at rest — in
// both its current and its durable contents, as media corruption would.
func (m *MemFS) FlipBit(name string, offset int64, bit uint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.lookupFile("flipbit", name)
	if err != nil {
		return err
	}
	if offset < 0 || offset >= int64(len(f.data)) || bit > 7 {
		return fmt.Errorf("fsx: flip bit %d at offset %d: outside %s (%d bytes)", bit, offset, name, len(f.data))
	}
	f.data[offset] ^= 1 << bit
	if offset < int64(len(f.synced)) {
		f.synced[offset] ^= 1 << bit
	}
	return nil
}

// FailNext makes the next operation of kind op fail with err, changing
// nothing. The kinds are "open", "write" (Write and WriteAt), "truncate",
// "sync", "syncdir", "rename", "remove", "mkdir", "readdir" and "stat".
// A nil err cancels an injection that has not fired yet.
func (m *MemFS) FailNext(op string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		delete(m.failNext, op)
		return
	}
	m.failNext[op] = err
}

// Syncs returns the number of successful file Syncs and SyncDirs.
func (m *MemFS) Syncs() (files, dirs int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.syncs, m.dirSyncs
}

// ReadFile returns a copy of a file's current contents (for tests).
func (m *MemFS) ReadFile(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.lookupFile("readfile", name)
	if err != nil {
		return nil, err
	}
	return slices.Clone(f.data), nil
}

// begin checks, with the lock held, that op may run: the file system has
// not crashed and no failure is injected for op.
func (m *MemFS) begin(op string) error {
	if m.crashed {
		return ErrCrashed
	}
	if err, ok := m.failNext[op]; ok {
		delete(m.failNext, op)
		return err
	}
	return nil
}

// splitPath cleans name and splits it into its elements; the root (and
// ".") is no elements. Relative names are taken from the root.
func splitPath(name string) []string {
	name = strings.Trim(filepath.ToSlash(filepath.Clean(name)), "/")
	if name == "." || name == "" {
		return nil
	}
	return strings.Split(name, "/")
}

func (m *MemFS) lookupDir(parts []string) (*memDir, bool) {
	d := m.root
	for _, p := range parts {
		sub, ok := d.entries[p].(*memDir)
		if !ok {
			return nil, false
		}
		d = sub
	}
	return d, true
}

// parent returns the directory holding name and name's last element.
func (m *MemFS) parent(op, name string) (*memDir, string, error) {
	parts := splitPath(name)
	if len(parts) == 0 {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	d, ok := m.lookupDir(parts[:len(parts)-1])
	if !ok {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return d, parts[len(parts)-1], nil
}

func (m *MemFS) lookupFile(op, name string) (*memFile, error) {
	d, base, err := m.parent(op, name)
	if err != nil {
		return nil, err
	}
	f, ok := d.entries[base].(*memFile)
	if !ok {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return f, nil
}

// OpenFile implements FS. Directories cannot be opened.
func (m *MemFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin("open"); err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	d, base, err := m.parent("open", name)
	if err != nil {
		return nil, err
	}
	var f *memFile
	switch x := d.entries[base].(type) {
	case *memDir:
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	case *memFile:
		if flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0 {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
		}
		f = x
	default:
		if flag&os.O_CREATE == 0 {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		f = &memFile{}
		d.entries[base] = f
	}
	h := &memHandle{fs: m, f: f, name: name, flag: flag}
	if flag&os.O_TRUNC != 0 && h.writable() && len(f.data) > 0 {
		h.truncateLocked(0)
	}
	return h, nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin("remove"); err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	d, base, err := m.parent("remove", name)
	if err != nil {
		return err
	}
	switch x := d.entries[base].(type) {
	case nil:
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	case *memDir:
		if len(x.entries) > 0 {
			return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
		}
	case *memFile:
		m.used -= int64(len(x.data))
	}
	delete(d.entries, base)
	return nil
}

// Rename implements FS with the rules of os.Rename: a file replaces a
// file, nothing replaces a directory, a directory cannot move into itself,
// and renaming a name onto itself does nothing.
func (m *MemFS) Rename(oldName, newName string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	fail := func(err error) error { return &os.LinkError{Op: "rename", Old: oldName, New: newName, Err: err} }
	if err := m.begin("rename"); err != nil {
		return fail(err)
	}
	od, ob, err := m.parent("rename", oldName)
	if err != nil {
		return fail(errors.Unwrap(err))
	}
	nd, nb, err := m.parent("rename", newName)
	if err != nil {
		return fail(errors.Unwrap(err))
	}
	src, ok := od.entries[ob]
	if !ok {
		return fail(fs.ErrNotExist)
	}
	dst := nd.entries[nb]
	if dst == src {
		return nil
	}
	switch t := dst.(type) {
	case *memDir:
		return fail(syscall.EEXIST) // as os.Rename refuses any directory target
	case *memFile:
		if _, isDir := src.(*memDir); isDir {
			return fail(syscall.ENOTDIR)
		}
		m.used -= int64(len(t.data))
	}
	if s, isDir := src.(*memDir); isDir && s.contains(nd) {
		return fail(syscall.EINVAL) // into its own subtree
	}
	delete(od.entries, ob)
	nd.entries[nb] = src
	return nil
}

// contains reports whether sub is d or lies below it.
func (d *memDir) contains(sub *memDir) bool {
	if d == sub {
		return true
	}
	for _, x := range d.entries {
		if x, ok := x.(*memDir); ok && x.contains(sub) {
			return true
		}
	}
	return false
}

// ReadDir implements FS.
func (m *MemFS) ReadDir(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin("readdir"); err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: err}
	}
	d, ok := m.lookupDir(splitPath(dir))
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: fs.ErrNotExist}
	}
	return sortedKeys(d.entries), nil
}

// MkdirAll implements FS. New directories are durable at once.
func (m *MemFS) MkdirAll(dir string, perm fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin("mkdir"); err != nil {
		return &fs.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	d := m.root
	for _, p := range splitPath(dir) {
		switch x := d.entries[p].(type) {
		case *memDir:
			d = x
		case nil:
			sub := newMemDir()
			d.entries[p], d.durable[p] = sub, sub
			d = sub
		default:
			return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
	}
	return nil
}

// Stat implements FS.
func (m *MemFS) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin("stat"); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	parts := splitPath(name)
	if len(parts) == 0 {
		return memInfo{name: "/", dir: true}, nil
	}
	base := parts[len(parts)-1]
	if d, ok := m.lookupDir(parts[:len(parts)-1]); ok {
		switch x := d.entries[base].(type) {
		case *memDir:
			return memInfo{name: base, dir: true}, nil
		case *memFile:
			return memInfo{name: base, size: int64(len(x.data))}, nil
		}
	}
	return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

// SyncDir implements FS: the directory's entries, as they are now,
// become durable.
func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin("syncdir"); err != nil {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: err}
	}
	d, ok := m.lookupDir(splitPath(dir))
	if !ok {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: fs.ErrNotExist}
	}
	d.durable = make(map[string]any, len(d.entries))
	for n, x := range d.entries {
		d.durable[n] = x
	}
	m.dirSyncs++
	return nil
}

// memInfo is what Stat returns.
type memInfo struct {
	name string
	size int64
	dir  bool
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return i.size }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }

// memHandle is an open file of a MemFS. Its fields are guarded by fs.mu.
type memHandle struct {
	fs     *MemFS
	f      *memFile
	name   string
	flag   int
	offset int64
	closed bool
}

func (h *memHandle) writable() bool { return h.flag&(os.O_WRONLY|os.O_RDWR) != 0 }
func (h *memHandle) readable() bool { return h.flag&os.O_WRONLY == 0 }

// usable checks that the handle is open and from before no crash.
func (h *memHandle) usable() error {
	if h.fs.crashed {
		return ErrCrashed
	}
	if h.closed {
		return fs.ErrClosed
	}
	return nil
}

// Name implements File.
func (h *memHandle) Name() string { return h.name }

// Read implements File.
func (h *memHandle) Read(p []byte) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	n, err := h.readAtLocked("read", p, h.offset)
	h.offset += int64(n)
	if n > 0 && err == io.EOF {
		err = nil // like os.File: a short read is not yet the end
	}
	return n, err
}

// ReadAt implements File.
func (h *memHandle) ReadAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	return h.readAtLocked("readat", p, off)
}

func (h *memHandle) readAtLocked(op string, p []byte, off int64) (int, error) {
	err := h.usable()
	if err == nil && !h.readable() {
		err = fs.ErrPermission
	}
	if err == nil && off < 0 {
		err = fs.ErrInvalid
	}
	if err != nil {
		return 0, &fs.PathError{Op: op, Path: h.name, Err: err}
	}
	if off >= int64(len(h.f.data)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, h.f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Write implements File.
func (h *memHandle) Write(p []byte) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	off := h.offset
	if h.flag&os.O_APPEND != 0 {
		off = int64(len(h.f.data))
	}
	n, err := h.writeAtLocked("write", p, off)
	h.offset = off + int64(n)
	return n, err
}

// WriteAt implements File.
func (h *memHandle) WriteAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.flag&os.O_APPEND != 0 {
		return 0, &fs.PathError{Op: "writeat", Path: h.name, Err: errors.New("os: invalid use of WriteAt on file opened with O_APPEND")}
	}
	return h.writeAtLocked("writeat", p, off)
}

func (h *memHandle) writeAtLocked(op string, p []byte, off int64) (int, error) {
	err := h.usable()
	if err == nil && !h.writable() {
		err = fs.ErrPermission
	}
	if err == nil && off < 0 {
		err = fs.ErrInvalid
	}
	if err == nil {
		err = h.fs.begin("write")
	}
	if err == nil {
		err = h.fs.reserve(off + int64(len(p)) - int64(len(h.f.data)))
	}
	if err != nil {
		return 0, &fs.PathError{Op: op, Path: h.name, Err: err}
	}
	if len(p) == 0 {
		return 0, nil
	}
	w := memWrite{off: off, data: slices.Clone(p)}
	h.f.data = applyWrite(h.f.data, w)
	h.f.pending = append(h.f.pending, w)
	return len(p), nil
}

// reserve accounts for grow more bytes of file contents (none if grow is
// not positive), or fails with ENOSPC if they would pass the quota.
func (m *MemFS) reserve(grow int64) error {
	if grow <= 0 {
		return nil
	}
	if m.quota > 0 && m.used+grow > m.quota {
		return syscall.ENOSPC
	}
	m.used += grow
	return nil
}

// Seek implements File.
func (h *memHandle) Seek(offset int64, whence int) (int64, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.usable(); err != nil {
		return 0, &fs.PathError{Op: "seek", Path: h.name, Err: err}
	}
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = h.offset
	case io.SeekEnd:
		base = int64(len(h.f.data))
	default:
		return 0, &fs.PathError{Op: "seek", Path: h.name, Err: fs.ErrInvalid}
	}
	if base+offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: h.name, Err: fs.ErrInvalid}
	}
	h.offset = base + offset
	return h.offset, nil
}

// Close implements File.
func (h *memHandle) Close() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return &fs.PathError{Op: "close", Path: h.name, Err: fs.ErrClosed}
	}
	h.closed = true
	return nil
}

// Sync implements File: every change to the file so far, through any
// handle, becomes durable.
func (h *memHandle) Sync() error {
	h.fs.mu.Lock()
	onSync := h.fs.OnSync
	h.fs.mu.Unlock()
	if onSync != nil {
		onSync(h.name)
	}
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	err := h.usable()
	if err == nil {
		err = h.fs.begin("sync")
	}
	if err != nil {
		return &fs.PathError{Op: "sync", Path: h.name, Err: err}
	}
	// Replay the changes onto the durable copy: the cost is what was
	// written since the last Sync, not the file's size.
	for _, w := range h.f.pending {
		h.f.synced = applyWrite(h.f.synced, w)
	}
	h.f.pending = nil
	h.fs.syncs++
	return nil
}

// Truncate implements File.
func (h *memHandle) Truncate(size int64) error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	err := h.usable()
	if err == nil && !h.writable() {
		err = fs.ErrPermission
	}
	if err == nil && size < 0 {
		err = fs.ErrInvalid
	}
	if err == nil {
		err = h.fs.begin("truncate")
	}
	if err == nil {
		err = h.fs.reserve(size - int64(len(h.f.data)))
	}
	if err != nil {
		return &fs.PathError{Op: "truncate", Path: h.name, Err: err}
	}
	h.truncateLocked(size)
	return nil
}

// truncateLocked sets the file's size; the caller has reserved any growth.
func (h *memHandle) truncateLocked(size int64) {
	if shrink := int64(len(h.f.data)) - size; shrink > 0 {
		h.fs.used -= shrink
	}
	w := memWrite{off: size, truncate: true}
	h.f.data = applyWrite(h.f.data, w)
	h.f.pending = append(h.f.pending, w)
}

// Size implements File.
func (h *memHandle) Size() (int64, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.usable(); err != nil {
		return 0, &fs.PathError{Op: "size", Path: h.name, Err: err}
	}
	return int64(len(h.f.data)), nil
}
