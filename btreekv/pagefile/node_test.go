package pagefile

import (
	"bytes"
	"slices"
	"sort"
	"testing"

	"pgregory.net/rapid"
)

// A node's searches find what a plain binary search over its keys finds,
// with the keys' heads (a committed node) and without (a writer's):
// whatever the keys' lengths, their zero bytes and their shared prefixes.
func TestSearchWithHeadsAgreesWithKeys(t *testing.T) {
	// Keys from a small alphabet with zero bytes, short and long, so that
	// heads tie often.
	keyGen := rapid.SliceOfN(rapid.SampledFrom([]byte{0, 1, 'a', 0xff}), 0, 12)
	rapid.Check(t, func(t *rapid.T) {
		keys := rapid.SliceOfNDistinct(keyGen, 1, 40, func(k []byte) string { return string(k) }).Draw(t, "keys")
		slices.SortFunc(keys, bytes.Compare)
		probe := keyGen.Draw(t, "probe")
		if rapid.Bool().Draw(t, "a key itself") {
			probe = keys[rapid.IntRange(0, len(keys)-1).Draw(t, "which")]
		}
		wantI := sort.Search(len(keys), func(i int) bool { return bytes.Compare(keys[i], probe) >= 0 })
		wantFound := wantI < len(keys) && bytes.Equal(keys[wantI], probe)
		wantChild := sort.Search(len(keys)-1, func(i int) bool { return bytes.Compare(keys[i+1], probe) > 0 })
		for _, heads := range []bool{false, true} {
			n := &node{keys: keys}
			if heads {
				n.withHeads()
			}
			if i, found := n.search(probe); i != wantI || found != wantFound {
				t.Fatalf("heads %v: search(%q) = %d, %v; want %d, %v", heads, probe, i, found, wantI, wantFound)
			}
			if c := n.childIndex(probe); c != wantChild {
				t.Fatalf("heads %v: childIndex(%q) = %d, want %d", heads, probe, c, wantChild)
			}
		}
	})
}
