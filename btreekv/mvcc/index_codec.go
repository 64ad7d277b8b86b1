package mvcc

import (
	"encoding/binary"
	"slices"
)

// The packed form of a key's history, as the index keeps it, newest
// first, every number a uvarint:
//
//	number of generations
//	per generation, newest first:
//	  created   (main revision of the put that created the key)
//	  verBase   (the version before its oldest revision kept)
//	  number of revisions << 1 | 1 if the generation ended
//	  its items, newest first: the tombstone if it ended, then the
//	  revisions; each as
//	    main: the first item's main - created, every other's the
//	          main of the item before it (newer) - its own
//	    sub
//
// A key written once takes 6 to 9 bytes (its creation revision is the
// largest part); every further revision 2 or 3 more.
//
// Newest first, so that what a write or a read at the current revision
// needs is at the front: a put, a deletion or a restored record changes
// only the first few bytes of the history and copies the rest as it is,
// and reading the key's current version decodes the first generation's
// header and one item, however long the history. Only a compaction
// unpacks a whole history (unpackHistory).

// historyReader decodes a packed history. The index wrote every byte it
// reads, so a malformed history is a bug in this package, not bad input:
// it is not checked for.
type historyReader struct {
	b []byte
	p int // next byte to read
}

// next reads a uvarint; most (all but creation revisions) are one byte,
// read without binary.Uvarint's loop.
func (r *historyReader) next() uint64 {
	if r.p < len(r.b) {
		if c := r.b[r.p]; c < 0x80 {
			r.p++
			return uint64(c)
		}
	}
	v, n := binary.Uvarint(r.b[r.p:])
	r.p += n
	return v
}

// nextInt reads a uvarint as an int64 (revisions, versions and counts
// are never negative).
func (r *historyReader) nextInt() int64 { return int64(r.next()) }

// genHeader is a generation's header, as packed.
type genHeader struct {
	created, verBase int64
	revs             int  // number of revisions
	ended            bool // its first item is the tombstone
}

// items is the number of items packed after the header.
func (g genHeader) items() int {
	if g.ended {
		return g.revs + 1
	}
	return g.revs
}

// item reads a generation's item k (newest first): prev is the
// generation's creation revision for the first, else the main revision
// of the item read before it.
func (r *historyReader) item(k int, prev int64) Revision {
	d := r.nextInt()
	if k == 0 {
		return Revision{Main: prev + d, Sub: r.nextInt()}
	}
	return Revision{Main: prev - d, Sub: r.nextInt()}
}

func (r *historyReader) header() genHeader {
	g := genHeader{created: r.nextInt(), verBase: r.nextInt()}
	n := r.next()
	g.revs, g.ended = int(n>>1), n&1 == 1
	return g
}

func appendHeader(dst []byte, g genHeader) []byte {
	dst = binary.AppendUvarint(dst, uint64(g.created))
	dst = binary.AppendUvarint(dst, uint64(g.verBase))
	n := uint64(g.revs) << 1
	if g.ended {
		n |= 1
	}
	return binary.AppendUvarint(dst, n)
}

// front is the newest generation of a packed history and where its
// parts are, all a write needs.
type front struct {
	gens int // generations (0: the key has no history)
	genHeader
	first Revision // the generation's newest item (zero if it has none)
	// countEnd is where the generations' count ends; firstMainEnd where
	// the first item's main ends (its sub starts), or the header ends if
	// the generation has no item.
	countEnd, firstMainEnd int
}

// frontOf decodes the front of packed history h.
func frontOf(h []byte) front {
	if len(h) == 0 {
		return front{}
	}
	r := historyReader{b: h}
	f := front{gens: int(r.next())}
	f.countEnd = r.p
	f.genHeader = r.header()
	f.firstMainEnd = r.p
	if f.items() > 0 {
		// item(0, created), but noting where its sub starts.
		main := f.created + r.nextInt()
		f.firstMainEnd = r.p
		f.first = Revision{Main: main, Sub: r.nextInt()}
	}
	return f
}

// newest is the newest item of the history: its last write or tombstone
// (zero if it has none).
func (f *front) newest() Revision { return f.first }

// alive reports whether the key exists now.
func (f *front) alive() bool { return f.gens > 0 && !f.ended }

// appendNewGeneration appends h with a new generation in front: created
// at main revision created, its versions from verBase+1 on, and holding
// the one revision rev (rev.Main is created but for a generation
// restored after a compaction).
func appendNewGeneration(dst, h []byte, f *front, created, verBase int64, rev Revision) []byte {
	dst = binary.AppendUvarint(dst, uint64(f.gens+1))
	dst = appendHeader(dst, genHeader{created: created, verBase: verBase, revs: 1})
	dst = binary.AppendUvarint(dst, uint64(rev.Main-created))
	dst = binary.AppendUvarint(dst, uint64(rev.Sub))
	return append(dst, h[f.countEnd:]...)
}

// appendNewItem appends h with rev as the newest item of its newest
// generation (f, which must have not ended): a revision, or the
// tombstone that ends it. The item that was first is now second: only
// its main is packed anew (relative to rev's), and the rest of h is
// copied as it is.
func appendNewItem(dst, h []byte, f *front, rev Revision, tombstone bool) []byte {
	dst = binary.AppendUvarint(dst, uint64(f.gens))
	g := f.genHeader
	if tombstone {
		g.ended = true
	} else {
		g.revs++
	}
	dst = appendHeader(dst, g)
	dst = binary.AppendUvarint(dst, uint64(rev.Main-f.created))
	dst = binary.AppendUvarint(dst, uint64(rev.Sub))
	if f.items() > 0 {
		dst = binary.AppendUvarint(dst, uint64(rev.Main-f.first.Main))
	}
	return append(dst, h[f.firstMainEnd:]...)
}

// generation is one life of a key, unpacked: from its creation to its
// deletion.
type generation struct {
	// created is the main revision of the put that created the key.
	created int64
	// verBase is the version before revs[0] (compaction drops old revs
	// but versions keep counting from the creation).
	verBase int64
	revs    []Revision // oldest first
	// tombstone is the deletion that ended the generation (zero: alive).
	tombstone Revision
}

func (g *generation) ended() bool { return g.tombstone != (Revision{}) }

// appendHistory appends the packed form of gens (oldest first) to dst.
func appendHistory(dst []byte, gens []generation) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(gens)))
	for i := len(gens) - 1; i >= 0; i-- {
		g := &gens[i]
		dst = appendHeader(dst, genHeader{created: g.created, verBase: g.verBase, revs: len(g.revs), ended: g.ended()})
		prev, first := g.created, true
		item := func(r Revision) {
			if first {
				dst = binary.AppendUvarint(dst, uint64(r.Main-prev))
			} else {
				dst = binary.AppendUvarint(dst, uint64(prev-r.Main))
			}
			dst = binary.AppendUvarint(dst, uint64(r.Sub))
			prev, first = r.Main, false
		}
		if g.ended() {
			item(g.tombstone)
		}
		for j := len(g.revs) - 1; j >= 0; j-- {
			item(g.revs[j])
		}
	}
	return dst
}

// unpackHistory returns the generations of packed history h, oldest
// first, reusing gens, and their revisions in revs (returned too, for
// reuse: the generations' revisions are slices of it).
func unpackHistory(h []byte, gens []generation, revs []Revision) ([]generation, []Revision) {
	gens, revs = gens[:0], revs[:0]
	if len(h) == 0 {
		return gens, revs
	}
	r := historyReader{b: h}
	n := int(r.next())
	for range n {
		hd := r.header()
		at := len(revs)
		revs = slices.Grow(revs, hd.revs)[:at+hd.revs]
		g := generation{created: hd.created, verBase: hd.verBase, revs: revs[at : at+hd.revs : at+hd.revs]}
		prev := hd.created
		for k := range hd.items() {
			rev := r.item(k, prev)
			prev = rev.Main
			if hd.ended && k == 0 {
				g.tombstone = rev
			} else {
				g.revs[hd.items()-1-k] = rev
			}
		}
		gens = append(gens, g)
	}
	// Read newest first; kept oldest first.
	for i, j := 0, len(gens)-1; i < j; i, j = i+1, j-1 {
		gens[i], gens[j] = gens[j], gens[i]
	}
	return gens, revs
}
