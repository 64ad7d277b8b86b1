package logstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path/filepath"
	"slices"

	"github.com/cairndb/cairn/internal/fsx"
)

// Place is where an entry's data lies on disk: in the segment file of
// sequence number Segment, from byte Offset on (the data's length is the
// entry's). A state machine that keeps large values in the log (cairn's
// value log, docs/value-log.md) records places instead of copying the
// bytes, and reads them back with ReadAt.
type Place struct {
	// Segment is the sequence number of the segment file (the first half
	// of its name, %016x-%016x.wal).
	Segment uint64
	// Offset is the byte offset in that file where the data begins.
	Offset int64
}

// placeList holds the place of each entry of the in-memory log (the
// entries l.mem holds after its snapshot entry): p[i] is that of entry
// first+i, the zero Place for an entry with no data. It changes with
// l.mem, under l.mu: appended to (a new leader's overwrite cuts it first)
// when entries are written or replayed, cut at the front by Compact, and
// emptied when the log is replaced by a snapshot.
type placeList struct {
	first uint64
	p     []Place
}

// reset empties the list, which then starts after snapshot index.
func (pl *placeList) reset(index uint64) {
	pl.first, pl.p = index+1, nil
}

// put records the places ps of the entries from index on, replacing those
// of any entries from there (as MemoryStorage.Append replaces a suffix).
// Places of entries before the list's first (a snapshot covers them) are
// ignored. It reports false for a gap (index past the end plus one).
func (pl *placeList) put(index uint64, ps []Place) bool {
	if index < pl.first {
		skip := pl.first - index
		if skip >= uint64(len(ps)) {
			return true
		}
		ps, index = ps[skip:], pl.first
	}
	at := index - pl.first
	if at > uint64(len(pl.p)) {
		return false
	}
	pl.p = append(pl.p[:at], ps...)
	return true
}

// compact drops the places of the entries up to index, as
// MemoryStorage.Compact drops the entries (into a new slice, so that the
// dropped part's memory goes).
func (pl *placeList) compact(index uint64) {
	if index < pl.first {
		return
	}
	drop := min(index-pl.first+1, uint64(len(pl.p)))
	pl.p = slices.Clone(pl.p[drop:])
	pl.first = index + 1
}

// get returns the place of entry index.
func (pl *placeList) get(index uint64) (Place, bool) {
	if index < pl.first || index-pl.first >= uint64(len(pl.p)) {
		return Place{}, false
	}
	p := pl.p[index-pl.first]
	return p, p != (Place{})
}

// EntryPlace returns where the data of entry index lies on disk, for every
// entry the log holds in memory (from its newest snapshot on, and those
// before it until Compact drops them); false for other indexes and for
// entries with no data. The place is that of the entry the log holds now:
// after a new leader's overwrite, of the entry that replaced the old one.
// The entry is durable there once the Save that wrote it has returned.
// An entry before the second-newest snapshot that Compact has not dropped
// may be in a segment a purge removed: it has no place either. Safe for
// use beside Save and the other calls.
func (l *Log) EntryPlace(index uint64) (Place, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.places.get(index)
	if !ok || len(l.segments) == 0 || p.Segment < l.segments[0].seq {
		return Place{}, false
	}
	return p, true
}

// segReader is a read-only handle of a segment for ReadAt, shared by the
// readers of that segment. refs counts the reads under way; a handle
// dropped (its segment purged, or the log closed) is closed by the last.
type segReader struct {
	f       fsx.File
	path    string
	refs    int
	dropped bool
}

// ReadAt reads len(p) bytes at place, from any segment the log still has
// on disk: the current one, older ones, and those before the newest
// snapshot that KeepSegmentsFrom keeps. It may be called from many
// goroutines, beside Save, rollovers and purges. The segments' read-only
// handles are opened at a segment's first read, and closed when it is
// purged or the log closed (reads under way finish first).
//
// A segment that is gone (purged, or lost), or that ends before
// place.Offset+len(p), is reported as an error wrapping ErrCorrupt that
// names the segment and the offset: the caller lost data it pointed at.
// ReadAt does not check what it reads: the caller checks its own
// checksum of the bytes. After Close it returns ErrClosed.
func (l *Log) ReadAt(p []byte, place Place) error {
	if place.Offset < segmentHeaderSize {
		return fmt.Errorf("logstore: read %d bytes at segment %d offset %d: %w: no entry data lies there", len(p), place.Segment, place.Offset, ErrCorrupt)
	}
	r, err := l.acquireReader(place.Segment)
	if err != nil {
		return err
	}
	n, err := r.f.ReadAt(p, place.Offset)
	l.releaseReader(r)
	switch {
	case n == len(p):
		return nil // io.ReaderAt may say io.EOF with every byte read
	case err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("logstore: read %d bytes at %s offset %d: %w: the file ends after %d of them", len(p), r.path, place.Offset, ErrCorrupt, n)
	}
	return fmt.Errorf("logstore: read %d bytes at %s offset %d: %w", len(p), r.path, place.Offset, err)
}

// acquireReader returns the read handle of segment seq, opened if it is
// not yet, counting one more read of it; releaseReader ends the read.
func (l *Log) acquireReader(seq uint64) (*segReader, error) {
	l.readMu.Lock()
	if r := l.readers[seq]; r != nil && !l.readClosed {
		r.refs++
		l.readMu.Unlock()
		return r, nil
	}
	l.readMu.Unlock()
	// Opening takes mu (before readMu): the list of segments is checked
	// and the handle registered with no purge in between.
	l.mu.Lock()
	defer l.mu.Unlock()
	l.readMu.Lock()
	defer l.readMu.Unlock()
	if l.readClosed {
		return nil, ErrClosed
	}
	if r := l.readers[seq]; r != nil {
		r.refs++
		return r, nil
	}
	i, ok := slices.BinarySearchFunc(l.segments, seq, func(s segInfo, seq uint64) int { return cmpUint(s.seq, seq) })
	if !ok {
		return nil, fmt.Errorf("logstore: read segment %d (%s): %w: the log has no such segment any more", seq, l.segmentPattern(seq), ErrCorrupt)
	}
	path := filepath.Join(l.walDir, l.segments[i].name)
	f, err := fsx.Open(l.opts.FS, path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("logstore: read segment %d: %w: %s is missing", seq, ErrCorrupt, path)
	}
	if err != nil {
		return nil, fmt.Errorf("logstore: open %s for reading: %w", path, err)
	}
	if l.readers == nil {
		l.readers = map[uint64]*segReader{}
	}
	r := &segReader{f: f, path: path, refs: 1}
	l.readers[seq] = r
	return r, nil
}

func (l *Log) releaseReader(r *segReader) {
	l.readMu.Lock()
	defer l.readMu.Unlock()
	r.refs--
	if r.refs == 0 && r.dropped {
		_ = r.f.Close() // read-only: nothing is lost if close fails
	}
}

// dropReadersLocked stops ReadAt from using the handles of the segments
// seqs (purged); each is closed once no read uses it. l.mu is held.
func (l *Log) dropReadersLocked(seqs []uint64) {
	l.readMu.Lock()
	defer l.readMu.Unlock()
	for _, seq := range seqs {
		if r := l.readers[seq]; r != nil {
			delete(l.readers, seq)
			r.dropped = true
			if r.refs == 0 {
				_ = r.f.Close()
			}
		}
	}
}

// closeReadersLocked closes every read handle (Close); l.mu is held.
func (l *Log) closeReadersLocked() {
	seqs := make([]uint64, 0, len(l.readers))
	l.readMu.Lock()
	for seq := range l.readers {
		seqs = append(seqs, seq)
	}
	l.readClosed = true
	l.readMu.Unlock()
	l.dropReadersLocked(seqs)
}

// segmentPattern names the file of segment seq, whose first index is not
// known: %016x-*.wal in the WAL directory.
func (l *Log) segmentPattern(seq uint64) string {
	return filepath.Join(l.walDir, fmt.Sprintf("%016x-*%s", seq, segmentExt))
}

// KeepNoSegments is the bound given to KeepSegmentsFrom that keeps no
// segment beyond what raft needs: the log's bound until KeepSegmentsFrom
// is called.
const KeepNoSegments uint64 = math.MaxUint64

// KeepSegmentsFrom sets a second bound on purging: no segment of sequence
// number seq or higher is removed, even once the snapshots cover it, so
// that places in it stay readable (ReadAt). A store that keeps places
// calls it after each durable commit with the oldest segment its records
// point into, and with KeepNoSegments when they point into none. The
// bound is not recorded on disk: the owner sets it again after Open,
// before the first snapshot (until then the log keeps no segment extra,
// as if KeepNoSegments had been given).
//
// When the bound rises, the call itself removes the segments that no
// longer need keeping (on the log's own goroutine with
// Options.PurgeInBackground, as snapshots purge); when it frees none it
// costs a comparison or two. Lowering it keeps the segments still on disk
// from then on; none that was removed comes back. A failed removal is
// returned (logged with PurgeInBackground), and the next purge tries
// again. On a closed or failed log it records the bound and returns the
// log's error.
func (l *Log) KeepSegmentsFrom(seq uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	raised := seq > l.keepSeq
	l.keepSeq = seq
	if l.err != nil {
		return l.err
	}
	if !raised {
		return nil
	}
	return l.purgeSegmentsLocked()
}

// SegmentBytes returns the bytes of the segment files the log holds —
// the sizes they were preallocated to, or more for one that a record
// longer than the room left stretched —: what keeping segments costs on
// disk. Segments a background purge is removing no longer count.
func (l *Log) SegmentBytes() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, s := range l.segments {
		n += s.length
	}
	if l.seg != nil && l.seg.tail > l.segments[len(l.segments)-1].length {
		n += l.seg.tail - l.segments[len(l.segments)-1].length
	}
	return n
}

// CheckSegmentsFrom checks that every segment from sequence number seq to
// the current one is on disk, whole: it exists, its header is a
// segment's, and it is no shorter than the size it was created with. It
// returns an error wrapping ErrCorrupt naming the first file that fails
// (for a missing one, its sequence number and directory) — also if seq is
// past the current segment (the log lost its tail). KeepNoSegments checks
// nothing. A store that points into the log calls it at startup with its
// oldest place's segment, so that a lost segment is found then, not at
// the first read of a value in it. It reads each segment's header.
func (l *Log) CheckSegmentsFrom(seq uint64) error {
	if seq == KeepNoSegments {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock() // held: no purge removes a segment being checked
	if l.seg == nil {
		return ErrClosed
	}
	if cur := l.segments[len(l.segments)-1].seq; seq > cur {
		return fmt.Errorf("logstore: segment %d (%s): %w: it is past the log's newest segment, %d", seq, l.segmentPattern(seq), ErrCorrupt, cur)
	}
	i, _ := slices.BinarySearchFunc(l.segments, seq, func(s segInfo, seq uint64) int { return cmpUint(s.seq, seq) })
	for want := seq; i < len(l.segments); want++ {
		s := l.segments[i]
		if s.seq != want {
			return fmt.Errorf("logstore: segment %d (%s): %w: it is missing", want, l.segmentPattern(want), ErrCorrupt)
		}
		if err := checkSegmentFile(l.opts.FS, filepath.Join(l.walDir, s.name)); err != nil {
			return err
		}
		i++
	}
	return nil
}

// checkSegmentFile checks that the segment file at path exists, has a
// segment's header, and is not shorter than the size it records.
func checkSegmentFile(fsys fsx.FS, path string) error {
	f, err := fsx.Open(fsys, path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("logstore: %s: %w: it is missing", path, ErrCorrupt)
	}
	if err != nil {
		return fmt.Errorf("logstore: open %s: %w", path, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return fmt.Errorf("logstore: size of %s: %w", path, err)
	}
	h := make([]byte, segmentHeaderSize)
	if size < segmentHeaderSize {
		return fmt.Errorf("logstore: %s: %w: the file of %d bytes is shorter than a segment header", path, ErrCorrupt, size)
	}
	if _, err := f.ReadAt(h, 0); err != nil {
		return fmt.Errorf("logstore: read %s: %w", path, err)
	}
	want, err := checkSegmentHeader(path, h)
	if err != nil {
		return fmt.Errorf("%w (%w)", err, ErrCorrupt)
	}
	if size < want {
		return fmt.Errorf("logstore: %s: %w: the file is %d bytes, it was created with %d", path, ErrCorrupt, size, want)
	}
	return nil
}
