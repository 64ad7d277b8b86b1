package mvcc

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/fsx"
	"pgregory.net/rapid"
)

// watchSpec is what a watcher asked for, in the model's terms.
type watchSpec struct {
	key, end        string
	start           int64
	prevKV          bool
	noPut, noDelete bool
}

func (w watchSpec) matches(k string) bool {
	switch {
	case w.end == "":
		return k == w.key
	case w.end == "\x00":
		return k >= w.key
	}
	return k >= w.key && k < w.end
}

// watchExpect is the model's answer: every event from the start
// revision that the watcher wants, in order.
func watchExpect(m *mvModel, w watchSpec) []api.Event {
	var out []api.Event
	for _, ev := range m.events {
		if ev.Kv.ModRevision < w.start || !w.matches(string(ev.Kv.Key)) ||
			(w.noPut && ev.Type == api.EventPut) || (w.noDelete && ev.Type == api.EventDelete) {
			continue
		}
		if !w.prevKV {
			ev.PrevKv = nil
		}
		out = append(out, ev)
	}
	return out
}

// liveWatcher is a watcher under test and what it has received.
type liveWatcher struct {
	spec     watchSpec
	w        *Watcher
	got      []api.Event
	canceled *WatchResponse
}

// drain receives what is waiting, checking progress notifications: one
// at revision R comes after every wanted event at or below R.
func (lw *liveWatcher) drain(t *rapid.T, m *mvModel) {
	for {
		select {
		case r, ok := <-lw.w.C():
			if !ok {
				return
			}
			switch {
			case r.Canceled:
				lw.canceled = &r
			case len(r.Events) == 0:
				want := 0
				for _, ev := range watchExpect(m, lw.spec) {
					if ev.Kv.ModRevision <= r.Revision {
						want++
					}
				}
				if len(lw.got) != want {
					t.Fatalf("watcher %d: progress at %d after %d events, want %d", lw.w.ID, r.Revision, len(lw.got), want)
				}
			default:
				lw.got = append(lw.got, r.Events...)
			}
		default:
			return
		}
	}
}

// TestWatchersAgainstModel runs watchers on random keys and ranges, from
// past, present and future revisions, with prev_kv and filters, small
// buffers (so they fall behind and catch up from the page file),
// compactions and progress notifications, and checks each one received
// exactly the model's events for it, in order, or a prefix of them
// followed by a cancellation when compaction overtook it.
func TestWatchersAgainstModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := openMem(t, fsx.NewMem(), rapid.IntRange(1, 10).Draw(rt, "batch"))
		s.compactKeys, s.compactBatch = 2, 3
		m := newModel()
		keys := []string{"a", "b", "c", "d", "e"}
		var watchers []*liveWatcher
		index := uint64(0)
		for range rapid.IntRange(10, 80).Draw(rt, "steps") {
			index++
			switch rapid.IntRange(0, 11).Draw(rt, "op") {
			case 0, 1, 2:
				k, v := rapid.SampledFrom(keys).Draw(rt, "key"), fmt.Sprint(index)
				if _, err := s.Put(index, 1, &api.PutRequest{Key: []byte(k), Value: []byte(v)}); err != nil {
					rt.Fatal(err)
				}
				m.apply(map[string]string{k: v}, nil)
			case 3:
				k := rapid.SampledFrom(keys).Draw(rt, "key")
				if _, err := s.DeleteRange(index, 1, &api.DeleteRangeRequest{Key: []byte(k)}); err != nil {
					rt.Fatal(err)
				}
				m.apply(nil, []string{k})
			case 4: // several changes at one revision
				a, b := rapid.SampledFrom(keys).Draw(rt, "a"), rapid.SampledFrom(keys).Draw(rt, "b")
				ops := []api.RequestOp{put(a, fmt.Sprint(index))}
				puts, dels := map[string]string{a: fmt.Sprint(index)}, []string(nil)
				if b != a {
					ops = append(ops, del(b, ""))
					dels = append(dels, b)
				}
				if _, err := s.Txn(index, 1, &api.TxnRequest{Success: ops}); err != nil {
					rt.Fatal(err)
				}
				m.apply(puts, dels)
			case 5, 6:
				spec := watchSpec{
					key:      rapid.SampledFrom(keys).Draw(rt, "wkey"),
					end:      rapid.SampledFrom([]string{"", "c", "e", "\x00"}).Draw(rt, "wend"),
					prevKV:   rapid.Bool().Draw(rt, "prevKV"),
					noPut:    rapid.IntRange(0, 4).Draw(rt, "noPut") == 0,
					noDelete: rapid.IntRange(0, 4).Draw(rt, "noDelete") == 0,
				}
				if spec.end != "" && spec.end != "\x00" && spec.end <= spec.key {
					spec.end = ""
				}
				start := int64(rapid.IntRange(0, int(m.rev())+2).Draw(rt, "start"))
				w, err := s.Watch([]byte(spec.key), []byte(spec.end), WatchOptions{StartRev: start, PrevKV: spec.prevKV,
					NoPut: spec.noPut, NoDelete: spec.noDelete, Buffer: rapid.IntRange(1, 3).Draw(rt, "buffer"),
					ProgressNotify: rapid.Bool().Draw(rt, "progressNotify")})
				if start > 0 && start <= m.compact {
					var ce *CompactedError
					if !errors.As(err, &ce) || ce.CompactRev != m.compact {
						rt.Fatalf("watch from %d with compaction at %d: %v", start, m.compact, err)
					}
					continue
				}
				if err != nil {
					rt.Fatal(err)
				}
				spec.start = start
				if start == 0 {
					spec.start = m.rev() + 1
				}
				watchers = append(watchers, &liveWatcher{spec: spec, w: w})
			case 7:
				if m.rev() > m.compact {
					c := m.compact + 1 + int64(rapid.IntRange(0, int(m.rev()-m.compact-1)).Draw(rt, "compact"))
					if err := s.Compact(c); err != nil {
						rt.Fatal(err)
					}
					m.compact = c
				}
			case 8:
				if _, err := s.SyncWatchers(int64(rapid.IntRange(1, 4).Draw(rt, "maxRevs"))); err != nil {
					rt.Fatal(err)
				}
			case 9:
				s.NotifyProgress()
			default:
				if len(watchers) > 0 {
					rapid.SampledFrom(watchers).Draw(rt, "drain").drain(rt, m)
				}
			}
		}
		for range 1000 {
			for _, lw := range watchers {
				lw.drain(rt, m)
			}
			behind, err := s.SyncWatchers(3)
			if err != nil {
				rt.Fatal(err)
			}
			if behind == 0 {
				break
			}
		}
		s.NotifyProgress()
		for _, lw := range watchers {
			lw.drain(rt, m)
			want := watchExpect(m, lw.spec)
			got := lw.got
			if lw.canceled != nil {
				// Canceled by compaction: what came is a prefix of the
				// wanted events, and what did not come was compacted.
				c := lw.canceled.CompactRevision
				if c < lw.spec.start || c > m.compact || len(got) > len(want) {
					rt.Fatalf("watcher %d from %d canceled at compaction %d (model compacted at %d), %d events", lw.w.ID, lw.spec.start, c, m.compact, len(got))
				}
				want = want[:len(got)]
			}
			if len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
				rt.Fatalf("watcher %d %+v:\n got %v\nwant %v", lw.w.ID, lw.spec, got, want)
			}
		}
	})
}

// TestWatcherCatchesUpWhileWritesGoOn syncs a slow watcher from another
// goroutine while writes continue; it ends with every event, in order.
// Run with -race.
func TestWatcherCatchesUpWhileWritesGoOn(t *testing.T) {
	s := openMem(t, fsx.NewMem(), 5)
	w, err := s.Watch([]byte("k"), []byte{0}, WatchOptions{StartRev: 1, Buffer: 1, PrevKV: true})
	if err != nil {
		t.Fatal(err)
	}
	const writes = 300
	done := make(chan []api.Event)
	go func() {
		var got []api.Event
		for len(got) < writes {
			if _, err := s.SyncWatchers(7); err != nil {
				t.Error(err)
				break
			}
			select {
			case r := <-w.C():
				got = append(got, r.Events...)
			default:
			}
		}
		done <- got
	}()
	for i := 1; i <= writes; i++ {
		if _, err := s.Put(uint64(i), 1, &api.PutRequest{Key: []byte(fmt.Sprintf("k%d", i%7)), Value: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	got := <-done
	for i, ev := range got {
		if ev.Kv.ModRevision != int64(i+2) || string(ev.Kv.Value) != fmt.Sprint(i+1) {
			t.Fatalf("event %d: %+v", i, ev)
		}
		if (i+1 > 7) != (ev.PrevKv != nil) || (ev.PrevKv != nil && ev.PrevKv.ModRevision != int64(i+2-7)) {
			t.Fatalf("event %d: prev %+v", i, ev.PrevKv)
		}
	}
}

// TestCatchUpCostsNoFsync: a lagging watcher is caught up from committed
// history and from the changes still in memory, without forcing a commit.
func TestCatchUpCostsNoFsync(t *testing.T) {
	disk := fsx.NewMem()
	s := openMem(t, disk, 7) // commits every 7 changes on its own
	for i := 1; i <= 10; i++ {
		_, _ = s.Put(uint64(i), 1, &api.PutRequest{Key: []byte("k"), Value: []byte(fmt.Sprint(i))})
	}
	// Started in the past: it needs revisions 1-7 from the page file and
	// 8-10 from memory.
	w, _ := s.Watch([]byte("k"), nil, WatchOptions{StartRev: 1, PrevKV: true})
	syncs, _ := disk.Syncs()
	behind, err := s.SyncWatchers(100)
	if err != nil || behind != 0 {
		t.Fatalf("sync: %d behind, %v", behind, err)
	}
	if after, _ := disk.Syncs(); after != syncs {
		t.Fatalf("catching up cost %d fsyncs", after-syncs)
	}
	r := <-w.C()
	if len(r.Events) != 10 {
		t.Fatalf("%d events", len(r.Events))
	}
	for i, ev := range r.Events {
		if string(ev.Kv.Value) != fmt.Sprint(i+1) || (i > 0) != (ev.PrevKv != nil) || (i > 0 && string(ev.PrevKv.Value) != fmt.Sprint(i)) {
			t.Fatalf("event %d: %+v prev %+v", i, ev, ev.PrevKv)
		}
	}
}

// TestCatchUpDuringDefragment runs watcher catch-up, reads and hashes
// against repeated defragments (which hold the store while they wait for
// page-file readers): nothing deadlocks, nothing is lost.
func TestCatchUpDuringDefragment(t *testing.T) {
	s := openMem(t, fsx.NewMem(), 3)
	const writes = 200
	for i := 1; i <= writes; i++ {
		_, _ = s.Put(uint64(i), 1, &api.PutRequest{Key: []byte(fmt.Sprintf("k%d", i%5)), Value: []byte(fmt.Sprint(i))})
	}
	w, _ := s.Watch([]byte("k"), []byte{0}, WatchOptions{StartRev: 1, Buffer: 1, PrevKV: true})
	done := make(chan int)
	go func() {
		n := 0
		for n < writes {
			if _, err := s.SyncWatchers(3); err != nil {
				t.Error(err)
				break
			}
			select {
			case r := <-w.C():
				n += len(r.Events)
			default:
			}
			_, _ = s.Range([]byte("k"), []byte{0}, RangeOptions{})
		}
		done <- n
	}()
	for {
		if err := s.Defragment(); err != nil {
			t.Fatal(err)
		}
		select {
		case n := <-done:
			if n != writes {
				t.Fatalf("watcher got %d events, want %d", n, writes)
			}
			return
		default:
		}
	}
}

// TestNotifyProgressOnlyToWatchersThatAsked: the periodic notification
// goes to the watchers created with ProgressNotify, and only to them.
func TestNotifyProgressOnlyToWatchersThatAsked(t *testing.T) {
	s := openMem(t, fsx.NewMem(), 1)
	asked, err := s.Watch([]byte("a"), nil, WatchOptions{ProgressNotify: true})
	if err != nil {
		t.Fatal(err)
	}
	silent, err := s.Watch([]byte("a"), nil, WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := s.NotifyProgress(); n != 1 {
		t.Fatalf("NotifyProgress reached %d watchers, want 1", n)
	}
	select {
	case r := <-asked.C():
		if r.WatchID != asked.ID || len(r.Events) != 0 {
			t.Fatalf("progress notification %+v", r)
		}
	default:
		t.Fatal("the watcher that asked got no notification")
	}
	select {
	case r := <-silent.C():
		t.Fatalf("a watcher that did not ask got %+v", r)
	default:
	}
}

// TestWatchFromTheCompactedRevision: a watch from the compacted revision
// itself is refused, as one from below it (etcd starts it, and it misses
// that revision's deletes and its puts' previous versions): the client
// gets the compacted revision and starts after it.
func TestWatchFromTheCompactedRevision(t *testing.T) {
	s := openMem(t, fsx.NewMem(), 10)
	for i, op := range []api.RequestOp{put("a", "1"), put("b", "1"), put("a", "2")} {
		if _, err := s.Txn(uint64(i+1), 1, &api.TxnRequest{Success: []api.RequestOp{op}}); err != nil {
			t.Fatal(err)
		}
	}
	// Revision 5 puts b and deletes a; compact there, to the end.
	if _, err := s.Txn(4, 1, &api.TxnRequest{Success: []api.RequestOp{put("b", "2"), del("a", "")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(5); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishCompaction(); err != nil {
		t.Fatal(err)
	}
	for _, start := range []int64{4, 5} {
		var ce *CompactedError
		if _, err := s.Watch([]byte("a"), []byte{0}, WatchOptions{StartRev: start}); !errors.As(err, &ce) || ce.CompactRev != 5 {
			t.Fatalf("watch from %d: %v, want compacted at 5", start, err)
		}
	}
	if _, err := s.Watch([]byte("a"), []byte{0}, WatchOptions{StartRev: 6, PrevKV: true}); err != nil {
		t.Fatalf("watch from after the compacted revision: %v", err)
	}
}
