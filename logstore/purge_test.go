package logstore

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/cairndb/cairn/raftcore"
)

// A log that purges in the background ends, once closed, with the same
// files and the same content as one that purges before CreateSnapshot
// returns (run it with -race: the removals run beside the writes).
func TestPurgeInBackgroundEndsAsPurgeInPlace(t *testing.T) {
	run := func(background bool, dir string) storageView {
		l, err := Open(Options{Dir: dir, Create: true, SegmentSize: 2048, KeepSnapshots: 2, PurgeInBackground: background})
		if err != nil {
			t.Fatal(err)
		}
		cs := raftcore.ConfState{Voters: []uint64{1, 2, 3}}
		for round := uint64(0); round < 6; round++ {
			first := round*20 + 1
			if err := l.Save(raftcore.HardState{Term: 1, Commit: first + 19}, ents(first, 20, 1, 60)); err != nil {
				t.Fatal(err)
			}
			if _, err := l.CreateSnapshot(first+19, cs, []byte(fmt.Sprintf("state@%d", first+19))); err != nil {
				t.Fatal(err)
			}
			if err := l.Compact(first + 14); err != nil {
				t.Fatal(err)
			}
		}
		v := view(t, l)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		return v
	}
	inPlace, background := t.TempDir(), t.TempDir()
	want, got := run(false, inPlace), run(true, background)
	if !reflect.DeepEqual(got, want) {
		t.Fatal("the logs differ")
	}
	wantFiles, gotFiles := segmentNames(t, inPlace), segmentNames(t, background)
	if !slices.Equal(gotFiles, wantFiles) {
		t.Fatalf("segments after a background purge: %v, after one in place: %v", gotFiles, wantFiles)
	}
	if len(wantFiles) >= 10 {
		t.Fatalf("%d segments: the purge removed nothing, the test shows nothing", len(wantFiles))
	}
}

// segmentNames lists the names of the files in the log's wal directory.
func segmentNames(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(dir, "wal"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}
