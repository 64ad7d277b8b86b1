package pagefile

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
)

// freelist tracks the pages no committed tree uses. Pages a commit frees
// are pending until no reader can reach them any more (see release).
type freelist struct {
	free    []pgid            // sorted, reusable now
	pending map[uint64][]pgid // by the txid of the commit that freed them
}

func newFreelist() *freelist { return &freelist{pending: map[uint64][]pgid{}} }

func (f *freelist) copy() *freelist {
	c := &freelist{free: slices.Clone(f.free), pending: make(map[uint64][]pgid, len(f.pending))}
	for t, ids := range f.pending {
		c.pending[t] = slices.Clone(ids)
	}
	return c
}

// allocate takes a run of n contiguous free pages; 0 if there is none.
func (f *freelist) allocate(n int) pgid {
	run := 0
	for i, id := range f.free {
		if run > 0 && id == f.free[i-1]+1 {
			run++
		} else {
			run = 1
		}
		if run == n {
			start := id - pgid(n) + 1
			if i+1 == n {
				f.free = f.free[n:] // the common case, one page: O(1)
			} else {
				f.free = slices.Delete(f.free, i-n+1, i+1)
			}
			return start
		}
	}
	return 0
}

// freeLater records pages freed by the commit txid.
func (f *freelist) freeLater(txid uint64, ids []pgid) {
	if len(ids) > 0 {
		f.pending[txid] = append(f.pending[txid], ids...)
	}
}

// release makes reusable the pages freed by commits up to txid: a reader
// of tree R can only reach pages freed by commits after R, so once every
// open reader is at txid or later, those pages are unreachable.
func (f *freelist) release(txid uint64) {
	for t, ids := range f.pending {
		if t <= txid {
			f.free = append(f.free, ids...)
			delete(f.pending, t)
		}
	}
	slices.Sort(f.free)
}

func (f *freelist) pendingCount() int {
	n := 0
	for _, ids := range f.pending {
		n += len(ids)
	}
	return n
}

// all returns every free and pending page, sorted: what is free after a
// restart, when no reader exists.
func (f *freelist) all() []pgid {
	out := slices.Clone(f.free)
	for _, t := range slices.Sorted(maps.Keys(f.pending)) {
		out = append(out, f.pending[t]...)
	}
	slices.Sort(out)
	return out
}

// encodedSize is the bytes the freelist takes on disk.
func (f *freelist) encodedSize() int { return pageHeaderSize + 8*(len(f.free)+f.pendingCount()) }

func (f *freelist) encode(buf []byte, pageSize int) {
	ids := f.all()
	putHeader(buf, pageHeader{typ: pageFreelist, count: uint32(len(ids)), overflow: uint32(len(buf)/pageSize - 1)})
	p := buf[pageHeaderSize:]
	for i, id := range ids {
		binary.LittleEndian.PutUint64(p[8*i:], id)
	}
	clear(p[8*len(ids):])
	sealPage(buf)
}

func decodeFreelist(b []byte, id pgid, h pageHeader, hwm pgid) (*freelist, error) {
	if len(b) < pageHeaderSize || uint64(h.count)*8 > uint64(len(b)-pageHeaderSize) {
		return nil, fmt.Errorf("%w %d: freelist of %d pages does not fit", ErrCorrupt, id, h.count)
	}
	f := newFreelist()
	f.free = make([]pgid, h.count)
	for i := range f.free {
		f.free[i] = binary.LittleEndian.Uint64(b[pageHeaderSize+8*i:])
		if f.free[i] < 2 || f.free[i] >= hwm || (i > 0 && f.free[i] <= f.free[i-1]) {
			return nil, fmt.Errorf("%w %d: freelist entry %d (page %d) invalid", ErrCorrupt, id, i, f.free[i])
		}
	}
	return f, nil
}
