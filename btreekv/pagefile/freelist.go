package pagefile

import (
	"encoding/binary"
	"fmt"
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
			// Close the gap by moving the pages before the run, not
			// those after it: first fit finds runs early, so this
			// costs what the scan did, not the length of the list
			// (with one page, nothing moves).
			start := id - pgid(n) + 1
			copy(f.free[n:i+1], f.free[:i+1-n])
			f.free = f.free[n:]
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
// pending, and which. It costs a binary search of the free list per id
// and one pass over the pending pages: nothing that grows with the free
// list alone, which a compaction of many large values makes long.
func (f *freelist) firstListed(ids []pgid) (pgid, string, bool) {
	for _, id := range ids {
		if _, found := slices.BinarySearch(f.free, id); found {
			return id, "free", true
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
//
// It runs at the start of every write transaction, so it sorts only the
// released pages and merges them into the free list in place, from the
// back: the free list's pages below the first released one do not move.
// (Sorting the whole list instead cost 10 ms per commit at 100,000 free
// pages and 86 ms at 400,000, enough to slow puts tenfold after a
// compaction of large values: see BenchmarkFreelistCommit.)
func (f *freelist) release(txid uint64) error {
	var ids []pgid
	for t, pend := range f.pending {
		if t <= txid {
			ids = append(ids, pend...)
			delete(f.pending, t)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	// freeLater refused every page already listed, so neither the
	// released pages nor the merged list have a duplicate; a copy of
	// the list shared by mistake would.
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			return violated(invPageFreedOnce, "page %d is pending twice", ids[i])
		}
	}
	n := len(f.free)
	f.free = slices.Grow(f.free, len(ids))[:n+len(ids)]
	i, j := n-1, len(ids)-1
	for k := len(f.free) - 1; j >= 0; k-- {
		switch {
		case i >= 0 && f.free[i] == ids[j]:
			return violated(invPageFreedOnce, "page %d is on the free list twice", ids[j])
		case i >= 0 && f.free[i] > ids[j]:
			f.free[k] = f.free[i]
			i--
		default:
			f.free[k] = ids[j]
			j--
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
	out := make([]pgid, 0, len(f.free)+f.pendingCount())
	f.eachSorted(func(id pgid) { out = append(out, id) })
	return out
}

// eachSorted calls fn with every free and pending page in order. The
// pending pages (few) are sorted and merged with the free ones (sorted
// already, and perhaps many): no sort of the whole list.
func (f *freelist) eachSorted(fn func(pgid)) {
	pend := make([]pgid, 0, f.pendingCount())
	for _, ids := range f.pending {
		pend = append(pend, ids...)
	}
	slices.Sort(pend)
	i, j := 0, 0
	for i < len(f.free) || j < len(pend) {
		if j == len(pend) || (i < len(f.free) && f.free[i] < pend[j]) {
			fn(f.free[i])
			i++
		} else {
			fn(pend[j])
			j++
		}
	}
}

// encodedSize is the bytes the freelist takes on disk.
func (f *freelist) encodedSize() int { return pageHeaderSize + 8*(len(f.free)+f.pendingCount()) }

func (f *freelist) encode(buf []byte, pageSize int) {
	n := len(f.free) + f.pendingCount()
	putHeader(buf, pageHeader{typ: pageFreelist, count: uint32(n), overflow: uint32(len(buf)/pageSize - 1)})
	p := buf[pageHeaderSize:]
	f.eachSorted(func(id pgid) {
		binary.LittleEndian.PutUint64(p, id)
		p = p[8:]
	})
	clear(p)
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
