// Package logstore is cairn's write-ahead log: it makes durable what each
// raft Ready says to persist — entries, hard state, snapshots — and gives
// it back after a crash.
//
// On disk, a log directory holds two subdirectories:
//
//	wal/   segments %016x-%016x.wal (sequence, first index): records of
//	       entries, hard states and snapshot markers, CRC-32C checked
//	snap/  snapshots %016x-%016x.snap (term, index), CRC-32C checked
//
// Appends go to the last segment; when it is full a new one is created
// (preallocated, header written, fsynced, renamed into place). Every new
// segment starts with the current hard state, so old segments can be
// deleted once a snapshot covers their entries.
//
// Recovery reads the newest valid snapshot, then every segment in order.
// A torn record at the tail of the last segment — a write the crash cut
// short, which was never acknowledged — is cut off and logged. Any other
// damage is an ErrCorrupt naming the file and offset: the log never skips
// a record silently.
//
// The entries since the last snapshot are kept in memory (a
// raftcore.MemoryStorage), so raft's reads never touch the disk; the cost
// is bounded by the snapshot interval (the server's --snapshot-count).
package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/raftcore"
)

// ErrCorrupt is wrapped by errors about damaged log or snapshot files.
var ErrCorrupt = errors.New("log data corrupt")

// ErrBadFormat is wrapped by errors about files that are not cairn log
// files, or of a format version this build does not read.
var ErrBadFormat = errors.New("not a cairn log file of a known version")

// ErrClosed is returned by calls on a closed (or failed) log.
var ErrClosed = errors.New("logstore: log is closed")

// DefaultSegmentSize is the preallocated size of a WAL segment.
const DefaultSegmentSize = 64 << 20

// DefaultKeepSnapshots is how many snapshot files are kept.
const DefaultKeepSnapshots = 5

// Options configures Open.
type Options struct {
	// FS is the file system (fsx.OS{} for the real disk).
	FS fsx.FS
	// Dir holds the wal/ and snap/ subdirectories.
	Dir string
	// Create makes Dir if it does not exist; without it a missing Dir is
	// an error (a member must not silently start over with no log).
	Create bool
	// SegmentSize is the preallocated size of a segment.
	SegmentSize int64
	// KeepSnapshots is how many snapshot files to keep (at least 2).
	KeepSnapshots int
	// Metadata is stored in every segment (the server records the
	// cluster and member ids there); a log created with other metadata
	// is refused.
	Metadata []byte
	// Logger receives warnings (a torn tail cut off, a corrupt snapshot
	// skipped); nil discards them.
	Logger *slog.Logger
}

// Log is a durable raft log. It implements raftcore.Storage; Save,
// ApplySnapshot, CreateSnapshot and Compact change it. Save may be called
// from several goroutines: concurrent callers share fsyncs.
type Log struct {
	opts    Options
	walDir  string
	snapDir string
	log     *slog.Logger

	// mu guards everything below except the sync state.
	mu       sync.Mutex
	mem      *raftcore.MemoryStorage
	hs       raftcore.HardState // last hard state written
	seg      *segment
	segments []segInfo // every segment on disk, oldest first (last is seg)
	snaps    []snapInfo
	buf      []byte
	written  uint64 // number of writes done
	err      error  // sticky: after a failed write or fsync nothing is trusted

	// syncMu serializes fsyncs; synced is the write count the last fsync
	// covered. Callers whose write is already covered skip their fsync:
	// that is group commit.
	syncMu sync.Mutex
	synced uint64
}

type segInfo struct {
	seq, firstIndex uint64
	name            string
}

// Open opens (or, with Create, creates) the log in opts.Dir and recovers
// its contents.
func Open(opts Options) (*Log, error) {
	if opts.FS == nil {
		opts.FS = fsx.OS{}
	}
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if opts.KeepSnapshots < 2 {
		opts.KeepSnapshots = DefaultKeepSnapshots
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Log{
		opts:    opts,
		walDir:  filepath.Join(opts.Dir, "wal"),
		snapDir: filepath.Join(opts.Dir, "snap"),
		log:     logger,
		mem:     raftcore.NewMemoryStorage(),
	}
	if _, err := opts.FS.Stat(opts.Dir); err != nil {
		if !errors.Is(err, fs.ErrNotExist) || !opts.Create {
			return nil, fmt.Errorf("logstore: open %s: %w", opts.Dir, err)
		}
	}
	for _, d := range []string{l.walDir, l.snapDir} {
		if err := opts.FS.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("logstore: create %s: %w", d, err)
		}
	}
	if err := l.recover(); err != nil {
		return nil, err
	}
	return l, nil
}

// recover loads the newest valid snapshot and replays the segments.
func (l *Log) recover() error {
	fsys := l.opts.FS
	snaps, err := listSnaps(fsys, l.snapDir)
	if err != nil {
		return err
	}
	l.snaps = snaps
	var snap raftcore.Snapshot
	for i := len(snaps) - 1; i >= 0; i-- {
		path := filepath.Join(l.snapDir, snaps[i].name)
		b, err := readWhole(fsys, path)
		if err == nil {
			snap, err = decodeSnapFile(path, b)
		}
		if err == nil && (snap.Metadata.Index != snaps[i].index || snap.Metadata.Term != snaps[i].term) {
			err = fmt.Errorf("logstore: snapshot %s: %w: holds term %d index %d", path, ErrCorrupt, snap.Metadata.Term, snap.Metadata.Index)
		}
		if err == nil {
			break
		}
		l.log.Warn("logstore: skipping unreadable snapshot, falling back to an older one", "file", path, "err", err)
		snap = raftcore.Snapshot{}
	}
	if !snap.IsEmpty() {
		if err := l.mem.ApplySnapshot(snap); err != nil {
			return fmt.Errorf("logstore: load snapshot: %w", err)
		}
	}

	names, err := fsys.ReadDir(l.walDir)
	if err != nil {
		return fmt.Errorf("logstore: list %s: %w", l.walDir, err)
	}
	for _, n := range names {
		if strings.HasSuffix(n, tmpExt) {
			// A segment whose creation a crash interrupted: never used.
			_ = fsys.Remove(filepath.Join(l.walDir, n))
			continue
		}
		seq, first, ok := parseSegmentName(n)
		if !ok {
			return fmt.Errorf("logstore: %s: %w: unexpected file in the WAL directory", filepath.Join(l.walDir, n), ErrBadFormat)
		}
		l.segments = append(l.segments, segInfo{seq: seq, firstIndex: first, name: n})
	}
	slices.SortFunc(l.segments, func(a, b segInfo) int { return cmpUint(a.seq, b.seq) })
	for i := 1; i < len(l.segments); i++ {
		if l.segments[i].seq != l.segments[i-1].seq+1 {
			return fmt.Errorf("logstore: %w: segment sequence jumps from %d (%s) to %d (%s)", ErrCorrupt,
				l.segments[i-1].seq, l.segments[i-1].name, l.segments[i].seq, l.segments[i].name)
		}
	}
	if len(l.segments) == 0 {
		if !snap.IsEmpty() {
			l.hs = raftcore.HardState{Term: snap.Metadata.Term, Commit: snap.Metadata.Index}
			l.mem.SetHardState(l.hs)
		}
		seg, err := createSegment(fsys, l.walDir, 0, l.lastIndex()+1, l.opts.SegmentSize, l.segmentPrologue())
		if err != nil {
			return err
		}
		l.seg = seg
		l.segments = []segInfo{{seq: 0, firstIndex: seg.firstIndex, name: filepath.Base(seg.path)}}
		return nil
	}
	var meta []byte
	for i, s := range l.segments {
		last := i == len(l.segments)-1
		if err := l.replaySegment(s, last, snap, &meta); err != nil {
			return err
		}
	}
	if meta != nil && l.opts.Metadata != nil && string(meta) != string(l.opts.Metadata) {
		return fmt.Errorf("logstore: %s: %w: log belongs to %q, not %q", l.opts.Dir, ErrBadFormat, meta, l.opts.Metadata)
	}
	l.opts.Metadata = meta
	l.mem.SetHardState(l.hs)
	return nil
}

func (l *Log) lastIndex() uint64 {
	i, _ := l.mem.LastIndex()
	return i
}

// segmentPrologue is the first records of a new segment: the log's
// metadata and the current hard state.
func (l *Log) segmentPrologue() []byte {
	b := appendRecord(nil, recMetadata, func(b []byte) []byte { return append(b, l.opts.Metadata...) })
	return appendRecord(b, recHardState, func(b []byte) []byte { return raftcore.AppendHardState(b, l.hs) })
}

// replaySegment applies one segment's records to the in-memory log.
func (l *Log) replaySegment(s segInfo, last bool, snap raftcore.Snapshot, meta *[]byte) error {
	path := filepath.Join(l.walDir, s.name)
	b, err := readWhole(l.opts.FS, path)
	if err != nil {
		return fmt.Errorf("logstore: read %s: %w", path, err)
	}
	if err := checkSegmentHeader(path, b); err != nil {
		return err
	}
	off := segmentHeaderSize
	for {
		t, payload, n, err := readRecord(b[off:])
		if errors.Is(err, errEnd) {
			break
		}
		if err != nil {
			if _, more := findValidRecord(b, off+1); more || !last {
				return fmt.Errorf("logstore: %s offset %d: %w: %v", path, off, ErrCorrupt, err)
			}
			// A torn tail: the last write, cut short by the crash, was
			// never acknowledged. Zero it so appends start clean.
			l.log.Warn("logstore: cutting off a torn write at the tail of the log", "file", path, "offset", off, "bytes", len(b)-off, "err", err)
			if err := zeroTail(l.opts.FS, path, int64(off), int64(len(b))); err != nil {
				return err
			}
			break
		}
		if err := l.replayRecord(t, payload, snap, meta); err != nil {
			return fmt.Errorf("logstore: %s offset %d: %w", path, off, err)
		}
		off += n
	}
	if last {
		f, err := l.opts.FS.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("logstore: open %s: %w", path, err)
		}
		l.seg = &segment{f: f, path: path, seq: s.seq, firstIndex: s.firstIndex, size: int64(len(b)), tail: int64(off)}
	}
	return nil
}

func zeroTail(fsys fsx.FS, path string, from, to int64) error {
	f, err := fsys.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("logstore: open %s: %w", path, err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, to-from), from); err != nil {
		return fmt.Errorf("logstore: clear torn tail of %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("logstore: sync %s: %w", path, err)
	}
	return nil
}

func (l *Log) replayRecord(t recordType, payload []byte, snap raftcore.Snapshot, meta *[]byte) error {
	switch t {
	case recMetadata:
		if *meta == nil {
			*meta = append([]byte{}, payload...)
		} else if string(*meta) != string(payload) {
			return fmt.Errorf("%w: metadata %q differs from the log's %q", ErrCorrupt, payload, *meta)
		}
	case recHardState:
		var hs raftcore.HardState
		if err := hs.UnmarshalBinary(payload); err != nil {
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		l.hs = hs
	case recSnapshot:
		var m raftcore.SnapshotMetadata
		d := payload
		idx, term, err := decodeSnapMarker(d)
		if err != nil {
			return err
		}
		m.Index, m.Term = idx, term
		switch {
		case m.Index > snap.Metadata.Index:
			return fmt.Errorf("%w: the log installed snapshot %d (term %d) but that snapshot file is missing or unreadable", ErrCorrupt, m.Index, m.Term)
		case m.Index == snap.Metadata.Index:
			// The log was replaced by this snapshot here: drop what
			// came before (possibly entries that conflict with it).
			if err := l.resetToSnapshot(); err != nil {
				return err
			}
		}
	case recEntries:
		ents, err := decodeEntries(payload)
		if err != nil {
			return err
		}
		if len(ents) == 0 {
			return nil
		}
		if last := l.lastIndex(); ents[0].Index > last+1 {
			first, _ := l.mem.FirstIndex()
			if ents[len(ents)-1].Index >= first {
				return fmt.Errorf("%w: entries start at %d but the log ends at %d (a gap)", ErrCorrupt, ents[0].Index, last)
			}
		}
		if first, _ := l.mem.FirstIndex(); ents[0].Index <= first && l.lastIndex() >= first {
			// The record replaced the log from an index the snapshot now
			// covers: everything after the snapshot point goes.
			if err := l.resetToSnapshot(); err != nil {
				return err
			}
		}
		// Copy: the payload aliases the segment buffer.
		own := make([]raftcore.Entry, len(ents))
		for i, e := range ents {
			e.Data = slices.Clone(e.Data)
			own[i] = e
		}
		if err := l.mem.Append(own); err != nil {
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
	}
	return nil
}

// resetToSnapshot empties the in-memory log back to its snapshot.
func (l *Log) resetToSnapshot() error {
	snap, _ := l.mem.Snapshot()
	l.mem = raftcore.NewMemoryStorage()
	if snap.IsEmpty() {
		return nil
	}
	return l.mem.ApplySnapshot(snap)
}

func appendEntriesPayload(b []byte, ents []raftcore.Entry) []byte {
	b = binary.AppendUvarint(b, uint64(len(ents)))
	for _, e := range ents {
		b = raftcore.AppendEntry(b, e)
	}
	return b
}

func decodeEntries(b []byte) ([]raftcore.Entry, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, fmt.Errorf("%w: bad entry count", ErrCorrupt)
	}
	b = b[k:]
	if n > uint64(len(b))/4 {
		return nil, fmt.Errorf("%w: entry count %d exceeds the %d bytes left", ErrCorrupt, n, len(b))
	}
	ents := make([]raftcore.Entry, 0, n)
	for i := uint64(0); i < n; i++ {
		e, used, err := raftcore.DecodeEntry(b)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d: %v", ErrCorrupt, i, err)
		}
		if len(ents) > 0 && e.Index != ents[len(ents)-1].Index+1 {
			return nil, fmt.Errorf("%w: entry %d has index %d after %d", ErrCorrupt, i, e.Index, ents[len(ents)-1].Index)
		}
		ents = append(ents, e)
		b = b[used:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the entries", ErrCorrupt, len(b))
	}
	return ents, nil
}

func encodeSnapMarker(b []byte, index, term uint64) []byte {
	b = binary.AppendUvarint(b, index)
	return binary.AppendUvarint(b, term)
}

func decodeSnapMarker(b []byte) (index, term uint64, err error) {
	index, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, 0, fmt.Errorf("%w: bad snapshot marker", ErrCorrupt)
	}
	term, k2 := binary.Uvarint(b[k:])
	if k2 <= 0 || k+k2 != len(b) {
		return 0, 0, fmt.Errorf("%w: bad snapshot marker", ErrCorrupt)
	}
	return index, term, nil
}

// --- writing ----------------------------------------------------------------

// Save makes hs and ents durable with one fsync (shared with concurrent
// callers), replacing any suffix of the log from ents[0].Index. An empty
// hs is not written.
func (l *Log) Save(hs raftcore.HardState, ents []raftcore.Entry) error {
	l.mu.Lock()
	if err := l.writeLocked(hs, ents); err != nil {
		l.mu.Unlock()
		return err
	}
	mine := l.written
	l.mu.Unlock()
	return l.syncTo(mine)
}

func (l *Log) writeLocked(hs raftcore.HardState, ents []raftcore.Entry) error {
	if l.err != nil {
		return l.err
	}
	buf := l.buf[:0]
	if len(ents) > 0 {
		buf = appendRecord(buf, recEntries, func(b []byte) []byte { return appendEntriesPayload(b, ents) })
	}
	if !hs.IsEmpty() && hs != l.hs {
		buf = appendRecord(buf, recHardState, func(b []byte) []byte { return raftcore.AppendHardState(b, hs) })
	}
	l.buf = buf
	if len(buf) == 0 {
		return nil
	}
	firstIndex := l.lastIndex() + 1
	if len(ents) > 0 {
		firstIndex = ents[0].Index
	}
	if err := l.writeRecords(buf, firstIndex); err != nil {
		return err
	}
	if len(ents) > 0 {
		if err := l.mem.Append(ents); err != nil {
			return l.fail(fmt.Errorf("logstore: append to memory: %w", err))
		}
	}
	if !hs.IsEmpty() {
		l.hs = hs
		l.mem.SetHardState(hs)
	}
	l.written++
	return nil
}

// writeRecords writes buf at the tail of the current segment, moving to a
// new segment first if it does not fit.
func (l *Log) writeRecords(buf []byte, firstIndex uint64) error {
	seg := l.seg
	if seg.tail+int64(len(buf)) > seg.size && seg.tail > segmentHeaderSize+int64(len(l.segmentPrologue())) {
		if err := l.rollover(firstIndex); err != nil {
			return err
		}
		seg = l.seg
	}
	if _, err := seg.f.WriteAt(buf, seg.tail); err != nil {
		return l.fail(fmt.Errorf("logstore: write %s at %d: %w", seg.path, seg.tail, err))
	}
	seg.tail += int64(len(buf))
	return nil
}

// rollover makes the current segment durable and starts the next one.
func (l *Log) rollover(firstIndex uint64) error {
	old := l.seg
	if err := old.f.Sync(); err != nil {
		return l.fail(fmt.Errorf("logstore: sync %s: %w", old.path, err))
	}
	if err := old.f.Close(); err != nil {
		return l.fail(fmt.Errorf("logstore: close %s: %w", old.path, err))
	}
	seg, err := createSegment(l.opts.FS, l.walDir, old.seq+1, firstIndex, l.opts.SegmentSize, l.segmentPrologue())
	if err != nil {
		return l.fail(err)
	}
	l.seg = seg
	l.segments = append(l.segments, segInfo{seq: seg.seq, firstIndex: firstIndex, name: filepath.Base(seg.path)})
	return nil
}

// fail records a write error: the on-disk state is unknown, so the log
// refuses everything from now on (reopening it recovers what is durable).
func (l *Log) fail(err error) error {
	if l.err == nil {
		l.err = fmt.Errorf("logstore: log failed, reopen it to recover: %w", err)
	}
	return err
}

// syncTo returns once the write numbered mine is durable.
func (l *Log) syncTo(mine uint64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.synced >= mine {
		return nil // a fsync that started after our write covered it
	}
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return l.err
	}
	target, f, path := l.written, l.seg.f, l.seg.path
	l.mu.Unlock()
	// Earlier segments were synced when we moved past them, so syncing
	// the current one covers every write up to target.
	if err := f.Sync(); err != nil {
		l.mu.Lock()
		err = l.fail(fmt.Errorf("logstore: sync %s: %w", path, err))
		l.mu.Unlock()
		return err
	}
	l.synced = target
	return nil
}

// ApplySnapshot replaces the log with a snapshot received from the leader:
// the snapshot file is saved, then a marker in the WAL records that the
// log restarts after it.
func (l *Log) ApplySnapshot(snap raftcore.Snapshot) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	if cur, _ := l.mem.Snapshot(); snap.Metadata.Index <= cur.Metadata.Index {
		return raftcore.ErrSnapshotOutOfDate
	}
	info, err := writeSnapFile(l.opts.FS, l.snapDir, snap)
	if err != nil {
		return err
	}
	l.snaps = append(l.snaps, info)
	buf := appendRecord(l.buf[:0], recSnapshot, func(b []byte) []byte {
		return encodeSnapMarker(b, snap.Metadata.Index, snap.Metadata.Term)
	})
	if err := l.writeRecords(buf, snap.Metadata.Index+1); err != nil {
		return err
	}
	if err := l.seg.f.Sync(); err != nil {
		return l.fail(fmt.Errorf("logstore: sync %s: %w", l.seg.path, err))
	}
	l.written++
	l.synced = l.written
	if err := l.mem.ApplySnapshot(snap); err != nil {
		return l.fail(err)
	}
	return l.purgeLocked()
}

// CreateSnapshot records a snapshot of the state machine at index (with
// membership cs) taken by the application; the entries after it stay.
func (l *Log) CreateSnapshot(index uint64, cs raftcore.ConfState, data []byte) (raftcore.Snapshot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return raftcore.Snapshot{}, l.err
	}
	snap, err := l.mem.CreateSnapshot(index, cs, data)
	if err != nil {
		return raftcore.Snapshot{}, err
	}
	info, err := writeSnapFile(l.opts.FS, l.snapDir, snap)
	if err != nil {
		return raftcore.Snapshot{}, err
	}
	l.snaps = append(l.snaps, info)
	return snap, l.purgeLocked()
}

// Compact discards from memory the entries before index (which must be
// covered by a snapshot, or raft will not find them for slow followers).
func (l *Log) Compact(index uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	return l.mem.Compact(index)
}

// purgeLocked deletes snapshot files beyond KeepSnapshots and segments
// wholly covered by the second-newest snapshot (so that if the newest
// snapshot file turns out unreadable, the previous one still has the log
// it needs).
func (l *Log) purgeLocked() error {
	fsys := l.opts.FS
	for len(l.snaps) > l.opts.KeepSnapshots {
		path := filepath.Join(l.snapDir, l.snaps[0].name)
		if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("logstore: remove old snapshot %s: %w", path, err)
		}
		l.snaps = l.snaps[1:]
	}
	if len(l.snaps) < 2 {
		return nil
	}
	keepFrom := l.snaps[len(l.snaps)-2].index
	removed := 0
	// Segment i holds entries below segments[i+1].firstIndex; the last
	// segment is never removed.
	for removed+1 < len(l.segments) && l.segments[removed+1].firstIndex <= keepFrom+1 {
		path := filepath.Join(l.walDir, l.segments[removed].name)
		if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("logstore: remove old segment %s: %w", path, err)
		}
		removed++
	}
	if removed > 0 {
		l.segments = l.segments[removed:]
		if err := fsys.SyncDir(l.walDir); err != nil {
			return fmt.Errorf("logstore: sync %s: %w", l.walDir, err)
		}
	}
	return nil
}

// Close closes the log. Everything Save returned for is already durable.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seg == nil {
		return nil
	}
	err := l.seg.f.Close()
	l.seg = nil
	if l.err == nil {
		l.err = ErrClosed
	}
	return err
}

// Metadata returns the metadata the log was created with.
func (l *Log) Metadata() []byte { return slices.Clone(l.opts.Metadata) }

// SegmentCount returns the number of WAL segment files.
func (l *Log) SegmentCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.segments)
}

// --- raftcore.Storage --------------------------------------------------------

var _ raftcore.Storage = (*Log)(nil)

// InitialState implements raftcore.Storage.
func (l *Log) InitialState() (raftcore.HardState, raftcore.ConfState, error) {
	return l.mem.InitialState()
}

// Entries implements raftcore.Storage.
func (l *Log) Entries(lo, hi, maxSize uint64) ([]raftcore.Entry, error) {
	return l.mem.Entries(lo, hi, maxSize)
}

// Term implements raftcore.Storage.
func (l *Log) Term(i uint64) (uint64, error) { return l.mem.Term(i) }

// FirstIndex implements raftcore.Storage.
func (l *Log) FirstIndex() (uint64, error) { return l.mem.FirstIndex() }

// LastIndex implements raftcore.Storage.
func (l *Log) LastIndex() (uint64, error) { return l.mem.LastIndex() }

// Snapshot implements raftcore.Storage.
func (l *Log) Snapshot() (raftcore.Snapshot, error) { return l.mem.Snapshot() }
