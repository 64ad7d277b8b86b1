package logstore

import (
	"bytes"
	"errors"
	"math/bits"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/raftcore"
	"pgregory.net/rapid"
)

// TestOneBitFlipIsTellableFromATear: a record with one bit flipped is
// explained by the flip (damage at rest) exactly when the flip is not in
// zeros that run to the record's end — where a torn write leaves the
// same bytes — wherever the bit is: length, checksum, type or payload.
func TestOneBitFlipIsTellableFromATear(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		payload := rapid.SliceOfN(rapid.Byte(), 1, 300).Draw(t, "payload")
		rec := appendRecord(nil, recEntries, func(b []byte) []byte { return append(b, payload...) })
		b := append(bytes.Clone(rec), make([]byte, 64)...) // the zeros after it
		p := rapid.IntRange(0, len(rec)-1).Draw(t, "byte")
		b[p] ^= 1 << rapid.IntRange(0, 7).Draw(t, "bit")
		if _, _, _, err := readRecord(b); err == nil {
			t.Skip("the flip left a valid record") // a length flip onto another valid span
		}
		want := !allZero(b[p:len(rec)])
		if got := explainedByOneBitFlip(b); got != want {
			t.Fatalf("flip at byte %d of a %d-byte record: explained %v, want %v", p, len(rec), got, want)
		}
	})
}

// TestTornRecordIsNotABitFlip: a record cut short at any byte, the rest
// zeros or garbage, is a tear whatever its content.
func TestTornRecordIsNotABitFlip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		payload := rapid.SliceOfN(rapid.Byte(), 1, 300).Draw(t, "payload")
		rec := appendRecord(nil, recEntries, func(b []byte) []byte { return append(b, payload...) })
		cut := rapid.IntRange(0, len(rec)-1).Draw(t, "cut")
		b := append(bytes.Clone(rec), make([]byte, 64)...)
		clear(b[cut:])
		if rapid.Bool().Draw(t, "garbage") {
			for i := cut; i < len(rec); i++ {
				b[i] = 0xA5
			}
		}
		if _, _, _, err := readRecord(b); err == nil {
			t.Skip("the cut left a valid record")
		}
		if bitsDiffer(rec, b[:len(rec)]) == 1 {
			t.Skip("the tear left the record one bit away from what was written: a bit flip as well")
		}
		if explainedByOneBitFlip(b) {
			t.Fatalf("record of %d bytes cut at %d taken for a bit flip", len(rec), cut)
		}
	})
}

// bitsDiffer counts the bits in which a and b, of the same length, differ.
func bitsDiffer(a, b []byte) int {
	n := 0
	for i := range a {
		n += bits.OnesCount8(a[i] ^ b[i])
	}
	return n
}

// damagedFixture writes 5 batches of one entry each (hard state commit
// i-1) into segments of segSize and closes the log.
func damagedFixture(t *testing.T, segSize int64, size int) (string, storageView) {
	t.Helper()
	dir := t.TempDir()
	l := openTest(t, dir, segSize)
	for i := uint64(1); i <= 5; i++ {
		if err := l.Save(raftcore.HardState{Term: 1, Vote: 1, Commit: i - 1}, ents(i, 1, 1, size)); err != nil {
			t.Fatal(err)
		}
	}
	v := view(t, l)
	_ = l.Close()
	return dir, v
}

func walFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := os.ReadDir(filepath.Join(dir, "wal"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		out = append(out, filepath.Join(dir, "wal", n.Name()))
	}
	return out
}

// openDamaged opens dir twice: without Salvage, which must fail with a
// Damage of the kind given; then with it, which must keep the log's
// prefix and record the damage.
func openDamaged(t *testing.T, dir string, kind DamageKind) (*Log, *Damage) {
	t.Helper()
	var d *Damage
	if _, err := Open(Options{Dir: dir}); !errors.As(err, &d) || !errors.Is(err, ErrCorrupt) || d.Kind != kind {
		t.Fatalf("open without salvage: err = %v, want a %s Damage", err, kind)
	}
	l, err := Open(Options{Dir: dir, Salvage: true})
	if err != nil {
		t.Fatalf("open with salvage: %v", err)
	}
	got := l.Damage()
	if got == nil || got.Kind != kind || got.Earlier {
		t.Fatalf("Damage() = %+v, want a new %s", got, kind)
	}
	if _, err := os.Stat(filepath.Join(dir, repairFile)); err != nil {
		t.Fatalf("no repair file: %v", err)
	}
	return l, got
}

// TestDamageIsReportedAndSalvaged: each way a log loses what it
// acknowledged is reported with the file and offset, salvaged to the
// records before it, and stays reported across restarts until
// MarkRepaired.
func TestDamageIsReportedAndSalvaged(t *testing.T) {
	for _, tc := range []struct {
		name    string
		segSize int64
		kind    DamageKind
		// damage changes the files and returns the index the log must
		// keep entries up to.
		damage func(t *testing.T, dir string) uint64
	}{
		{"truncated mid-record", 1 << 16, DamageTruncated, func(t *testing.T, dir string) uint64 {
			seg := walFiles(t, dir)[0]
			b, _ := os.ReadFile(seg)
			off := recordOffsets(t, b)[8] // the 4th entry's record: after the prologue (2 records) and 3 batches of 2
			if err := os.Truncate(seg, int64(off+5)); err != nil {
				t.Fatal(err)
			}
			return 3
		}},
		{"truncated at a record boundary", 1 << 16, DamageTruncated, func(t *testing.T, dir string) uint64 {
			seg := walFiles(t, dir)[0]
			b, _ := os.ReadFile(seg)
			if err := os.Truncate(seg, int64(recordOffsets(t, b)[8])); err != nil {
				t.Fatal(err)
			}
			return 3
		}},
		{"bit flip in the last record", 1 << 16, DamageCorruptRecord, func(t *testing.T, dir string) uint64 {
			seg := walFiles(t, dir)[0]
			b, _ := os.ReadFile(seg)
			offs := recordOffsets(t, b)
			b[offs[len(offs)-1]+recordHeaderSize+1] ^= 0x20 // the last hard state
			_ = os.WriteFile(seg, b, 0o644)
			return 5
		}},
		{"last segment deleted", 300, DamageMissingSegment, func(t *testing.T, dir string) uint64 {
			files := walFiles(t, dir)
			if len(files) < 3 {
				t.Fatalf("%d segments, want several", len(files))
			}
			_ = os.Remove(files[len(files)-1])
			return 0 // checked below against the entries of the segments left
		}},
		{"middle segment deleted", 300, DamageMissingSegment, func(t *testing.T, dir string) uint64 {
			files := walFiles(t, dir)
			_ = os.Remove(files[1])
			return 0
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, all := damagedFixture(t, tc.segSize, 100)
			keep := tc.damage(t, dir)
			l, d := openDamaged(t, dir, tc.kind)
			got := view(t, l)
			if keep == 0 {
				keep = got.Last
				if keep >= all.Last {
					t.Fatalf("a deleted segment lost nothing: last %d", keep)
				}
			}
			if got.Last != keep || !reflect.DeepEqual(got.Ents, all.Ents[:keep]) || d.LastIndex != keep {
				t.Fatalf("salvaged log ends at %d (damage says %d), want the %d entries before the damage", got.Last, d.LastIndex, keep)
			}
			if got.HS.Commit > got.Last {
				t.Fatalf("salvaged hard state %+v commits past the last entry %d", got.HS, got.Last)
			}
			if tc.kind != DamageMissingSegment && (!strings.Contains(d.Error(), filepath.Base(walFiles(t, dir)[0])) || !strings.Contains(d.Error(), "offset")) {
				t.Fatalf("damage %q does not name the file and offset", d.Error())
			}
			// The log appends where the damage began, and a restart keeps
			// both the new entries and the pending repair.
			if err := l.Save(raftcore.HardState{Term: 2, Vote: 2, Commit: keep}, ents(keep+1, 2, 2, 100)); err != nil {
				t.Fatal(err)
			}
			want := view(t, l)
			_ = l.Close()
			l, err := Open(Options{Dir: dir})
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			if got := view(t, l); !reflect.DeepEqual(got, want) {
				t.Fatalf("reopened: last %d hs %+v, want last %d hs %+v", got.Last, got.HS, want.Last, want.HS)
			}
			if p := l.Damage(); p == nil || !p.Earlier || p.Kind != tc.kind || p.File != d.File || p.Offset != d.Offset {
				t.Fatalf("after a restart Damage() = %+v, want the pending %+v", p, d)
			}
			if err := l.MarkRepaired(2); err != nil {
				t.Fatal(err)
			}
			if l.Damage() != nil {
				t.Fatal("Damage() after MarkRepaired")
			}
			_ = l.Close()
			l, err = Open(Options{Dir: dir})
			if err != nil {
				t.Fatalf("reopen after repair: %v", err)
			}
			if p, term := l.Damage(), l.RepairedTerm(); p != nil || term != 2 {
				t.Fatalf("after repair and a restart Damage() = %+v, RepairedTerm() = %d, want nil and 2", p, term)
			}
			if err := l.ClearRepair(); err != nil {
				t.Fatal(err)
			}
			_ = l.Close()
			l, err = Open(Options{Dir: dir})
			if err != nil {
				t.Fatalf("reopen after the repair was cleared: %v", err)
			}
			defer l.Close()
			if p, term := l.Damage(), l.RepairedTerm(); p != nil || term != 0 {
				t.Fatalf("after ClearRepair and a restart Damage() = %+v, RepairedTerm() = %d", p, term)
			}
			if _, err := os.Stat(filepath.Join(dir, repairFile)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the repair file is still there: %v", err)
			}
		})
	}
}

// recordOffsets lists the offsets of the records of a segment.
func recordOffsets(t *testing.T, b []byte) []int {
	t.Helper()
	var offs []int
	for off := segmentHeaderSize; ; {
		_, _, n, err := readRecord(b[off:])
		if err != nil {
			return offs
		}
		offs = append(offs, off)
		off += n
	}
}

// TestCommitPastEndIsDamage: a saved commit index past the last entry
// shows entries the log made durable are gone.
func TestCommitPastEndIsDamage(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, 1<<16)
	if err := l.Save(raftcore.HardState{Term: 1, Commit: 2}, ents(1, 3, 1, 10)); err != nil {
		t.Fatal(err)
	}
	// Append a hard state committing index 9 straight to the segment.
	rec := appendRecord(nil, recHardState, func(b []byte) []byte {
		return raftcore.AppendHardState(b, raftcore.HardState{Term: 1, Commit: 9})
	})
	if _, err := l.seg.f.WriteAt(rec, l.seg.tail); err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
	l, d := openDamaged(t, dir, DamageCommitPastEnd)
	defer l.Close()
	if hs := view(t, l).HS; hs.Commit != 3 || d.LastIndex != 3 {
		t.Fatalf("salvaged commit %d (damage at %d), want 3", hs.Commit, d.LastIndex)
	}
}

// TestMarkDamagedSurvivesRestarts: damage the owner reports stays until
// MarkRepaired; the first report is kept.
func TestMarkDamagedSurvivesRestarts(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, 1<<16)
	first := Damage{Kind: DamageStateAhead, Detail: "the store holds index 9"}
	if err := l.MarkDamaged(first); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkDamaged(Damage{Kind: DamageCorruptRecord, Detail: "later"}); err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
	l = openTest(t, dir, 1<<16)
	defer l.Close()
	d := l.Damage()
	if d == nil || d.Kind != first.Kind || d.Detail != first.Detail || !d.Earlier {
		t.Fatalf("Damage() = %+v, want the first report, pending", d)
	}
}

// TestRepairAttemptsOnlyGrow: the count of repairs started survives
// restarts, the repair's end (MarkRepaired) and its record's (ClearRepair),
// and damage found after that: a repair's number is never one an earlier
// repair had.
func TestRepairAttemptsOnlyGrow(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, 1<<16)
	if n := l.RepairAttempt(); n != 0 {
		t.Fatalf("a new log's RepairAttempt() = %d, want 0", n)
	}
	reopen := func() {
		t.Helper()
		_ = l.Close()
		l = openTest(t, dir, 1<<16)
	}
	begin := func(want uint64) {
		t.Helper()
		n, err := l.BeginRepairAttempt()
		if err != nil || n != want {
			t.Fatalf("BeginRepairAttempt() = %d, %v, want %d", n, err, want)
		}
		reopen()
		if got := l.RepairAttempt(); got != want {
			t.Fatalf("after a restart RepairAttempt() = %d, want %d", got, want)
		}
	}
	if err := l.MarkDamaged(Damage{Kind: DamageStateAhead, Detail: "the store holds index 9"}); err != nil {
		t.Fatal(err)
	}
	begin(1)
	begin(2) // a restart in the middle of the repair starts another
	if d := l.Damage(); d == nil || d.Kind != DamageStateAhead {
		t.Fatalf("counting repairs lost the pending damage: %+v", d)
	}
	if err := l.MarkRepaired(4); err != nil {
		t.Fatal(err)
	}
	reopen()
	if n, term := l.RepairAttempt(), l.RepairedTerm(); n != 2 || term != 4 || l.Damage() != nil {
		t.Fatalf("after MarkRepaired and a restart: attempt %d, repaired term %d, damage %v; want 2, 4, none", n, term, l.Damage())
	}
	if err := l.ClearRepair(); err != nil {
		t.Fatal(err)
	}
	reopen()
	if n, term := l.RepairAttempt(), l.RepairedTerm(); n != 2 || term != 0 || l.Damage() != nil {
		t.Fatalf("after ClearRepair and a restart: attempt %d, repaired term %d, damage %v; want 2, 0, none", n, term, l.Damage())
	}
	if err := l.MarkDamaged(Damage{Kind: DamageStateAhead, Detail: "again"}); err != nil {
		t.Fatal(err)
	}
	begin(3)
	defer l.Close()
	if d := l.Damage(); d == nil || d.Detail != "again" {
		t.Fatalf("the second damage is not pending: %+v", d)
	}
}

// TestLogBehindItsSnapshotIsDamage: a snapshot is taken of entries the log
// holds durably, so a log whose records end before its newest snapshot —
// an old copy of the WAL put back, or every segment gone — lost records.
func TestLogBehindItsSnapshotIsDamage(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind DamageKind
		// damage replaces the WAL directory's files; old holds them as
		// they were after 10 entries.
		damage func(t *testing.T, dir string, old map[string][]byte)
	}{
		{"an old copy of the WAL", DamageBehindSnapshot, func(t *testing.T, dir string, old map[string][]byte) {
			for _, f := range walFiles(t, dir) {
				_ = os.Remove(f)
			}
			for f, b := range old {
				if err := os.WriteFile(f, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"every segment deleted", DamageMissingSegment, func(t *testing.T, dir string, _ map[string][]byte) {
			for _, f := range walFiles(t, dir) {
				_ = os.Remove(f)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openTest(t, dir, 1<<16)
			if err := l.Save(raftcore.HardState{Term: 1, Commit: 10}, ents(1, 10, 1, 10)); err != nil {
				t.Fatal(err)
			}
			old := map[string][]byte{}
			for _, f := range walFiles(t, dir) {
				b, _ := os.ReadFile(f)
				old[f] = b
			}
			if err := l.Save(raftcore.HardState{Term: 1, Commit: 20}, ents(11, 10, 1, 10)); err != nil {
				t.Fatal(err)
			}
			if _, err := l.CreateSnapshot(15, raftcore.ConfState{Voters: []uint64{1}}, nil); err != nil {
				t.Fatal(err)
			}
			_ = l.Close()
			tc.damage(t, dir, old)
			l, d := openDamaged(t, dir, tc.kind)
			defer l.Close()
			if got := view(t, l); got.Last != 15 || d.LastIndex != 15 {
				t.Fatalf("salvaged log ends at %d (damage says %d), want the snapshot's 15", got.Last, d.LastIndex)
			}
			if err := l.Save(raftcore.HardState{Term: 2, Commit: 16}, ents(16, 1, 2, 10)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRepairRecordSurvivesAnyBitFlip: the repair record is kept twice,
// each copy checksummed, so one bit flipped anywhere in either copy
// changes nothing the log reads (the repair count above all: a count that
// went back could let a repair take an answer meant for an earlier one),
// and the damaged copy is rewritten. Both copies damaged is an error.
func TestRepairRecordSurvivesAnyBitFlip(t *testing.T) {
	for _, rec := range []repairRecord{
		{repairedTerm: 31, attempts: 2},
		{damage: &Damage{Kind: DamageTruncated, File: "wal/x.wal", Offset: 77, LastIndex: 9, Detail: "cut"}, attempts: 3},
		{attempts: 12},
	} {
		content := rec.encode()
		for _, name := range []string{repairFile, repairCopyFile} {
			for bit := range len(content) * 8 {
				fsys, dir := memDir(t)
				if err := writeRepairFile(fsys, dir, content); err != nil {
					t.Fatal(err)
				}
				flipped := bytes.Clone(content)
				flipped[bit/8] ^= 1 << (bit % 8)
				if err := writeFileDurably(fsys, filepath.Join(dir, name), flipped); err != nil {
					t.Fatal(err)
				}
				got, err := readRepairFile(fsys, dir)
				if err != nil {
					t.Fatalf("%s: bit %d flipped: %v", name, bit, err)
				}
				if got.attempts != rec.attempts || got.repairedTerm != rec.repairedTerm || (got.damage == nil) != (rec.damage == nil) {
					t.Fatalf("%s: bit %d flipped: read %+v, want %+v", name, bit, got, rec)
				}
				for _, n := range []string{repairFile, repairCopyFile} {
					if b, err := readWhole(fsys, filepath.Join(dir, n)); err != nil || !bytes.Equal(b, content) {
						t.Fatalf("%s: bit %d flipped: %s not restored: %q, %v", name, bit, n, b, err)
					}
				}
			}
		}
		fsys, dir := memDir(t)
		bad := bytes.Clone(content)
		bad[3] ^= 1
		for _, n := range []string{repairFile, repairCopyFile} {
			if err := writeFileDurably(fsys, filepath.Join(dir, n), bad); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := readRepairFile(fsys, dir); err == nil || !strings.Contains(err.Error(), "both copies") {
			t.Fatalf("both copies damaged: %v", err)
		}
	}
}

// memDir is an empty directory on a file system in memory.
func memDir(t *testing.T) (*fsx.MemFS, string) {
	fsys := fsx.NewMem()
	if err := fsys.MkdirAll("/log", 0o700); err != nil {
		t.Fatal(err)
	}
	return fsys, "/log"
}

// TestLogOlderThanItsSnapshotIsDamage: a new leader's overwrite replaced
// the log's suffix, a snapshot was taken of the new entries, then the
// disk lost the overwrite's records (an old copy of the WAL). The entries
// after the snapshot are then of an older term than the snapshot's, which
// no log can hold (simulator seed 5731 refused to start on "terms
// non-decreasing"): they are dropped and the loss reported.
func TestLogOlderThanItsSnapshotIsDamage(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, 1<<16)
	if err := l.Save(raftcore.HardState{Term: 1, Commit: 10}, ents(1, 20, 1, 10)); err != nil {
		t.Fatal(err)
	}
	old := map[string][]byte{}
	for _, f := range walFiles(t, dir) {
		b, _ := os.ReadFile(f)
		old[f] = b
	}
	// Term 2's leader replaces 15-20 with 15-17, and they commit.
	if err := l.Save(raftcore.HardState{Term: 2, Vote: 1, Commit: 16}, ents(15, 3, 2, 10)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateSnapshot(16, raftcore.ConfState{Voters: []uint64{1}}, nil); err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
	for _, f := range walFiles(t, dir) {
		_ = os.Remove(f)
	}
	for f, b := range old {
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, d := openDamaged(t, dir, DamageBehindSnapshot)
	defer l.Close()
	if got := view(t, l); got.Last != 16 || d.LastIndex != 16 {
		t.Fatalf("salvaged log ends at %d (damage says %d), want the snapshot's 16", got.Last, d.LastIndex)
	}
	if err := l.Save(raftcore.HardState{Term: 3, Commit: 17}, ents(17, 1, 3, 10)); err != nil {
		t.Fatal(err)
	}
}
