package mvcc

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestIndexMatchesModel: the packed index, with tiny leaves (many splits
// and merges) and few fingerprint bits (many hash collisions), answers
// exactly as a map of unpacked histories after any sequence of puts,
// deletions and compactions.
func TestIndexMatchesModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		x := newIndex()
		x.maxEntries = rapid.IntRange(2, 20).Draw(rt, "maxEntries") // past 8: several words of fingerprint bytes
		x.maxBytes = rapid.IntRange(16, 400).Draw(rt, "maxBytes")
		x.fpMask = rapid.SampledFrom([]uint32{0, 3, ^uint32(0)}).Draw(rt, "fpMask")
		model := map[string]*modelHistory{}
		keyGen := rapid.StringOfN(rapid.RuneFrom([]rune("abc")), 1, 6, -1)
		rev := int64(1)
		var ki keyIndex
		for step := range rapid.IntRange(1, 300).Draw(rt, "steps") {
			switch op := rapid.IntRange(0, 9).Draw(rt, "op"); {
			case op < 6: // put, several in one revision at times
				rev++
				for sub := range rapid.IntRange(1, 3).Draw(rt, "puts") {
					k := keyGen.Draw(rt, "key")
					r := Revision{Main: rev, Sub: int64(sub)}
					at := x.load([]byte(k), &ki)
					ki.put(r)
					x.write(at, &ki)
					m := model[k]
					if m == nil {
						m = &modelHistory{}
						model[k] = m
					}
					m.put(r)
				}
			case op < 8: // delete the keys from a key on
				rev++
				from := keyGen.Draw(rt, "from")
				n := rapid.IntRange(1, 4).Draw(rt, "n")
				var live [][]byte
				x.visit([]byte(from), []byte{0}, func(ki *keyIndex) bool {
					if ki.alive() {
						live = append(live, bytes.Clone(ki.key))
					}
					return len(live) < n
				})
				for sub, k := range live {
					r := Revision{Main: rev, Sub: int64(sub)}
					at := x.load(k, &ki)
					ki.tombstone(r)
					x.write(at, &ki)
					model[string(k)].tombstone(r)
				}
			default: // compact every key at a past revision
				at := rapid.Int64Range(1, rev).Draw(rt, "compact")
				keys, _ := x.keysFrom(nil, x.len()+1)
				for _, k := range keys {
					sp := x.load(k, &ki)
					if d, _ := ki.compact(at); len(d) > 0 {
						x.write(sp, &ki)
					}
				}
				for k, m := range model {
					if _, empty := m.compact(at); empty {
						delete(model, k)
					}
				}
			}
			checkIndex(rt, x, model, rev, step)
		}
	})
}

// checkIndex compares the index with the model: its keys in order with
// their histories, every single-key lookup (of absent keys too), ranges,
// and its own bookkeeping.
func checkIndex(rt *rapid.T, x *index, model map[string]*modelHistory, rev int64, step int) {
	want := slices.Sorted(maps.Keys(model))
	var got []string
	x.all(func(ki *keyIndex) bool {
		k := string(ki.key)
		got = append(got, k)
		gens, _ := unpackHistory(ki.h, nil, nil)
		if m := model[k]; m == nil || fmt.Sprint(m.gens) != fmt.Sprint(gens) {
			rt.Fatalf("step %d: key %q: index has %v, model %v", step, k, gens, m)
		}
		return true
	})
	if !slices.Equal(got, want) {
		rt.Fatalf("step %d: index keys %q, model %q", step, got, want)
	}
	if x.len() != len(want) || x.hash.used != len(want) {
		rt.Fatalf("step %d: index counts %d keys, hash %d, model %d", step, x.len(), x.hash.used, len(want))
	}
	var ki keyIndex
	for _, k := range append(want, "", "a", "abcabc", "ccccccc", "b") {
		found := x.get([]byte(k), &ki)
		m := model[k]
		if found != (m != nil) {
			rt.Fatalf("step %d: get %q found=%v, model has %v", step, k, found, m)
		}
		if found {
			for at := int64(1); at <= rev; at++ {
				r1, c1, v1, ok1 := ki.get(at)
				r2, c2, v2, ok2 := m.get(at)
				if r1 != r2 || c1 != c2 || v1 != v2 || ok1 != ok2 {
					rt.Fatalf("step %d: %q at %d: index %v %d %d %v, model %v %d %d %v", step, k, at, r1, c1, v1, ok1, r2, c2, v2, ok2)
				}
			}
		}
	}
	for _, r := range [][2]string{{"a", "b"}, {"ab", "ac"}, {"b", "\x00"}, {"aa", "aab"}, {"c", "cb"}} {
		var inRange []string
		for _, k := range want {
			if k >= r[0] && (r[1] == "\x00" || k < r[1]) {
				inRange = append(inRange, k)
			}
		}
		var visited []string
		x.visit([]byte(r[0]), []byte(r[1]), func(ki *keyIndex) bool {
			visited = append(visited, string(ki.key))
			return true
		})
		if !slices.Equal(visited, inRange) {
			rt.Fatalf("step %d: range [%q, %q): index %q, model %q", step, r[0], r[1], visited, inRange)
		}
	}
	// Leaves: ordered, in their ranges, with the right prefix, and none
	// empty but a lone one.
	for pos, id := range x.leaves {
		l := x.leaf(pos)
		if l.id != id {
			rt.Fatalf("step %d: leaf %d is under id %d, names itself %d", step, pos, id, l.id)
		}
		if l.len() == 0 && len(x.leaves) > 1 {
			rt.Fatalf("step %d: leaf %d of %d is empty", step, pos, len(x.leaves))
		}
		if len(l.fps()) != l.len() {
			rt.Fatalf("step %d: leaf %d has %d fingerprint bytes for %d keys", step, pos, len(l.fps()), l.len())
		}
		for i := range l.len() {
			k := l.appendKey(nil, i)
			if l.fps()[i] != byte(x.fingerprint(k)) {
				rt.Fatalf("step %d: key %q has fingerprint byte %#x, want %#x", step, k, l.fps()[i], byte(x.fingerprint(k)))
			}
			if pos > 0 && bytes.Compare(k, x.seps[pos]) < 0 || pos+1 < len(x.leaves) && bytes.Compare(k, x.seps[pos+1]) >= 0 {
				rt.Fatalf("step %d: key %q in leaf %d outside [%q, %q)", step, k, pos, x.seps[pos], x.seps[min(pos+1, len(x.seps)-1)])
			}
		}
	}
}

// TestHistoryCodec: a history unpacks to what was packed, and a put, a
// deletion or a restored write made on the packed form, which rewrites
// only its front, gives what the same change gives on the unpacked
// generations; so do reads at every revision and compaction.
func TestHistoryCodec(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		var gens []generation
		main := rapid.Int64Range(1, 1<<40).Draw(rt, "start")
		for g := range rapid.IntRange(0, 4).Draw(rt, "gens") {
			gen := generation{created: main, verBase: rapid.Int64Range(0, 1<<33).Draw(rt, "verBase")}
			for range rapid.IntRange(0, 5).Draw(rt, "revs") {
				main += rapid.Int64Range(0, 1<<35).Draw(rt, "gap")
				gen.revs = append(gen.revs, Revision{Main: main, Sub: rapid.Int64Range(0, 1<<20).Draw(rt, "sub")})
			}
			if g < 3 || rapid.Bool().Draw(rt, "ended") {
				main++
				gen.tombstone = Revision{Main: main, Sub: rapid.Int64Range(0, 9).Draw(rt, "tsub")}
			}
			main++
			gens = append(gens, gen)
		}
		want := fmt.Sprint(gens)
		packed := appendHistory(nil, gens)
		got, _ := unpackHistory(packed, make([]generation, 3), make([]Revision, 2, 40))
		if fmt.Sprint(got) != want {
			rt.Fatalf("unpacked %v, packed %s", got, want)
		}
		ki := keyIndex{key: []byte("k"), h: packed}
		m := modelHistory{gens: gens}
		for i := range rapid.IntRange(0, 6).Draw(rt, "changes") {
			main += rapid.Int64Range(0, 1<<20).Draw(rt, "next")
			rev := Revision{Main: main, Sub: rapid.Int64Range(0, 5).Draw(rt, "csub")}
			var e1, e2 error
			switch rapid.IntRange(0, 2).Draw(rt, "change") {
			case 0:
				e1, e2 = ki.put(rev), m.put(rev)
			case 1:
				e1, e2 = ki.tombstone(rev), m.tombstone(rev)
			default:
				created := main - rapid.Int64Range(0, 3).Draw(rt, "age")
				version := rapid.Int64Range(0, 1<<34).Draw(rt, "version")
				e1, e2 = ki.restore(rev, created, version), m.restore(rev, created, version)
			}
			if (e1 == nil) != (e2 == nil) {
				rt.Fatalf("change %d at %v: packed gave %v, unpacked %v", i, rev, e1, e2)
			}
			got, _ := unpackHistory(ki.h, nil, nil)
			if fmt.Sprint(got) != fmt.Sprint(m.gens) {
				rt.Fatalf("change %d at %v: packed %v, unpacked %v", i, rev, got, m.gens)
			}
			if ki.alive() != m.alive() || ki.newest() != m.newest() {
				rt.Fatalf("change %d: alive %v newest %v, unpacked %v %v", i, ki.alive(), ki.newest(), m.alive(), m.newest())
			}
			r1, c1, v1, ok1 := ki.last()
			r2, c2, v2, ok2 := m.last()
			if r1 != r2 || c1 != c2 || v1 != v2 || ok1 != ok2 {
				rt.Fatalf("change %d: last %v %d %d %v, unpacked %v %d %d %v", i, r1, c1, v1, ok1, r2, c2, v2, ok2)
			}
			main++
		}
		at := rapid.Int64Range(0, main+1).Draw(rt, "at")
		r1, c1, v1, ok1 := ki.get(at)
		r2, c2, v2, ok2 := m.get(at)
		if r1 != r2 || c1 != c2 || v1 != v2 || ok1 != ok2 {
			rt.Fatalf("get(%d): %v %d %d %v, unpacked %v %d %d %v", at, r1, c1, v1, ok1, r2, c2, v2, ok2)
		}
		d1, empty1 := ki.compact(at)
		d2, empty2 := m.compact(at)
		got, _ = unpackHistory(ki.h, nil, nil)
		if fmt.Sprint(d1) != fmt.Sprint(d2) || empty1 != empty2 || fmt.Sprint(got) != fmt.Sprint(m.gens) {
			rt.Fatalf("compact(%d): dropped %v (empty %v) leaving %v, unpacked %v (%v) leaving %v", at, d1, empty1, got, d2, empty2, m.gens)
		}
	})
}

// modelHistory is a key's history as plain generations, oldest first:
// what keyIndex does on the packed form, written the obvious way, for
// the tests to compare with. Compaction is the same function on both
// (compactGenerations): what is compared there is the packing around it.
type modelHistory struct{ gens []generation }

func (m *modelHistory) newest() Revision {
	if len(m.gens) == 0 {
		return Revision{}
	}
	g := &m.gens[len(m.gens)-1]
	if g.ended() {
		return g.tombstone
	}
	if len(g.revs) == 0 {
		return Revision{}
	}
	return g.revs[len(g.revs)-1]
}

func (m *modelHistory) alive() bool {
	return len(m.gens) > 0 && !m.gens[len(m.gens)-1].ended()
}

func (m *modelHistory) put(rev Revision) error {
	if !m.newest().Less(rev) {
		return errors.New("not after the newest")
	}
	if !m.alive() {
		m.gens = append(m.gens, generation{created: rev.Main})
	}
	g := &m.gens[len(m.gens)-1]
	g.revs = append(slices.Clip(g.revs), rev)
	return nil
}

func (m *modelHistory) tombstone(rev Revision) error {
	if !m.alive() || !m.newest().Less(rev) {
		return errors.New("no live generation, or not after the newest")
	}
	m.gens[len(m.gens)-1].tombstone = rev
	return nil
}

func (m *modelHistory) restore(rev Revision, created, version int64) error {
	if !m.newest().Less(rev) || rev.Main < created {
		return errors.New("not after the newest, or before its creation")
	}
	n := len(m.gens)
	if !m.alive() || m.gens[n-1].created != created {
		if version < 1 || (rev.Main == created && version != 1) {
			return errors.New("a new generation not at version 1")
		}
		m.gens = append(m.gens, generation{created: created, verBase: version - 1})
	} else if g := &m.gens[n-1]; version != g.verBase+int64(len(g.revs))+1 {
		return errors.New("a version skipped")
	}
	g := &m.gens[len(m.gens)-1]
	g.revs = append(slices.Clip(g.revs), rev)
	return nil
}

func (m *modelHistory) last() (rev Revision, created, version int64, ok bool) {
	if !m.alive() {
		return Revision{}, 0, 0, false
	}
	g := &m.gens[len(m.gens)-1]
	if len(g.revs) == 0 {
		return Revision{}, 0, 0, false
	}
	return g.revs[len(g.revs)-1], g.created, g.verBase + int64(len(g.revs)), true
}

func (m *modelHistory) get(at int64) (rev Revision, created, version int64, ok bool) {
	for i := len(m.gens) - 1; i >= 0; i-- {
		g := &m.gens[i]
		if g.created > at {
			continue
		}
		if g.ended() && g.tombstone.Main <= at {
			return Revision{}, 0, 0, false
		}
		for j := len(g.revs) - 1; j >= 0; j-- {
			if g.revs[j].Main <= at {
				return g.revs[j], g.created, g.verBase + int64(j) + 1, true
			}
		}
		return Revision{}, 0, 0, false
	}
	return Revision{}, 0, 0, false
}

func (m *modelHistory) compact(rev int64) (drop []Revision, empty bool) {
	gens := make([]generation, len(m.gens))
	for i, g := range m.gens {
		g.revs = slices.Clone(g.revs)
		gens[i] = g
	}
	m.gens, drop = compactGenerations(gens, rev)
	return drop, len(m.gens) == 0
}
