package pagefile

import (
	"testing"

	"pgregory.net/rapid"
)

// The cache never holds more pages than its limit, however large the
// nodes put in it, and what it holds is what was put last under each id.
func TestNodeCacheBoundsPages(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var c nodeCache
		limit := rapid.IntRange(1, 64).Draw(t, "limit")
		c.init(limit)
		last := map[pgid]*node{}
		for i, op := range rapid.SliceOfN(rapid.IntRange(0, 1000), 1, 200).Draw(t, "ops") {
			id := pgid(2 + op%20)
			n := &node{id: id, leaf: op%3 != 0, diskPages: 1 + op%17}
			c.put(id, n)
			last[id] = n
			pages := 0
			for _, m := range []map[pgid]*node{c.leaves, c.branches} {
				for id, n := range m {
					pages += n.pages()
					if last[id] != n {
						t.Fatalf("op %d: page %d holds a node that is not the last put there", i, id)
					}
				}
			}
			if pages != c.used || pages > limit {
				t.Fatalf("op %d: the cache holds %d pages, counts %d, limit %d", i, pages, c.used, limit)
			}
		}
	})
}
