package mvcc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
)

// Revision names one change: Main is the store revision of the write
// transaction, Sub the change's position inside it.
type Revision struct {
	Main int64
	Sub  int64
}

// Less orders revisions.
func (r Revision) Less(o Revision) bool {
	return r.Main < o.Main || (r.Main == o.Main && r.Sub < o.Sub)
}

// cmpRev orders revisions for slices.SortFunc.
func cmpRev(a, b Revision) int {
	switch {
	case a.Less(b):
		return -1
	case b.Less(a):
		return 1
	}
	return 0
}

// revBytes is the backend key of a revision: big endian, so byte order is
// revision order.
func revBytes(r Revision) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, uint64(r.Main))
	binary.BigEndian.PutUint64(b[8:], uint64(r.Sub))
	return b
}

func bytesRev(b []byte) (Revision, error) {
	if len(b) != 16 {
		return Revision{}, fmt.Errorf("mvcc: revision key of %d bytes", len(b))
	}
	return Revision{Main: int64(binary.BigEndian.Uint64(b)), Sub: int64(binary.BigEndian.Uint64(b[8:]))}, nil
}

// keyIndex is the history of one key as the index hands it out: its
// packed form (index_codec.go), read in place, and changed by building a
// new packed form in the keyIndex's own buffers, which index.write then
// stores. Every method but compact reads or changes only the front of
// the history: its cost does not grow with the number of revisions.
type keyIndex struct {
	key []byte
	// h is the packed history: a slice of the index's own bytes until a
	// change, then of buf.
	h []byte
	// buf and spare are where changes are built, reused; gens is what
	// compact unpacks into.
	buf, spare []byte
	gens       []generation
	revs       []Revision
}

// set makes packed the key's history, built in ki.buf: the old buffer
// becomes the spare for the next change (h may be in it until then).
func (ki *keyIndex) set(packed []byte) {
	ki.h = packed
	ki.buf, ki.spare = ki.spare, packed
}

// scratch is the buffer the next change is built in: never the one h is
// in.
func (ki *keyIndex) scratch() []byte { return ki.buf[:0] }

// newest returns the key's newest revision: its last write or tombstone
// (zero if it has no history).
func (ki *keyIndex) newest() Revision {
	f := frontOf(ki.h)
	return f.newest()
}

// checkAfter asserts that rev is newer than everything in the key's
// history.
func (ki *keyIndex) checkAfter(f *front, rev Revision) error {
	if last := f.newest(); !last.Less(rev) {
		return violated(invRevisionsIncreasing, "key %q: revision %v after %v", ki.key, rev, last)
	}
	return nil
}

// put records a write of the key at rev.
func (ki *keyIndex) put(rev Revision) error {
	f := frontOf(ki.h)
	if err := ki.checkAfter(&f, rev); err != nil {
		return err
	}
	if !f.alive() {
		ki.set(appendNewGeneration(ki.scratch(), ki.h, &f, rev.Main, 0, rev))
		return nil
	}
	ki.set(appendNewItem(ki.scratch(), ki.h, &f, rev, false))
	return nil
}

// restore records a write recovered from the backend with its version
// and creation revision (the generation may have lost older revisions to
// compaction).
func (ki *keyIndex) restore(rev Revision, created, version int64) error {
	f := frontOf(ki.h)
	if err := ki.checkAfter(&f, rev); err != nil {
		return err
	}
	if rev.Main < created {
		return violated(invCreatedBeforeModified, "key %q: revision %v in a generation created at %d", ki.key, rev, created)
	}
	if !f.alive() || f.created != created {
		if version < 1 || (rev.Main == created && version != 1) {
			return violated(invVersionsCountUp, "key %q: version %d at revision %v of a generation created at %d", ki.key, version, rev, created)
		}
		ki.set(appendNewGeneration(ki.scratch(), ki.h, &f, created, version-1, rev))
		return nil
	}
	if version != f.verBase+int64(f.revs)+1 {
		return violated(invVersionsCountUp, "key %q: version %d at revision %v after version %d", ki.key, version, rev, f.verBase+int64(f.revs))
	}
	ki.set(appendNewItem(ki.scratch(), ki.h, &f, rev, false))
	return nil
}

// tombstone records the key's deletion at rev: it ends the key's live
// generation.
func (ki *keyIndex) tombstone(rev Revision) error {
	f := frontOf(ki.h)
	if !f.alive() {
		return violated(invTombstoneEndsGeneration, "key %q: tombstone at %v without a live generation", ki.key, rev)
	}
	if err := ki.checkAfter(&f, rev); err != nil {
		return err
	}
	ki.set(appendNewItem(ki.scratch(), ki.h, &f, rev, true))
	return nil
}

// alive reports whether the key exists now.
func (ki *keyIndex) alive() bool {
	f := frontOf(ki.h)
	return f.alive()
}

// last returns the revision of the key's current value, with its
// creation revision and version; ok is false if the key does not exist.
func (ki *keyIndex) last() (rev Revision, created, version int64, ok bool) {
	f := frontOf(ki.h)
	if !f.alive() || f.revs == 0 {
		return Revision{}, 0, 0, false
	}
	return f.first, f.created, f.verBase + int64(f.revs), true
}

// get returns the revision of the key's value as of store revision at,
// with its creation revision and version; ok is false if the key did not
// exist then. It reads from the newest revision back, and stops at the
// first at or before at.
func (ki *keyIndex) get(at int64) (rev Revision, created, version int64, ok bool) {
	if len(ki.h) == 0 {
		return Revision{}, 0, 0, false
	}
	r := historyReader{b: ki.h}
	for range r.next() {
		g := r.header()
		prev := g.created
		for k := range g.items() {
			it := r.item(k, prev)
			prev = it.Main
			if g.created > at || it.Main > at {
				continue // the generation began after at, or the item is after it
			}
			if g.ended && k == 0 {
				return Revision{}, 0, 0, false // deleted at or before at
			}
			j := k // the revision's place, newest first
			if g.ended {
				j--
			}
			return it, g.created, g.verBase + int64(g.revs-j), true
		}
		if g.created <= at {
			// Created by at, but every revision kept is after it: a
			// compaction removed the one at.
			return Revision{}, 0, 0, false
		}
	}
	return Revision{}, 0, 0, false
}

// compact drops the history no read at or after rev can see, and returns
// the revisions whose backend records must go. It reports whether the
// key has no history left. It unpacks the whole history, and packs what
// is left.
func (ki *keyIndex) compact(rev int64) (drop []Revision, empty bool) {
	ki.gens, ki.revs = unpackHistory(ki.h, ki.gens, ki.revs)
	kept, drop := compactGenerations(ki.gens, rev)
	if len(drop) == 0 {
		return nil, len(kept) == 0
	}
	if len(kept) == 0 {
		ki.h = nil
		return drop, true
	}
	ki.set(appendHistory(ki.scratch(), kept))
	return drop, false
}

// compactGenerations drops from gens (oldest first, reused) what no read
// at or after rev can see, and returns what is left and the revisions
// dropped: a generation deleted at or before rev goes whole; of the
// others, every revision older than the newest at or below rev.
func compactGenerations(gens []generation, rev int64) (kept []generation, drop []Revision) {
	kept = gens[:0]
	for _, g := range gens {
		if g.ended() && g.tombstone.Main <= rev {
			drop = append(drop, g.revs...)
			drop = append(drop, g.tombstone)
			continue
		}
		k := 0
		for k+1 < len(g.revs) && g.revs[k+1].Main <= rev {
			k++
		}
		if k > 0 {
			drop = append(drop, g.revs[:k]...)
			g.verBase += int64(k)
			g.revs = g.revs[k:]
		}
		kept = append(kept, g)
	}
	return kept, drop
}

// index maps keys to their histories, packed to take little memory: a
// key written once costs about 20 to 40 bytes (its bytes past the prefix
// it shares with its neighbours, its packed history, an offset and a hash
// slot), where a B-tree of keyIndex pointers with a hash map beside it
// cost about 210.
//
// The keys are cut into leaves of consecutive keys (index_leaf.go), each
// packing its keys' histories into one byte slice (index_codec.go);
// leaves[i] holds the keys from seps[i] (the first leaf: from the
// smallest) up to seps[i+1] excluded. A range finds its first leaf by a
// binary search of seps, then reads the leaves in order. A single key is
// found through a hash table of fingerprints (index_hash.go) that names
// its leaf, without the search.
//
// The index hands out a key's packed history in a keyIndex, read in
// place; a writer changes it there and writes it back (load, then
// write). Reads may run
// concurrently; a write excludes every other use, as the store's lock
// ensures.
type index struct {
	leaves []uint32 // ids of the leaves in key order
	seps   [][]byte
	// byID holds the leaves by id (the hash table's names), as values: a
	// lookup reads the leaf beside its neighbours' rather than through a
	// pointer. A *leaf into it is valid until the next newLeaf.
	byID []leaf
	free []uint32
	hash leafHash
	seed maphash.Seed
	n    int
	// readers holds *readScratch: what a read decodes into, reused.
	readers sync.Pool

	// A leaf splits when it passes maxEntries keys or maxBytes bytes,
	// and merges with a neighbour when they fit together in three
	// quarters of that (tests make leaves small).
	maxEntries, maxBytes int
	// fpMask keeps bits of the fingerprints (tests keep few, for
	// collisions).
	fpMask uint32
}

const (
	defaultLeafEntries = 64
	defaultLeafBytes   = 2048
)

func newIndex() *index {
	x := &index{seed: maphash.MakeSeed(), maxEntries: defaultLeafEntries, maxBytes: defaultLeafBytes, fpMask: ^uint32(0)}
	x.leaves = []uint32{x.newLeaf()}
	x.seps = [][]byte{nil}
	return x
}

// len is the number of keys.
func (x *index) len() int { return x.n }

// leaf returns the leaf at position pos in key order.
func (x *index) leaf(pos int) *leaf { return &x.byID[x.leaves[pos]] }

// newLeaf adds an empty leaf, in no position yet, and returns its id. It
// invalidates every *leaf of the index.
func (x *index) newLeaf() uint32 {
	if n := len(x.free); n > 0 {
		id := x.free[n-1]
		x.free = x.free[:n-1]
		x.byID[id] = leaf{id: id}
		return id
	}
	id := uint32(len(x.byID))
	x.byID = append(x.byID, leaf{id: id})
	return id
}

func (x *index) fingerprint(key []byte) uint32 {
	return uint32(maphash.Bytes(x.seed, key)>>32) & x.fpMask
}

// leafFor returns the position of the leaf that holds key, or would.
func (x *index) leafFor(key []byte) int {
	lo, hi := 1, len(x.leaves)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if bytes.Compare(x.seps[m], key) <= 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo - 1
}

// spot is where a key is in the index, or would go: valid until the
// index changes.
type spot struct {
	l     *leaf
	i     int
	fp    uint32 // the key's fingerprint
	found bool
}

// locate finds key: through the hash table if it is there, else by a
// search of the leaves for its place.
func (x *index) locate(key []byte) spot {
	fp := x.fingerprint(key)
	// Every slot of the fingerprint names a leaf that may hold the key.
	if slots := x.hash.slots; len(slots) > 0 {
		for i := x.hash.home(fp); slots[i] != 0; i = x.hash.next(i) {
			if uint32(slots[i]>>32) != fp {
				continue
			}
			l := &x.byID[uint32(slots[i])-1]
			if j, ok := l.find(key, byte(fp)); ok {
				return spot{l: l, i: j, fp: fp, found: true}
			}
		}
	}
	l := x.leaf(x.leafFor(key))
	i, _ := l.search(key)
	return spot{l: l, i: i, fp: fp}
}

// get decodes key's history into ki, and reports whether the key is in
// the index. ki.key is key.
func (x *index) get(key []byte, ki *keyIndex) bool {
	sp := x.locate(key)
	x.read(sp, key, ki)
	return sp.found
}

// load is get for a writer: it also returns the key's spot, for write.
func (x *index) load(key []byte, ki *keyIndex) spot {
	sp := x.locate(key)
	x.read(sp, key, ki)
	return sp
}

func (x *index) read(sp spot, key []byte, ki *keyIndex) {
	ki.key = key
	if !sp.found {
		ki.h = nil
		return
	}
	_, ki.h = sp.l.entry(sp.i)
}

// write stores ki's history under ki.key at sp, which load returned with
// no change to the index since; a key left with no history is removed.
func (x *index) write(sp spot, ki *keyIndex) {
	if len(ki.h) == 0 {
		if sp.found {
			x.remove(sp, ki.key)
		}
		return
	}
	l := sp.l
	if sp.found {
		l.splice(sp.i, sp.i+1, ki.key, ki.h, byte(sp.fp))
	} else {
		fp := sp.fp
		switch {
		case l.len() == 0:
			l.rebuild([][]byte{ki.key}, [][]byte{ki.h}, []byte{byte(fp)})
		case bytes.HasPrefix(ki.key, l.prefix()):
			l.splice(sp.i, sp.i, ki.key, ki.h, byte(fp))
		default:
			// The key is before or after every key of the leaf, and
			// shares less of their prefix.
			keys, hists, fps := l.entries()
			keys = slices.Insert(keys, sp.i, bytes.Clone(ki.key))
			hists = slices.Insert(hists, sp.i, bytes.Clone(ki.h))
			fps = slices.Insert(fps, sp.i, byte(fp))
			l.rebuild(keys, hists, fps)
		}
		x.hash.add(fp, l.id)
		x.n++
	}
	if l.len() > x.maxEntries || (l.dataLen() > x.maxBytes && l.len() > 1) {
		x.split(l, sp.i)
	}
}

// split cuts l in two; at is the entry just written. A leaf grown at its
// end (as by keys written in order) keeps all but that entry, so that
// keys loaded in order fill their leaves; any other splits in halves.
func (x *index) split(l *leaf, at int) {
	keys, hists, fps := l.entries()
	mid := len(keys) / 2
	if at == len(keys)-1 {
		mid = at
	}
	pos := x.leafFor(keys[0])
	lid, rid := l.id, x.newLeaf()
	l, r := &x.byID[lid], &x.byID[rid]
	l.rebuild(keys[:mid], hists[:mid], fps[:mid])
	r.rebuild(keys[mid:], hists[mid:], fps[mid:])
	for _, k := range keys[mid:] {
		x.hash.move(x.fingerprint(k), l.id, r.id)
	}
	x.leaves = slices.Insert(x.leaves, pos+1, rid)
	x.seps = slices.Insert(x.seps, pos+1, keys[mid])
}

// remove drops the key at sp, and merges its leaf with a neighbour if
// they fit together.
func (x *index) remove(sp spot, key []byte) {
	l := sp.l
	l.splice(sp.i, sp.i+1, nil, nil, 0)
	x.hash.remove(x.fingerprint(key), l.id)
	x.n--
	if len(x.leaves) == 1 {
		return
	}
	pos := x.leafFor(key)
	if l.len() == 0 {
		x.dropLeaf(pos)
		return
	}
	if l.len() >= x.maxEntries/4 {
		return
	}
	if pos+1 == len(x.leaves) {
		pos-- // merge with the leaf before
	}
	a, b := x.leaf(pos), x.leaf(pos+1)
	if a.len()+b.len() > x.maxEntries*3/4 || a.dataLen()+b.dataLen() > x.maxBytes*3/4 {
		return
	}
	ka, ha, fa := a.entries()
	kb, hb, fb := b.entries()
	a.rebuild(append(ka, kb...), append(ha, hb...), append(fa, fb...))
	for _, k := range kb {
		x.hash.move(x.fingerprint(k), b.id, a.id)
	}
	x.dropLeaf(pos + 1)
}

// dropLeaf removes the leaf at pos, whose keys are gone (or moved to the
// leaf before it): the leaf before it takes its range (or, the first
// leaf, the one after it takes the start).
func (x *index) dropLeaf(pos int) {
	id := x.leaves[pos]
	x.leaves = slices.Delete(x.leaves, pos, pos+1)
	sep := pos
	if pos == 0 {
		sep = 1
	}
	x.seps = slices.Delete(x.seps, sep, sep+1)
	x.byID[id] = leaf{id: id}
	x.free = append(x.free, id)
}

// visit calls fn for every key in [key, end) in order (end semantics as
// in the API: empty end is the single key, "\x00" is every key >= key).
// fn gets a keyIndex that is only valid during the call (copy its key to
// keep it), and must not change the index.
func (x *index) visit(key, end []byte, fn func(*keyIndex) bool) {
	switch {
	case len(end) == 0:
		r := x.scratch()
		defer x.readers.Put(r)
		if x.get(key, &r.ki) {
			fn(&r.ki)
		}
	case len(end) == 1 && end[0] == 0:
		x.scan(key, nil, fn)
	default:
		x.scan(key, end, fn)
	}
}

// all calls fn for every key in order, as visit does.
func (x *index) all(fn func(*keyIndex) bool) {
	x.scan(nil, nil, fn)
}

// scan calls fn for the keys from key on, up to end excluded (nil: to the
// last).
func (x *index) scan(key, end []byte, fn func(*keyIndex) bool) {
	r := x.scratch()
	defer x.readers.Put(r)
	ki, buf := &r.ki, r.buf[:0]
	defer func() { r.buf = buf }()
	pos := x.leafFor(key)
	i, _ := x.leaf(pos).search(key)
	for ; pos < len(x.leaves); pos, i = pos+1, 0 {
		l := x.leaf(pos)
		n, plen := l.len(), int(l.plen)
		offs, data := l.buf[l.offsAt():l.dataAt()], l.buf[l.dataAt():]
		buf = append(buf[:0], l.buf[:plen]...)
		for ; i < n; i++ {
			// Entry i, as l.entry reads it, without finding the offsets
			// and data again for each.
			to := len(data)
			if i+1 < n {
				to = int(binary.LittleEndian.Uint32(offs[4*i+4:]))
			}
			e := data[binary.LittleEndian.Uint32(offs[4*i:]):to]
			sn, k := binary.Uvarint(e)
			suffix, h := e[k:k+int(sn)], e[k+int(sn):]
			buf = append(buf[:plen], suffix...)
			if end != nil && bytes.Compare(buf, end) >= 0 {
				return
			}
			ki.h = h
			ki.key = buf
			if !fn(ki) {
				return
			}
		}
	}
}

// readScratch is what a read decodes a key and its history into.
type readScratch struct {
	ki  keyIndex
	buf []byte
}

func (x *index) scratch() *readScratch {
	if r, ok := x.readers.Get().(*readScratch); ok {
		return r
	}
	return &readScratch{}
}

// keysFrom returns copies of up to n keys from key from on (nil: from the
// first), and the key after them (nil if none).
func (x *index) keysFrom(from []byte, n int) (keys [][]byte, next []byte) {
	x.scan(from, nil, func(ki *keyIndex) bool {
		if len(keys) == n {
			next = bytes.Clone(ki.key)
			return false
		}
		keys = append(keys, bytes.Clone(ki.key))
		return true
	})
	return keys, next
}
