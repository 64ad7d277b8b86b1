package mvcc

import (
	"bytes"
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
		model := map[string]*keyIndex{}
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
						m = &keyIndex{key: []byte(k)}
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
func checkIndex(rt *rapid.T, x *index, model map[string]*keyIndex, rev int64, step int) {
	want := slices.Sorted(maps.Keys(model))
	var got []string
	x.all(func(ki *keyIndex) bool {
		k := string(ki.key)
		got = append(got, k)
		if m := model[k]; m == nil || fmt.Sprint(m.gens) != fmt.Sprint(ki.gens) {
			rt.Fatalf("step %d: key %q: index has %v, model %v", step, k, ki.gens, m)
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

// TestHistoryCodec: a history decodes to what was encoded, and a put on
// a decoded history changes no other generation.
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
		ki := keyIndex{gens: make([]generation, 3), revs: make([]Revision, 2, 40)}
		decodeHistory(appendHistory(nil, gens), &ki)
		if got := fmt.Sprint(ki.gens); got != want {
			rt.Fatalf("decoded %s, encoded %s", got, want)
		}
		if n := len(ki.gens); n > 1 {
			before := fmt.Sprint(ki.gens[:n-1])
			ki.gens[n-1].tombstone = Revision{}
			ki.put(Revision{Main: main + 1})
			if after := fmt.Sprint(ki.gens[:n-1]); after != before {
				rt.Fatalf("a put on the last generation changed the others: %s, was %s", after, before)
			}
		}
	})
}
