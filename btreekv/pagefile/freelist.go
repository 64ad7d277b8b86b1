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

// freeLater records pages freed by the commit txid. ids must be sorted.
// It refuses (invariant "page freed once") a page freed twice, whether
// twice in ids — which also catches two freed runs that overlap — or
// once in ids and once already on the list, and a page that is not a
// node page of the file (a meta page, or one past hwm). Accepting either
// would let two later commits allocate the same page, and one overwrite
// the other's node.
func (f *freelist) freeLater(txid uint64, ids []pgid, hwm pgid) error {
	for i, id := range ids {
		if i > 0 && id == ids[i-1] {
			return violated(invPageFreedOnce, "page %d freed twice", id)
		}
		if id < 2 || id >= hwm {
			return violated(invPageFreedOnce, "page %d freed, but the file's node pages are [2, %d)", id, hwm)
		}
	}
	if id, where, ok := f.firstListed(ids); ok {
		return violated(invPageFreedOnce, "page %d freed while it is already %s", id, where)
	}
	if len(ids) > 0 {
		f.pending[txid] = append(f.pending[txid], ids...)
	}
	return nil
}

// firstListed returns the first of the sorted ids that is already free or
// pending, and which. It costs one pass over the free list (sorted) and
// one over the pending pages, as much as copying the list already does.
func (f *freelist) firstListed(ids []pgid) (pgid, string, bool) {
	if len(ids) == 0 {
		return 0, "", false
	}
	i, j := 0, 0
	for i < len(ids) && j < len(f.free) {
		switch {
		case ids[i] == f.free[j]:
			return ids[i], "free", true
		case ids[i] < f.free[j]:
			i++
		default:
			j++
		}
	}
	for t, pend := range f.pending {
		for _, id := range pend {
			if _, found := slices.BinarySearch(ids, id); found {
				return id, fmt.Sprintf("pending (freed by commit %d)", t), true
			}
		}
	}
	return 0, "", false
}

// release makes reusable the pages freed by commits up to txid: a reader
// of tree R can only reach pages freed by commits after R, so once every
// open reader is at txid or later, those pages are unreachable.
func (f *freelist) release(txid uint64) error {
	for t, ids := range f.pending {
		if t <= txid {
			f.free = append(f.free, ids...)
			delete(f.pending, t)
		}
	}
	slices.Sort(f.free)
	// freeLater refused every page already listed, so the merged list
	// has no duplicate; a copy of the list shared by mistake would.
	for i := 1; i < len(f.free); i++ {
		if f.free[i] == f.free[i-1] {
			return violated(invPageFreedOnce, "page %d is on the free list twice", f.free[i])
		}
	}
	return nil
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
