package pagefile

import (
	"sync"
)

// nodeCache keeps decoded committed nodes by page id. Committed nodes
// never change, so every transaction can share them; a page id is only
// reused for a new node after every reader that could reach the old one
// has finished, and the commit that reuses it replaces the entry.
//
// When full it drops about half of its leaves (arbitrarily: map order),
// keeping the branches, which are few and on every lookup's path; only a
// cache of branches alone drops branches.
type nodeCache struct {
	mu       sync.RWMutex
	leaves   map[pgid]*node
	branches map[pgid]*node
	limit    int
}

func (c *nodeCache) init(limit int) {
	c.limit = limit
	c.leaves, c.branches = make(map[pgid]*node), make(map[pgid]*node)
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
	if len(c.leaves)+len(c.branches) >= c.limit {
		victims := c.leaves
		if len(victims) == 0 {
			victims = c.branches
		}
		i := 0
		for k := range victims {
			if i%2 == 0 {
				delete(victims, k)
			}
			i++
		}
	}
	// A reused page id may change kind.
	delete(c.leaves, id)
	delete(c.branches, id)
	if n.leaf {
		c.leaves[id] = n
	} else {
		c.branches[id] = n
	}
}

func (c *nodeCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leaves, c.branches = make(map[pgid]*node), make(map[pgid]*node)
}
