package pagefile

import (
	"sync"
	"sync/atomic"
)

// nodeCache keeps decoded committed nodes by page id, within a budget of
// bytes. Committed nodes never change, so every transaction can share
// them; a page id is only reused for a new node after every reader that
// could reach the old one has finished, and the commit that reuses it
// replaces the entry. A write transaction's changed (dirty) nodes are
// never in the cache: they belong to the transaction until it commits,
// and enter the cache only once written and synced. Eviction therefore
// only ever drops clean nodes, which a reader reads again from the file.
//
// Eviction is CLOCK: entries sit on a ring, a lookup marks its entry
// referenced, and to make room a hand sweeps the ring, clearing marks and
// evicting the first entry not marked since the hand last passed. The
// branches, on every lookup's path, stay; leaves read once go first.
//
// What enters: every node a reader or writer reads from the file, and
// the branches a commit writes. The leaves a commit writes do not: most
// are never read again (records are keyed by revision, so a commit's
// leaves are new history), and caching them would fill the budget with
// everything written — the whole store while it is smaller than the
// budget, at twice the cost in the Go heap's growth between collections.
// A leaf that is read comes in then. The pages a commit frees leave the
// cache when its write ends.
type nodeCache struct {
	mu      sync.RWMutex
	entries map[pgid]*cacheEntry
	ring    []*cacheEntry // nil: a free slot
	free    []int         // free slots of ring
	hand    int
	bytes   int64 // the cost of the entries
	limit   int64

	hits, misses, evictions atomic.Uint64
}

type cacheEntry struct {
	id   pgid
	n    *node
	cost int64
	slot int
	ref  atomic.Bool
}

// CacheStats are the node cache's counters.
type CacheStats struct {
	// Bytes is what the cached nodes hold (an estimate: their pages or
	// encoded size, whichever is larger, and their slices), never more
	// than Limit.
	Bytes, Limit int64
	Nodes        int
	// Hits and Misses count lookups; Evictions, nodes dropped to make
	// room.
	Hits, Misses, Evictions uint64
}

func (c *nodeCache) init(limit int64) {
	c.limit = limit
	c.entries = make(map[pgid]*cacheEntry)
	c.ring, c.free, c.hand, c.bytes = nil, nil, 0, 0
}

// nodeCost estimates the memory a committed node holds: the page run it
// was decoded from (its keys and values point into it) or, for a node a
// commit wrote, its keys and values (about its encoded size); plus its
// slices and the node itself.
func nodeCost(n *node, pageSize int) int64 {
	const nodeOverhead = 128 // the node, the cache entry, the map slot
	data := max(n.size(), n.pages()*pageSize)
	return int64(data + 48*len(n.keys) + 8*len(n.heads) + 16*len(n.children) + nodeOverhead)
}

func (c *nodeCache) get(id pgid) *node {
	c.mu.RLock()
	e := c.entries[id]
	c.mu.RUnlock()
	if e == nil {
		c.misses.Add(1)
		return nil
	}
	if !e.ref.Load() {
		e.ref.Store(true)
	}
	c.hits.Add(1)
	return e.n
}

// put caches n under id, replacing any node there, and evicts what the
// budget needs. A node larger than the whole budget is not cached.
func (c *nodeCache) put(id pgid, n *node, cost int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.entries[id]; old != nil {
		c.drop(old)
	}
	if cost > c.limit {
		return
	}
	for c.bytes+cost > c.limit && len(c.entries) > 0 {
		c.evictOne()
	}
	e := &cacheEntry{id: id, n: n, cost: cost}
	if k := len(c.free); k > 0 {
		e.slot = c.free[k-1]
		c.free = c.free[:k-1]
		c.ring[e.slot] = e
	} else {
		e.slot = len(c.ring)
		c.ring = append(c.ring, e)
	}
	c.entries[id] = e
	c.bytes += cost
}

// evictOne advances the hand to the first entry not referenced since it
// last passed, clearing the marks it passes, and evicts it.
func (c *nodeCache) evictOne() {
	for {
		if c.hand >= len(c.ring) {
			c.hand = 0
		}
		e := c.ring[c.hand]
		c.hand++
		if e == nil {
			continue
		}
		if e.ref.Load() {
			e.ref.Store(false)
			continue
		}
		c.drop(e)
		c.evictions.Add(1)
		return
	}
}

// remove drops whatever node is cached under each of ids: a page a
// commit freed (only a reader of an older tree could still want it, and
// it reads it again from the file, which keeps it until that reader
// ends), or a page a commit reused for a node it does not cache.
func (c *nodeCache) remove(ids ...pgid) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		if e := c.entries[id]; e != nil {
			c.drop(e)
		}
	}
}

func (c *nodeCache) drop(e *cacheEntry) {
	delete(c.entries, e.id)
	c.ring[e.slot] = nil
	c.free = append(c.free, e.slot)
	c.bytes -= e.cost
}

func (c *nodeCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.init(c.limit)
}

func (c *nodeCache) stats() CacheStats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return CacheStats{Bytes: c.bytes, Limit: c.limit, Nodes: len(c.entries),
		Hits: c.hits.Load(), Misses: c.misses.Load(), Evictions: c.evictions.Load()}
}
