package pagefile

import (
	"sync"
)

// nodeCache keeps decoded committed nodes by page id. Committed nodes
// never change, so every transaction can share them; a page id is only
// reused for a new node after every reader that could reach the old one
// has finished, and the commit that reuses it replaces the entry.
//
// Its limit is in pages: a node counts as the pages of its run, so that a
// leaf holding one large value (a 64 KiB value spans 17 pages of 4 KiB)
// costs the cache what it costs memory. Counting nodes instead, 8192
// nodes of 64 KiB values held half a gigabyte where the limit meant 32
// MiB.
//
// When full it drops about half of its leaves (arbitrarily: map order),
// keeping the branches, which are few and on every lookup's path; only a
// cache of branches alone drops branches.
type nodeCache struct {
	mu       sync.RWMutex
	leaves   map[pgid]*node
	branches map[pgid]*node
	limit    int // in pages
	used     int // pages of the nodes held
}

func (c *nodeCache) init(limit int) {
	c.limit = limit
	c.leaves, c.branches = make(map[pgid]*node), make(map[pgid]*node)
	c.used = 0
}

func (c *nodeCache) get(id pgid) *node {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if n := c.leaves[id]; n != nil {
		return n
	}
	return c.branches[id]
}

func (c *nodeCache) put(id pgid, n *node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// A reused page id may change kind.
	c.remove(c.leaves, id)
	c.remove(c.branches, id)
	if n.pages() > c.limit {
		return // it would push out everything else
	}
	for c.used+n.pages() > c.limit && c.used > 0 {
		victims := c.leaves
		if len(victims) == 0 {
			victims = c.branches
		}
		i := 0
		for k := range victims {
			if i%2 == 0 {
				c.remove(victims, k)
			}
			i++
		}
	}
	if n.leaf {
		c.leaves[id] = n
	} else {
		c.branches[id] = n
	}
	c.used += n.pages()
}

// remove drops id from m, if there, and its pages from the count.
func (c *nodeCache) remove(m map[pgid]*node, id pgid) {
	if old, ok := m[id]; ok {
		c.used -= old.pages()
		delete(m, id)
	}
}

func (c *nodeCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leaves, c.branches = make(map[pgid]*node), make(map[pgid]*node)
	c.used = 0
}
