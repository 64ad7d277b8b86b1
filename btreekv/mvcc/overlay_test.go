package mvcc

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestOverlayMatchesAMap: after any adds (mostly in revision order, as
// the store's writes come, sometimes not), removals and resets, the
// overlay holds what a map would, and lists it in revision order.
func TestOverlayMatchesAMap(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var o overlay
		model := map[Revision][]byte{}
		next := int64(1)
		for step := range rapid.IntRange(1, 200).Draw(t, "steps") {
			switch op := rapid.IntRange(0, 9).Draw(t, "op"); {
			case op < 6: // add
				rev := Revision{Main: next, Sub: rapid.Int64Range(0, 2).Draw(t, "sub")}
				if rapid.IntRange(0, 4).Draw(t, "backwards") == 0 {
					rev.Main = rapid.Int64Range(1, next).Draw(t, "main")
				} else {
					next++
				}
				rec := []byte(fmt.Sprint(step))
				o.add(rev, rec)
				model[rev] = rec
			case op < 8: // remove
				rev := Revision{Main: rapid.Int64Range(1, next).Draw(t, "rmain"), Sub: rapid.Int64Range(0, 2).Draw(t, "rsub")}
				o.remove(rev)
				delete(model, rev)
			case op == 8:
				o.reset()
				clear(model)
			}
			for main := int64(1); main <= next; main++ {
				for sub := int64(0); sub <= 2; sub++ {
					rev := Revision{Main: main, Sub: sub}
					got, ok := o.get(rev)
					want, wok := model[rev]
					if ok != wok || string(got) != string(want) {
						t.Fatalf("step %d: get(%v) = %q %v, want %q %v", step, rev, got, ok, want, wok)
					}
				}
			}
			var listed []Revision
			o.each(func(rev Revision, rec []byte) {
				if string(rec) != string(model[rev]) {
					t.Fatalf("step %d: each gave %v = %q, want %q", step, rev, rec, model[rev])
				}
				listed = append(listed, rev)
			})
			want := slices.SortedFunc(maps.Keys(model), cmpRev)
			if !slices.Equal(listed, want) {
				t.Fatalf("step %d: each listed %v, want %v", step, listed, want)
			}
		}
	})
	// A subset, asked for in any order, holds exactly the records asked
	// for that the overlay has, in order.
	rapid.Check(t, func(t *rapid.T) {
		var o overlay
		model := map[Revision][]byte{}
		for i := range rapid.IntRange(0, 50).Draw(t, "records") {
			rev := Revision{Main: int64(2 * (i + 1))}
			o.add(rev, []byte(fmt.Sprint(i)))
			model[rev] = []byte(fmt.Sprint(i))
		}
		asked := rapid.SliceOf(rapid.Int64Range(0, 110)).Draw(t, "asked")
		var revs []Revision
		want := map[Revision][]byte{}
		for _, m := range asked {
			rev := Revision{Main: m}
			revs = append(revs, rev)
			if rec, ok := model[rev]; ok {
				want[rev] = rec
			}
		}
		sub := o.subset(revs)
		if len(want) == 0 {
			if sub != nil {
				t.Fatalf("a subset of nothing held: %+v", sub)
			}
			return
		}
		var listed []Revision
		sub.each(func(rev Revision, rec []byte) {
			if string(rec) != string(want[rev]) {
				t.Fatalf("subset has %v = %q, want %q", rev, rec, want[rev])
			}
			listed = append(listed, rev)
		})
		if !slices.Equal(listed, slices.SortedFunc(maps.Keys(want), cmpRev)) {
			t.Fatalf("subset lists %v, want %v", listed, slices.SortedFunc(maps.Keys(want), cmpRev))
		}
	})
	var nilOverlay *overlay
	if _, ok := nilOverlay.get(Revision{Main: 1}); ok {
		t.Fatal("a nil overlay holds a record")
	}
}
