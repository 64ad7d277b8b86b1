package mvcc

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/google/btree"
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

// generation is one life of a key: from its creation to its deletion.
type generation struct {
	created Revision
	// verBase is the version before revs[0] (compaction drops old revs
	// but versions keep counting from the creation).
	verBase int64
	revs    []Revision
	// tombstone is the deletion that ended the generation (zero: alive).
	tombstone Revision
}

func (g *generation) ended() bool { return g.tombstone != (Revision{}) }

// keyIndex is the history of one key, oldest generation first.
type keyIndex struct {
	key  []byte
	gens []generation
}

// keyLess orders key histories by key.
func keyLess(a, b *keyIndex) bool { return bytes.Compare(a.key, b.key) < 0 }

// newest returns the key's newest revision: its last write or tombstone
// (zero if it has no history).
func (ki *keyIndex) newest() Revision {
	n := len(ki.gens)
	if n == 0 {
		return Revision{}
	}
	g := &ki.gens[n-1]
	if g.ended() {
		return g.tombstone
	}
	if len(g.revs) == 0 {
		return Revision{}
	}
	return g.revs[len(g.revs)-1]
}

// checkAfter asserts that rev is newer than everything in the key's
// history.
func (ki *keyIndex) checkAfter(rev Revision) error {
	if last := ki.newest(); !last.Less(rev) {
		return violated(invRevisionsIncreasing, "key %q: revision %v after %v", ki.key, rev, last)
	}
	return nil
}

// put records a write of the key at rev.
func (ki *keyIndex) put(rev Revision) error {
	if err := ki.checkAfter(rev); err != nil {
		return err
	}
	if n := len(ki.gens); n == 0 || ki.gens[n-1].ended() {
		ki.gens = append(ki.gens, generation{created: rev})
	}
	g := &ki.gens[len(ki.gens)-1]
	g.revs = append(g.revs, rev)
	return nil
}

// restore records a write recovered from the backend with its version
// and creation revision (the generation may have lost older revisions to
// compaction).
func (ki *keyIndex) restore(rev, created Revision, version int64) error {
	if err := ki.checkAfter(rev); err != nil {
		return err
	}
	if rev.Main < created.Main {
		return violated(invCreatedBeforeModified, "key %q: revision %v in a generation created at %v", ki.key, rev, created)
	}
	n := len(ki.gens)
	if n == 0 || ki.gens[n-1].ended() || ki.gens[n-1].created != created {
		if version < 1 || (rev.Main == created.Main && version != 1) {
			return violated(invVersionsCountUp, "key %q: version %d at revision %v of a generation created at %v", ki.key, version, rev, created)
		}
		ki.gens = append(ki.gens, generation{created: created, verBase: version - 1})
	} else if g := &ki.gens[n-1]; version != g.verBase+int64(len(g.revs))+1 {
		return violated(invVersionsCountUp, "key %q: version %d at revision %v after version %d", ki.key, version, rev, g.verBase+int64(len(g.revs)))
	}
	g := &ki.gens[len(ki.gens)-1]
	g.revs = append(g.revs, rev)
	return nil
}

// tombstone records the key's deletion at rev: it ends the key's live
// generation.
func (ki *keyIndex) tombstone(rev Revision) error {
	if !ki.alive() {
		return violated(invTombstoneEndsGeneration, "key %q: tombstone at %v without a live generation", ki.key, rev)
	}
	if err := ki.checkAfter(rev); err != nil {
		return err
	}
	ki.gens[len(ki.gens)-1].tombstone = rev
	return nil
}

// alive reports whether the key exists now.
func (ki *keyIndex) alive() bool {
	n := len(ki.gens)
	return n > 0 && !ki.gens[n-1].ended()
}

// last returns the revision of the key's current value, with its
// creation revision and version; ok is false if the key does not exist.
func (ki *keyIndex) last() (rev, created Revision, version int64, ok bool) {
	if !ki.alive() {
		return Revision{}, Revision{}, 0, false
	}
	g := &ki.gens[len(ki.gens)-1]
	if len(g.revs) == 0 {
		return Revision{}, Revision{}, 0, false
	}
	return g.revs[len(g.revs)-1], g.created, g.verBase + int64(len(g.revs)), true
}

// get returns the revision of the key's value as of store revision at,
// with its creation revision and version; ok is false if the key did not
// exist then.
func (ki *keyIndex) get(at int64) (rev, created Revision, version int64, ok bool) {
	for i := len(ki.gens) - 1; i >= 0; i-- {
		g := &ki.gens[i]
		if g.created.Main > at {
			continue
		}
		if g.ended() && g.tombstone.Main <= at {
			return Revision{}, Revision{}, 0, false
		}
		for j := len(g.revs) - 1; j >= 0; j-- {
			if g.revs[j].Main <= at {
				return g.revs[j], g.created, g.verBase + int64(j) + 1, true
			}
		}
		return Revision{}, Revision{}, 0, false
	}
	return Revision{}, Revision{}, 0, false
}

// compact drops the history no read at or after rev can see, and returns
// the revisions whose backend records must go. It reports whether the
// key has no history left.
func (ki *keyIndex) compact(rev int64) (drop []Revision, empty bool) {
	kept := ki.gens[:0]
	for _, g := range ki.gens {
		if g.ended() && g.tombstone.Main <= rev {
			// Deleted at or before rev: nothing of it is visible.
			drop = append(drop, g.revs...)
			drop = append(drop, g.tombstone)
			continue
		}
		// Keep the newest revision at or below rev, and all after it.
		k := 0
		for k+1 < len(g.revs) && g.revs[k+1].Main <= rev {
			k++
		}
		if k > 0 {
			drop = append(drop, g.revs[:k]...)
			g.verBase += int64(k)
			g.revs = append([]Revision(nil), g.revs[k:]...)
		}
		kept = append(kept, g)
	}
	ki.gens = kept
	return drop, len(kept) == 0
}

// since returns every revision of the key after rev (for watch catch-up).
func (ki *keyIndex) since(rev int64) []Revision {
	var out []Revision
	for _, g := range ki.gens {
		for _, r := range g.revs {
			if r.Main > rev {
				out = append(out, r)
			}
		}
		if g.ended() && g.tombstone.Main > rev {
			out = append(out, g.tombstone)
		}
	}
	return out
}

// index maps keys to their histories: a B-tree ordered by key for ranges,
// and a hash map beside it for the single-key lookups of puts, deletes,
// compares and gets, which would otherwise pay a tree descent (a cache
// miss or two per level) each.
type index struct {
	tree *btree.BTreeG[*keyIndex]
	keys map[string]*keyIndex
}

func newIndex() *index {
	return &index{tree: btree.NewG(32, keyLess), keys: map[string]*keyIndex{}}
}

func (x *index) lookup(key []byte) *keyIndex {
	return x.keys[string(key)]
}

// insert adds an empty history for key, which must not be in the index.
func (x *index) insert(key []byte) *keyIndex {
	ki := &keyIndex{key: append([]byte(nil), key...)}
	x.tree.ReplaceOrInsert(ki)
	x.keys[string(key)] = ki
	return ki
}

// remove drops a key's history.
func (x *index) remove(ki *keyIndex) {
	x.tree.Delete(ki)
	delete(x.keys, string(ki.key))
}

// indexLoader fills an empty index from the records in revision order
// (Open's scan). It works on the tree alone and fills the hash map at the
// end, made at its final size at once: while a scan inserts keys, it
// would otherwise grow many times over. Keys that come in increasing
// order (as a sequential load wrote them) need no lookup at all.
type indexLoader struct {
	x     *index
	max   *keyIndex // the greatest key inserted so far
	probe keyIndex  // reused lookup key
}

func (l *indexLoader) getOrCreate(key []byte) *keyIndex {
	if l.max != nil && bytes.Compare(key, l.max.key) <= 0 {
		l.probe.key = key
		ki, ok := l.x.tree.Get(&l.probe)
		l.probe.key = nil
		if ok {
			return ki
		}
	}
	ki := &keyIndex{key: bytes.Clone(key)}
	l.x.tree.ReplaceOrInsert(ki)
	if l.max == nil || bytes.Compare(key, l.max.key) > 0 {
		l.max = ki
	}
	return ki
}

// finish fills the hash map from the tree.
func (l *indexLoader) finish() {
	l.x.keys = make(map[string]*keyIndex, l.x.tree.Len())
	l.x.tree.Ascend(func(ki *keyIndex) bool {
		l.x.keys[string(ki.key)] = ki
		return true
	})
}

// visit calls fn for every key in [key, end) in order (end semantics as
// in the API: empty end is the single key, "\x00" is every key >= key).
func (x *index) visit(key, end []byte, fn func(*keyIndex) bool) {
	switch {
	case len(end) == 0:
		if ki := x.lookup(key); ki != nil {
			fn(ki)
		}
	case len(end) == 1 && end[0] == 0:
		x.tree.AscendGreaterOrEqual(&keyIndex{key: key}, fn)
	default:
		x.tree.AscendRange(&keyIndex{key: key}, &keyIndex{key: end}, fn)
	}
}

// all calls fn for every key in order.
func (x *index) all(fn func(*keyIndex) bool) {
	x.tree.Ascend(fn)
}
