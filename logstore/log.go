// Package logstore is cairn's write-ahead log: it makes durable what each
// raft Ready says to persist — entries, hard state, snapshots — and gives
// it back after a crash. A *Log implements raftcore.Storage.
//
// On disk, a log directory holds two subdirectories:
//
//	wal/   segments %016x-%016x.wal (sequence, first index): records of
//	       entries, hard states and snapshot markers, CRC-32C checked
//	snap/  snapshots %016x-%016x.snap (term, index), CRC-32C checked
//
// A snapshot here is metadata: the index and term up to which the state
// machine holds the log's effects durably, the membership there, and at
// most MaxSnapshotData bytes of the application's. The state machine keeps
// its own data (cairn's store commits its applied index with it), so
// recording a snapshot copies nothing, and a follower that needs the
// state is sent it from the leader's store, not from here.
//
// Writing: Save(hs, ents) writes one batch and returns once it is durable;
// concurrent callers share fsyncs (group commit). SaveCommit(hs) records a
// hard state that moves only the commit index and waits for no fsync: the
// next one covers it. ApplySnapshot installs a
// snapshot from the leader (the log is replaced by it); CreateSnapshot
// records one the application took, and Compact drops the entries before
// it from memory. Appends go to the last segment; when it is full a new one
// is created (preallocated, header written, fsynced, renamed into place,
// directory fsynced). Every new segment starts with the current hard
// state, so old segments can be deleted once a snapshot covers their
// entries: segments wholly below the second-newest snapshot are purged (so
// that a corrupt newest snapshot can fall back to the previous one), and
// only the newest KeepSnapshots snapshot files are kept.
//
// Places and reads: the log knows where it wrote each entry's data, a
// Place (segment sequence number, byte offset), and EntryPlace gives it
// for every entry it holds in memory; ReadAt reads bytes at a place, from
// any segment still on disk, beside the writes. A state machine can so
// keep a pointer to a large value instead of a second copy of it (the
// value log, docs/value-log.md); it checks what it reads with its own
// checksum. Segments are purged once the second-newest snapshot covers
// them and — a second bound, KeepSegmentsFrom — only below the oldest
// segment such a state machine still points into. CheckSegmentsFrom
// checks at startup that the segments it points into are all there, and
// SegmentBytes says what keeping them costs.
//
// Recovery reads the newest valid snapshot, then the segments in order
// from the one holding the entry after it (every segment when it finds
// damage: see coveredSegments). Segments that a purge would have removed
// but for the retention bound are no part of the log it recovers: they
// are never replayed, and no damage to them is the log's (see
// keptSegments).
// A torn record at the tail of the last segment — a write the crash cut
// short, which was never acknowledged — is cut off and logged. Anything
// else is damage to data the log acknowledged (see Damage: a segment
// shorter than created, a missing segment, a bad record that valid ones
// follow or that one flipped bit explains, a saved commit index past the
// end), reported as a *Damage (an ErrCorrupt) naming the file and offset,
// or with Options.Salvage cut off and recorded until MarkRepaired: the log
// never skips a record silently, and never cuts one that a later valid
// record or the saved commit index shows was durable.
//
// Invariants: the entries' indexes are contiguous (each one past the
// previous, a batch at most one past the log's end) and their terms never
// go down. Save asserts both on every batch and Open over the whole log it
// recovered. A violation is a bug, not damage a crash explains: it is an
// *invariant.Error naming the invariant (logstore: invariant "terms
// non-decreasing" violated: ...), Save refuses the batch and Open the
// directory, and the member stops with the message. The log returns
// errors, it never panics.
//
// Memory: the entries since the newest snapshot (and those before it
// until Compact) are kept in memory, in a raftcore.MemoryStorage, so
// raft's reads never touch the disk. Each costs its data plus about 64
// bytes (with its 16-byte place), so the total is bounded by the snapshot
// interval: with the server's --snapshot-count of 100,000 entries of
// 1 KiB, about 110 MB. ReadAt keeps a read-only handle open per segment
// read, until the segment is purged.
// Recovery reads one segment at a time (SegmentSize bytes) on top of that.
// The newest snapshot is kept in memory too (it is small).
package logstore

import (
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
	"github.com/cairndb/cairn/internal/wire"
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
	// KeepSnapshots is how many snapshot files to keep: at least 2, 0
	// means DefaultKeepSnapshots.
	KeepSnapshots int
	// Metadata is stored in every segment (the server records the
	// cluster and member ids there); a log created with other metadata
	// is refused.
	Metadata []byte
	// Logger receives warnings (a torn tail cut off, a corrupt snapshot
	// skipped); nil discards them.
	Logger *slog.Logger
	// Salvage opens a damaged log (see Damage) instead of refusing it:
	// the log keeps what precedes the first damage, and Damage reports
	// it until MarkRepaired.
	Salvage bool
	// PurgeInBackground removes the segments a new snapshot leaves
	// behind on a goroutine of the log's own, instead of before
	// CreateSnapshot or ApplySnapshot returns; Close waits for it.
	// Unlinking a 64 MiB segment can take hundreds of milliseconds
	// (ext4 freeing its blocks), all that time in the raft loop that took
	// the snapshot. A crash before the removal leaves the segments, as
	// one between a snapshot and its purge always could: the next purge
	// after the restart removes them. A failed removal is logged, not
	// returned. Off, the simulation's runs replay exactly.
	PurgeInBackground bool
}

// Log is a durable raft log. It implements raftcore.Storage; Save,
// SaveCommit, ApplySnapshot, CreateSnapshot and Compact change it. Save
// may be called from several goroutines: concurrent callers share fsyncs.
type Log struct {
	opts    Options
	walDir  string
	snapDir string
	log     *slog.Logger

	// mu guards everything below except the sync state. Lock order:
	// syncMu before mu.
	mu       sync.Mutex
	mem      *raftcore.MemoryStorage
	hs       raftcore.HardState // last hard state written
	seg      *segment
	retired  []fsx.File // segments moved past (already fsynced), closed by the next syncer
	segments []segInfo  // every segment on disk, oldest first (last is seg)
	snaps    []snapInfo
	buf      []byte
	written  uint64  // number of writes done
	err      error   // sticky: after a failed write or fsync nothing is trusted
	damage   *Damage // damage found and not yet repaired (damage.go)
	// repairedTerm is the term in which the damage was repaired, until
	// ClearRepair (damage.go).
	repairedTerm uint64
	// repairAttempts counts the repairs started (BeginRepairAttempt).
	repairAttempts uint64

	// replayAll makes recovery read every segment, even those the
	// snapshot loaded covers (see coveredSegments); skipped counts the
	// segments it did not read. replayFrom is the position in segments of
	// the first segment recovery considers part of the log: those before
	// it are ones a purge would have removed but for KeepSegmentsFrom (see
	// keptSegments), read only by place.
	replayAll  bool
	skipped    int
	replayFrom int

	// places holds where each in-memory entry's data lies (EntryPlace);
	// placeBuf is reused by writes to collect them.
	places   placeList
	placeBuf []Place
	// keepSeq is the retention bound: purging removes no segment of this
	// sequence number or higher (KeepSegmentsFrom).
	keepSeq uint64

	// readMu guards the read handles of ReadAt. Lock order: mu before
	// readMu (ReadAt takes mu only to open a handle).
	readMu     sync.Mutex
	readers    map[uint64]*segReader // by segment sequence number
	readClosed bool

	// syncMu serializes fsyncs; synced is the write count the last fsync
	// covered. Callers whose write is already covered skip their fsync:
	// that is group commit.
	syncMu sync.Mutex
	synced uint64 // guarded by syncMu

	// purging counts the removals under way (Options.PurgeInBackground),
	// which purgeMu runs one at a time.
	purging sync.WaitGroup
	purgeMu sync.Mutex
}

type segInfo struct {
	seq, firstIndex uint64
	name            string
	// size is the size the segment was preallocated to (0: not recorded).
	size int64
	// length is the file's length as the log last knew it (SegmentBytes):
	// its size, or more if a record longer than the room left stretched
	// it. For the current segment, its tail may be past it.
	length int64
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
	if opts.KeepSnapshots == 0 {
		opts.KeepSnapshots = DefaultKeepSnapshots
	}
	if opts.KeepSnapshots < 2 {
		return nil, fmt.Errorf("logstore: open %s: KeepSnapshots is %d, must be at least 2 (a corrupt newest snapshot falls back to the previous one)", opts.Dir, opts.KeepSnapshots)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	newLog := func() *Log {
		return &Log{
			opts:    opts,
			walDir:  filepath.Join(opts.Dir, "wal"),
			snapDir: filepath.Join(opts.Dir, "snap"),
			log:     logger,
			mem:     raftcore.NewMemoryStorage(),
			places:  placeList{first: 1},
			keepSeq: KeepNoSegments,
		}
	}
	l := newLog()
	if _, err := opts.FS.Stat(opts.Dir); err != nil {
		if !errors.Is(err, fs.ErrNotExist) || !opts.Create {
			return nil, fmt.Errorf("logstore: open %s: %w", opts.Dir, err)
		}
	}
	for _, d := range []string{l.walDir, l.snapDir} {
		if err := opts.FS.MkdirAll(d, fsx.DirPerm); err != nil {
			return nil, fmt.Errorf("logstore: create %s: %w", d, err)
		}
	}
	err := l.recover()
	if errors.Is(err, errReplayAll) {
		// Damage found with old segments skipped: judge it (and salvage)
		// as always, with every segment read.
		l = newLog()
		l.replayAll = true
		err = l.recover()
	}
	if err != nil {
		return nil, err
	}
	return l, nil
}

// errReplayAll makes Open recover again reading every segment.
var errReplayAll = errors.New("logstore: damage found with old segments skipped")

// replayState is what recovery carries from record to record.
type replayState struct {
	// snap is the snapshot the in-memory log starts from.
	snap raftcore.Snapshot
	// temps are snapshots that exist only as temporary files: either a
	// crash interrupted their writing (they are deleted), or it came
	// between an install's WAL marker and the file's rename (the marker
	// finishes the install).
	temps []snapInfo
	// meta is the log's metadata, from the first segment's first record.
	meta []byte
	// Per segment, by position in l.segments: where its records end (the
	// offset of its seal, if sealed), where its last non-zero byte ends,
	// and whether it holds entries or a snapshot marker, not only its
	// prologue.
	ends, written []int64
	holdsLog      []bool
	// walLast is the last index the records replayed so far hold (an
	// entry, or a snapshot marker), whatever the snapshot loaded covers.
	walLast uint64
}

// recover loads the newest valid snapshot and replays the segments. Damage
// a crash cannot explain is salvaged (Options.Salvage) or returned.
func (l *Log) recover() error {
	fsys := l.opts.FS
	snaps, temps, err := listSnaps(fsys, l.snapDir)
	if err != nil {
		return err
	}
	l.snaps = snaps
	st := &replayState{temps: temps}
	for i := len(snaps) - 1; i >= 0; i-- {
		path := filepath.Join(l.snapDir, snaps[i].name)
		snap, err := loadSnapFile(fsys, path, snaps[i])
		if err == nil {
			st.snap = snap
			break
		}
		if errors.Is(err, errSnapshotWithStore) {
			return err
		}
		l.log.Warn("logstore: skipping unreadable snapshot, falling back to an older one", "file", path, "err", err)
	}
	if !st.snap.IsEmpty() {
		if err := l.mem.ApplySnapshot(st.snap); err != nil {
			return fmt.Errorf("logstore: load snapshot: %w", err)
		}
		l.places.reset(st.snap.Metadata.Index)
	}
	earlier, err := readRepairFile(fsys, l.opts.Dir)
	if err != nil {
		return err
	}
	l.repairAttempts = earlier.attempts

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
	var damage *damagePoint
	if len(l.segments) == 0 {
		if !st.snap.IsEmpty() {
			// The segments after a snapshot are gone, all of them.
			d := &Damage{Kind: DamageMissingSegment, File: l.walDir, LastIndex: l.lastIndex(),
				Detail: fmt.Sprintf("no segment is left of the log after the snapshot at %d", st.snap.Metadata.Index)}
			if !l.opts.Salvage {
				return d
			}
			if err := writeRepairFile(fsys, l.opts.Dir, repairRecord{damage: d, attempts: l.repairAttempts}.encode()); err != nil {
				return err
			}
			l.log.Warn("logstore: the log lost data it had acknowledged; keeping what precedes the damage", "damage", d.Error())
			l.damage = d
		}
		seg, err := createSegment(fsys, l.walDir, 0, l.lastIndex()+1, l.opts.SegmentSize, l.segmentPrologue())
		if err != nil {
			return err
		}
		l.seg = seg
		l.segments = []segInfo{{seq: 0, firstIndex: seg.firstIndex, name: filepath.Base(seg.path), size: seg.size}}
	} else {
		if damage, err = l.replaySegments(st); err != nil {
			return err
		}
		if st.meta != nil && l.opts.Metadata != nil && string(st.meta) != string(l.opts.Metadata) {
			return fmt.Errorf("logstore: %s: %w: log belongs to %q, not %q", l.opts.Dir, ErrBadFormat, st.meta, l.opts.Metadata)
		}
		l.opts.Metadata = st.meta
	}
	// A snapshot is committed by definition; a hard state older than it
	// (a crash cut the record written with the install, or the log is new)
	// is raised to it, as raft requires commit >= the snapshot index.
	l.hs = raiseToSnapshot(l.hs, st.snap.Metadata)
	last := len(l.segments) - 1
	stale := l.staleAfterSnapshot(st.snap.Metadata)
	switch {
	case damage != nil || l.seg != nil: // damaged, or a new log
	case l.hs.Commit > l.lastIndex():
		// The entries up to a saved commit index were durable before it
		// was saved: no crash loses them.
		damage = &damagePoint{seg: last, off: st.ends[last], kind: DamageCommitPastEnd,
			detail: fmt.Sprintf("the saved commit index %d is past the last entry, %d", l.hs.Commit, l.lastIndex())}
	case st.walLast < st.snap.Metadata.Index:
		damage = &damagePoint{seg: last, off: st.ends[last], kind: DamageBehindSnapshot,
			detail: fmt.Sprintf("the records end at index %d, before the snapshot at %d taken of them", st.walLast, st.snap.Metadata.Index)}
	case stale != 0:
		damage = &damagePoint{seg: last, off: st.ends[last], kind: DamageBehindSnapshot,
			detail: fmt.Sprintf("the entry after the snapshot at %d (term %d) is of term %d: the records that replaced the entries of that term are gone",
				st.snap.Metadata.Index, st.snap.Metadata.Term, stale)}
	}
	if damage != nil && l.skipped > 0 {
		return errReplayAll
	}
	if stale != 0 {
		// Entries a later record had replaced: none of them is the
		// cluster's. The log keeps the snapshot, and raft's repair
		// brings the rest back from the quorum.
		if err := l.resetToSnapshot(st.snap); err != nil {
			return err
		}
	}
	switch {
	case damage != nil && !l.opts.Salvage:
		return l.describe(damage)
	case damage != nil:
		if err := l.salvage(damage, st); err != nil {
			return err
		}
		l.hs.Commit = min(l.hs.Commit, l.lastIndex())
	case l.seg == nil:
		last := len(l.segments) - 1
		if err := l.openLast(last, st.ends[last], st.written[last]); err != nil {
			return err
		}
		if !st.holdsLog[last] {
			if err := l.renameEmptyLast(); err != nil {
				return err
			}
		}
	}
	if l.damage == nil {
		l.damage, l.repairedTerm = earlier.damage, earlier.repairedTerm
	}
	// Temporary snapshot files no marker claimed were never installed.
	for _, t := range st.temps {
		_ = fsys.Remove(filepath.Join(l.snapDir, t.name+tmpExt))
	}
	if err := checkOrder(l.mem); err != nil {
		return err
	}
	l.mem.SetHardState(l.hs)
	// The files' lengths, for SegmentBytes.
	for i := range l.segments {
		s := &l.segments[i]
		if info, err := fsys.Stat(filepath.Join(l.walDir, s.name)); err == nil {
			s.length = info.Size()
		}
	}
	return nil
}

// staleAfterSnapshot returns the term of the entry right after snapshot
// m if it is older than the snapshot's, or 0. A log's terms never go
// down, so such entries are ones a later record replaced (a new leader's
// overwrite, of which the snapshot holds an entry) that the disk lost.
func (l *Log) staleAfterSnapshot(m raftcore.SnapshotMetadata) uint64 {
	if m.Index == 0 || l.lastIndex() <= m.Index {
		return 0
	}
	term, err := l.mem.Term(m.Index + 1)
	if err != nil || term >= m.Term {
		return 0
	}
	return term
}

// describe returns the Damage that damage point p is.
func (l *Log) describe(p *damagePoint) *Damage {
	return &Damage{Kind: p.kind, File: filepath.Join(l.walDir, l.segments[p.seg].name), Offset: p.off, Detail: p.detail, LastIndex: l.lastIndex()}
}

// replaySegments replays the segments in order, stopping at the first
// damage. It leaves out the kept ones (see keptSegments) and skips the
// oldest ones the snapshot loaded covers (unless replayAll).
func (l *Log) replaySegments(st *replayState) (*damagePoint, error) {
	n := len(l.segments)
	st.ends, st.written, st.holdsLog = make([]int64, n), make([]int64, n), make([]bool, n)
	l.replayFrom = l.keptSegments(st.snap)
	start := l.replayFrom
	if !l.replayAll {
		start = max(start, l.coveredSegments(st.snap))
	}
	l.skipped = start - l.replayFrom
	for i := l.replayFrom; i < n; i++ {
		if i > l.replayFrom && l.segments[i].seq != l.segments[i-1].seq+1 {
			prev, next := l.segments[i-1], l.segments[i]
			return &damagePoint{seg: i - 1, off: st.ends[i-1], kind: DamageMissingSegment,
				detail: fmt.Sprintf("segment sequence jumps from %d (%s) to %d (%s)", prev.seq, prev.name, next.seq, next.name)}, nil
		}
		if i < start {
			continue
		}
		if p, err := l.replaySegment(i, st); p != nil || err != nil {
			return p, err
		}
	}
	return nil, nil
}

// keptSegments returns how many of the oldest segments are no part of
// the log recovery loads: those a purge removes at once when nothing
// keeps them (KeepSegmentsFrom), segment i when segment i+1 starts at or
// before S+1, S the second-newest snapshot's index — or the loaded
// snapshot's, if older (the newer files are unreadable). They hold
// nothing past S; what they hold is read by place only (ReadAt). Recovery
// treats them as a purge would leave the log: never replayed, not even
// when it finds damage (so a damaged or missing one is no damage of the
// log: CheckSegmentsFrom and ReadAt report it to whoever points into
// it), not salvaged, and the sequence of segments is checked from the
// last of them on (a segment missing between that one and the next held
// nothing past S either). Segments a crash or a failed removal left
// behind a purge are treated the same way. As in coveredSegments, the
// segment before the last is always read.
func (l *Log) keptSegments(loaded raftcore.Snapshot) int {
	if len(l.snaps) < 2 || loaded.IsEmpty() {
		return 0
	}
	bound := min(l.snaps[len(l.snaps)-2].index, loaded.Metadata.Index)
	k := 0
	for k+2 < len(l.segments) && l.segments[k+1].firstIndex <= bound+1 {
		k++
	}
	return k
}

// coveredSegments returns how many of the oldest segments hold nothing
// past snapshot snap, so that recovery need not read them: a restart
// then reads the log since about the newest snapshot, not since the one
// before it (which purging keeps, in case the newest is unreadable).
//
// Segment i holds nothing past index S when segment i+1 starts at or
// before S+1: every entry from a segment's first index on is in it or
// later ones (the batch that started it replaced the log's suffix from
// there; see purgeLocked). Only the last segment's name may be wrong (a
// crash lost the batch that was to start it; see renameEmptyLast), so
// the segment before it is always read. Damage is judged with every
// segment of the log read (errReplayAll: every one from keptSegments
// on), so skipping never changes what recovery
// reports or salvages once it finds damage; nor what it keeps in memory,
// which starts at the snapshot either way. What it gives up is looking
// for damage inside the skipped segments: they hold only entries the
// snapshot covers, which no restart needs, and the next purge deletes
// them. (A missing one is still found, from the names.)
func (l *Log) coveredSegments(snap raftcore.Snapshot) int {
	if snap.IsEmpty() {
		return 0
	}
	k := 0
	for k+2 < len(l.segments) && l.segments[k+1].firstIndex <= snap.Metadata.Index+1 {
		k++
	}
	return k
}

// renameEmptyLast gives the last segment, which holds only its prologue,
// the name of the index the next entry will have. A segment is named
// after the first entry of the batch that started it, and purging relies
// on it: everything from that index on is in that segment or later. But a
// crash can lose the batch and keep the new segment, and the entries it
// was to replace stay live in the segment before; the next batch appended
// may start at another index. Left with the old name, the segment would
// let a purge delete the segment that still holds those entries.
func (l *Log) renameEmptyLast() error {
	last := &l.segments[len(l.segments)-1]
	next := l.lastIndex() + 1
	if last.firstIndex == next {
		return nil
	}
	name := segmentName(last.seq, next)
	path := filepath.Join(l.walDir, name)
	if err := l.opts.FS.Rename(l.seg.path, path); err != nil {
		return fmt.Errorf("logstore: rename empty segment %s to %s: %w", l.seg.path, name, err)
	}
	if err := l.opts.FS.SyncDir(l.walDir); err != nil {
		return fmt.Errorf("logstore: sync %s: %w", l.walDir, err)
	}
	last.firstIndex, last.name = next, name
	l.seg.path, l.seg.firstIndex = path, next
	return nil
}

// raiseToSnapshot returns hs moved up to cover snapshot m: commit at least
// its index, term at least its term (a new term carries no vote).
func raiseToSnapshot(hs raftcore.HardState, m raftcore.SnapshotMetadata) raftcore.HardState {
	if m.Index == 0 {
		return hs
	}
	if hs.Term < m.Term {
		hs.Term, hs.Vote = m.Term, 0
	}
	hs.Commit = max(hs.Commit, m.Index)
	return hs
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

// replaySegment applies the records of segment i to the in-memory log,
// and reports the first damage in it, if any.
func (l *Log) replaySegment(i int, st *replayState) (*damagePoint, error) {
	s := &l.segments[i]
	last := i == len(l.segments)-1
	path := filepath.Join(l.walDir, s.name)
	b, err := readWhole(l.opts.FS, path)
	if err != nil {
		return nil, fmt.Errorf("logstore: read %s: %w", path, err)
	}
	st.written[i] = int64(lastNonZero(b) + 1)
	if len(b) < segmentHeaderSize {
		return &damagePoint{seg: i, kind: DamageTruncated, detail: fmt.Sprintf("the file of %d bytes is shorter than a segment header", len(b))}, nil
	}
	if s.size, err = checkSegmentHeader(path, b); err != nil {
		return nil, err
	}
	corrupt := func(off int, detail string) *damagePoint {
		return &damagePoint{seg: i, off: int64(off), kind: DamageCorruptRecord, detail: detail}
	}
	off, sealed := segmentHeaderSize, -1
	var readErr error
	for {
		var t recordType
		var payload []byte
		var n int
		if t, payload, n, readErr = readRecord(b[off:]); readErr != nil {
			break
		}
		if sealed >= 0 {
			return corrupt(off, "a record after the segment's seal"), nil
		}
		switch t {
		case recSeal:
			if next, k, err := wire.Uvarint(payload); err != nil || k != len(payload) || next != s.seq+1 {
				return corrupt(off, fmt.Sprintf("a seal that does not name the next segment (%d)", s.seq+1)), nil
			}
			sealed = off
		case recEntries, recSnapshot:
			st.holdsLog[i] = true
		}
		if t != recSeal {
			at := Place{Segment: s.seq, Offset: int64(off) + recordHeaderSize + 1} // the payload's
			if err := l.replayRecord(t, payload, at, st); errors.Is(err, ErrCorrupt) {
				return corrupt(off, err.Error()), nil
			} else if err != nil {
				return nil, fmt.Errorf("logstore: %s offset %d: %w", path, off, err)
			}
		}
		off += n
	}
	st.ends[i] = int64(off)
	if sealed >= 0 {
		st.ends[i] = int64(sealed)
	}
	if s.size > 0 && int64(len(b)) < s.size {
		return &damagePoint{seg: i, off: int64(off), kind: DamageTruncated,
			detail: fmt.Sprintf("the file is %d bytes, it was created with %d", len(b), s.size)}, nil
	}
	if p, err := l.checkEnd(i, b, off, readErr); p != nil || err != nil {
		return p, err
	}
	if last && sealed >= 0 {
		return &damagePoint{seg: i, off: int64(sealed), kind: DamageMissingSegment,
			detail: fmt.Sprintf("the segment is sealed, but the next one (sequence %d) is missing", s.seq+1)}, nil
	}
	return nil, nil
}

// checkEnd decides what the bytes of segment i (b) from off on are, where
// no valid record starts (readErr says why). Zeros to the end: the
// preallocated, unwritten rest of the segment. A record one flipped bit
// explains: damage at rest. Anything else in a segment that newer ones
// follow is damage too — it was fsynced complete before the next segment
// was created — except a torn seal (a crash while sealing it at a
// rollover, before anything went to the next one). In the last segment it
// is a torn write — never acknowledged, logged here and cut off when the
// segment is opened — when nothing valid follows, or when what follows is
// valid but the damaged bytes show a write that never reached the disk
// (see looksUnwritten): the disk may persist the pages of unsynced writes
// in any order. A damaged record followed by valid ones, with no such
// sign, is damage.
func (l *Log) checkEnd(i int, b []byte, off int, readErr error) (*damagePoint, error) {
	lastByte := lastNonZero(b)
	if lastByte < off {
		return nil, nil
	}
	path := filepath.Join(l.walDir, l.segments[i].name)
	corrupt := func(detail string) *damagePoint {
		return &damagePoint{seg: i, off: int64(off), kind: DamageCorruptRecord, detail: detail}
	}
	if errors.Is(readErr, errEnd) {
		readErr = errors.New("zeros where a record should start, with data after them")
	}
	if explainedByOneBitFlip(b[off:]) {
		return corrupt(fmt.Sprintf("%v; one flipped bit explains it: damaged at rest, not torn by a crash", readErr)), nil
	}
	if i < len(l.segments)-1 {
		torn, err := l.tornSeal(i, lastByte+1-off)
		if err != nil || !torn {
			return corrupt(fmt.Sprintf("%v (newer segments follow, so this one was complete)", readErr)), err
		}
		l.log.Warn("logstore: cutting off a seal a crash tore", "file", path, "offset", off)
		return nil, zeroRange(l.opts.FS, path, int64(off), int64(lastByte+1))
	}
	next, more := findValidRecord(b, off+1, lastByte+1)
	if more && !looksUnwritten(b, off, next) {
		return corrupt(fmt.Sprintf("%v (valid records follow at offset %d)", readErr, next)), nil
	}
	l.log.Warn("logstore: cutting off a torn write at the tail of the log",
		"file", path, "offset", off, "bytes", lastByte+1-off, "unacknowledged_records_after", more, "err", readErr)
	return nil, nil
}

// tornSeal reports whether damaged bytes at the end of segment i, which
// newer ones follow, can be a seal a crash tore: they are no longer than
// a seal, and the next segment is the last and holds nothing but its
// prologue (the rollover that seals a segment writes nothing to the next
// one before the seal is durable).
func (l *Log) tornSeal(i, damaged int) (bool, error) {
	if damaged > maxSealSize || i+1 != len(l.segments)-1 {
		return false, nil
	}
	path := filepath.Join(l.walDir, l.segments[i+1].name)
	b, err := readWhole(l.opts.FS, path)
	if err != nil {
		return false, fmt.Errorf("logstore: read %s: %w", path, err)
	}
	if len(b) < segmentHeaderSize {
		return false, nil
	}
	for off := segmentHeaderSize; ; {
		t, _, n, err := readRecord(b[off:])
		if err != nil {
			return true, nil
		}
		if t == recEntries || t == recSnapshot {
			return false, nil
		}
		off += n
	}
}

// maxSealSize is the size of the largest seal record.
const maxSealSize = recordHeaderSize + 1 + wire.MaxVarintLen

// looksUnwritten reports whether the damaged bytes b[from:to] show a write
// that never reached the disk: a record header of zeros (no record has
// one: its length is at least 1), or a whole 512-byte sector of zeros.
// A flipped bit leaves neither, so it is reported, not cut off.
func looksUnwritten(b []byte, from, to int) bool {
	const sector = 512
	if allZero(b[from:min(from+recordHeaderSize, to)]) {
		return true
	}
	for s := (from + sector - 1) / sector * sector; s+sector <= to; s += sector {
		if allZero(b[s : s+sector]) {
			return true
		}
	}
	return false
}

// lastNonZero returns the offset of the last non-zero byte of b, or -1.
func lastNonZero(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != 0 {
			return i
		}
	}
	return -1
}

func zeroRange(fsys fsx.FS, path string, from, to int64) error {
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

// replayRecord applies a record of type t, whose payload lies at place at,
// to the in-memory log.
func (l *Log) replayRecord(t recordType, payload []byte, at Place, st *replayState) error {
	switch t {
	case recMetadata:
		if st.meta == nil {
			st.meta = append([]byte{}, payload...)
		} else if string(st.meta) != string(payload) {
			return fmt.Errorf("%w: metadata %q differs from the log's %q", ErrCorrupt, payload, st.meta)
		}
	case recHardState:
		var hs raftcore.HardState
		if err := hs.UnmarshalBinary(payload); err != nil {
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		l.hs = hs
	case recSnapshot:
		index, term, err := decodeSnapMarker(payload)
		if err != nil {
			return err
		}
		st.walLast = index
		if index > st.snap.Metadata.Index {
			// The install's marker is durable but the snapshot file was
			// not yet renamed, or is unreadable.
			snap, err := l.finishInstall(st, index, term)
			if err != nil {
				return err
			}
			st.snap = snap
		}
		// The log was replaced by a snapshot here: every entry replayed
		// so far is obsolete (if the snapshot loaded is a newer one, its
		// own entries come later in the log).
		return l.resetToSnapshot(st.snap)
	case recEntries:
		ents, places, err := decodeEntries(payload, at, l.placeBuf[:0])
		l.placeBuf = places[:0]
		if err != nil {
			return err
		}
		if len(ents) == 0 {
			return nil
		}
		st.walLast = ents[len(ents)-1].Index // a new leader's overwrite may shorten the log
		first, _ := l.mem.FirstIndex()
		if last := l.lastIndex(); ents[0].Index > last+1 && ents[len(ents)-1].Index >= first {
			return fmt.Errorf("%w: entries start at %d but the log ends at %d (a gap)", ErrCorrupt, ents[0].Index, last)
		}
		if ents[0].Index < first && l.lastIndex() >= first {
			// The record replaced the log from an index the snapshot
			// now covers: every entry after the snapshot goes, even if
			// none of the record's own entries outlive the snapshot.
			if err := l.resetToSnapshot(st.snap); err != nil {
				return err
			}
		}
		// Copy: the payload aliases the segment buffer.
		own := make([]raftcore.Entry, len(ents))
		for i, e := range ents {
			e.Data = slices.Clone(e.Data)
			own[i] = e
		}
		// Append replaces the suffix from own[0] (a new leader's
		// overwrite) and ignores what the snapshot covers.
		if err := l.mem.Append(own); err != nil {
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		if !l.places.put(ents[0].Index, places) {
			return fmt.Errorf("%w: entries start at %d, a gap after the places known up to %d", ErrCorrupt, ents[0].Index, l.places.first+uint64(len(l.places.p))-1)
		}
	default:
		return fmt.Errorf("%w: unexpected record type %v", ErrCorrupt, t)
	}
	return nil
}

// finishInstall completes the install of snapshot (term, index) whose WAL
// marker recovery met: its file must exist, or still be a temporary file
// (renamed now).
func (l *Log) finishInstall(st *replayState, index, term uint64) (raftcore.Snapshot, error) {
	want := snapInfo{term: term, index: index, name: snapName(term, index)}
	i := slices.IndexFunc(st.temps, func(s snapInfo) bool { return s == want })
	if i < 0 {
		return raftcore.Snapshot{}, fmt.Errorf("%w: the log installed snapshot %d (term %d) but that snapshot file is missing or unreadable", ErrCorrupt, index, term)
	}
	st.temps = slices.Delete(st.temps, i, i+1)
	snap, err := loadSnapFile(l.opts.FS, filepath.Join(l.snapDir, want.name+tmpExt), want)
	if err != nil {
		return raftcore.Snapshot{}, fmt.Errorf("%w: the log installed snapshot %d (term %d): %v", ErrCorrupt, index, term, err)
	}
	if err := publishSnap(l.opts.FS, l.snapDir, want); err != nil {
		return raftcore.Snapshot{}, err
	}
	l.log.Warn("logstore: finished installing a snapshot a crash interrupted", "index", index, "term", term)
	l.snaps = append(l.snaps, want)
	slices.SortFunc(l.snaps, func(a, b snapInfo) int { return cmpUint(a.index, b.index) })
	return snap, nil
}

// resetToSnapshot empties the in-memory log back to snap.
func (l *Log) resetToSnapshot(snap raftcore.Snapshot) error {
	l.mem = raftcore.NewMemoryStorage()
	l.places.reset(snap.Metadata.Index)
	if snap.IsEmpty() {
		return nil
	}
	return l.mem.ApplySnapshot(snap)
}

// appendEntriesPayload appends the payload of an entries record: the
// count, then each entry (raftcore.AppendEntry).
func appendEntriesPayload(b []byte, ents []raftcore.Entry) []byte {
	b, _ = appendEntriesPlaced(b, ents, nil)
	return b
}

// appendEntriesPlaced is appendEntriesPayload that also appends to ps,
// for each entry, the offset in b at which its data begins (Segment 0;
// the zero Place for an entry with no data).
func appendEntriesPlaced(b []byte, ents []raftcore.Entry, ps []Place) ([]byte, []Place) {
	b = wire.AppendUvarint(b, uint64(len(ents)))
	for _, e := range ents {
		var p Place
		if len(e.Data) > 0 {
			p.Offset = int64(len(b) + raftcore.EntryDataOffset(e))
		}
		ps = append(ps, p)
		b = raftcore.AppendEntry(b, e)
	}
	return b, ps
}

// decodeEntries decodes the payload of an entries record, b, which lies
// at place at, and appends to ps the place of each entry's data (the
// zero Place for an entry with no data). The entries' data alias b.
func decodeEntries(b []byte, at Place, ps []Place) ([]raftcore.Entry, []Place, error) {
	n, k, err := wire.Uvarint(b)
	if err != nil {
		return nil, ps, fmt.Errorf("%w: entry count: %v", ErrCorrupt, err)
	}
	off := k // of the next entry in the payload
	b = b[k:]
	if n > uint64(len(b))/4 {
		return nil, ps, fmt.Errorf("%w: entry count %d exceeds the %d bytes left", ErrCorrupt, n, len(b))
	}
	ents := make([]raftcore.Entry, 0, n)
	for i := uint64(0); i < n; i++ {
		e, used, err := raftcore.DecodeEntry(b)
		if err != nil {
			return nil, ps, fmt.Errorf("%w: entry %d: %v", ErrCorrupt, i, err)
		}
		if len(ents) > 0 && e.Index != ents[len(ents)-1].Index+1 {
			return nil, ps, fmt.Errorf("%w: entry %d has index %d after %d", ErrCorrupt, i, e.Index, ents[len(ents)-1].Index)
		}
		// The decoder takes only the shortest varints, which AppendEntry
		// writes, so the data begins where EntryDataOffset says.
		p := Place{}
		if len(e.Data) > 0 {
			p = Place{Segment: at.Segment, Offset: at.Offset + int64(off+raftcore.EntryDataOffset(e))}
		}
		ps = append(ps, p)
		ents = append(ents, e)
		b = b[used:]
		off += used
	}
	if len(b) != 0 {
		return nil, ps, fmt.Errorf("%w: %d bytes after the entries", ErrCorrupt, len(b))
	}
	return ents, ps, nil
}

func encodeSnapMarker(b []byte, index, term uint64) []byte {
	b = wire.AppendUvarint(b, index)
	return wire.AppendUvarint(b, term)
}

func decodeSnapMarker(b []byte) (index, term uint64, err error) {
	index, k, err := wire.Uvarint(b)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: snapshot marker index: %v", ErrCorrupt, err)
	}
	term, k2, err := wire.Uvarint(b[k:])
	if err != nil {
		return 0, 0, fmt.Errorf("%w: snapshot marker term: %v", ErrCorrupt, err)
	}
	if k+k2 != len(b) {
		return 0, 0, fmt.Errorf("%w: %d bytes after the snapshot marker", ErrCorrupt, len(b)-k-k2)
	}
	return index, term, nil
}

// --- writing ----------------------------------------------------------------
//
// Writes and fsyncs are separate steps so that concurrent callers share
// fsyncs (group commit). A caller writes its records under mu — cheap, a
// copy into the page cache — and takes the number of its write. It then
// queues on syncMu; whoever holds it fsyncs everything written so far and
// records the write count that fsync covered. A caller whose write an
// earlier fsync already covered returns without one. While one fsync
// runs, later callers write and wait, and the next fsync covers them all.
//
// Reads (the raftcore.Storage methods) see a write as soon as it is
// written; a Save returns only once its fsync has returned. After a
// failed write or fsync the log refuses everything (reopening it recovers
// what is durable): the kernel may have dropped the unsynced pages, so
// nothing written since the last good fsync can be trusted.

// Save makes hs and ents durable with one fsync (shared with concurrent
// callers), replacing any suffix of the log from ents[0].Index — a new
// leader's overwrite. Entries must be consecutive and may start at any
// index up to LastIndex()+1; those a snapshot covers are ignored. An
// empty hs, or one equal to the last saved, is not written again. Save
// returns once everything written before it is durable, too.
func (l *Log) Save(hs raftcore.HardState, ents []raftcore.Entry) error {
	l.mu.Lock()
	err := l.writeLocked(hs, ents)
	mine := l.written
	l.mu.Unlock()
	if err != nil {
		return err
	}
	return l.syncTo(mine)
}

// SaveCommit records hs, a hard state that moves only the commit index,
// without waiting for an fsync: the next fsync of the log (a Save's, a
// leader's snapshot's, a new segment's) makes it durable with everything
// written before it. Raft needs its term
// and vote durable before it answers anyone, but not its commit index,
// which a member learns again from the leader after a restart; and an
// entry applied before a crash is still committed, whatever commit index
// the log recovers. So a member records the commit index that every
// heartbeat and append moves without paying an fsync for it — one fsync
// per write instead of two, on the leader's path to the answer.
//
// If hs changes the term or the vote, SaveCommit is Save: it returns once
// hs is durable.
func (l *Log) SaveCommit(hs raftcore.HardState) error {
	l.mu.Lock()
	if hs.Term != l.hs.Term || hs.Vote != l.hs.Vote {
		l.mu.Unlock()
		return l.Save(hs, nil)
	}
	err := l.writeLocked(hs, nil)
	l.mu.Unlock()
	return err
}

func (l *Log) writeLocked(hs raftcore.HardState, ents []raftcore.Entry) error {
	if l.err != nil {
		return l.err
	}
	ents, err := l.checkEntries(ents)
	if err != nil {
		return err
	}
	// The entries go in records of about recordSplitBytes each (see
	// there), the hard state after the last.
	writeHS := !hs.IsEmpty() && hs != l.hs
	firstIndex := l.lastIndex() + 1
	places := l.placeBuf[:0] // of the entries' data, as written
	for rest := ents; len(rest) > 0 || writeHS; {
		buf := l.buf[:0]
		placed := len(places)
		if len(rest) > 0 {
			n := entriesForRecord(rest)
			part := rest[:n]
			rest = rest[n:]
			firstIndex = part[0].Index
			// The entries record is first in buf: the places collected
			// are offsets in buf, made offsets in the segment below.
			buf = appendRecord(buf, recEntries, func(b []byte) []byte {
				b, places = appendEntriesPlaced(b, part, places)
				return b
			})
		}
		if len(rest) == 0 && writeHS {
			buf = appendRecord(buf, recHardState, func(b []byte) []byte { return raftcore.AppendHardState(b, hs) })
			writeHS = false
		}
		l.buf = buf
		seq, at, err := l.writeRecords(buf, firstIndex)
		if err != nil {
			return err
		}
		for i := placed; i < len(places); i++ {
			if places[i] != (Place{}) {
				places[i] = Place{Segment: seq, Offset: at + places[i].Offset}
			}
		}
	}
	l.placeBuf = places[:0]
	if len(ents) == 0 && (hs.IsEmpty() || hs == l.hs) {
		return nil
	}
	if len(ents) > 0 {
		if err := l.mem.Append(ents); err != nil {
			return l.fail(fmt.Errorf("logstore: append to memory: %w", err))
		}
		if !l.places.put(ents[0].Index, places) {
			return l.fail(fmt.Errorf("logstore: places of entries from %d: a gap after those known up to %d", ents[0].Index, l.places.first+uint64(len(l.places.p))-1))
		}
	}
	if !hs.IsEmpty() {
		l.hs = hs
		l.mem.SetHardState(hs)
	}
	l.written++
	return nil
}

// recordSplitBytes is about the most entry bytes one record holds: a
// batch of large entries (a hundred writes of a megabyte each, say) is
// split over several records, so that none passes MaxRecordSize, which
// recovery would take for corruption, and a segment is not stretched far
// past its size by one record. A record holds at least one entry.
const recordSplitBytes = 1 << 20

// maxEntryBytes is the largest entry the log takes: its record, with the
// entry's own framing, must stay under MaxRecordSize.
const maxEntryBytes = MaxRecordSize - 64

// entriesForRecord returns how many of ents, at least one, go in the
// next record.
func entriesForRecord(ents []raftcore.Entry) int {
	size := len(ents[0].Data)
	n := 1
	for n < len(ents) && size+len(ents[n].Data) <= recordSplitBytes {
		size += len(ents[n].Data)
		n++
	}
	return n
}

// checkEntries validates a batch before anything is written (a refused
// batch leaves the log usable) and drops the entries a snapshot covers.
func (l *Log) checkEntries(ents []raftcore.Entry) ([]raftcore.Entry, error) {
	if len(ents) == 0 {
		return nil, nil
	}
	prevTerm, err := l.mem.Term(ents[0].Index - 1)
	if err := checkBatch(ents, l.lastIndex(), prevTerm, err == nil); err != nil {
		return nil, err
	}
	for _, e := range ents {
		if len(e.Data) > maxEntryBytes {
			return nil, fmt.Errorf("logstore: save: entry %d holds %d bytes, more than the %d an entry may", e.Index, len(e.Data), maxEntryBytes)
		}
	}
	first, _ := l.mem.FirstIndex()
	switch {
	case ents[len(ents)-1].Index < first:
		return nil, nil
	case ents[0].Index < first:
		return ents[first-ents[0].Index:], nil
	}
	return ents, nil
}

// writeRecords writes buf at the tail of the current segment, moving to a
// new segment first if it does not fit, and returns where it wrote it: the
// segment's sequence number and the offset. firstIndex is the index of
// the first entry buf holds, or would hold (the new segment's name).
func (l *Log) writeRecords(buf []byte, firstIndex uint64) (uint64, int64, error) {
	seg := l.seg
	// Room is left for the seal that ends the segment.
	if seg.tail+int64(len(buf))+maxSealSize > seg.size && seg.tail > segmentHeaderSize+int64(len(l.segmentPrologue())) {
		if err := l.rollover(firstIndex); err != nil {
			return 0, 0, err
		}
		seg = l.seg
	}
	at := seg.tail
	if _, err := seg.f.WriteAt(buf, at); err != nil {
		return 0, 0, l.fail(fmt.Errorf("logstore: write %s at %d: %w", seg.path, at, err))
	}
	seg.tail += int64(len(buf))
	return seg.seq, at, nil
}

// rollover makes the current segment durable, starts the next one, and
// then seals the old one: a seal record naming the next segment, written
// once that segment is durable, so that a last segment found sealed lost
// its successor (a crash cannot explain it). The old file is not closed
// here — a syncer may be fsyncing it at this moment — but handed to the
// next syncer to close.
func (l *Log) rollover(firstIndex uint64) error {
	old := l.seg
	if err := old.f.Sync(); err != nil {
		return l.fail(fmt.Errorf("logstore: sync %s: %w", old.path, err))
	}
	seg, err := createSegment(l.opts.FS, l.walDir, old.seq+1, firstIndex, l.opts.SegmentSize, l.segmentPrologue())
	if err != nil {
		return l.fail(err)
	}
	seal := appendRecord(nil, recSeal, func(b []byte) []byte { return wire.AppendUvarint(b, seg.seq) })
	if _, err := old.f.WriteAt(seal, old.tail); err != nil {
		_ = seg.f.Close()
		return l.fail(fmt.Errorf("logstore: seal %s: %w", old.path, err))
	}
	if err := old.f.Sync(); err != nil {
		_ = seg.f.Close()
		return l.fail(fmt.Errorf("logstore: sync %s: %w", old.path, err))
	}
	l.retired = append(l.retired, old.f)
	prev := &l.segments[len(l.segments)-1]
	prev.length = max(prev.length, old.tail+int64(len(seal)))
	l.seg = seg
	l.segments = append(l.segments, segInfo{seq: seg.seq, firstIndex: firstIndex, name: filepath.Base(seg.path), size: seg.size, length: seg.size})
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
		return nil // an fsync that started after our write covered it
	}
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return l.err
	}
	target, f, path := l.written, l.seg.f, l.seg.path
	retired := l.retired
	l.retired = nil
	l.mu.Unlock()
	// Earlier segments were fsynced when the log moved past them, so
	// syncing the current one covers every write up to target.
	err := f.Sync()
	for _, r := range retired {
		_ = r.Close() // fsynced at rollover; nothing is lost if close fails
	}
	if err != nil {
		l.mu.Lock()
		err = l.fail(fmt.Errorf("logstore: sync %s: %w", path, err))
		l.mu.Unlock()
		return err
	}
	l.synced = target
	return nil
}

// ApplySnapshot replaces the log with a snapshot received from the leader
// (raft's Ready.Snapshot): the entries it covers and every entry after it
// are discarded, and the hard state is raised to cover it (commit at least
// its index). The WAL marker is the commit point: the snapshot is written
// to a temporary file and fsynced, then the marker (with the raised hard
// state) is written and fsynced, then the file is renamed into place. A
// crash before the marker is durable leaves the old log; after it,
// recovery finishes the rename.
func (l *Log) ApplySnapshot(snap raftcore.Snapshot) error {
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return l.err
	}
	if len(snap.Data) > MaxSnapshotData {
		l.mu.Unlock()
		return fmt.Errorf("logstore: install snapshot at %d: %d bytes of data, more than the %d a snapshot may carry", snap.Metadata.Index, len(snap.Data), MaxSnapshotData)
	}
	if cur, _ := l.mem.Snapshot(); snap.Metadata.Index <= cur.Metadata.Index {
		l.mu.Unlock()
		return raftcore.ErrSnapshotOutOfDate
	}
	info, err := writeSnapTemp(l.opts.FS, l.snapDir, snap)
	if err != nil {
		l.mu.Unlock()
		return err
	}
	hs := raiseToSnapshot(l.hs, snap.Metadata)
	buf := appendRecord(l.buf[:0], recSnapshot, func(b []byte) []byte {
		return encodeSnapMarker(b, snap.Metadata.Index, snap.Metadata.Term)
	})
	if hs != l.hs {
		buf = appendRecord(buf, recHardState, func(b []byte) []byte { return raftcore.AppendHardState(b, hs) })
	}
	l.buf = buf
	if _, _, err := l.writeRecords(buf, snap.Metadata.Index+1); err != nil {
		l.mu.Unlock()
		return err
	}
	l.written++
	mine := l.written
	if err := l.mem.ApplySnapshot(snap); err != nil {
		err = l.fail(err)
		l.mu.Unlock()
		return err
	}
	l.places.reset(snap.Metadata.Index)
	l.hs = hs
	l.mem.SetHardState(hs)
	l.mu.Unlock()

	if err := l.syncTo(mine); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := publishSnap(l.opts.FS, l.snapDir, info); err != nil {
		return l.fail(err)
	}
	l.snaps = append(l.snaps, info)
	return l.purgeLocked()
}

// CreateSnapshot records that the state machine holds everything up to
// index durably (with membership cs and at most MaxSnapshotData bytes of
// data of the application's), as MemoryStorage.CreateSnapshot does: the
// entries after it stay, and so do the ones before it until Compact. The
// snapshot file is durable when it returns.
func (l *Log) CreateSnapshot(index uint64, cs raftcore.ConfState, data []byte) (raftcore.Snapshot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return raftcore.Snapshot{}, l.err
	}
	if len(data) > MaxSnapshotData {
		return raftcore.Snapshot{}, fmt.Errorf("logstore: create snapshot at %d: %d bytes of data, more than the %d a snapshot may carry", index, len(data), MaxSnapshotData)
	}
	if cur, _ := l.mem.Snapshot(); index <= cur.Metadata.Index {
		return raftcore.Snapshot{}, raftcore.ErrSnapshotOutOfDate
	}
	if index > l.lastIndex() {
		return raftcore.Snapshot{}, raftcore.ErrUnavailable
	}
	term, err := l.mem.Term(index)
	if err != nil {
		return raftcore.Snapshot{}, err
	}
	snap := raftcore.Snapshot{Metadata: raftcore.SnapshotMetadata{Index: index, Term: term, ConfState: cs}, Data: data}
	// The file first: the log shows the snapshot only once it is durable.
	info, err := writeSnapFile(l.opts.FS, l.snapDir, snap)
	if err != nil {
		return raftcore.Snapshot{}, err
	}
	l.snaps = append(l.snaps, info)
	if snap, err = l.mem.CreateSnapshot(index, cs, data); err != nil {
		return raftcore.Snapshot{}, l.fail(err)
	}
	return snap, l.purgeLocked()
}

// Compact discards from memory the entries before index, as
// MemoryStorage.Compact does (index must be covered by a snapshot, or raft
// will not find them for slow followers). The WAL segments are purged by
// CreateSnapshot and ApplySnapshot; after a restart the log starts at the
// newest snapshot.
func (l *Log) Compact(index uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	if err := l.mem.Compact(index); err != nil {
		return err
	}
	l.places.compact(index)
	return nil
}

// purgeLocked deletes snapshot files beyond KeepSnapshots and segments
// wholly covered by the second-newest snapshot (so that if the newest
// snapshot file turns out unreadable, the previous one still has the log
// it needs) that the retention bound does not keep (KeepSegmentsFrom).
func (l *Log) purgeLocked() error {
	fsys := l.opts.FS
	for len(l.snaps) > l.opts.KeepSnapshots {
		path := filepath.Join(l.snapDir, l.snaps[0].name)
		if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("logstore: remove old snapshot %s: %w", path, err)
		}
		l.snaps = l.snaps[1:]
	}
	return l.purgeSegmentsLocked()
}

// purgeSegmentsLocked deletes the oldest segments while both bounds let
// it: the second-newest snapshot covers them, and their sequence numbers
// are below the retention bound. It costs a comparison or two when none
// can go.
func (l *Log) purgeSegmentsLocked() error {
	if len(l.snaps) < 2 {
		return nil
	}
	fsys := l.opts.FS
	keepFrom := l.snaps[len(l.snaps)-2].index
	removed := 0
	// Every entry of the log at or after segments[i+1].firstIndex is in
	// segment i+1 or later (the batch that started it replaced the suffix
	// from there), so segment i holds nothing past keepFrom when
	// segments[i+1].firstIndex <= keepFrom+1. The last segment stays.
	for removed+1 < len(l.segments) && l.segments[removed+1].firstIndex <= keepFrom+1 && l.segments[removed].seq < l.keepSeq {
		removed++
	}
	if removed == 0 {
		return nil
	}
	paths := make([]string, removed)
	seqs := make([]uint64, removed)
	for i, sg := range l.segments[:removed] {
		paths[i] = filepath.Join(l.walDir, sg.name)
		seqs[i] = sg.seq
	}
	// ReadAt stops using them before they go (reads under way finish on
	// their handles).
	l.dropReadersLocked(seqs)
	if !l.opts.PurgeInBackground {
		if err := removeSegments(fsys, l.walDir, paths); err != nil {
			return err
		}
		l.segments = l.segments[removed:]
		return nil
	}
	l.segments = l.segments[removed:]
	l.purging.Go(func() {
		l.purgeMu.Lock()
		defer l.purgeMu.Unlock()
		if err := removeSegments(fsys, l.walDir, paths); err != nil {
			l.log.Warn("logstore: removing segments a snapshot covers failed; the next purge tries again after a restart", "err", err)
		}
	})
	return nil
}

// removeSegments removes the segment files at paths, in dir, and makes
// their removal durable.
func removeSegments(fsys fsx.FS, dir string, paths []string) error {
	for _, path := range paths {
		if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("logstore: remove old segment %s: %w", path, err)
		}
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("logstore: sync %s: %w", dir, err)
	}
	return nil
}

// Close closes the log. Everything Save returned for is already durable.
// The raftcore.Storage reads keep working on the in-memory log.
func (l *Log) Close() error {
	l.purging.Wait()
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seg == nil {
		return nil
	}
	err := l.seg.f.Close()
	for _, r := range l.retired {
		_ = r.Close()
	}
	l.closeReadersLocked()
	l.seg, l.retired = nil, nil
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

// Snapshot implements raftcore.Storage: the newest snapshot, from memory
// (a snapshot is only metadata and a little data, so the log keeps it).
func (l *Log) Snapshot() (raftcore.Snapshot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mem.Snapshot()
}
