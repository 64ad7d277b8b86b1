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
//   - directories themselves (MkdirAll) are durable at once.
//
// It can also fill up (SetQuota), flip a bit at rest (FlipBit) and fail
// the next operation of a kind (FailNext). It is safe for concurrent use.
type MemFS struct {
	mu       sync.Mutex
	root     *memDir
	crashed  bool
	quota    int64 // 0: unlimited
	used     int64
	syncs    int
	dirSyncs int
	failNext map[string]error
	// OnSync, if set, is called (without the lock) before every file
	// Sync: the simulator charges fsync latency there.
	OnSync func(name string)
}

type memDir struct {
	entries map[string]any // *memFile or *memDir, as it is now
	durable map[string]any // as a crash would leave it
}

type memFile struct {
	data    []byte
	synced  []byte
	pending []memWrite // writes since the last Sync, in order
}

// memWrite is one change to a file's contents since its last sync:
// data written at off, or (data == nil) a truncate to size off.
type memWrite struct {
	off  int64
	data []byte
}

var _ FS = (*MemFS)(nil)

// ErrCrashed is returned by every call on a MemFS (or a file opened from
// it) after Crash.
var ErrCrashed = errors.New("fsx: file system crashed; use the one Crash returned")

// NewMem returns an empty in-memory file system.
func NewMem() *MemFS {
	return &MemFS{root: newMemDir(), failNext: map[string]error{}}
}

func newMemDir() *memDir { return &memDir{entries: map[string]any{}, durable: map[string]any{}} }

// CrashMode says what happens to writes that were not synced.
type CrashMode int

const (
	// LoseUnsynced keeps only what was synced.
	LoseUnsynced CrashMode = iota
	// TearUnsynced keeps, per file, a random prefix of the writes since
	// its last sync, the last of them possibly torn at a random byte.
	TearUnsynced
)

// Crash simulates a power failure: it returns the file system as the disk
// would hold it afterwards, and makes this one (and its open files)
// unusable. rng decides what TearUnsynced keeps.
func (m *MemFS) Crash(mode CrashMode, rng *rand.Rand) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.crashed = true
	after := &MemFS{root: crashDir(m.root, mode, rng), quota: m.quota, failNext: map[string]error{}, OnSync: m.OnSync}
	after.used = after.root.size()
	return after
}

func crashDir(d *memDir, mode CrashMode, rng *rand.Rand) *memDir {
	out := newMemDir()
	names := make([]string, 0, len(d.durable))
	for n := range d.durable {
		names = append(names, n)
	}
	slices.Sort(names) // deterministic use of rng
	for _, n := range names {
		switch x := d.durable[n].(type) {
		case *memDir:
			out.entries[n] = crashDir(x, mode, rng)
		case *memFile:
			out.entries[n] = crashFile(x, mode, rng)
		}
		out.durable[n] = out.entries[n]
	}
	// Directories are durable at once even if their entry was not synced.
	for n, x := range d.entries {
		if sub, ok := x.(*memDir); ok {
			if _, done := out.entries[n]; !done {
				out.entries[n] = crashDir(sub, mode, rng)
				out.durable[n] = out.entries[n]
			}
		}
	}
	return out
}

func crashFile(f *memFile, mode CrashMode, rng *rand.Rand) *memFile {
	data := slices.Clone(f.synced)
	if mode == TearUnsynced && len(f.pending) > 0 {
		keep := rng.IntN(len(f.pending) + 1)
		for i, w := range f.pending[:keep] {
			if i == keep-1 && w.data != nil && len(w.data) > 0 {
				// The last kept write may be torn.
				w.data = w.data[:rng.IntN(len(w.data)+1)]
			}
			data = applyWrite(data, w)
		}
	}
	return &memFile{data: data, synced: slices.Clone(data)}
}

func applyWrite(data []byte, w memWrite) []byte {
	if w.data == nil {
		if w.off <= int64(len(data)) {
			return data[:w.off]
		}
		return append(data, make([]byte, w.off-int64(len(data)))...)
	}
	end := w.off + int64(len(w.data))
	if end > int64(len(data)) {
		data = append(data, make([]byte, end-int64(len(data)))...)
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

// SetQuota limits the total bytes of file contents; a write that would
// exceed it fails with ENOSPC and writes nothing. 0 removes the limit.
func (m *MemFS) SetQuota(bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.quota = bytes
}

// FlipBit flips one bit of a file at rest (both what is on "disk" and what
// is cached), as media corruption would.
func (m *MemFS) FlipBit(name string, offset int64, bit uint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.lookupFile(name)
	if err != nil {
		return err
	}
	if offset < 0 || offset >= int64(len(f.data)) {
		return fmt.Errorf("fsx: flip bit: offset %d outside %s (%d bytes)", offset, name, len(f.data))
	}
	f.data[offset] ^= 1 << (bit % 8)
	if offset < int64(len(f.synced)) && &f.synced[0] != &f.data[0] {
		f.synced[offset] ^= 1 << (bit % 8)
	}
	return nil
}

// FailNext makes the next operation of kind op ("sync", "write",
// "rename", "open", "syncdir", "remove") fail with err; a nil err cancels
// an injected failure that has not happened yet.
func (m *MemFS) FailNext(op string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		delete(m.failNext, op)
		return
	}
	m.failNext[op] = err
}

// Syncs returns the number of file Syncs and SyncDirs performed.
func (m *MemFS) Syncs() (files, dirs int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.syncs, m.dirSyncs
}

// ReadFile returns a copy of a file's current contents (for tests).
func (m *MemFS) ReadFile(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.lookupFile(name)
	if err != nil {
		return nil, err
	}
	return slices.Clone(f.data), nil
}

func (m *MemFS) injected(op string) error {
	if err, ok := m.failNext[op]; ok {
		delete(m.failNext, op)
		return err
	}
	return nil
}

func splitPath(name string) []string {
	name = filepath.ToSlash(filepath.Clean(name))
	name = strings.TrimPrefix(name, "/")
	if name == "." || name == "" {
		return nil
	}
	return strings.Split(name, "/")
}

// lookupDir finds the directory at the given path parts.
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

func (m *MemFS) lookupFile(name string) (*memFile, error) {
	d, base, err := m.parent("open", name)
	if err != nil {
		return nil, err
	}
	f, ok := d.entries[base].(*memFile)
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return f, nil
}

func (m *MemFS) check(op string) error {
	if m.crashed {
		return ErrCrashed
	}
	return m.injected(op)
}

// OpenFile implements FS.
func (m *MemFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("open"); err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	d, base, err := m.parent("open", name)
	if err != nil {
		return nil, err
	}
	var f *memFile
	switch x := d.entries[base].(type) {
	case *memDir:
		if flag&(os.O_WRONLY|os.O_RDWR) != 0 {
			return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("is a directory")}
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
	if flag&os.O_TRUNC != 0 && flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		h.truncateLocked(0)
	}
	return h, nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("remove"); err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	d, base, err := m.parent("remove", name)
	if err != nil {
		return err
	}
	x, ok := d.entries[base]
	if !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	if sub, ok := x.(*memDir); ok && len(sub.entries) > 0 {
		return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
	}
	if f, ok := x.(*memFile); ok {
		m.used -= int64(len(f.data))
	}
	delete(d.entries, base)
	return nil
}

// Rename implements FS.
func (m *MemFS) Rename(oldName, newName string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("rename"); err != nil {
		return &os.LinkError{Op: "rename", Old: oldName, New: newName, Err: err}
	}
	od, ob, err := m.parent("rename", oldName)
	if err != nil {
		return err
	}
	nd, nb, err := m.parent("rename", newName)
	if err != nil {
		return err
	}
	x, ok := od.entries[ob]
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldName, New: newName, Err: fs.ErrNotExist}
	}
	if old, ok := nd.entries[nb].(*memFile); ok {
		m.used -= int64(len(old.data))
	}
	delete(od.entries, ob)
	nd.entries[nb] = x
	return nil
}

// ReadDir implements FS.
func (m *MemFS) ReadDir(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("readdir"); err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: err}
	}
	d, ok := m.lookupDir(splitPath(dir))
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: fs.ErrNotExist}
	}
	names := make([]string, 0, len(d.entries))
	for n := range d.entries {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

// MkdirAll implements FS.
func (m *MemFS) MkdirAll(dir string, perm fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("mkdir"); err != nil {
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
	if err := m.check("stat"); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	parts := splitPath(name)
	if len(parts) == 0 {
		return memInfo{name: "/", dir: true}, nil
	}
	d, ok := m.lookupDir(parts[:len(parts)-1])
	if !ok {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	switch x := d.entries[parts[len(parts)-1]].(type) {
	case *memDir:
		return memInfo{name: parts[len(parts)-1], dir: true}, nil
	case *memFile:
		return memInfo{name: parts[len(parts)-1], size: int64(len(x.data))}, nil
	}
	return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

// SyncDir implements FS: the directory's entries become durable.
func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("syncdir"); err != nil {
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

// memHandle is an open file of a MemFS.
type memHandle struct {
	fs     *MemFS
	f      *memFile
	name   string
	flag   int
	offset int64
	closed bool
}

func (h *memHandle) usable(write bool) error {
	if h.fs.crashed {
		return ErrCrashed
	}
	if h.closed {
		return fs.ErrClosed
	}
	if write && h.flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		return fs.ErrPermission
	}
	if !write && h.flag&os.O_WRONLY != 0 {
		return fs.ErrPermission
	}
	return nil
}

func (h *memHandle) Name() string { return h.name }

func (h *memHandle) Read(p []byte) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	n, err := h.readAtLocked(p, h.offset)
	h.offset += int64(n)
	return n, err
}

func (h *memHandle) ReadAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	return h.readAtLocked(p, off)
}

func (h *memHandle) readAtLocked(p []byte, off int64) (int, error) {
	if err := h.usable(false); err != nil {
		return 0, &fs.PathError{Op: "read", Path: h.name, Err: err}
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: h.name, Err: fs.ErrInvalid}
	}
	if off >= int64(len(h.f.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *memHandle) Write(p []byte) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	off := h.offset
	if h.flag&os.O_APPEND != 0 {
		off = int64(len(h.f.data))
	}
	n, err := h.writeAtLocked(p, off)
	h.offset = off + int64(n)
	return n, err
}

func (h *memHandle) WriteAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	return h.writeAtLocked(p, off)
}

func (h *memHandle) writeAtLocked(p []byte, off int64) (int, error) {
	if err := h.usable(true); err != nil {
		return 0, &fs.PathError{Op: "write", Path: h.name, Err: err}
	}
	if err := h.fs.injected("write"); err != nil {
		return 0, &fs.PathError{Op: "write", Path: h.name, Err: err}
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "write", Path: h.name, Err: fs.ErrInvalid}
	}
	grow := max(0, off+int64(len(p))-int64(len(h.f.data)))
	if h.fs.quota > 0 && h.fs.used+grow > h.fs.quota {
		return 0, &fs.PathError{Op: "write", Path: h.name, Err: syscall.ENOSPC}
	}
	w := memWrite{off: off, data: slices.Clone(p)}
	h.f.data = applyWrite(h.f.data, w)
	h.f.pending = append(h.f.pending, w)
	h.fs.used += grow
	return len(p), nil
}

func (h *memHandle) Seek(offset int64, whence int) (int64, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.usable(false); err != nil && !errors.Is(err, fs.ErrPermission) {
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

func (h *memHandle) Close() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return &fs.PathError{Op: "close", Path: h.name, Err: fs.ErrClosed}
	}
	h.closed = true
	return nil
}

func (h *memHandle) Sync() error {
	h.fs.mu.Lock()
	onSync := h.fs.OnSync
	h.fs.mu.Unlock()
	if onSync != nil {
		onSync(h.name)
	}
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.usable(false); err != nil && !errors.Is(err, fs.ErrPermission) {
		return &fs.PathError{Op: "sync", Path: h.name, Err: err}
	}
	if err := h.fs.injected("sync"); err != nil {
		return &fs.PathError{Op: "sync", Path: h.name, Err: err}
	}
	// Replay the writes since the last sync onto the durable copy: the
	// cost is what was written, not the file's size.
	for _, w := range h.f.pending {
		h.f.synced = applyWrite(h.f.synced, w)
	}
	h.f.pending = nil
	h.fs.syncs++
	return nil
}

func (h *memHandle) Truncate(size int64) error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.usable(true); err != nil {
		return &fs.PathError{Op: "truncate", Path: h.name, Err: err}
	}
	if size < 0 {
		return &fs.PathError{Op: "truncate", Path: h.name, Err: fs.ErrInvalid}
	}
	grow := max(0, size-int64(len(h.f.data)))
	if h.fs.quota > 0 && h.fs.used+grow > h.fs.quota {
		return &fs.PathError{Op: "truncate", Path: h.name, Err: syscall.ENOSPC}
	}
	h.truncateLocked(size)
	return nil
}

func (h *memHandle) truncateLocked(size int64) {
	h.fs.used += size - int64(len(h.f.data))
	w := memWrite{off: size}
	h.f.data = applyWrite(h.f.data, w)
	h.f.pending = append(h.f.pending, w)
}

func (h *memHandle) Size() (int64, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.fs.crashed {
		return 0, ErrCrashed
	}
	return int64(len(h.f.data)), nil
}
