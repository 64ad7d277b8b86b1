package mvcc

import "encoding/binary"

// The packed form of a key's history, as the index keeps it:
//
//	uvarint  number of generations
//	per generation, oldest first:
//	  varint   created (main revision)
//	  varint   verBase
//	  uvarint  number of revisions << 1 | 1 if the generation ended
//	  per revision: varint main - previous main (the first: - created),
//	                varint sub
//	  if ended: varint tombstone main - last main, varint tombstone sub
//
// A key written once takes 6 to 9 bytes (its revision's main number is
// the largest part); every further revision 2 or 3 more.

// appendHistory appends the packed form of gens to dst.
func appendHistory(dst []byte, gens []generation) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(gens)))
	for i := range gens {
		g := &gens[i]
		dst = binary.AppendVarint(dst, g.created)
		dst = binary.AppendVarint(dst, g.verBase)
		n := uint64(len(g.revs)) << 1
		if g.ended() {
			n |= 1
		}
		dst = binary.AppendUvarint(dst, n)
		prev := g.created
		for _, r := range g.revs {
			dst = binary.AppendVarint(dst, r.Main-prev)
			dst = binary.AppendVarint(dst, r.Sub)
			prev = r.Main
		}
		if g.ended() {
			dst = binary.AppendVarint(dst, g.tombstone.Main-prev)
			dst = binary.AppendVarint(dst, g.tombstone.Sub)
		}
	}
	return dst
}

// historyReader decodes a packed history. The index wrote every byte it
// reads, so a malformed history is a bug in this package, not bad input:
// it is not checked for.
type historyReader struct {
	b []byte
	p int // next byte to read
}

// uvarint reads a uvarint; most (all but revision numbers) are one byte,
// read without binary.Uvarint's loop.
func (r *historyReader) uvarint() uint64 {
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

// varint reads a varint (zigzag encoded, as binary.AppendVarint writes).
func (r *historyReader) varint() int64 {
	u := r.uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

// decodeHistory sets ki's generations from their packed form, reusing
// ki's slices: the generations' revisions are slices of ki.revs (each
// capped at its end but the last's, so that a put appending to the last
// generation overwrites nothing).
func decodeHistory(b []byte, ki *keyIndex) {
	r := historyReader{b: b}
	ngens := int(r.uvarint())
	ki.gens = ki.gens[:0]
	ki.revs = ki.revs[:0]
	for range ngens {
		g := generation{created: r.varint(), verBase: r.varint()}
		n := r.uvarint()
		from := len(ki.revs)
		prev := g.created
		for range n >> 1 {
			rev := Revision{Main: prev + r.varint(), Sub: r.varint()}
			ki.revs = append(ki.revs, rev)
			prev = rev.Main
		}
		if n&1 == 1 {
			g.tombstone = Revision{Main: prev + r.varint(), Sub: r.varint()}
		}
		// For now only its length counts: ki.revs may still move.
		g.revs = ki.revs[from:]
		ki.gens = append(ki.gens, g)
	}
	at := 0
	for i := range ki.gens {
		end := at + len(ki.gens[i].revs)
		ki.gens[i].revs = ki.revs[at:end:end]
		at = end
	}
	if n := len(ki.gens); n > 0 {
		last := &ki.gens[n-1]
		last.revs = ki.revs[at-len(last.revs) : at]
	}
}
