package pagefile

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
)

// freelist tracks the pages no committed tree uses. Pages a commit frees
// are pending until no reader can reach them any more (see release).
//
// The reusable pages are kept as spans of contiguous pages: a compaction
// frees whole runs (a large value's overflow pages, neighbouring leaves),
// so a list of 400,000 free pages is a few tens of thousands of spans.
// Each write transaction copies the list and each commit writes it, so
// its cost per commit is that of the spans, not of the pages.
type freelist struct {
	free    []span            // sorted, disjoint, never touching: reusable now
	pending map[uint64][]pgid // by the txid of the commit that freed them
}

// span is n contiguous pages from start.
type span struct{ start, n pgid }

// end is the page just after the span.
func (s span) end() pgid { return s.start + s.n }

func newFreelist() *freelist { return &freelist{pending: map[uint64][]pgid{}} }

func (f *freelist) copy() *freelist {
	c := &freelist{free: slices.Clone(f.free), pending: make(map[uint64][]pgid, len(f.pending))}
	for t, ids := range f.pending {
		c.pending[t] = slices.Clone(ids)
	}
	return c
}

// freeCount is the number of reusable pages.
func (f *freelist) freeCount() int {
	n := 0
	for _, s := range f.free {
		n += int(s.n)
	}
	return n
}

// freePages returns the reusable pages one by one, sorted.
func (f *freelist) freePages() []pgid {
	out := make([]pgid, 0, f.freeCount())
	for _, s := range f.free {
		for id := s.start; id < s.end(); id++ {
			out = append(out, id)
		}
	}
	return out
}

// spansOf groups sorted, distinct pages into spans.
func spansOf(ids []pgid) []span {
	var out []span
	for _, id := range ids {
		if k := len(out) - 1; k >= 0 && out[k].end() == id {
			out[k].n++
		} else {
			out = append(out, span{id, 1})
		}
	}
	return out
}

// allocate takes a run of n contiguous free pages, the first (lowest)
// span long enough; 0 if there is none. It takes the span's first pages,
// so the number of spans never grows.
func (f *freelist) allocate(n int) pgid {
	for i, s := range f.free {
		if s.n < pgid(n) {
			continue
		}
		if s.n == pgid(n) {
			f.free = slices.Delete(f.free, i, i+1)
		} else {
			f.free[i] = span{s.start + pgid(n), s.n - pgid(n)}
		}
		return s.start
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
// pending, and which. It costs a binary search of the free spans per id
// and one pass over the pending pages: nothing that grows with the free
// list alone, which a compaction of many large values makes long.
func (f *freelist) firstListed(ids []pgid) (pgid, string, bool) {
	for _, id := range ids {
		if f.isFree(id) {
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

// isFree reports whether page id is in a free span.
func (f *freelist) isFree(id pgid) bool {
	i := sort.Search(len(f.free), func(i int) bool { return f.free[i].end() > id })
	return i < len(f.free) && f.free[i].start <= id
}

// release makes reusable the pages freed by commits up to txid: a reader
// of tree R can only reach pages freed by commits after R, so once every
// open reader is at txid or later, those pages are unreachable.
//
// It runs at the start of every write transaction, so it sorts only the
// released pages and merges their spans with the free ones. (Sorting the
// whole list of pages instead cost 10 ms per commit at 100,000 free
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
	merged, err := mergeSpans(f.free, spansOf(ids))
	if err != nil {
		return err
	}
	f.free = merged
	return nil
}

// mergeSpans merges two sorted lists of spans into one, joining spans
// that touch. A page in both (or a list out of order, which would hide
// one) is refused: the invariant "page freed once".
func mergeSpans(a, b []span) ([]span, error) {
	out := make([]span, 0, len(a)+len(b))
	push := func(s span) error {
		k := len(out) - 1
		switch {
		case k >= 0 && s.start < out[k].end():
			return violated(invPageFreedOnce, "page %d is on the free list twice", max(s.start, out[k].start))
		case k >= 0 && s.start == out[k].end():
			out[k].n += s.n
		default:
			out = append(out, s)
		}
		return nil
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var s span
		if j == len(b) || (i < len(a) && a[i].start <= b[j].start) {
			s, i = a[i], i+1
		} else {
			s, j = b[j], j+1
		}
		if err := push(s); err != nil {
			return nil, err
		}
	}
	return out, nil
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
	out := make([]pgid, 0, f.freeCount()+f.pendingCount())
	f.eachSpan(func(s span) {
		for id := s.start; id < s.end(); id++ {
			out = append(out, id)
		}
	})
	return out
}

// eachSpan calls fn with the spans of every free and pending page, in
// order, spans that touch joined. The pending pages (few) are sorted and
// merged with the free spans (sorted already, and perhaps many): no sort
// of the whole list.
func (f *freelist) eachSpan(fn func(span)) {
	pend := make([]pgid, 0, f.pendingCount())
	for _, ids := range f.pending {
		pend = append(pend, ids...)
	}
	slices.Sort(pend)
	var cur span
	emit := func(s span) {
		switch {
		case cur.n == 0:
			cur = s
		case s.start <= cur.end():
			cur.n = max(cur.end(), s.end()) - cur.start
		default:
			fn(cur)
			cur = s
		}
	}
	i, j := 0, 0
	for i < len(f.free) || j < len(pend) {
		if j == len(pend) || (i < len(f.free) && f.free[i].start < pend[j]) {
			emit(f.free[i])
			i++
		} else {
			emit(span{pend[j], 1})
			j++
		}
	}
	if cur.n > 0 {
		fn(cur)
	}
}

// spanSize is the bytes one span takes on disk: its first page and its
// length, 8 bytes each.
const spanSize = 16

// encodedSize is at most the bytes the freelist takes on disk. It is an
// upper bound (one span per free span and pending page) that allocating
// pages from the list, which the commit does between sizing the list and
// encoding it, cannot exceed: allocation takes the start of a span, so it
// never adds one.
func (f *freelist) encodedSize() int {
	return pageHeaderSize + spanSize*(len(f.free)+f.pendingCount())
}

// encode writes the free and pending pages as spans (a page of type
// freelist-spans): what is free after a restart.
func (f *freelist) encode(buf []byte, pageSize int) {
	p := buf[pageHeaderSize:]
	n := 0
	f.eachSpan(func(s span) {
		binary.LittleEndian.PutUint64(p, s.start)
		binary.LittleEndian.PutUint64(p[8:], s.n)
		p = p[spanSize:]
		n++
	})
	clear(p)
	putHeader(buf, pageHeader{typ: pageFreelistSpans, count: uint32(n), overflow: uint32(len(buf)/pageSize - 1)})
	sealPage(buf)
}

// decodeFreelist reads a freelist page run: spans (pageFreelistSpans), or
// one id per page as files written before spans were (pageFreelist).
// Every page must be a node page of the file, listed once, in order.
func decodeFreelist(b []byte, id pgid, h pageHeader, hwm pgid) (*freelist, error) {
	size := uint64(8)
	if h.typ == pageFreelistSpans {
		size = spanSize
	}
	if len(b) < pageHeaderSize || uint64(h.count)*size > uint64(len(b)-pageHeaderSize) {
		return nil, fmt.Errorf("%w %d: freelist of %d entries does not fit", ErrCorrupt, id, h.count)
	}
	f := newFreelist()
	f.free = make([]span, 0, h.count)
	prevEnd := pgid(2)
	for i := range int(h.count) {
		e := b[pageHeaderSize+int(size)*i:]
		s := span{binary.LittleEndian.Uint64(e), 1}
		if h.typ == pageFreelistSpans {
			s.n = binary.LittleEndian.Uint64(e[8:])
		}
		// Spans as written never touch (encode joins them); ids do.
		touching := h.typ == pageFreelistSpans && i > 0 && s.start == prevEnd
		if s.start < prevEnd || touching || s.n == 0 || s.n > hwm || s.start > hwm-s.n {
			return nil, fmt.Errorf("%w %d: freelist entry %d (pages %d+%d) invalid", ErrCorrupt, id, i, s.start, s.n)
		}
		if k := len(f.free) - 1; k >= 0 && f.free[k].end() == s.start {
			f.free[k].n += s.n
		} else {
			f.free = append(f.free, s)
		}
		prevEnd = s.end()
	}
	return f, nil
}
