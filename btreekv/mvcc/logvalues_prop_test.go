package mvcc

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/fsx"
	"pgregory.net/rapid"
)

// raftOp is a write the property applies to both stores as raft entry
// index, kept to be replayed after a crash.
type raftOp struct {
	index uint64
	name  string
	apply func(s *Store, replay bool) (any, error)
}

// TestLogValuesAgreeWithPageFileValues runs the same random operations on
// a store that keeps its large values in a (fake) raft log and on one
// that does not: puts of small and large values (slices of their
// entries, or copies), deletions, transactions comparing values,
// compactions left to the Commits, commits (after which the log purges
// what the store's bound lets it), restarts, crashes (each store then
// replays the entries after its consistent index), defragmentations,
// the collector with a tiny MinRetainedLog, InternLogValues. The answers
// (prev_kv included), the ranges at every revision, watch catch-ups with
// previous versions and the hashes must agree, and the logged store's
// references must match its records. A value the log purged too early
// would fail a read with ErrCorrupt.
func TestLogValuesAgreeWithPageFileValues(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		log := newFakeLog(rapid.SampledFrom([]int{1, 600, 5000}).Draw(rt, "segSize"))
		minValue := rapid.SampledFrom([]int{16, 100}).Draw(rt, "minLogValue")
		separateMin := rapid.SampledFrom([]int{separateValueMin, 64}).Draw(rt, "separateMin")
		batch := rapid.IntRange(1, 20).Draw(rt, "batch")
		retain := rapid.SampledFrom([]int64{1, 1 << 40}).Draw(rt, "minRetainedLog")
		diskA, diskB := fsx.NewMem(), fsx.NewMem()
		open := func(disk *fsx.MemFS, logged bool) *Store {
			opts := Options{FS: disk, BatchLimit: batch, PageSize: 1024, StrictPages: true}
			if logged {
				opts.LogValues, opts.MinLogValue, opts.MinRetainedLog = log, minValue, retain
			}
			s, err := Open("/db", opts)
			if err != nil {
				rt.Fatal(err)
			}
			s.separateMin = separateMin
			s.compactKeys, s.compactBatch = 2, 3
			s.collectValues, s.collectBytes = 2, 1500
			return s
		}
		a, b := open(diskA, true), open(diskB, false)
		keys := []string{"a", "b", "c", "d"}
		sizes := []int{0, 10, 20, 150, 700, 3000}
		var ops []raftOp
		index := uint64(0)
		// entry returns the data of a new raft entry carrying values of
		// the given sizes, and the values: slices of that data, or
		// copies if copied.
		entry := func(copied bool, sizes ...int) [][]byte {
			index++
			var data []byte
			var at []int
			for i, n := range sizes {
				data = append(data, fmt.Sprintf("[%d]", i)...)
				at = append(at, len(data))
				data = append(data, valueOf(index*10+uint64(i), n)...)
			}
			data = log.add(index, data)
			values := make([][]byte, len(sizes))
			for i, n := range sizes {
				values[i] = data[at[i] : at[i]+n : at[i]+n]
				if copied {
					values[i] = bytes.Clone(values[i])
				}
			}
			return values
		}
		run := func(op raftOp) {
			ops = append(ops, op)
			ra, errA := op.apply(a, false)
			rb, errB := op.apply(b, false)
			if fmt.Sprint(errA) != fmt.Sprint(errB) {
				rt.Fatalf("%s: logged store: %v, other: %v", op.name, errA, errB)
			}
			if !reflect.DeepEqual(ra, rb) {
				rt.Fatalf("%s: logged store answers %+v, other %+v", op.name, ra, rb)
			}
		}
		agree := func(what string) {
			if a.Rev() != b.Rev() || a.CompactRev() != b.CompactRev() {
				rt.Fatalf("%s: revisions %d/%d (compacted), want %d/%d", what, a.Rev(), a.CompactRev(), b.Rev(), b.CompactRev())
			}
			for rev := a.CompactRev(); rev <= a.Rev(); rev++ {
				if rev == 0 {
					continue
				}
				ra, errA := a.Range([]byte("a"), []byte("z"), RangeOptions{Rev: rev})
				rb, errB := b.Range([]byte("a"), []byte("z"), RangeOptions{Rev: rev})
				if errA != nil || errB != nil {
					rt.Fatalf("%s: range at %d: %v, %v", what, rev, errA, errB)
				}
				if !reflect.DeepEqual(ra.KVs, rb.KVs) {
					rt.Fatalf("%s: range at %d: logged store %v, other %v", what, rev, ra.KVs, rb.KVs)
				}
			}
			if n, _ := b.LogRefStats(); n != 0 {
				rt.Fatalf("%s: the store without log values has %d references", what, n)
			}
		}
		watchAll := func(s *Store) []api.Event {
			w, err := s.Watch([]byte("a"), []byte("z"), WatchOptions{StartRev: s.CompactRev() + 1, PrevKV: true, Buffer: 1000})
			if err != nil {
				rt.Fatal(err)
			}
			defer s.CancelWatch(w)
			for range 100 {
				behind, err := s.SyncWatchers(5)
				if err != nil {
					rt.Fatal(err)
				}
				if behind == 0 {
					break
				}
			}
			var evs []api.Event
			for {
				select {
				case r := <-w.C():
					evs = append(evs, r.Events...)
				default:
					return evs
				}
			}
		}
		for step := range rapid.IntRange(1, 50).Draw(rt, "ops") {
			switch rapid.IntRange(0, 14).Draw(rt, "op") {
			case 0, 1, 2, 3: // put
				k := rapid.SampledFrom(keys).Draw(rt, "key")
				n := rapid.SampledFrom(sizes).Draw(rt, "size")
				copied := rapid.IntRange(0, 4).Draw(rt, "copied") == 0
				prev := rapid.Bool().Draw(rt, "prevKv")
				v := entry(copied, n)[0]
				i := index
				run(raftOp{index: i, name: fmt.Sprintf("put %s (%d bytes)", k, n), apply: func(s *Store, _ bool) (any, error) {
					return s.Put(i, 1, &api.PutRequest{Key: []byte(k), Value: v, PrevKv: prev})
				}})
			case 4: // delete
				k := rapid.SampledFrom(keys).Draw(rt, "key")
				end := rapid.SampledFrom([]string{"", "c", "z"}).Draw(rt, "end")
				entry(false)
				i := index
				run(raftOp{index: i, name: "delete " + k, apply: func(s *Store, _ bool) (any, error) {
					return s.DeleteRange(i, 1, &api.DeleteRangeRequest{Key: []byte(k), RangeEnd: []byte(end), PrevKv: true})
				}})
			case 5, 6: // a txn comparing a value, putting large ones
				k := rapid.SampledFrom(keys).Draw(rt, "key")
				n1, n2 := rapid.SampledFrom(sizes).Draw(rt, "size1"), rapid.SampledFrom(sizes).Draw(rt, "size2")
				vs := entry(false, n1, n2)
				operand := valueOf(uint64(rapid.IntRange(0, 30).Draw(rt, "operand")), 50)
				i := index
				req := &api.TxnRequest{
					Compare: []api.Compare{{Key: []byte(k), Target: api.CompareValue, Result: api.CompareGreater, Value: operand}},
					Success: []api.RequestOp{
						{Put: &api.PutRequest{Key: []byte("a"), Value: vs[0], PrevKv: true}},
						{Put: &api.PutRequest{Key: []byte("b"), Value: vs[1], PrevKv: true}},
					},
					Failure: []api.RequestOp{
						{Put: &api.PutRequest{Key: []byte("c"), Value: vs[1], PrevKv: true}},
						{Range: &api.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z")}},
						{DeleteRange: &api.DeleteRangeRequest{Key: []byte("d"), PrevKv: true}},
					},
				}
				run(raftOp{index: i, name: "txn", apply: func(s *Store, _ bool) (any, error) { return s.Txn(i, 1, req) }})
			case 7: // compaction, left to the commits
				if a.Rev() <= a.CompactRev()+1 {
					continue
				}
				c := rapid.Int64Range(a.CompactRev()+1, a.Rev()).Draw(rt, "compact")
				entry(false)
				i := index
				run(raftOp{index: i, name: fmt.Sprintf("compact %d", c), apply: func(s *Store, replay bool) (any, error) {
					err := s.StartCompact(c)
					if replay && errors.Is(err, ErrCompacted) {
						err = nil // already durable
					}
					if err != nil {
						return nil, err
					}
					return nil, s.Write(i, 1).End()
				}})
			case 8: // commit; the log purges what it may
				for _, s := range []*Store{a, b} {
					if err := s.Commit(); err != nil {
						rt.Fatal(err)
					}
				}
				log.purgeFor(a)
			case 9: // restart
				for _, s := range []*Store{a, b} {
					if err := s.Close(); err != nil {
						rt.Fatal(err)
					}
				}
				a, b = open(diskA, true), open(diskB, false)
			case 10: // crash, then replay the entries the stores lost
				mode := rapid.SampledFrom([]fsx.CrashMode{fsx.LoseUnsynced, fsx.TearUnsynced}).Draw(rt, "crash")
				seed := rapid.Uint64().Draw(rt, "seed")
				if rapid.Bool().Draw(rt, "cut") {
					// A commit cut short: its batch never becomes
					// durable, and the log purges meanwhile.
					diskA.FailNext("sync", errors.New("power cut"))
					_ = a.Commit()
					log.purgeFor(a)
				}
				diskA = diskA.Crash(mode, rand.New(rand.NewPCG(seed, 1)))
				diskB = diskB.Crash(mode, rand.New(rand.NewPCG(seed, 2)))
				a, b = open(diskA, true), open(diskB, false)
				for _, s := range []*Store{a, b} {
					for _, op := range ops {
						if op.index > s.ConsistentIndex() {
							if _, err := op.apply(s, true); err != nil && !isClientError(err) {
								rt.Fatalf("replay of %s (entry %d): %v", op.name, op.index, err)
							}
						}
					}
				}
			case 11: // defragment
				for _, s := range []*Store{a, b} {
					if err := s.Defragment(); err != nil {
						rt.Fatal(err)
					}
				}
			case 12:
				if err := a.InternLogValues(log.ReadValue); err != nil {
					rt.Fatal(err)
				}
				if n, _ := checkLogRefs(rt, a); n != 0 {
					rt.Fatalf("%d references after InternLogValues", n)
				}
			case 13: // hashes
				rev := rapid.Int64Range(max(a.CompactRev(), 1), a.Rev()).Draw(rt, "hashRev")
				ha, ca, errA := a.Hash(rev)
				hb, cb, errB := b.Hash(rev)
				if ha != hb || ca != cb || errA != nil || errB != nil {
					rt.Fatalf("hash at %d: %x/%d (%v) with log values, %x/%d (%v) without", rev, ha, ca, errA, hb, cb, errB)
				}
			case 14: // watch catch-up
				if ea, eb := watchAll(a), watchAll(b); !reflect.DeepEqual(ea, eb) {
					rt.Fatalf("watch: logged store %v, other %v", ea, eb)
				}
			}
			log.purgeFor(a)
			agree(fmt.Sprintf("step %d", step))
		}
		if ea, eb := watchAll(a), watchAll(b); !reflect.DeepEqual(ea, eb) {
			rt.Fatalf("watch: logged store %v, other %v", ea, eb)
		}
		checkLogRefs(rt, a)
		if err := a.FinishCompaction(); err != nil {
			rt.Fatal(err)
		}
		if err := b.FinishCompaction(); err != nil {
			rt.Fatal(err)
		}
		ha, _, errA := a.Hash(0)
		hb, _, errB := b.Hash(0)
		if ha != hb || errA != nil || errB != nil {
			rt.Fatalf("hash %x (%v) with log values, %x (%v) without", ha, errA, hb, errB)
		}
		// Every reference is at or after the durable bound, and the log
		// kept those segments.
		bound, ok := a.OldestLogSegment()
		err := a.LogRefs(func(place LogPlace, size int64) error {
			if !ok || place.Segment < bound {
				return fmt.Errorf("reference into segment %d, below the bound %d (%v)", place.Segment, bound, ok)
			}
			return log.ReadValue(place, make([]byte, size))
		})
		if err != nil {
			rt.Fatal(err)
		}
	})
}

// isClientError reports whether err is one a write returns to its client
// (the same on every member), not a failure of the store.
func isClientError(err error) bool {
	for _, e := range []error{ErrCompacted, ErrFutureRev, ErrKeyNotFound, ErrLeaseNotFound, ErrEmptyKey} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
