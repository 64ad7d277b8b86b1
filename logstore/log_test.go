package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/raftcore"
	"pgregory.net/rapid"
)

func openTest(t testing.TB, dir string, segSize int64) *Log {
	t.Helper()
	l, err := Open(Options{Dir: dir, Create: true, SegmentSize: segSize})
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	return l
}

func ents(first, n, term uint64, size int) []raftcore.Entry {
	out := make([]raftcore.Entry, n)
	for i := range out {
		out[i] = raftcore.Entry{Index: first + uint64(i), Term: term, Data: bytes.Repeat([]byte{byte(first + uint64(i))}, size)}
	}
	return out
}

// storageView is everything raft can read from a Storage.
type storageView struct {
	HS          raftcore.HardState
	First, Last uint64
	Ents        []raftcore.Entry
	Snap        raftcore.SnapshotMetadata
	SnapData    []byte
}

func view(t testing.TB, s raftcore.Storage) storageView {
	t.Helper()
	var v storageView
	v.HS, _, _ = s.InitialState()
	v.First, _ = s.FirstIndex()
	v.Last, _ = s.LastIndex()
	if v.First <= v.Last {
		es, err := s.Entries(v.First, v.Last+1, ^uint64(0))
		if err != nil {
			t.Fatalf("entries [%d,%d]: %v", v.First, v.Last, err)
		}
		for _, e := range es {
			if len(e.Data) == 0 {
				e.Data = nil
			}
			v.Ents = append(v.Ents, e)
		}
	}
	snap, _ := s.Snapshot()
	v.Snap = snap.Metadata
	if len(snap.Data) > 0 {
		v.SnapData = snap.Data
	}
	return v
}

func TestRoundTripAndReopen(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, 4096) // small segments: many rollovers
	for i := uint64(0); i < 50; i++ {
		if err := l.Save(raftcore.HardState{Term: 1, Vote: 1, Commit: i}, ents(1+i*3, 3, 1, 100)); err != nil {
			t.Fatal(err)
		}
	}
	// A new leader overwrites the suffix from 140.
	if err := l.Save(raftcore.HardState{Term: 2, Vote: 2, Commit: 139}, ents(140, 5, 2, 10)); err != nil {
		t.Fatal(err)
	}
	want := view(t, l)
	if want.Last != 144 || want.Ents[139].Term != 2 {
		t.Fatalf("before reopen: last %d", want.Last)
	}
	if l.SegmentCount() < 3 {
		t.Fatalf("expected rollovers, have %d segments", l.SegmentCount())
	}
	_ = l.Close()
	l2 := openTest(t, dir, 4096)
	defer l2.Close()
	if got := view(t, l2); !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopen:\n got %+v\nwant %+v", got.HS, want.HS)
	}
}

func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	names, _ := os.ReadDir(filepath.Join(dir, "wal"))
	return filepath.Join(dir, "wal", names[len(names)-1].Name())
}

// TestTornTailEveryOffset cuts the last record at every byte offset (as a
// crash mid-write would: its bytes from there on never reached the disk,
// or garbage did) and checks that recovery keeps exactly the records
// before it. The same cut made by shortening the file is not a crash (a
// segment is preallocated before it is used): it is Damage, and Salvage
// keeps the same records.
func TestTornTailEveryOffset(t *testing.T) {
	base := t.TempDir()
	l := openTest(t, base, 1<<16)
	for i := uint64(1); i <= 5; i++ {
		_ = l.Save(raftcore.HardState{Term: 1, Commit: i - 1}, ents(i, 1, 1, 20))
	}
	before := view(t, l)
	recStart := l.seg.tail
	_ = l.Save(raftcore.HardState{}, ents(6, 1, 1, 20))
	recEnd := l.seg.tail
	_ = l.Close()
	seg := lastSegment(t, base)
	orig, _ := os.ReadFile(seg)
	for cut := recStart; cut < recEnd; cut++ {
		for _, mode := range []string{"zeros", "garbage", "short"} {
			dir := t.TempDir()
			_ = os.CopyFS(dir, os.DirFS(base))
			b := bytes.Clone(orig)
			switch mode {
			case "zeros":
				clear(b[cut:recEnd])
			case "garbage":
				for i := cut; i < recEnd; i++ {
					b[i] = 0xA5
				}
			case "short":
				b = b[:cut]
			}
			if err := os.WriteFile(filepath.Join(dir, "wal", filepath.Base(seg)), b, 0o644); err != nil {
				t.Fatal(err)
			}
			var logged strings.Builder
			opts := Options{Dir: dir, SegmentSize: 1 << 16, Logger: slog.New(slog.NewTextHandler(&logged, nil))}
			if mode == "short" {
				var d *Damage
				if _, err := Open(opts); !errors.As(err, &d) || d.Kind != DamageTruncated || d.Offset != recStart {
					t.Fatalf("cut at %d (short): err = %v, want a truncated segment at offset %d", cut, err, recStart)
				}
				opts.Salvage = true
			}
			l2, err := Open(opts)
			if err != nil {
				t.Fatalf("cut at %d (%s): %v", cut, mode, err)
			}
			if got := view(t, l2); !reflect.DeepEqual(got, before) {
				t.Fatalf("cut at %d (%s): recovered last=%d, want %d", cut, mode, got.Last, before.Last)
			}
			if cut > recStart && mode == "garbage" && !strings.Contains(logged.String(), "torn") {
				t.Fatalf("cut at %d (%s): torn tail not logged", cut, mode)
			}
			// The log keeps working after the cut.
			if err := l2.Save(raftcore.HardState{}, ents(6, 1, 1, 5)); err != nil {
				t.Fatal(err)
			}
			_ = l2.Close()
		}
	}
}

func TestBitFlipInMiddleRecordIsReported(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, 1<<16)
	var offsets []int64
	for i := uint64(1); i <= 5; i++ {
		offsets = append(offsets, l.seg.tail)
		_ = l.Save(raftcore.HardState{}, ents(i, 1, 1, 50))
	}
	_ = l.Close()
	seg := lastSegment(t, dir)
	b, _ := os.ReadFile(seg)
	// Flip a bit in the third record's length field, and in its payload.
	for _, pos := range []int64{offsets[2], offsets[2] + 20} {
		c := bytes.Clone(b)
		c[pos] ^= 0x10
		_ = os.WriteFile(seg, c, 0o644)
		_, err := Open(Options{Dir: dir})
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), filepath.Base(seg)) || !strings.Contains(err.Error(), fmt.Sprintf("offset %d", offsets[2])) {
			t.Fatalf("flip at %d: err = %v, want ErrCorrupt naming %s offset %d", pos, err, filepath.Base(seg), offsets[2])
		}
	}
}

func TestBadInput(t *testing.T) {
	t.Run("missing dir without Create", func(t *testing.T) {
		_, err := Open(Options{Dir: filepath.Join(t.TempDir(), "nope")})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("err = %v", err)
		}
	})
	mk := func(t *testing.T, content []byte) error {
		dir := t.TempDir()
		l := openTest(t, dir, 4096)
		_ = l.Close()
		_ = os.WriteFile(lastSegment(t, dir), content, 0o644)
		_, err := Open(Options{Dir: dir})
		return err
	}
	t.Run("wrong magic", func(t *testing.T) {
		if err := mk(t, []byte("PK\x03\x04 this is a zip file, not a log")); !errors.Is(err, ErrBadFormat) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("future version", func(t *testing.T) {
		h := segmentHeader(0)
		h[8] = 9
		if err := mk(t, h); !errors.Is(err, ErrBadFormat) || !strings.Contains(err.Error(), "version 9") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("stray file in wal dir", func(t *testing.T) {
		dir := t.TempDir()
		l := openTest(t, dir, 4096)
		_ = l.Close()
		_ = os.WriteFile(filepath.Join(dir, "wal", "notes.txt"), []byte("hi"), 0o644)
		if _, err := Open(Options{Dir: dir}); !errors.Is(err, ErrBadFormat) || !strings.Contains(err.Error(), "notes.txt") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("old snapshot holding a copy of the store", func(t *testing.T) {
		// A data dir of a cairn whose snapshots held the store (format 1)
		// is refused with an error that says so, not read as metadata nor
		// skipped in favour of an older snapshot.
		dir := t.TempDir()
		l := openTest(t, dir, 4096)
		_ = l.Save(raftcore.HardState{Term: 1, Commit: 3}, ents(1, 3, 1, 10))
		if _, err := l.CreateSnapshot(3, raftcore.ConfState{Voters: []uint64{1}}, nil); err != nil {
			t.Fatal(err)
		}
		_ = l.Close()
		path := filepath.Join(dir, "snap", snapName(1, 3))
		b, _ := os.ReadFile(path)
		b[8] = snapVersionWithStore
		_ = os.WriteFile(path, b, 0o644)
		_, err := Open(Options{Dir: dir})
		if !errors.Is(err, ErrBadFormat) || !strings.Contains(err.Error(), "version 1") || !strings.Contains(err.Error(), "copy of the store") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("snapshot data over the limit", func(t *testing.T) {
		l := openTest(t, t.TempDir(), 4096)
		defer l.Close()
		_ = l.Save(raftcore.HardState{Term: 1, Commit: 3}, ents(1, 3, 1, 10))
		big := make([]byte, MaxSnapshotData+1)
		if _, err := l.CreateSnapshot(3, raftcore.ConfState{Voters: []uint64{1}}, big); err == nil || !strings.Contains(err.Error(), "more than") {
			t.Fatalf("create: err = %v", err)
		}
		snap := raftcore.Snapshot{Metadata: raftcore.SnapshotMetadata{Index: 9, Term: 2, ConfState: raftcore.ConfState{Voters: []uint64{1}}}, Data: big}
		if err := l.ApplySnapshot(snap); err == nil || !strings.Contains(err.Error(), "more than") {
			t.Fatalf("apply: err = %v", err)
		}
		// Refused before anything was written: the log is still usable.
		if _, err := l.CreateSnapshot(3, raftcore.ConfState{Voters: []uint64{1}}, []byte("small")); err != nil {
			t.Fatal(err)
		}
		if s, _ := l.Snapshot(); s.Metadata.Index != 3 || string(s.Data) != "small" {
			t.Fatalf("snapshot %+v", s)
		}
	})
	t.Run("foreign metadata", func(t *testing.T) {
		dir := t.TempDir()
		l, _ := Open(Options{Dir: dir, Create: true, Metadata: []byte("cluster-a")})
		_ = l.Close()
		if _, err := Open(Options{Dir: dir, Metadata: []byte("cluster-b")}); !errors.Is(err, ErrBadFormat) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestSnapshotsAndPurge(t *testing.T) {
	dir := t.TempDir()
	l, _ := Open(Options{Dir: dir, Create: true, SegmentSize: 2048, KeepSnapshots: 2})
	cs := raftcore.ConfState{Voters: []uint64{1, 2, 3}}
	for round := uint64(0); round < 6; round++ {
		first := round*20 + 1
		_ = l.Save(raftcore.HardState{Term: 1, Commit: first + 19}, ents(first, 20, 1, 60))
		if _, err := l.CreateSnapshot(first+19, cs, []byte(fmt.Sprintf("state@%d", first+19))); err != nil {
			t.Fatal(err)
		}
		if err := l.Compact(first + 14); err != nil {
			t.Fatal(err)
		}
	}
	snaps, _ := os.ReadDir(filepath.Join(dir, "snap"))
	if len(snaps) != 2 {
		t.Fatalf("%d snapshot files kept, want 2", len(snaps))
	}
	if n := l.SegmentCount(); n > 6 {
		t.Fatalf("%d segments left after purging", n)
	}
	_ = l.Save(raftcore.HardState{Term: 1, Commit: 120}, ents(121, 3, 1, 10))
	want := view(t, l)
	_ = l.Close()
	l2 := openTest(t, dir, 2048)
	got := view(t, l2)
	// Restart keeps entries after the newest snapshot (compaction of the
	// catch-up entries is not persisted; restart starts at the snapshot).
	if got.Snap.Index != 120 || got.First != 121 || got.Last != 123 || string(got.SnapData) != "state@120" {
		t.Fatalf("after reopen: snap %d first %d last %d data %q", got.Snap.Index, got.First, got.Last, got.SnapData)
	}
	if !reflect.DeepEqual(got.Ents, want.Ents[len(want.Ents)-3:]) || got.HS != want.HS {
		t.Fatal("entries or hard state differ after reopen")
	}
	_ = l2.Close()

	// A corrupt newest snapshot: fall back to the previous one, which the
	// kept segments still cover.
	newest := filepath.Join(dir, "snap", snapName(1, 120))
	b, _ := os.ReadFile(newest)
	b[len(b)-1] ^= 1
	_ = os.WriteFile(newest, b, 0o644)
	var logged strings.Builder
	l3, err := Open(Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	got = view(t, l3)
	if got.Snap.Index != 100 || got.Last != 123 {
		t.Fatalf("fallback: snap %d last %d", got.Snap.Index, got.Last)
	}
	if !strings.Contains(logged.String(), "unreadable snapshot") {
		t.Fatalf("fallback not logged: %s", logged.String())
	}
	_ = l3.Close()
}

func TestApplySnapshotFromLeader(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, 4096)
	_ = l.Save(raftcore.HardState{Term: 1, Commit: 2}, ents(1, 5, 1, 10))
	snap := raftcore.Snapshot{Metadata: raftcore.SnapshotMetadata{Index: 50, Term: 3, ConfState: raftcore.ConfState{Voters: []uint64{1}}}, Data: []byte("leader state")}
	if err := l.ApplySnapshot(snap); err != nil {
		t.Fatal(err)
	}
	_ = l.Save(raftcore.HardState{Term: 3, Commit: 51}, ents(51, 1, 3, 10))
	want := view(t, l)
	_ = l.Close()
	l2 := openTest(t, dir, 4096)
	defer l2.Close()
	got := view(t, l2)
	if !reflect.DeepEqual(got, want) || got.First != 51 || got.Last != 51 {
		t.Fatalf("after reopen: %+v, want %+v", got, want)
	}
	if err := l2.ApplySnapshot(snap); !errors.Is(err, raftcore.ErrSnapshotOutOfDate) {
		t.Fatalf("old snapshot: %v", err)
	}
}

// TestModel compares the log with raftcore.MemoryStorage across random
// appends (with overwrites), hard states, snapshots, compactions and
// restarts.
func TestModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		dir := t.TempDir()
		l := openTest(t, dir, int64(rapid.SampledFrom([]int{512, 4096, 1 << 20}).Draw(rt, "segSize")))
		model := raftcore.NewMemoryStorage()
		term, commit := uint64(1), uint64(0)
		for range rapid.IntRange(1, 40).Draw(rt, "ops") {
			first, _ := model.FirstIndex()
			last, _ := model.LastIndex()
			switch rapid.IntRange(0, 5).Draw(rt, "op") {
			case 0, 1: // append, maybe overwriting an uncommitted suffix
				from := uint64(rapid.IntRange(int(max(first, commit+1)), int(last+1)).Draw(rt, "from"))
				if rapid.Bool().Draw(rt, "newTerm") {
					term++
				}
				es := ents(from, uint64(rapid.IntRange(1, 5).Draw(rt, "n")), term, rapid.IntRange(0, 300).Draw(rt, "size"))
				commit = uint64(rapid.IntRange(int(commit), int(es[len(es)-1].Index)).Draw(rt, "commit"))
				hs := raftcore.HardState{Term: term, Vote: 1, Commit: commit}
				if err := l.Save(hs, es); err != nil {
					rt.Fatal(err)
				}
				_ = model.Append(es)
				model.SetHardState(hs)
			case 2: // snapshot of applied (committed) entries + compact
				if commit < first {
					continue
				}
				idx := uint64(rapid.IntRange(int(first), int(commit)).Draw(rt, "snapAt"))
				data := []byte(fmt.Sprintf("s%d", idx))
				if _, err := l.CreateSnapshot(idx, raftcore.ConfState{Voters: []uint64{1}}, data); err != nil {
					rt.Fatal(err)
				}
				_, _ = model.CreateSnapshot(idx, raftcore.ConfState{Voters: []uint64{1}}, data)
				_ = l.Compact(idx)
				_ = model.Compact(idx)
			case 3: // snapshot from a leader
				idx := last + uint64(rapid.IntRange(1, 10).Draw(rt, "ahead"))
				term++
				commit = idx
				snap := raftcore.Snapshot{Metadata: raftcore.SnapshotMetadata{Index: idx, Term: term, ConfState: raftcore.ConfState{Voters: []uint64{1}}}, Data: []byte("x")}
				if err := l.ApplySnapshot(snap); err != nil {
					rt.Fatal(err)
				}
				_ = model.ApplySnapshot(snap)
				hs := raftcore.HardState{Term: term, Commit: idx}
				_ = l.Save(hs, nil)
				model.SetHardState(hs)
			case 4, 5: // restart
				_ = l.Close()
				l = openTest(t, dir, 1<<20)
				// Restart drops the catch-up entries kept below the
				// newest snapshot, exactly as compacting at it would.
				snap, _ := model.Snapshot()
				if f, _ := model.FirstIndex(); snap.Metadata.Index >= f {
					_ = model.Compact(snap.Metadata.Index)
				}
			}
			if got, want := view(t, l), view(t, model); !reflect.DeepEqual(got, want) {
				rt.Fatalf("log differs from model:\n got %+v\nwant %+v", got, want)
			}
		}
		_ = l.Close()
	})
}

// slowFS delays every fsync and counts them, so concurrent Saves overlap.
type slowFS struct {
	fsx.OS
	syncs *atomic.Int64
}

type slowFile struct {
	fsx.File
	syncs *atomic.Int64
}

func (s slowFS) OpenFile(name string, flag int, perm fs.FileMode) (fsx.File, error) {
	f, err := s.OS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return slowFile{f, s.syncs}, nil
}

// Sync takes 0 to 4 ms: varied, so that an fsync in one goroutine can
// outlast operations on the same file in another.
func (f slowFile) Sync() error {
	f.syncs.Add(1)
	time.Sleep(time.Duration(rand.IntN(4000)) * time.Microsecond)
	return f.File.Sync()
}

func TestGroupCommitSharesFsyncs(t *testing.T) {
	var syncs atomic.Int64
	l, err := Open(Options{FS: slowFS{syncs: &syncs}, Dir: t.TempDir(), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	syncs.Store(0)
	const workers, each = 8, 25
	var wg sync.WaitGroup
	var commit atomic.Uint64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if err := l.Save(raftcore.HardState{Term: 1, Commit: commit.Add(1)}, nil); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := syncs.Load(); n > workers*each/2 {
		t.Fatalf("%d fsyncs for %d concurrent saves: group commit is not sharing", n, workers*each)
	}
}

func TestFailedSyncPoisonsTheLog(t *testing.T) {
	l := openTest(t, t.TempDir(), 4096)
	_ = l.seg.f.Close() // the next fsync fails
	if err := l.Save(raftcore.HardState{Term: 1}, ents(1, 1, 1, 1)); err == nil {
		t.Fatal("save succeeded with a failing file")
	}
	if err := l.Save(raftcore.HardState{Term: 2}, nil); err == nil {
		t.Fatal("log kept accepting writes after a failed fsync")
	}
}

// FuzzReadRecord: any bytes decode to a record or a clear error, never a
// panic or an allocation beyond the input's size. The payload decoders
// also get the raw bytes, which the checksum would otherwise keep from
// them.
func FuzzReadRecord(f *testing.F) {
	f.Add(appendRecord(nil, recEntries, func(b []byte) []byte { return appendEntriesPayload(b, ents(1, 2, 1, 5)) }))
	f.Add(appendRecord(nil, recHardState, func(b []byte) []byte { return raftcore.AppendHardState(b, raftcore.HardState{Term: 2}) }))
	f.Add(appendRecord(nil, recSnapshot, func(b []byte) []byte { return encodeSnapMarker(b, 7, 3) }))
	f.Add(appendEntriesPayload(nil, ents(4, 3, 2, 9)))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(payload []byte) {
			if es, ps, err := decodeEntries(payload, Place{Offset: 0}, nil); err == nil {
				for i := 1; i < len(es); i++ {
					if es[i].Index != es[i-1].Index+1 {
						t.Fatalf("decoded entries %d then %d", es[i-1].Index, es[i].Index)
					}
				}
				for i, e := range es {
					if len(e.Data) > 0 && !bytes.Equal(payload[ps[i].Offset:][:len(e.Data)], e.Data) {
						t.Fatalf("entry %d: its place, offset %d, does not hold its data", e.Index, ps[i].Offset)
					}
				}
			} else if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("entries error %v is not ErrCorrupt", err)
			}
			if _, _, err := decodeSnapMarker(payload); err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("marker error %v is not ErrCorrupt", err)
			}
		}
		check(b)
		typ, payload, n, err := readRecord(b)
		if err != nil {
			if !errors.Is(err, errTorn) && !errors.Is(err, errEnd) {
				t.Fatalf("record error %v is neither torn nor end", err)
			}
			return
		}
		if n > len(b) || len(payload) >= n || typ < recEntries || typ > recMetadata {
			t.Fatalf("record of %d bytes, payload %d, type %v from %d bytes", n, len(payload), typ, len(b))
		}
		check(payload)
	})
}

// FuzzDecodeSnapFile: any bytes decode to a snapshot or a clear error.
func FuzzDecodeSnapFile(f *testing.F) {
	f.Add(encodeSnapFile(raftcore.Snapshot{Metadata: raftcore.SnapshotMetadata{Index: 3, Term: 2, ConfState: raftcore.ConfState{Voters: []uint64{1, 2}}}, Data: []byte("state")}))
	f.Add([]byte(snapMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSnapFile("fuzz.snap", b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrBadFormat) {
				t.Fatalf("error %v is neither ErrCorrupt nor ErrBadFormat", err)
			}
			return
		}
		if len(s.Data) > len(b) {
			t.Fatalf("%d bytes of data from a %d-byte file", len(s.Data), len(b))
		}
	})
}
