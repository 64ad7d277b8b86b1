package replica

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cairndb/cairn/btreekv/pagefile"
	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/raftcore"
)

// A member whose store's page file is corrupt (a page fails its checksum:
// pagefile.ErrCorrupt) repairs itself from the cluster instead of
// refusing to start. The store is derived data — the state machine after
// the committed entries up to its consistent index — and the log, checked
// apart from it, holds the member's promises: a member whose log is whole
// broke no promise, and needs only a state machine at a committed index M
// at or past its log's snapshot index N (the entries before N are
// compacted away, so its own log cannot rebuild one).
//
// The repair runs in Open, before the core starts, when the store fails
// to open with ErrCorrupt or a marker file says that an earlier run found
// a corrupt page (MarkStoreCorrupt) or that a repair did not finish:
//
//  1. The marker is written (fsynced) if it is not there yet, so that a
//     crash during the repair repairs again at the next start.
//  2. The page file is set aside, renamed into the corrupt directory as
//     db.<unix-time>, and the directories fsynced.
//  3. StoreRepair.Fetch gets a committed copy of the store from the
//     cluster (the server asks its leader); a copy below N is refused.
//  4. The copy is written beside the store and fsynced. If M is past the
//     log's last index, the log records a snapshot at M
//     (Log.ApplySnapshot: it then holds nothing before M, and its commit
//     index rises to M, which is committed); otherwise the core replays
//     the log's entries after M, as after any restart. The copy is
//     renamed over the store and the directory fsynced; once the store
//     opens at index M, the marker is removed.
//
// Entries the log holds at or below M are skipped when raft replays them
// (the state machine holds them), so entries of the log past its commit
// index that the leader later overwrites do no harm: the copy is the
// cluster's state at M.

// ErrStoreCopyTooOld refuses a copy of the store older than the log's
// snapshot: installing it would leave the entries between the two
// nowhere (the log compacted them away).
var ErrStoreCopyTooOld = errors.New("node: the store copy is older than the log's snapshot")

// StoreCopy is a committed copy of a member's store, as another member
// sends it: the snapshot metadata of its index (term, and the membership
// there), its size, and its data, which must report damaged or
// incomplete data as an error, not io.EOF.
type StoreCopy struct {
	Meta raftcore.SnapshotMetadata
	Size int64
	Data io.Reader
}

// StoreNeed is what a member that repairs its store needs: a copy at an
// index at least MinIndex (its log's snapshot), and why it needs one.
// Members are the voters and learners of the log's snapshot: the members
// its store knew then, whose ids its peers' handshakes need. Raft is the
// log's hard state: the term and the commit index the raft core starts
// from once the store is back, which the member reports meanwhile.
type StoreNeed struct {
	MinIndex uint64
	Reason   string
	Members  []uint64
	Raft     raftcore.HardState
}

// StoreRepair says how a member repairs a corrupt store (Config.StoreRepair).
type StoreRepair struct {
	// Marker is the file that records durably that the store must be
	// repaired, and why.
	Marker string
	// CorruptDir is where corrupt page files are kept, for forensics.
	CorruptDir string
	// Now names a page file set aside (time.Now if nil).
	Now func() time.Time
	// Fetch gets a committed copy of the store at an index at least
	// need.MinIndex from the cluster and hands it to take, which installs
	// it; Fetch may retry (take again) when take fails. Open fails with
	// Fetch's error.
	Fetch func(need StoreNeed, take func(StoreCopy) error) error
	// Quarantined, if set, is told of each corrupt page file set aside:
	// where it is now, and why.
	Quarantined func(file, reason string)
	// Installed, if set, is told of the copy installed (its metadata).
	Installed func(meta raftcore.SnapshotMetadata)
	// UnsafeAnyIndex is for mutation testing only: a copy older than the
	// log's snapshot is installed. Never set it in production.
	UnsafeAnyIndex bool
}

// IsStoreCorrupt reports whether err reports a corrupt page of the store.
func IsStoreCorrupt(err error) bool { return errors.Is(err, pagefile.ErrCorrupt) }

// MarkStoreCorrupt records durably, in the marker file, that the store
// must be repaired at the next start, and why: a member that finds a
// corrupt page while running writes it, then stops.
func MarkStoreCorrupt(fsys fsx.FS, marker, reason string) error {
	if fsys == nil {
		fsys = fsx.OS{}
	}
	tmp := marker + partExt
	err := func() error {
		f, err := fsx.Create(fsys, tmp)
		if err != nil {
			return err
		}
		_, err = f.Write([]byte(strings.TrimSpace(reason) + "\n"))
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = fsys.Rename(tmp, marker)
		}
		if err == nil {
			err = fsys.SyncDir(filepath.Dir(marker))
		}
		return err
	}()
	if err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("node: mark the store corrupt in %s: %w", marker, err)
	}
	return nil
}

// StoreRepairPending returns why the store must be repaired at the next
// start (the marker's text), or "" if it need not be.
func StoreRepairPending(fsys fsx.FS, marker string) (string, error) {
	if fsys == nil {
		fsys = fsx.OS{}
	}
	f, err := fsx.Open(fsys, marker)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("node: read %s: %w", marker, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("node: read %s: %w", marker, err)
	}
	if reason := strings.TrimSpace(string(b)); reason != "" {
		return reason, nil
	}
	return "a repair of the store did not finish", nil
}

// storeMissing says why the store must be repaired when its page file is
// gone while the log starts after a snapshot (so the store existed, and
// the log alone cannot rebuild it), or "".
func storeMissing(cfg Config, log RaftLog) (string, error) {
	fsys := cfg.Store.FS
	if fsys == nil {
		fsys = fsx.OS{}
	}
	if _, err := fsys.Stat(cfg.StorePath); !errors.Is(err, fs.ErrNotExist) {
		return "", nil // there, or the open will say what is wrong
	}
	snap, err := log.Snapshot()
	if err != nil {
		return "", fmt.Errorf("node: read the log's snapshot: %w", err)
	}
	if snap.Metadata.Index == 0 {
		return "", nil // a new member: its log holds every entry
	}
	return fmt.Sprintf("the store's page file %s is missing, and the log holds no entry up to its snapshot at index %d", cfg.StorePath, snap.Metadata.Index), nil
}

// repairStore replaces the store, whose page file is corrupt (reason),
// with a committed copy from the cluster, at or past the log's snapshot
// (the steps are at the top of this file). The store is not open.
func repairStore(cfg Config, log RaftLog, reason string) (got raftcore.SnapshotMetadata, err error) {
	rep, fsys := cfg.StoreRepair, cfg.Store.FS
	if fsys == nil {
		fsys = fsx.OS{}
	}
	if err := MarkStoreCorrupt(fsys, rep.Marker, reason); err != nil {
		return got, err
	}
	if err := quarantineStore(fsys, cfg.StorePath, rep, reason); err != nil {
		return got, err
	}
	snap, err := log.Snapshot()
	if err != nil {
		return got, fmt.Errorf("node: repair the store: read the log's snapshot: %w", err)
	}
	hs, _, err := log.InitialState()
	if err != nil {
		return got, fmt.Errorf("node: repair the store: read the log's hard state: %w", err)
	}
	n := snap.Metadata.Index
	part := cfg.StorePath + ".repair" + partExt
	cs := snap.Metadata.ConfState
	need := StoreNeed{MinIndex: n, Reason: reason, Members: append(slices.Clone(cs.Voters), cs.Learners...), Raft: hs}
	err = rep.Fetch(need, func(c StoreCopy) error {
		if c.Meta.Index < n && !rep.UnsafeAnyIndex {
			return fmt.Errorf("%w: a copy at index %d, the log's snapshot is at %d", ErrStoreCopyTooOld, c.Meta.Index, n)
		}
		if err := writeDurably(fsys, part, c.Size, c.Data); err != nil {
			_ = fsys.Remove(part)
			return fmt.Errorf("node: receive the store copy at index %d into %s: %w", c.Meta.Index, part, err)
		}
		got = c.Meta
		return nil
	})
	if err != nil {
		return got, fmt.Errorf("node: repair the store: %w", err)
	}
	last, err := log.LastIndex()
	if err != nil {
		return got, fmt.Errorf("node: repair the store: read the log's last index: %w", err)
	}
	if got.Index > last {
		// The log holds nothing the copy does not: it starts after it.
		if err := log.ApplySnapshot(raftcore.Snapshot{Metadata: got}); err != nil {
			return got, fmt.Errorf("node: repair the store: record the copy at index %d in the log: %w", got.Index, err)
		}
	}
	if err := fsys.Rename(part, cfg.StorePath); err != nil {
		return got, fmt.Errorf("node: repair the store: install the copy %s: %w", part, err)
	}
	if err := fsys.SyncDir(filepath.Dir(cfg.StorePath)); err != nil {
		return got, fmt.Errorf("node: repair the store: %w", err)
	}
	return got, nil
}

// endStoreRepair removes the marker once the copy is installed and found
// at the index it was sent as.
func endStoreRepair(fsys fsx.FS, marker string) error {
	if fsys == nil {
		fsys = fsx.OS{}
	}
	if err := fsys.Remove(marker); err != nil {
		return fmt.Errorf("node: repair the store: remove %s: %w", marker, err)
	}
	if err := fsys.SyncDir(filepath.Dir(marker)); err != nil {
		return fmt.Errorf("node: repair the store: %w", err)
	}
	return nil
}

// quarantineStore sets the corrupt page file aside (if a crash did not
// already), as CorruptDir/db.<unix-time>.
func quarantineStore(fsys fsx.FS, store string, rep *StoreRepair, reason string) error {
	if _, err := fsys.Stat(store); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("node: repair the store: %w", err)
	}
	if err := fsys.MkdirAll(rep.CorruptDir, fsx.DirPerm); err != nil {
		return fmt.Errorf("node: repair the store: %w", err)
	}
	now := time.Now
	if rep.Now != nil {
		now = rep.Now
	}
	base := filepath.Join(rep.CorruptDir, fmt.Sprintf("%s.%d", filepath.Base(store), now().Unix()))
	dst := base
	for i := 1; ; i++ {
		if _, err := fsys.Stat(dst); errors.Is(err, fs.ErrNotExist) {
			break
		}
		dst = fmt.Sprintf("%s.%d", base, i)
	}
	if err := fsys.Rename(store, dst); err != nil {
		return fmt.Errorf("node: repair the store: set the corrupt page file aside: %w", err)
	}
	for _, dir := range []string{rep.CorruptDir, filepath.Dir(store)} {
		if err := fsys.SyncDir(dir); err != nil {
			return fmt.Errorf("node: repair the store: %w", err)
		}
	}
	if rep.Quarantined != nil {
		rep.Quarantined(dst, reason)
	}
	return nil
}

// writeDurably writes size bytes from r to the file name, fsynced.
func writeDurably(fsys fsx.FS, name string, size int64, r io.Reader) error {
	f, err := fsx.Create(fsys, name)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, r)
	if err == nil && n != size {
		err = fmt.Errorf("received %d bytes, %d were announced", n, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ErrNotLeader refuses a request that only the leader serves.
var ErrNotLeader = errors.New("node: this member is not the leader")

// OpenStoreCopy opens a copy of the state machine for a member that
// repairs its store: its metadata (the index applied, its term, and the
// membership there) and its data, which the caller closes. Only the
// leader gives one, and not while it is under a repair of its own: the
// leader applies only entries it knows committed, so the copy is
// committed. Call it on the core's goroutine, between steps
// (Driver.Inspect).
func (c *Core) OpenStoreCopy() (raftcore.SnapshotMetadata, SnapshotSource, error) {
	var meta raftcore.SnapshotMetadata
	switch {
	case c.err != nil:
		return meta, nil, c.err
	case c.role != raftcore.StateLeader:
		return meta, nil, ErrNotLeader
	case c.Damaged():
		return meta, nil, fmt.Errorf("node: the leader is under repair itself: %s", c.Repair())
	}
	src, err := c.sm.OpenSnapshot()
	if err != nil {
		return meta, nil, fmt.Errorf("node: open a store copy: %w", err)
	}
	if src.Index() != c.applied {
		_ = src.Close()
		return meta, nil, fmt.Errorf("node: open a store copy: the state machine's copy is at index %d, the member applied %d", src.Index(), c.applied)
	}
	meta = raftcore.SnapshotMetadata{Index: src.Index(), Term: src.Term(),
		ConfState: raftcore.ConfState{Voters: slices.Clone(c.confState.Voters), Learners: slices.Clone(c.confState.Learners)}}
	return meta, src, nil
}
