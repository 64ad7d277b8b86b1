package pagefile

import (
	"encoding/binary"
	"errors"
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestFreelistReleaseMerges checks release against its definition: the
// free list becomes the sorted union of the free pages and those pending
// under commits up to txid, the later ones stay pending, and all() is
// every page either way.
func TestFreelistReleaseMerges(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		// Distinct pages, each free, pending under a commit 1-4, or used.
		pages := rapid.SliceOfNDistinct(rapid.Uint64Range(2, 400), 0, 120, rapid.ID[uint64]).Draw(rt, "pages")
		f := newFreelist()
		want := map[uint64][]pgid{}
		var free []pgid
		for _, id := range pages {
			where := rapid.IntRange(0, 5).Draw(rt, "where")
			switch {
			case where == 0:
				free = append(free, id)
			case where <= 4:
				want[uint64(where)] = append(want[uint64(where)], id)
			}
		}
		slices.Sort(free)
		f.free = spansOf(free)
		for txid, ids := range want {
			slices.Sort(ids)
			if err := f.freeLater(txid, ids, 401); err != nil {
				rt.Fatalf("freeLater(%d): %v", txid, err)
			}
		}
		all := f.all()
		wantAll := slices.Clone(free)
		for _, ids := range want {
			wantAll = append(wantAll, ids...)
		}
		slices.Sort(wantAll)
		if !slices.Equal(all, wantAll) {
			rt.Fatalf("all() = %v, want %v", all, wantAll)
		}
		buf := make([]byte, (f.encodedSize()/64+1)*64)
		f.encode(buf, 64)
		h, err := checkPage(buf, 9, pageFreelist)
		if err != nil {
			rt.Fatalf("encoded freelist: %v", err)
		}
		dec, err := decodeFreelist(buf, 9, h, 401)
		if err != nil || !slices.Equal(dec.freePages(), wantAll) || !slices.Equal(dec.free, spansOf(wantAll)) {
			rt.Fatalf("encoded and decoded: %v (%v), want %v", dec, err, wantAll)
		}
		txid := rapid.Uint64Range(0, 5).Draw(rt, "txid")
		wantFree := slices.Clone(free)
		for t, ids := range want {
			if t <= txid {
				wantFree = append(wantFree, ids...)
			}
		}
		slices.Sort(wantFree)
		if err := f.release(txid); err != nil {
			rt.Fatalf("release(%d): %v", txid, err)
		}
		// Spans that touch are joined: the spans are those of the pages.
		if !slices.Equal(f.free, spansOf(wantFree)) {
			rt.Fatalf("release(%d): free %v, want the spans of %v", txid, f.free, wantFree)
		}
		for _, t := range slices.Sorted(maps.Keys(f.pending)) {
			if t <= txid {
				rt.Fatalf("release(%d): commit %d still pending", txid, t)
			}
			if !slices.Equal(f.pending[t], want[t]) {
				rt.Fatalf("release(%d): pending[%d] = %v, want %v", txid, t, f.pending[t], want[t])
			}
		}
		if got := f.all(); !slices.Equal(got, all) {
			rt.Fatalf("all() changed by release: %v, was %v", got, all)
		}
	})
}

// TestFreelistReleaseRefusesDuplicates: a page both free and pending, or
// pending under two commits, is refused when released, wherever it sits
// in the list.
func TestFreelistReleaseRefusesDuplicates(t *testing.T) {
	cases := []struct {
		free    []pgid
		pending map[uint64][]pgid
		detail  string
	}{
		{[]pgid{3, 5, 9}, map[uint64][]pgid{1: {5}}, "page 5 is on the free list twice"},
		{[]pgid{3, 5, 9}, map[uint64][]pgid{1: {2, 9}}, "page 9 is on the free list twice"},
		{[]pgid{3, 5, 9}, map[uint64][]pgid{1: {3, 10}}, "page 3 is on the free list twice"},
		{nil, map[uint64][]pgid{1: {4, 6}, 2: {6}}, "page 6 is pending twice"},
	}
	for _, c := range cases {
		f := &freelist{free: spansOf(c.free), pending: c.pending}
		wantViolation(t, f.release(2), invPageFreedOnce, c.detail)
	}
}

// TestFreelistAllocateFirstFit checks allocate against its definition:
// the lowest run of n contiguous free pages is taken (0 if there is
// none), and the list keeps every other page, sorted.
func TestFreelistAllocateFirstFit(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		free := rapid.SliceOfNDistinct(rapid.Uint64Range(2, 200), 0, 150, rapid.ID[uint64]).Draw(rt, "free")
		slices.Sort(free)
		n := rapid.IntRange(1, 6).Draw(rt, "n")
		want := pgid(0)
		for i := n - 1; i < len(free) && want == 0; i++ {
			if free[i]-free[i-n+1] == pgid(n-1) {
				want = free[i-n+1]
			}
		}
		f := &freelist{free: spansOf(free), pending: map[uint64][]pgid{}}
		got := f.allocate(n)
		if got != want {
			rt.Fatalf("allocate(%d) of %v = %d, want %d", n, free, got, want)
		}
		rest := slices.DeleteFunc(slices.Clone(free), func(id pgid) bool { return want != 0 && id >= want && id < want+pgid(n) })
		if !slices.Equal(f.freePages(), rest) {
			rt.Fatalf("allocate(%d) of %v left %v, want %v", n, free, f.free, rest)
		}
	})
}

// TestDecodeFreelistOfPageIDs: a file written before spans lists one id
// per free page; it still opens, its pages joined into spans.
func TestDecodeFreelistOfPageIDs(t *testing.T) {
	ids := []pgid{3, 4, 5, 9, 11, 12}
	buf := make([]byte, 128)
	putHeader(buf, pageHeader{typ: pageFreelist, count: uint32(len(ids))})
	for i, id := range ids {
		binary.LittleEndian.PutUint64(buf[pageHeaderSize+8*i:], id)
	}
	sealPage(buf)
	h, err := checkPage(buf, 9, pageFreelist)
	if err != nil {
		t.Fatal(err)
	}
	f, err := decodeFreelist(buf, 9, h, 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := []span{{3, 3}, {9, 1}, {11, 2}}; !slices.Equal(f.free, want) {
		t.Fatalf("spans %v, want %v", f.free, want)
	}
}

// TestDecodeFreelistRefusesBadSpans: spans out of order, overlapping,
// touching (the encoder joins those), empty, or past the end of the file
// are a damaged page, never a list that hands out a page twice.
func TestDecodeFreelistRefusesBadSpans(t *testing.T) {
	for _, spans := range [][]span{
		{{10, 2}, {5, 1}},  // out of order
		{{10, 3}, {12, 1}}, // overlapping
		{{10, 2}, {12, 1}}, // touching
		{{10, 0}},          // empty
		{{1, 2}},           // a meta page
		{{95, 6}},          // past hwm 100
		{{2, ^pgid(0)}},    // a length that wraps
	} {
		buf := make([]byte, 128)
		putHeader(buf, pageHeader{typ: pageFreelistSpans, count: uint32(len(spans))})
		for i, sp := range spans {
			binary.LittleEndian.PutUint64(buf[pageHeaderSize+spanSize*i:], sp.start)
			binary.LittleEndian.PutUint64(buf[pageHeaderSize+spanSize*i+8:], sp.n)
		}
		sealPage(buf)
		h, err := checkPage(buf, 9, pageFreelist)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeFreelist(buf, 9, h, 100); !errors.Is(err, ErrCorrupt) {
			t.Errorf("spans %v decoded: %v, want ErrCorrupt", spans, err)
		}
	}
}
