package mvcc

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/fsx"
)

// TestHistory: History gives every committed record in revision order,
// deletions marked, values stored out of line read back whole; the
// changes not committed are left out, and so are the records a
// compaction dropped once its work is done; an error of fn stops it.
func TestHistory(t *testing.T) {
	s := openMem(t, fsx.NewMem(), 100)
	defer s.Close()
	big := bytes.Repeat([]byte("v"), separateValueMin+10)
	type rec struct {
		Rev   Revision
		Key   string
		Value string
		Ver   int64
		Tomb  bool
	}
	history := func() []rec {
		var out []rec
		err := s.History(func(rev Revision, kv api.KeyValue, tomb bool) error {
			out = append(out, rec{rev, string(kv.Key), string(kv.Value), kv.Version, tomb})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	put := func(index uint64, k string, v []byte) {
		if _, err := s.Put(index, 1, &api.PutRequest{Key: []byte(k), Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	put(1, "a", []byte("1"))
	put(2, "b", big)
	put(3, "a", []byte("2"))
	if _, err := s.DeleteRange(4, 1, &api.DeleteRangeRequest{Key: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	if got := history(); len(got) != 0 {
		t.Fatalf("history before a commit: %+v, want none", got)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	put(5, "c", []byte("uncommitted"))
	want := []rec{
		{Revision{2, 0}, "a", "1", 1, false},
		{Revision{3, 0}, "b", string(big), 1, false},
		{Revision{4, 0}, "a", "2", 2, false},
		{Revision{5, 0}, "b", "", 0, true},
	}
	got := history()
	for i := range got {
		if got[i].Tomb { // a tombstone's fields but its key are the store's own business
			got[i].Value, got[i].Ver = "", 0
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("history:\n got %+v\nwant %+v", got, want)
	}

	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(5); err != nil {
		t.Fatal(err)
	}
	if got, want := history(), []rec{{Revision{4, 0}, "a", "2", 2, false}, {Revision{6, 0}, "c", "uncommitted", 1, false}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("history after a compaction at 5:\n got %+v\nwant %+v", got, want)
	}

	stop := errors.New("stop")
	calls := 0
	err := s.History(func(Revision, api.KeyValue, bool) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("History with fn failing: %d calls, %v", calls, err)
	}
}
