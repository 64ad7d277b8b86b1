package mvcc

import "slices"

// overlay holds the records written in the open batch (the page-file
// write transaction not yet committed), which reads must see: in
// revision order, as the writes come, so that adding one is an append
// and finding one a binary search (a map cost a hash and an insert per
// put, and its clearing at each commit the size it had grown to).
type overlay struct {
	revs []Revision
	recs [][]byte // recs[i] is revs[i]'s record; nil once removed
}

// add records rec as revision rev's. Revisions come in increasing order;
// one that does not is inserted in its place.
func (o *overlay) add(rev Revision, rec []byte) {
	n := len(o.revs)
	if n == 0 || o.revs[n-1].Less(rev) {
		o.revs = append(o.revs, rev)
		o.recs = append(o.recs, rec)
		return
	}
	i, found := o.find(rev)
	if found {
		o.recs[i] = rec
		return
	}
	o.revs = slices.Insert(o.revs, i, rev)
	o.recs = slices.Insert(o.recs, i, rec)
}

// find returns where rev is, or would go.
func (o *overlay) find(rev Revision) (int, bool) {
	return slices.BinarySearchFunc(o.revs, rev, cmpRev)
}

// get returns rev's record, if the open batch holds it (never, for a
// nil overlay).
func (o *overlay) get(rev Revision) ([]byte, bool) {
	if o == nil {
		return nil, false
	}
	i, found := o.find(rev)
	if !found || o.recs[i] == nil {
		return nil, false
	}
	return o.recs[i], true
}

// remove forgets rev's record (a compaction dropped it).
func (o *overlay) remove(rev Revision) {
	if i, found := o.find(rev); found {
		o.recs[i] = nil
	}
}

// subset returns a new overlay of the records of revs (in any order) that
// o holds, nil if none: revs sorted, then walked beside o's in one pass
// (the revisions of a range come in key order; inserting them one at a
// time would cost the square of their number).
func (o *overlay) subset(revs []Revision) *overlay {
	asked := slices.Clone(revs)
	slices.SortFunc(asked, cmpRev)
	var sub *overlay
	i := 0
	for j, r := range asked {
		if j > 0 && r == asked[j-1] {
			continue
		}
		for i < len(o.revs) && o.revs[i].Less(r) {
			i++
		}
		if i < len(o.revs) && o.revs[i] == r && o.recs[i] != nil {
			if sub == nil {
				sub = &overlay{}
			}
			sub.revs = append(sub.revs, r)
			sub.recs = append(sub.recs, o.recs[i])
		}
	}
	return sub
}

// empty reports whether the overlay holds no revision.
func (o *overlay) empty() bool { return len(o.revs) == 0 }

// each calls fn for every record, in revision order.
func (o *overlay) each(fn func(Revision, []byte)) {
	for i, rec := range o.recs {
		if rec != nil {
			fn(o.revs[i], rec)
		}
	}
}

// reset empties the overlay after a commit. Nothing outside the store's
// lock keeps its slices, so their memory is reused.
func (o *overlay) reset() {
	clear(o.recs)
	o.revs, o.recs = o.revs[:0], o.recs[:0]
}
