package logstore

import (
	"errors"
	"io/fs"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/raftcore"
)

// countingFS counts the bytes read from files under the WAL directory.
type countingFS struct {
	*fsx.MemFS
	walRead atomic.Int64
}

type countingFile struct {
	fsx.File
	n *atomic.Int64
}

func (f countingFile) Read(p []byte) (int, error) {
	n, err := f.File.Read(p)
	f.n.Add(int64(n))
	return n, err
}

func (f countingFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	f.n.Add(int64(n))
	return n, err
}

func (c *countingFS) OpenFile(name string, flag int, perm fs.FileMode) (fsx.File, error) {
	f, err := c.MemFS.OpenFile(name, flag, perm)
	if err != nil || !strings.Contains(name, "/wal/") {
		return f, err
	}
	return countingFile{File: f, n: &c.walRead}, nil
}

// TestRestartReadsOnlyTheLogSinceTheSnapshot: recovery reads about one
// snapshot interval of the log however long the log has grown, and
// recovers the same log as before (the entries after the snapshot).
func TestRestartReadsOnlyTheLogSinceTheSnapshot(t *testing.T) {
	const (
		entrySize = 1000
		interval  = 100 // entries between snapshots
		segSize   = 32 << 10
		tail      = 50 // entries after the last snapshot
	)
	read := map[int]int64{}
	for _, intervals := range []int{3, 12} {
		disk := &countingFS{MemFS: fsx.NewMem()}
		opts := Options{FS: disk, Dir: "/log", Create: true, SegmentSize: segSize}
		l, err := Open(opts)
		if err != nil {
			t.Fatal(err)
		}
		cs := raftcore.ConfState{Voters: []uint64{1}}
		last := uint64(0)
		for i := 0; i < intervals*interval+tail; i += 10 {
			if err := l.Save(raftcore.HardState{Term: 1, Commit: last}, ents(last+1, 10, 1, entrySize)); err != nil {
				t.Fatal(err)
			}
			last += 10
			if last%interval == 0 && last <= uint64(intervals*interval) {
				if _, err := l.CreateSnapshot(last, cs, nil); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		onDisk := int64(0)
		names, _ := disk.ReadDir("/log/wal")
		for _, n := range names {
			info, _ := disk.Stat("/log/wal/" + n)
			onDisk += info.Size()
		}
		disk.walRead.Store(0)
		l2, err := Open(opts)
		if err != nil {
			t.Fatal(err)
		}
		read[intervals] = disk.walRead.Load()
		v := view(t, l2)
		snapAt := uint64(intervals * interval)
		if v.First != snapAt+1 || v.Last != last || v.Snap.Index != snapAt {
			t.Fatalf("%d intervals: recovered entries [%d, %d] after the snapshot at %d; want [%d, %d] after %d",
				intervals, v.First, v.Last, v.Snap.Index, snapAt+1, last, snapAt)
		}
		want := ents(snapAt+1, last-snapAt, 1, entrySize)
		for i, e := range v.Ents {
			if e.Index != want[i].Index || string(e.Data) != string(want[i].Data) {
				t.Fatalf("%d intervals: entry %d differs", intervals, e.Index)
			}
		}
		_ = l2.Close()
		// The log since the snapshot is tail entries; the segment that
		// holds the snapshot's index and the one before the last are read
		// whole.
		if limit := int64(tail*entrySize + 3*segSize); read[intervals] > limit {
			t.Fatalf("%d intervals: recovery read %d bytes of the log (%d on disk), more than %d", intervals, read[intervals], onDisk, limit)
		}
		t.Logf("%d intervals: recovery read %d of the %d bytes of the log on disk", intervals, read[intervals], onDisk)
	}
	if read[12] > read[3]+segSize {
		t.Fatalf("recovery read %d bytes after 12 intervals, %d after 3: it grows with the log", read[12], read[3])
	}
}

// TestSkippedSegmentsStillCountForDamage: a segment missing among those
// recovery would skip is still reported, as with every segment read.
func TestSkippedSegmentsStillCountForDamage(t *testing.T) {
	disk := fsx.NewMem()
	opts := Options{FS: disk, Dir: "/log", Create: true, SegmentSize: 32 << 10}
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	last := uint64(0)
	for last < 350 {
		if err := l.Save(raftcore.HardState{Term: 1, Commit: last}, ents(last+1, 10, 1, 1000)); err != nil {
			t.Fatal(err)
		}
		last += 10
		if last%100 == 0 {
			if _, err := l.CreateSnapshot(last, raftcore.ConfState{Voters: []uint64{1}}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	_ = l.Close()
	names, _ := disk.ReadDir("/log/wal")
	if len(names) < 4 {
		t.Fatalf("only %d segments: the test needs some that recovery skips", len(names))
	}
	if err := disk.Remove("/log/wal/" + names[1]); err != nil {
		t.Fatal(err)
	}
	_, err = Open(opts)
	var d *Damage
	if !errors.As(err, &d) || d.Kind != DamageMissingSegment {
		t.Fatalf("open with segment %s gone: %v, want a missing-segment damage", names[1], err)
	}
}
