package logstore

import (
	"reflect"
	"testing"

	"github.com/cairndb/cairn/raftcore"
)

// A batch of large entries, together larger than a record may be
// (MaxRecordSize) and than a segment, is saved whole and read back whole
// after a reopen: the log splits it over several records and segments.
func TestLargeBatchesSurviveReopen(t *testing.T) {
	cases := []struct {
		name      string
		segSize   int64
		n         uint64
		entrySize int
	}{
		{"batch past MaxRecordSize", 0, 5, 14 << 20},
		{"entries larger than a segment", 4096, 6, 10 << 10},
		{"many small entries past a split", 0, 3000, 4 << 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openTest(t, dir, tc.segSize)
			batch := ents(1, tc.n, 1, tc.entrySize)
			if err := l.Save(raftcore.HardState{Term: 1, Vote: 1, Commit: 1}, batch); err != nil {
				t.Fatalf("save %d entries of %d bytes: %v", tc.n, tc.entrySize, err)
			}
			// A second batch after the large one lands after it.
			if err := l.Save(raftcore.HardState{Term: 1, Vote: 1, Commit: 2}, ents(tc.n+1, 2, 1, 10)); err != nil {
				t.Fatal(err)
			}
			want := view(t, l)
			if want.Last != tc.n+2 {
				t.Fatalf("before reopen: last index %d, want %d", want.Last, tc.n+2)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l2 := openTest(t, dir, tc.segSize)
			defer l2.Close()
			got := view(t, l2)
			if got.Last != want.Last || got.HS != want.HS || !reflect.DeepEqual(got.Ents, want.Ents) {
				t.Fatalf("after reopen: last %d, hard state %+v; want last %d, %+v (entries equal: %v)",
					got.Last, got.HS, want.Last, want.HS, reflect.DeepEqual(got.Ents, want.Ents))
			}
		})
	}
}

// An entry too large for a record is refused before anything is written,
// and the log stays usable.
func TestEntryLargerThanARecordIsRefused(t *testing.T) {
	l := openTest(t, t.TempDir(), 0)
	defer l.Close()
	big := []raftcore.Entry{{Index: 1, Term: 1, Data: make([]byte, maxEntryBytes+1)}}
	if err := l.Save(raftcore.HardState{Term: 1}, big); err == nil {
		t.Fatalf("an entry of %d bytes was saved", len(big[0].Data))
	}
	if err := l.Save(raftcore.HardState{Term: 1}, ents(1, 1, 1, maxEntryBytes)); err != nil {
		t.Fatalf("after the refusal, an entry of %d bytes: %v", maxEntryBytes, err)
	}
	if last, _ := l.LastIndex(); last != 1 {
		t.Fatalf("last index %d, want 1", last)
	}
}
