package logstore

import (
	"strings"
	"testing"

	"github.com/cairndb/cairn/internal/invariant"
	"github.com/cairndb/cairn/raftcore"
)

// wantViolation fails unless err violates the named invariant and its
// message contains detail.
func wantViolation(t *testing.T, err error, name, detail string) {
	t.Helper()
	if got, ok := invariant.Name(err); !ok || got != name || !strings.Contains(err.Error(), detail) {
		t.Fatalf("got %v, want a violation of %q mentioning %q", err, name, detail)
	}
}

func TestSaveRefusesDisorderedEntries(t *testing.T) {
	e := func(index, term uint64) raftcore.Entry { return raftcore.Entry{Index: index, Term: term} }
	cases := []struct {
		name, inv, detail string
		batch             []raftcore.Entry
	}{
		{"a gap inside the batch", invIndexesContiguous, "entry index 7 follows 5", []raftcore.Entry{e(5, 2), e(7, 2)}},
		{"an index repeated", invIndexesContiguous, "entry index 5 follows 5", []raftcore.Entry{e(5, 2), e(5, 2)}},
		{"a gap after the log", invIndexesContiguous, "entries start at 7 but the log ends at 4", []raftcore.Entry{e(7, 2)}},
		{"a term going down in the batch", invTermsNonDecreasing, "entry 6 has term 1 after term 2", []raftcore.Entry{e(5, 2), e(6, 1)}},
		{"a term below the log's", invTermsNonDecreasing, "entry 5 has term 1 after term 2", []raftcore.Entry{e(5, 1)}},
		{"an overwrite below the kept prefix's term", invTermsNonDecreasing, "entry 3 has term 1 after term 2", []raftcore.Entry{e(3, 1)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := openTest(t, t.TempDir(), 1<<20)
			defer l.Close()
			if err := l.Save(raftcore.HardState{Term: 2}, []raftcore.Entry{e(1, 1), e(2, 2), e(3, 2), e(4, 2)}); err != nil {
				t.Fatal(err)
			}
			wantViolation(t, l.Save(raftcore.HardState{}, c.batch), c.inv, c.detail)
			// A refused batch writes nothing and leaves the log usable.
			if last, _ := l.LastIndex(); last != 4 {
				t.Fatalf("last index %d after a refused batch", last)
			}
			if err := l.Save(raftcore.HardState{}, []raftcore.Entry{e(5, 3)}); err != nil {
				t.Fatalf("a good batch after a refused one: %v", err)
			}
		})
	}
}

// TestRecoveryRefusesTermsGoingDown writes, past Save's own check, a
// record whose terms go down, and expects Open to refuse the log.
func TestRecoveryRefusesTermsGoingDown(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, 1<<20)
	if err := l.Save(raftcore.HardState{Term: 3}, ents(1, 3, 3, 8)); err != nil {
		t.Fatal(err)
	}
	bad := ents(4, 2, 2, 8) // term 2 after term 3
	rec := appendRecord(nil, recEntries, func(b []byte) []byte { return appendEntriesPayload(b, bad) })
	l.mu.Lock()
	if _, _, err := l.writeRecords(rec, 4); err != nil {
		t.Fatal(err)
	}
	l.mu.Unlock()
	if err := l.seg.f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Options{Dir: dir, SegmentSize: 1 << 20})
	wantViolation(t, err, invTermsNonDecreasing, "recovery: entry 4 has term 2 after term 3")
}

func TestCheckOrderFindsIndexesOutOfPlace(t *testing.T) {
	mem := raftcore.NewMemoryStorage()
	if err := mem.Append([]raftcore.Entry{{Index: 1, Term: 1}, {Index: 2, Term: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := checkOrder(mem); err != nil {
		t.Fatalf("a well-ordered log: %v", err)
	}
	ents, _ := mem.Entries(1, 3, ^uint64(0))
	ents[1].Index = 9 // damage the entry in place
	wantViolation(t, checkOrder(mem), invIndexesContiguous, "entry 2 holds index 9")
}
