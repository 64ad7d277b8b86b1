package pagefile

import (
	"fmt"
	"maps"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
	"pgregory.net/rapid"
)

// TestCacheStaysWithinItsBudget: a file many times the cache's budget,
// written in large transactions (each changing far more nodes than the
// budget holds) and read through whole scans and random gets, reads back
// exactly what was written, and the cache's own count of its bytes never
// passes the budget.
func TestCacheStaysWithinItsBudget(t *testing.T) {
	const budget = 64 << 10 // 16 pages of 4 KiB
	db, err := Open("/db", Options{FS: fsx.NewMem(), CacheBytes: budget})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkBudget := func(when string) {
		t.Helper()
		if st := db.Stats().Cache; st.Bytes > budget || st.Limit != budget {
			t.Fatalf("%s: cache holds %d bytes, budget %d (limit %d)", when, st.Bytes, budget, st.Limit)
		}
	}
	want := map[string]string{}
	val := make([]byte, 200)
	for round := range 4 {
		err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for i := range 3000 {
				k := fmt.Sprintf("key%06d", (i*7919+round*31)%10000)
				v := fmt.Sprintf("%d-%d-%s", round, i, val)
				want[k] = v
				if err := b.Put([]byte(k), []byte(v)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		checkBudget(fmt.Sprintf("after commit %d", round))
	}
	if size := db.Stats().FileSize; size < 20*budget {
		t.Fatalf("file of %d bytes: want one far larger than the budget of %d", size, budget)
	}
	for scan := range 2 {
		if got := dump(t, db)["b"]; !maps.Equal(got, want) {
			t.Fatalf("scan %d: %d keys read back, want %d", scan, len(got), len(want))
		}
		checkBudget(fmt.Sprintf("after scan %d", scan))
	}
	err = db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := range 2000 {
			k := fmt.Sprintf("key%06d", i*37%10000)
			v, err := b.Get([]byte(k))
			if err != nil {
				return err
			}
			if string(v) != want[k] {
				return fmt.Errorf("get %s: %.20q, want %.20q", k, v, want[k])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checkBudget("after gets")
	if st := db.Stats().Cache; st.Evictions == 0 || st.Hits == 0 || st.Nodes == 0 {
		t.Fatalf("cache counters %+v: want evictions, hits and nodes", st)
	}
}

// TestCacheClock: the cache's accounting matches its entries whatever the
// order of puts (new, replacing) and gets, it stays within its budget,
// and a node looked up since the hand last passed outlives one that was
// not.
func TestCacheClock(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		var c nodeCache
		limit := rapid.Int64Range(100, 2000).Draw(rt, "limit")
		c.init(limit)
		last := map[pgid]*node{}
		for range rapid.IntRange(1, 200).Draw(rt, "ops") {
			id := pgid(rapid.IntRange(1, 30).Draw(rt, "id"))
			switch rapid.SampledFrom([]string{"get", "put", "remove"}).Draw(rt, "op") {
			case "get":
				if n := c.get(id); n != nil && n.id != id {
					rt.Fatalf("get %d returned node %d", id, n.id)
				}
				continue
			case "remove":
				c.remove(id)
				delete(last, id)
				if c.get(id) != nil {
					rt.Fatalf("page %d still cached after its removal", id)
				}
			default:
				n := &node{id: id}
				c.put(id, n, rapid.Int64Range(1, 600).Draw(rt, "cost"))
				last[id] = n
			}
			var sum int64
			for k, e := range c.entries {
				if k != e.id || c.ring[e.slot] != e {
					rt.Fatalf("entry %d misplaced", k)
				}
				if e.n != last[k] {
					rt.Fatalf("page %d holds a node that is not the last put there", k)
				}
				sum += e.cost
			}
			if sum != c.bytes || c.bytes > limit {
				rt.Fatalf("cache counts %d bytes, entries hold %d, limit %d", c.bytes, sum, limit)
			}
		}
	})
	// A node costs at least the pages of its run: a leaf of one 64 KiB
	// value costs 17 pages of 4 KiB, not one node's worth.
	if got := nodeCost(&node{leaf: true, diskPages: 17}, 4096); got < 17*4096 {
		t.Fatalf("a node of 17 pages costs %d bytes", got)
	}
	// A referenced entry survives the eviction of an unreferenced one.
	var c nodeCache
	c.init(300)
	c.put(1, &node{id: 1}, 100)
	c.put(2, &node{id: 2}, 100)
	c.put(3, &node{id: 3}, 100)
	c.get(1)
	c.put(4, &node{id: 4}, 100)
	if c.get(1) == nil || c.get(2) != nil {
		t.Fatalf("after a miss the cache holds 1: %v, 2: %v; want the looked-up node 1 kept and 2 evicted", c.get(1) != nil, c.get(2) != nil)
	}
}
