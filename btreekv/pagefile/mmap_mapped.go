//go:build linux || darwin

package pagefile

import (
	"fmt"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"

	"github.com/cairndb/cairn/internal/fsx"
)

// defaultMapStep is the granularity of a mapping's length: the mapping
// reaches past the end of the file to the next multiple, so that a file
// growing by its commits is mapped again only once per step. Only bytes
// below the file's size are ever read from it.
const defaultMapStep = 1 << 30

// mappedFile is the page file with its reads served from a shared,
// read-only mapping instead of one pread system call each: on a store
// larger than the page cache's budget, the reads of leaves not cached
// spent a seventh of a member's CPU in the system call. The writes still
// go through the file (the kernel keeps the two coherent), and every page
// read is checked (checkPage) as before. A read the mapping does not
// cover (past the file's end as last seen, which a longer file updates)
// goes to the file, which reports a short file as it always did.
//
// The pages a member read stay resident as the operating system's cache
// of the file and count in its RSS, as etcd's mapped file does; they are
// the kernel's to reclaim, not the Go heap (docs/memory.md).
type mappedFile struct {
	fsx.File
	fd   int
	step int64 // the mapping's length is a multiple of step

	mu   sync.RWMutex
	data []byte // the mapping; nil when none
	size int64  // the file's size when last looked at: reads below it use data
}

// mapReads returns f with its reads served from a mapping whose length
// is a multiple of step, where the platform and the file allow it, or f
// itself.
func mapReads(f fsx.File, step int64) fsx.File {
	fd, ok := fsx.Fd(f)
	if !ok || strconv.IntSize < 64 {
		return f
	}
	return &mappedFile{File: f, fd: int(fd), step: step}
}

// ReadAt reads len(p) bytes at off, from the mapping when it covers them.
func (m *mappedFile) ReadAt(p []byte, off int64) (int, error) {
	end := off + int64(len(p))
	for range 2 {
		m.mu.RLock()
		if off >= 0 && end <= m.size {
			n, err := m.copyOut(p, off)
			m.mu.RUnlock()
			return n, err
		}
		m.mu.RUnlock()
		if !m.cover(end) {
			break
		}
	}
	return m.File.ReadAt(p, off)
}

// ReadAtUnmapped reads with a system call, whatever the mapping holds.
func (m *mappedFile) ReadAtUnmapped(p []byte, off int64) (int, error) { return m.File.ReadAt(p, off) }

// copyOut copies from the mapping. A fault there (the file shortened
// underneath: nothing in cairn does that) is an error, not a crash.
func (m *mappedFile) copyOut(p []byte, off int64) (n int, err error) {
	was := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(was)
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("reading %d bytes at %d of the mapped file: %v", len(p), off, r)
		}
	}()
	return copy(p, m.data[off:off+int64(len(p))]), nil
}

// cover makes the mapping cover the bytes below end if the file now has
// them, mapping the file again if it grew past the mapping; it reports
// whether it does.
func (m *mappedFile) cover(end int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if end <= m.size {
		return true
	}
	size, err := m.File.Size()
	if err != nil || size < end {
		return false
	}
	if size > int64(len(m.data)) {
		length := (size + m.step - 1) / m.step * m.step
		data, err := syscall.Mmap(m.fd, 0, int(length), syscall.PROT_READ, syscall.MAP_SHARED)
		if err != nil {
			return false // the file's own reads go on
		}
		if m.data != nil {
			_ = syscall.Munmap(m.data)
		}
		m.data = data
	}
	m.size = size
	return true
}

// Close unmaps the file, then closes it.
func (m *mappedFile) Close() error {
	m.mu.Lock()
	if m.data != nil {
		_ = syscall.Munmap(m.data)
		m.data, m.size = nil, 0
	}
	m.mu.Unlock()
	return m.File.Close()
}
