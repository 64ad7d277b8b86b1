package logstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/raftcore"
	"pgregory.net/rapid"
)

// tb is what the helpers need of a *testing.T or a *rapid.T.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

// pents returns n entries from index first, of term, with size bytes of
// data each that differ for every (index, term, salt): a place that
// points at another entry's data, or at an older entry of the same index,
// does not read back this one's.
func pents(first, n, term uint64, size int, salt uint64) []raftcore.Entry {
	out := make([]raftcore.Entry, n)
	for i := range out {
		idx := first + uint64(i)
		var data []byte
		if size > 0 {
			data = make([]byte, size)
			rng := rand.New(rand.NewPCG(idx, term<<32|salt))
			for j := 0; j < size; j += 8 {
				var w [8]byte
				binary.LittleEndian.PutUint64(w[:], rng.Uint64())
				copy(data[j:], w[:])
			}
		}
		out[i] = raftcore.Entry{Index: idx, Term: term, Data: data}
	}
	return out
}

// checkPlaces checks that every entry the log holds in memory has a place
// (unless its data is empty) that reads back exactly its data, that no
// index outside them has one, and that the places mirror the in-memory
// log. It returns the places by index.
func checkPlaces(t tb, l *Log) map[uint64]Place {
	t.Helper()
	first, _ := l.FirstIndex()
	last, _ := l.LastIndex()
	out := map[uint64]Place{}
	for i := first; i <= last; i++ {
		es, err := l.Entries(i, i+1, 1<<40)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		e := es[0]
		p, ok := l.EntryPlace(i)
		if !ok && len(e.Data) > 0 && purged(l, i) {
			continue // a purge removed its segment: no place
		}
		if len(e.Data) == 0 {
			if ok {
				t.Fatalf("entry %d has no data but a place %+v", i, p)
			}
			continue
		}
		if !ok {
			t.Fatalf("entry %d (%d bytes) has no place", i, len(e.Data))
		}
		b := make([]byte, len(e.Data))
		if err := l.ReadAt(b, p); err != nil {
			t.Fatalf("entry %d: read at %+v: %v", i, p, err)
		}
		if !bytes.Equal(b, e.Data) {
			t.Fatalf("entry %d: its place %+v holds other bytes than its data", i, p)
		}
		out[i] = p
	}
	for _, i := range []uint64{first - 1, last + 1} {
		if p, ok := l.EntryPlace(i); ok {
			t.Fatalf("entry %d, outside the log's [%d, %d], has a place %+v", i, first, last, p)
		}
	}
	l.mu.Lock()
	pf, pn := l.places.first, uint64(len(l.places.p))
	l.mu.Unlock()
	if pf != first || pn != last+1-first {
		t.Fatalf("places from %d, %d of them; the log holds [%d, %d]", pf, pn, first, last)
	}
	return out
}

// purged reports whether entry i, in memory, is in a segment a purge
// removed.
func purged(l *Log, i uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.places.p[i-l.places.first].Segment < l.segments[0].seq
}

// segmentSeqs returns the sequence numbers of the log's segments.
func segmentSeqs(l *Log) []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []uint64
	for _, s := range l.segments {
		out = append(out, s.seq)
	}
	return out
}

// walBytes sums the sizes of the files in dir/wal on fsys.
func walBytes(t tb, fsys fsx.FS, dir string) int64 {
	t.Helper()
	names, err := fsys.ReadDir(filepath.Join(dir, "wal"))
	if err != nil {
		t.Fatalf("list wal: %v", err)
	}
	var n int64
	for _, name := range names {
		info, err := fsys.Stat(filepath.Join(dir, "wal", name))
		if err != nil {
			t.Fatalf("stat %s: %v", name, err)
		}
		n += info.Size()
	}
	return n
}

// TestEntryPlacesReadBackTheirData: places give back each entry's data,
// across rollovers, batches split over several records, entries without
// data, a new leader's overwrite (in a new segment), hard states alone,
// and a restart, which finds the same places.
func TestEntryPlacesReadBackTheirData(t *testing.T) {
	fsys, dir := memDir(t)
	opts := Options{FS: fsys, Dir: dir, SegmentSize: 4096}
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	last := uint64(0)
	for range 60 {
		size := []int{0, 10, 300, 1500}[rng.IntN(4)]
		n := uint64(1 + rng.IntN(4))
		if err := l.Save(raftcore.HardState{Term: 1, Vote: 1, Commit: last}, pents(last+1, n, 1, size, 0)); err != nil {
			t.Fatal(err)
		}
		last += n
		checkPlaces(t, l)
	}
	if n := l.SegmentCount(); n < 5 {
		t.Fatalf("%d segments: the test needs rollovers", n)
	}
	// A new leader's overwrite of the last 6 entries, too big for the
	// current segment: the new entries go to a new one.
	old := checkPlaces(t, l)
	from := last - 5
	if err := l.Save(raftcore.HardState{Term: 2, Vote: 2, Commit: from - 1}, pents(from, 3, 2, 1800, 0)); err != nil {
		t.Fatal(err)
	}
	last = from + 2
	now := checkPlaces(t, l)
	for i := from; i <= last; i++ {
		if now[i].Segment <= old[from].Segment && old[from] != (Place{}) {
			t.Fatalf("entry %d overwritten in segment %d, the old one was in %d", i, now[i].Segment, old[from].Segment)
		}
	}
	// The old entries' bytes are still where they were (segments are
	// written once), but the log places the new ones.
	for i := from; i < from+6; i++ {
		if p, ok := old[i]; ok && now[i] == p {
			t.Fatalf("entry %d keeps the place of the entry it replaced", i)
		}
	}
	// A batch bigger than a record: several records, each in a new
	// segment here.
	big := pents(last+1, 3, 2, 700<<10, 0)
	if err := l.Save(raftcore.HardState{Term: 2, Vote: 2, Commit: last}, big); err != nil {
		t.Fatal(err)
	}
	last += 3
	// Hard states alone move no place.
	before := checkPlaces(t, l)
	if err := l.SaveCommit(raftcore.HardState{Term: 2, Vote: 2, Commit: last}); err != nil {
		t.Fatal(err)
	}
	if err := l.Save(raftcore.HardState{Term: 3, Vote: 1, Commit: last}, nil); err != nil {
		t.Fatal(err)
	}
	if got := checkPlaces(t, l); !mapsEqual(got, before) {
		t.Fatal("places moved with a hard state")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := checkPlaces(t, l); !mapsEqual(got, before) {
		t.Fatalf("places after a restart differ: %d of them, %d before", len(got), len(before))
	}
}

func mapsEqual(a, b map[uint64]Place) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestEntryPlacesFollowSnapshotsAndCompaction: entries before a snapshot
// keep their places until Compact drops them; a snapshot from the leader
// drops them all; after a restart the entries after the newest snapshot
// have the places they had.
func TestEntryPlacesFollowSnapshotsAndCompaction(t *testing.T) {
	fsys, dir := memDir(t)
	opts := Options{FS: fsys, Dir: dir, SegmentSize: 4096}
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	cs := raftcore.ConfState{Voters: []uint64{1}}
	if err := l.Save(raftcore.HardState{Term: 1, Commit: 30}, pents(1, 30, 1, 200, 0)); err != nil {
		t.Fatal(err)
	}
	all := checkPlaces(t, l)
	if _, err := l.CreateSnapshot(20, cs, nil); err != nil {
		t.Fatal(err)
	}
	if got := checkPlaces(t, l); !mapsEqual(got, all) {
		t.Fatal("a snapshot without compaction moved places")
	}
	if err := l.Compact(15); err != nil {
		t.Fatal(err)
	}
	got := checkPlaces(t, l)
	if _, ok := l.EntryPlace(15); ok || len(got) != 15 || got[16] != all[16] {
		t.Fatalf("after Compact(15): %d places, entry 16 at %+v (was %+v)", len(got), got[16], all[16])
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	got = checkPlaces(t, l)
	if len(got) != 10 || got[21] != all[21] || got[30] != all[30] {
		t.Fatalf("after a restart: %d places, entry 21 at %+v (was %+v)", len(got), got[21], all[21])
	}
	// A snapshot from the leader replaces the log: no place is left, and
	// the entries after it get new ones.
	snap := raftcore.Snapshot{Metadata: raftcore.SnapshotMetadata{Index: 40, Term: 2, ConfState: cs}}
	if err := l.ApplySnapshot(snap); err != nil {
		t.Fatal(err)
	}
	if got := checkPlaces(t, l); len(got) != 0 {
		t.Fatalf("%d places after a snapshot from the leader", len(got))
	}
	if err := l.Save(raftcore.HardState{Term: 2, Commit: 40}, pents(41, 5, 2, 100, 0)); err != nil {
		t.Fatal(err)
	}
	want := checkPlaces(t, l)
	_ = l.Close()
	l, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := checkPlaces(t, l); !mapsEqual(got, want) || len(got) != 5 {
		t.Fatalf("after the install and a restart: %v, want %v", got, want)
	}
}

// TestEntryPlacesAfterACutTail: a torn tail that recovery cuts takes its
// entries' places with it, and the entry written where it was is placed
// there; so is one written after a salvage cut the log short.
func TestEntryPlacesAfterACutTail(t *testing.T) {
	t.Run("torn tail", func(t *testing.T) {
		dir := t.TempDir()
		l := openTest(t, dir, 1<<16)
		for i := uint64(1); i <= 5; i++ {
			if err := l.Save(raftcore.HardState{Term: 1, Commit: i - 1}, pents(i, 1, 1, 50, 0)); err != nil {
				t.Fatal(err)
			}
		}
		want := checkPlaces(t, l)
		recStart := l.seg.tail
		if err := l.Save(raftcore.HardState{}, pents(6, 1, 1, 50, 0)); err != nil {
			t.Fatal(err)
		}
		recEnd := l.seg.tail
		_ = l.Close()
		seg := lastSegment(t, dir)
		b, _ := os.ReadFile(seg)
		clear(b[recStart+20 : recEnd]) // the write's end never reached the disk
		if err := os.WriteFile(seg, b, 0o600); err != nil {
			t.Fatal(err)
		}
		l = openTest(t, dir, 1<<16)
		defer l.Close()
		if got := checkPlaces(t, l); !mapsEqual(got, want) {
			t.Fatalf("places after the cut: %v, want %v", got, want)
		}
		if err := l.Save(raftcore.HardState{}, pents(6, 1, 2, 70, 0)); err != nil {
			t.Fatal(err)
		}
		got := checkPlaces(t, l)
		if p := got[6]; p.Offset < recStart || p.Offset > recStart+64 {
			t.Fatalf("entry 6 written again at %+v, the torn one started at %d", p, recStart)
		}
	})
	t.Run("salvage", func(t *testing.T) {
		dir := t.TempDir()
		l := openTest(t, dir, 1<<16)
		var offsets []int64
		for i := uint64(1); i <= 5; i++ {
			offsets = append(offsets, l.seg.tail)
			if err := l.Save(raftcore.HardState{}, pents(i, 1, 1, 50, 0)); err != nil {
				t.Fatal(err)
			}
		}
		all := checkPlaces(t, l)
		_ = l.Close()
		seg := lastSegment(t, dir)
		b, _ := os.ReadFile(seg)
		b[offsets[2]+20] ^= 0x10 // the third record: valid ones follow
		if err := os.WriteFile(seg, b, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := Open(Options{Dir: dir, Salvage: true})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		got := checkPlaces(t, l)
		if len(got) != 2 || got[1] != all[1] || got[2] != all[2] {
			t.Fatalf("places after salvage: %v", got)
		}
		if err := l.Save(raftcore.HardState{}, pents(3, 2, 2, 60, 0)); err != nil {
			t.Fatal(err)
		}
		checkPlaces(t, l)
	})
}

// retentionFixture writes rounds of 20 entries of 300 bytes into 4 KiB
// segments, each round followed by a snapshot and a compaction, with the
// retention bound keep (set before the first round). It returns the log
// and the place and data of entry 1.
func retentionFixture(t *testing.T, opts Options, keep uint64, rounds int) (*Log, Place, []byte) {
	t.Helper()
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.KeepSegmentsFrom(keep); err != nil {
		t.Fatal(err)
	}
	e1 := pents(1, 1, 1, 300, 0)[0]
	for r := range rounds {
		first := uint64(r*20 + 1)
		if err := l.Save(raftcore.HardState{Term: 1, Commit: first + 19}, pents(first, 20, 1, 300, 0)); err != nil {
			t.Fatal(err)
		}
		if r == 0 {
			checkPlaces(t, l)
		}
		if _, err := l.CreateSnapshot(first+19, raftcore.ConfState{Voters: []uint64{1}}, nil); err != nil {
			t.Fatal(err)
		}
		if err := l.Compact(first + 19); err != nil {
			t.Fatal(err)
		}
	}
	l.purging.Wait()
	return l, Place{Segment: 0, Offset: placeOf(t, opts, e1)}, e1.Data
}

// placeOf finds the offset of e's data in segment 0 by decoding its
// records (not through the log's places, which Compact dropped).
func placeOf(t *testing.T, opts Options, e raftcore.Entry) int64 {
	t.Helper()
	names, _ := opts.FS.ReadDir(filepath.Join(opts.Dir, "wal"))
	if len(names) == 0 || !strings.HasPrefix(names[0], fmt.Sprintf("%016x-", 0)) {
		return segmentHeaderSize // segment 0 is gone: any offset will do
	}
	b, err := readWhole(opts.FS, filepath.Join(opts.Dir, "wal", names[0]))
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := SegmentRecords(b)
	for _, r := range recs {
		if r.Type != "entries" {
			continue
		}
		_, payload, _, _ := readRecord(b[r.Offset:])
		at := Place{Offset: r.Offset + recordHeaderSize + 1}
		es, ps, err := decodeEntries(payload, at, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range es {
			if x.Index == e.Index && bytes.Equal(x.Data, e.Data) {
				return ps[i].Offset
			}
		}
	}
	t.Fatalf("entry %d not found in segment 0", e.Index)
	return 0
}

// TestRetentionKeepsSegments: with the bound at segment 0, no segment is
// purged across snapshots and a restart, and a place in the first one
// still reads back; recovery does not replay the kept segments; raising
// the bound removes the segments below it at once, and releasing it
// leaves what a log without the bound keeps. SegmentBytes follows the
// files on disk all along.
func TestRetentionKeepsSegments(t *testing.T) {
	for _, background := range []bool{false, true} {
		t.Run(fmt.Sprintf("background=%v", background), func(t *testing.T) {
			const rounds = 12
			plainFS, plainDir := memDir(t)
			plain, _, _ := retentionFixture(t, Options{FS: plainFS, Dir: plainDir, SegmentSize: 4096, PurgeInBackground: background}, KeepNoSegments, rounds)
			plainSegs := segmentSeqs(plain)
			_ = plain.Close()

			disk := &countingFS{MemFS: fsx.NewMem()}
			opts := Options{FS: disk, Dir: "/log", Create: true, SegmentSize: 4096, PurgeInBackground: background}
			l, p1, data1 := retentionFixture(t, opts, 0, rounds)
			segs := segmentSeqs(l)
			if segs[0] != 0 || len(segs) != int(segs[len(segs)-1])+1 || len(segs) < len(plainSegs)+10 {
				t.Fatalf("segments kept: %v; without the bound: %v", segs, plainSegs)
			}
			read := func(l *Log, p Place, want []byte) error {
				b := make([]byte, len(want))
				if err := l.ReadAt(b, p); err != nil {
					return err
				}
				if !bytes.Equal(b, want) {
					t.Fatalf("read at %+v: other bytes", p)
				}
				return nil
			}
			if err := read(l, p1, data1); err != nil {
				t.Fatalf("entry 1 in a kept segment: %v", err)
			}
			if got, want := l.SegmentBytes(), walBytes(t, disk, "/log"); got != want {
				t.Fatalf("SegmentBytes %d, the files hold %d", got, want)
			}
			want := durable(view(t, l))
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}

			// A restart reads the log since about the newest snapshot, not
			// the kept segments (12 rounds of about 6 KiB each).
			disk.walRead.Store(0)
			l, err := Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if n := disk.walRead.Load(); n > 4*4096 {
				t.Fatalf("recovery read %d bytes of the log, more than 4 segments: it replayed kept ones", n)
			}
			if got := durable(view(t, l)); !equalViews(got, want) {
				t.Fatalf("after a restart: %+v, want %+v", got, want)
			}
			if err := l.KeepSegmentsFrom(0); err != nil {
				t.Fatal(err)
			}
			if got := segmentSeqs(l); !slices.Equal(got, segs) {
				t.Fatalf("segments after a restart: %v, before: %v", got, segs)
			}
			if err := read(l, p1, data1); err != nil {
				t.Fatalf("entry 1 after a restart: %v", err)
			}
			if got, want := l.SegmentBytes(), walBytes(t, disk, "/log"); got != want {
				t.Fatalf("after a restart: SegmentBytes %d, the files hold %d", got, want)
			}

			// Raising the bound removes the segments below it, at once.
			mid := segs[len(segs)/2]
			es := pents(want.Last+1, 1, 1, 300, 0)
			if err := l.Save(raftcore.HardState{Term: 1, Commit: want.Last + 1}, es); err != nil {
				t.Fatal(err)
			}
			pLast, _ := l.EntryPlace(want.Last + 1)
			if err := l.KeepSegmentsFrom(mid); err != nil {
				t.Fatal(err)
			}
			l.purging.Wait()
			got := segmentSeqs(l)
			if got[0] != mid {
				t.Fatalf("segments after raising the bound to %d: %v", mid, got)
			}
			if err := read(l, p1, data1); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "segment 0") {
				t.Fatalf("read of a removed segment: %v, want an ErrCorrupt naming segment 0", err)
			}
			if err := read(l, pLast, es[0].Data); err != nil {
				t.Fatalf("read of the last entry: %v", err)
			}
			if got, want := l.SegmentBytes(), walBytes(t, disk, "/log"); got != want {
				t.Fatalf("after raising the bound: SegmentBytes %d, the files hold %d", got, want)
			}
			// Released: what a log that never kept any has.
			if err := l.KeepSegmentsFrom(KeepNoSegments); err != nil {
				t.Fatal(err)
			}
			l.purging.Wait()
			if got := segmentSeqs(l); got[0] != plainSegs[0] {
				t.Fatalf("segments once released: %v; a log without the bound has %v", got, plainSegs)
			}
			if got, want := l.SegmentBytes(), walBytes(t, disk, "/log"); got != want {
				t.Fatalf("once released: SegmentBytes %d, the files hold %d", got, want)
			}
		})
	}
}

func equalViews(a, b storageView) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

// TestReadAtErrors: a place in a purged segment, past a segment's end, in
// a segment's header, or in a log closed, is an error; the first three
// wrap ErrCorrupt and name the segment.
func TestReadAtErrors(t *testing.T) {
	fsys, dir := memDir(t)
	opts := Options{FS: fsys, Dir: dir, SegmentSize: 4096}
	l, p1, data1 := retentionFixture(t, opts, KeepNoSegments, 6)
	if segs := segmentSeqs(l); segs[0] == 0 {
		t.Fatalf("segment 0 not purged: %v", segs)
	}
	cur := segmentSeqs(l)[len(segmentSeqs(l))-1]
	for _, c := range []struct {
		name string
		p    Place
		n    int
		want string
	}{
		{"purged", p1, len(data1), "segment 0"},
		{"never existed", Place{Segment: cur + 5, Offset: 100}, 10, fmt.Sprintf("segment %d", cur+5)},
		{"past the end", Place{Segment: cur, Offset: 1 << 20}, 200, segmentName(cur, 0)[:17]},
		{"in the header", Place{Segment: cur, Offset: 3}, 4, fmt.Sprintf("segment %d", cur)},
	} {
		err := l.ReadAt(make([]byte, c.n), c.p)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: %v, want an ErrCorrupt naming %q", c.name, err, c.want)
		}
	}
	_ = l.Close()
	if err := l.ReadAt(make([]byte, 1), Place{Segment: cur, Offset: 100}); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after Close: %v", err)
	}
}

// TestCheckSegmentsFrom: a kept segment deleted, truncated or with a
// flipped bit is no damage to the log — it opens, with the same log — but
// CheckSegmentsFrom finds the first two, naming the file, from any
// sequence number up to theirs; and a read there fails as lost data.
func TestCheckSegmentsFrom(t *testing.T) {
	fsys, dir := memDir(t)
	opts := Options{FS: fsys, Dir: dir, SegmentSize: 4096}
	l, p1, data1 := retentionFixture(t, opts, 0, 16)
	segs := segmentSeqs(l)
	cur := segs[len(segs)-1]
	if cur < 12 {
		t.Fatalf("segments %v: the test needs more", segs)
	}
	for _, seq := range []uint64{0, 5, cur, KeepNoSegments} {
		if err := l.CheckSegmentsFrom(seq); err != nil {
			t.Fatalf("CheckSegmentsFrom(%d) on a whole log: %v", seq, err)
		}
	}
	if err := l.CheckSegmentsFrom(cur + 1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("CheckSegmentsFrom past the newest segment: %v", err)
	}
	want := durable(view(t, l))
	_ = l.Close()
	names, _ := fsys.ReadDir(filepath.Join(dir, "wal"))
	path := func(seq int) string { return filepath.Join(dir, "wal", names[seq]) }
	if err := fsys.Remove(path(3)); err != nil {
		t.Fatal(err)
	}
	truncate := func(p string, size int64) {
		f, err := fsys.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		_ = f.Sync()
		_ = f.Close()
	}
	truncate(path(6), 2000)
	if err := fsys.FlipBit(path(0), p1.Offset+10, 3); err != nil {
		t.Fatal(err)
	}
	l, err := Open(opts)
	if err != nil {
		t.Fatalf("open with kept segments damaged: %v", err)
	}
	defer l.Close()
	if d := l.Damage(); d != nil {
		t.Fatalf("damage to kept segments taken for the log's: %v", d)
	}
	if got := durable(view(t, l)); !equalViews(got, want) {
		t.Fatalf("log after a restart: %+v, want %+v", got, want)
	}
	for _, c := range []struct {
		from uint64
		want string // in the error; "" for none
	}{
		{0, fmt.Sprintf("segment 3 (%s", filepath.Join(dir, "wal", fmt.Sprintf("%016x-*.wal", 3)))},
		{3, "segment 3 "},
		{4, names[6]},
		{6, names[6]},
		{7, ""},
	} {
		err := l.CheckSegmentsFrom(c.from)
		if c.want == "" {
			if err != nil {
				t.Fatalf("CheckSegmentsFrom(%d): %v", c.from, err)
			}
			continue
		}
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("CheckSegmentsFrom(%d): %v, want an ErrCorrupt naming %q", c.from, err, c.want)
		}
	}
	// The flipped bit is for the reader's checksum to find: ReadAt
	// returns the bytes as they are.
	b := make([]byte, len(data1))
	if err := l.ReadAt(b, p1); err != nil || bytes.Equal(b, data1) || bitsDiffer(b, data1) != 1 {
		t.Fatalf("read of a flipped bit: err %v, %d bits differ", err, bitsDiffer(b, data1))
	}
	if err := l.ReadAt(b, Place{Segment: 3, Offset: 100}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read of a deleted segment: %v", err)
	}
	if err := l.ReadAt(b, Place{Segment: 6, Offset: 1900}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read past a truncated segment's end: %v", err)
	}
}

// TestKeptSegmentsAreNoDamageWhenRecoveryRereads: damage elsewhere makes
// recovery read every segment of the log again; a kept segment with a
// flipped bit before the snapshots is still none of it — the damage
// reported and salvaged is the log's own, and the kept segments stay.
func TestKeptSegmentsAreNoDamageWhenRecoveryRereads(t *testing.T) {
	fsys, dir := memDir(t)
	opts := Options{FS: fsys, Dir: dir, SegmentSize: 4096}
	l, p1, data1 := retentionFixture(t, opts, 0, 10)
	// Entries after the last snapshot, over more than one segment, so that
	// recovery skips some (and rereads them once it finds damage).
	if err := l.Save(raftcore.HardState{Term: 1, Commit: 200}, pents(201, 30, 1, 300, 0)); err != nil {
		t.Fatal(err)
	}
	segs := segmentSeqs(l)
	_ = l.Close()
	names, _ := fsys.ReadDir(filepath.Join(dir, "wal"))
	if err := fsys.FlipBit(filepath.Join(dir, "wal", names[0]), p1.Offset+10, 3); err != nil {
		t.Fatal(err)
	}
	// The last segment loses its tail: damage to the log.
	lastPath := filepath.Join(dir, "wal", names[len(names)-1])
	f, err := fsys.OpenFile(lastPath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1000); err != nil {
		t.Fatal(err)
	}
	_ = f.Sync()
	_ = f.Close()
	var d *Damage
	if _, err := Open(opts); !errors.As(err, &d) || d.Kind != DamageTruncated || d.File != lastPath {
		t.Fatalf("open: %v, want the last segment truncated", err)
	}
	opts.Salvage = true
	l, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if d := l.Damage(); d == nil || d.File != lastPath {
		t.Fatalf("salvaged damage %+v, want the last segment's", d)
	}
	if got := segmentSeqs(l); !slices.Equal(got, segs) {
		t.Fatalf("segments after salvage: %v, before: %v", got, segs)
	}
	b := make([]byte, len(data1))
	if err := l.ReadAt(b, p1); err != nil || bitsDiffer(b, data1) != 1 {
		t.Fatalf("read in the kept segment after salvage: %v", err)
	}
	checkPlaces(t, l)
}

// TestConcurrentReadAtDuringSaveAndPurge reads places from several
// goroutines while the log writes, rolls over, snapshots, and purges
// what the rising bound lets go (run it with -race). A read gets the
// entry's data, or, only if its segment is gone, an ErrCorrupt.
func TestConcurrentReadAtDuringSaveAndPurge(t *testing.T) {
	for _, background := range []bool{false, true} {
		t.Run(fmt.Sprintf("background=%v", background), func(t *testing.T) {
			l, err := Open(Options{Dir: t.TempDir(), Create: true, SegmentSize: 8192, PurgeInBackground: background})
			if err != nil {
				t.Fatal(err)
			}
			type placed struct {
				p    Place
				data []byte
			}
			var (
				mu      sync.Mutex
				known   []placed
				stop    atomic.Bool
				wg      sync.WaitGroup
				reads   atomic.Int64
				gone    atomic.Int64
				failure atomic.Value
			)
			for g := range 4 {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(g), 9))
					for !stop.Load() {
						mu.Lock()
						if len(known) == 0 {
							mu.Unlock()
							continue
						}
						k := known[rng.IntN(len(known))]
						mu.Unlock()
						b := make([]byte, len(k.data))
						err := l.ReadAt(b, k.p)
						switch {
						case err == nil && bytes.Equal(b, k.data):
							reads.Add(1)
						case errors.Is(err, ErrCorrupt) && !slices.Contains(segmentSeqs(l), k.p.Segment):
							gone.Add(1)
						default:
							failure.CompareAndSwap(nil, fmt.Sprintf("read at %+v: err %v, equal %v", k.p, err, bytes.Equal(b, k.data)))
						}
					}
				})
			}
			cs := raftcore.ConfState{Voters: []uint64{1}}
			last := uint64(0)
			for r := range 40 {
				es := pents(last+1, 10, 1, 500, 0)
				if err := l.Save(raftcore.HardState{Term: 1, Commit: last + 10}, es); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				for _, e := range es {
					p, _ := l.EntryPlace(e.Index)
					known = append(known, placed{p, e.Data})
				}
				mu.Unlock()
				last += 10
				if r%4 == 3 {
					if _, err := l.CreateSnapshot(last, cs, nil); err != nil {
						t.Fatal(err)
					}
					if err := l.Compact(last); err != nil {
						t.Fatal(err)
					}
				}
				// The bound trails the log by a few segments.
				seqs := segmentSeqs(l)
				if err := l.KeepSegmentsFrom(seqs[len(seqs)-1] - min(seqs[len(seqs)-1], 6)); err != nil {
					t.Fatal(err)
				}
			}
			stop.Store(true)
			wg.Wait()
			if f := failure.Load(); f != nil {
				t.Fatal(f)
			}
			if reads.Load() == 0 || gone.Load() == 0 {
				t.Fatalf("%d reads, %d of purged segments: the test shows little", reads.Load(), gone.Load())
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPlacesProperty runs random saves (with new leaders' overwrites),
// snapshots and compactions, snapshots from a leader, a rising retention
// bound, restarts and crashes after acknowledged operations. After each,
// every in-memory entry's place reads back its data and is the place it
// was written at, and every place ever written in a segment at or above
// the bound (which only rises, as a store's would) still reads back the
// data written there.
func TestPlacesProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		mem := fsx.NewMem()
		opts := Options{FS: mem, Dir: "/data", Create: true, KeepSnapshots: 2,
			SegmentSize:       int64(rapid.SampledFrom([]int{300, 2048, 1 << 16}).Draw(rt, "segSize")),
			PurgeInBackground: rapid.Bool().Draw(rt, "background")}
		l, err := Open(opts)
		if err != nil {
			rt.Fatal(err)
		}
		keep := KeepNoSegments
		if rapid.Bool().Draw(rt, "keeps") {
			keep = 0
		}
		if err := l.KeepSegmentsFrom(keep); err != nil {
			rt.Fatal(err)
		}
		type written struct {
			p    Place
			data []byte
		}
		var all []written            // every place written, with its data
		latest := map[uint64]Place{} // the place of the entry each index holds
		term, commit := uint64(1), uint64(0)
		cs := raftcore.ConfState{Voters: []uint64{1}}
		salt := uint64(0)
		for range rapid.IntRange(1, 40).Draw(rt, "ops") {
			first, _ := l.FirstIndex()
			last, _ := l.LastIndex()
			switch op := rapid.IntRange(0, 9).Draw(rt, "op"); {
			case op <= 3: // save, maybe overwriting an uncommitted suffix
				from := uint64(rapid.IntRange(int(max(first, commit+1)), int(last+1)).Draw(rt, "from"))
				if rapid.Bool().Draw(rt, "newTerm") {
					term++
				}
				salt++
				es := pents(from, uint64(rapid.IntRange(1, 5).Draw(rt, "n")), term, rapid.SampledFrom([]int{0, 1, 40, 200, 3000}).Draw(rt, "size"), salt)
				commit = uint64(rapid.IntRange(int(commit), int(es[len(es)-1].Index)).Draw(rt, "commit"))
				if err := l.Save(raftcore.HardState{Term: term, Vote: 1, Commit: commit}, es); err != nil {
					rt.Fatal(err)
				}
				for i := from; i <= last; i++ {
					delete(latest, i)
				}
				for _, e := range es {
					if p, ok := l.EntryPlace(e.Index); ok {
						all = append(all, written{p, e.Data})
						latest[e.Index] = p
					} else if len(e.Data) > 0 {
						rt.Fatalf("entry %d just saved has no place", e.Index)
					}
				}
			case op <= 5: // a local snapshot of committed entries, compaction
				snap, _ := l.Snapshot()
				lo := max(first, snap.Metadata.Index+1)
				if commit < lo {
					break
				}
				idx := uint64(rapid.IntRange(int(lo), int(commit)).Draw(rt, "snapAt"))
				if _, err := l.CreateSnapshot(idx, cs, nil); err != nil {
					rt.Fatal(err)
				}
				if rapid.Bool().Draw(rt, "compact") {
					if err := l.Compact(idx); err != nil {
						rt.Fatal(err)
					}
				}
			case op == 6: // a snapshot from a leader
				idx := last + uint64(rapid.IntRange(1, 5).Draw(rt, "ahead"))
				term++
				commit = idx
				if err := l.ApplySnapshot(raftcore.Snapshot{Metadata: raftcore.SnapshotMetadata{Index: idx, Term: term, ConfState: cs}}); err != nil {
					rt.Fatal(err)
				}
				clear(latest)
			case op == 7: // the bound rises
				if keep == KeepNoSegments {
					break
				}
				seqs := segmentSeqs(l)
				keep = uint64(rapid.IntRange(int(keep), int(seqs[len(seqs)-1])).Draw(rt, "keep"))
				if err := l.KeepSegmentsFrom(keep); err != nil {
					rt.Fatal(err)
				}
			default: // a restart, clean or a crash (everything was acknowledged)
				if err := l.Close(); err != nil {
					rt.Fatal(err)
				}
				if rapid.Bool().Draw(rt, "crash") {
					mem = mem.Crash(fsx.TearUnsynced, rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "tear"), 0)))
					opts.FS = mem
				}
				if l, err = Open(opts); err != nil {
					rt.Fatalf("reopen: %v", err)
				}
				if err := l.KeepSegmentsFrom(keep); err != nil {
					rt.Fatal(err)
				}
				hs, _, _ := l.InitialState()
				commit, term = hs.Commit, max(term, hs.Term)
			}
			l.purging.Wait()
			places := checkPlaces(rt, l)
			for i, p := range places {
				if latest[i] != p {
					rt.Fatalf("entry %d placed at %+v, it was written at %+v", i, p, latest[i])
				}
			}
			for _, w := range all {
				if w.p.Segment < keep {
					continue
				}
				b := make([]byte, len(w.data))
				if err := l.ReadAt(b, w.p); err != nil || !bytes.Equal(b, w.data) {
					rt.Fatalf("kept place %+v (bound %d): err %v, or other bytes", w.p, keep, err)
				}
			}
			if got, want := l.SegmentBytes(), walBytes(rt, mem, "/data"); got != want {
				rt.Fatalf("SegmentBytes %d, the files hold %d", got, want)
			}
			if keep != KeepNoSegments {
				if err := l.CheckSegmentsFrom(keep); err != nil {
					rt.Fatalf("CheckSegmentsFrom(%d): %v", keep, err)
				}
			}
		}
		_ = l.Close()
	})
}
