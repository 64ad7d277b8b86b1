package mvcc

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// indexBenchKeys is the number of keys of BenchmarkIndexBytesPerKey and
// BenchmarkIndexLookup: 10^6, or CAIRN_INDEX_KEYS (3000000 for the
// memory target of 64 B per key at 3M keys).
func indexBenchKeys(b *testing.B) int {
	if s := os.Getenv("CAIRN_INDEX_KEYS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("CAIRN_INDEX_KEYS=%q: want a positive number of keys", s)
		}
		return n
	}
	return 1_000_000
}

// podKey is the i-th of n keys shaped as etcd's (Kubernetes') keys: 1000
// namespaces of n/1000 pods each.
func podKey(i, n int) []byte {
	per := max(n/1000, 1)
	return []byte(fmt.Sprintf("/registry/pods/ns-%d/pod-%d", i/per, i%per))
}

// flatKey is the i-th key of cmd/bench's shape: 8 zero-padded digits.
func flatKey(i, _ int) []byte { return []byte(fmt.Sprintf("%08d", i)) }

// indexShapes are the loads of the index benchmarks: key shape and
// revisions per key (written in rounds, each round over every key in a
// random order, as a store's clients would).
var indexShapes = []struct {
	name string
	key  func(i, n int) []byte
	revs int
}{
	{"pods/1rev", podKey, 1},
	{"pods/3revs", podKey, 3},
	{"flat/1rev", flatKey, 1},
}

// BenchmarkIndexBytesPerKey reports the Go heap the in-memory index holds
// per key (B/key): the heap after a collection with the index loaded,
// less the heap before. It measures once per shape, whatever b.N is:
//
//	go test -run '^$' -bench IndexBytesPerKey -benchtime 1x ./btreekv/mvcc
//	CAIRN_INDEX_KEYS=3000000 go test -run '^$' -bench IndexBytesPerKey -benchtime 1x ./btreekv/mvcc
func BenchmarkIndexBytesPerKey(b *testing.B) {
	n := indexBenchKeys(b)
	for _, shape := range indexShapes {
		b.Run(shape.name, func(b *testing.B) {
			for range b.N {
			}
			before := liveHeap()
			x := loadIndex(n, shape.key, shape.revs)
			after := liveHeap()
			runtime.KeepAlive(x)
			b.ReportMetric(float64(int64(after)-int64(before))/float64(n), "B/key")
		})
	}
}

// loadIndex builds an index of n keys with revs revisions each.
func loadIndex(n int, key func(i, n int) []byte, revs int) *index {
	x := newIndex()
	rng := rand.New(rand.NewPCG(7, 11))
	rev := int64(1)
	for range revs {
		for _, i := range rng.Perm(n) {
			rev++
			var ki keyIndex
			at := x.load(key(i, n), &ki)
			ki.put(Revision{Main: rev})
			x.write(at, &ki)
		}
	}
	return x
}

// randomPodKeys returns 4096 keys drawn at random (with a fixed seed)
// from an index of n pods-shaped keys.
func randomPodKeys(n int) [][]byte {
	rng := rand.New(rand.NewPCG(3, 5))
	keys := make([][]byte, 4096)
	for i := range keys {
		keys[i] = podKey(rng.IntN(n), n)
	}
	return keys
}

// BenchmarkIndexLookup: point lookups of random keys in an index of
// indexBenchKeys keys (pods shape, one revision each).
func BenchmarkIndexLookup(b *testing.B) {
	n := indexBenchKeys(b)
	x := loadIndex(n, podKey, 1)
	keys := randomPodKeys(n)
	b.ResetTimer()
	cpu := cpuNow()
	defer reportCPU(b, cpu)
	for i := 0; i < b.N; i++ {
		if _, ok := indexGet(x, keys[i%len(keys)], 1<<40); !ok {
			b.Fatal("key not found")
		}
	}
}

// BenchmarkIndexPut: the index's part of a put of an existing key (load
// its history, add a revision, write it back) of an index of
// indexBenchKeys keys (pods shape, one revision each to start), the keys
// in a random order, each once before any twice (so histories stay short,
// as in a store that compacts).
func BenchmarkIndexPut(b *testing.B) {
	n := indexBenchKeys(b)
	x := loadIndex(n, podKey, 1)
	rng := rand.New(rand.NewPCG(3, 5))
	keys := make([][]byte, n)
	for i, k := range rng.Perm(n) {
		keys[i] = podKey(k, n)
	}
	rev := int64(n + 1)
	var ki keyIndex
	b.ResetTimer()
	cpu := cpuNow()
	defer reportCPU(b, cpu)
	for i := 0; i < b.N; i++ {
		rev++
		at := x.load(keys[i%len(keys)], &ki)
		if err := ki.put(Revision{Main: rev}); err != nil {
			b.Fatal(err)
		}
		x.write(at, &ki)
	}
}

// BenchmarkIndexRange: reads of the revisions of 100 consecutive keys
// from a random key.
func BenchmarkIndexRange(b *testing.B) {
	n := indexBenchKeys(b)
	x := loadIndex(n, podKey, 1)
	keys := randomPodKeys(n)
	b.ResetTimer()
	cpu := cpuNow()
	defer reportCPU(b, cpu)
	for i := 0; i < b.N; i++ {
		if got := indexScan(x, keys[i%len(keys)], 100, 1<<40); got == 0 {
			b.Fatal("no keys")
		}
	}
}

// indexGet is a point lookup of key's revision at revision at, as a
// range of one key does it.
func indexGet(x *index, key []byte, at int64) (r Revision, ok bool) {
	x.visit(key, nil, func(ki *keyIndex) bool {
		r, _, _, ok = ki.get(at)
		return true
	})
	return r, ok
}

// indexScan reads the revisions at revision at of up to n keys from key
// on, and returns how many it read.
func indexScan(x *index, key []byte, n int, at int64) int {
	seen := 0
	x.visit(key, []byte{0}, func(ki *keyIndex) bool {
		if _, _, _, ok := ki.get(at); ok {
			seen++
		}
		return seen < n
	})
	return seen
}

// BenchmarkIndexPutLongHistory: the index's part of a put to 1,000 keys
// that already hold at least revs revisions each (the run adds b.N/1,000
// more), never compacted, as a counter's or a lock key's history grows.
// A put reads and rewrites only the front of a key's packed history, so
// its cost should stay nearly flat as revs grows (what grows is the copy
// of the history's bytes).
func BenchmarkIndexPutLongHistory(b *testing.B) {
	for _, revs := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("revs=%d", revs), func(b *testing.B) {
			const n = 1000
			x := newIndex()
			keys := make([][]byte, n)
			for i := range keys {
				keys[i] = []byte(fmt.Sprintf("key%08d", i))
			}
			var ki keyIndex
			rev := int64(1)
			put := func(key []byte) {
				rev++
				at := x.load(key, &ki)
				if err := ki.put(Revision{Main: rev}); err != nil {
					b.Fatal(err)
				}
				x.write(at, &ki)
			}
			for range revs {
				for _, k := range keys {
					put(k)
				}
			}
			rng := rand.New(rand.NewPCG(1, 2))
			b.ResetTimer()
			cpu := cpuNow()
			defer reportCPU(b, cpu)
			for i := 0; i < b.N; i++ {
				put(keys[rng.IntN(n)])
			}
		})
	}
}
