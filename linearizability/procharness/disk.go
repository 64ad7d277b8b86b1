package procharness

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cairndb/cairn/internal/datadir"
	"github.com/cairndb/cairn/logstore"
	"github.com/cairndb/cairn/raftcore"
)

// Disks that lose data a member acknowledged, which a crash never does:
// the nemesis kills a member, damages its WAL while it is down, and
// restarts it. The member must notice at start (it logs that it lost
// data it had acknowledged) and repair itself from the quorum; only a
// minority may be unrepaired at a time (beyond that, what they promised
// is gone for good), so the nemesis damages a member only while every
// other member reports that it is whole. The simulator has the same
// faults (sim/loss.go); these run them against real processes.

// The disk faults of the nemesis. They are not in FaultKinds: a run
// injects them only when Config.Faults names them (DiskFaultKinds).
const (
	// FaultLoseWALTail cuts the newest WAL segment of a killed member
	// in the middle of a record, from its second record (the hard
	// state every segment starts with) on, then restarts it.
	FaultLoseWALTail FaultKind = "lose-wal-tail"
	// FaultLoseSegment deletes the newest WAL segment of a killed
	// member, then restarts it. It needs two segments: a member whose
	// only segment is gone keeps no record of its identity and cannot
	// start (the README's "keep the WAL on storage that does not lose
	// whole files"), so the nemesis first writes filler values of 1 MiB
	// until the member's log moves to a second segment (segments are
	// 64 MiB).
	FaultLoseSegment FaultKind = "lose-segment"
	// FaultLoseVote truncates the newest WAL segment of a killed member
	// at the record where it saved the term and vote it holds (the
	// first hard state record of that term and vote), so it forgets
	// that vote and everything after, then restarts it.
	FaultLoseVote FaultKind = "lose-vote"
	// FaultFlipBit flips one bit of an entries record in the older half
	// of the newest WAL segment of a killed member (one that valid
	// records follow, so no crash explains it), then restarts it.
	FaultFlipBit FaultKind = "flip-bit"
)

// DiskFaultKinds lists the disk faults.
func DiskFaultKinds() []FaultKind {
	return []FaultKind{FaultLoseWALTail, FaultLoseSegment, FaultLoseVote, FaultFlipBit}
}

// damagesDisk reports whether kind is a disk fault.
func (k FaultKind) damagesDisk() bool { return slices.Contains(DiskFaultKinds(), k) }

// ErrDamageUnnoticed is wrapped by Run's error when a member restarted
// after a disk fault without saying that it lost data.
var ErrDamageUnnoticed = errors.New("member restarted on a damaged WAL and did not notice")

// ErrNotRepaired is wrapped by Run's error when a member still reports a
// repair under way (or cannot be asked) at the end of the run.
var ErrNotRepaired = errors.New("member not repaired at the end of the run")

// errNotApplicable says a disk fault cannot be applied to the member's
// WAL as it is; the nemesis restarts the member undamaged.
var errNotApplicable = errors.New("not applicable")

// damageNoticedLine starts what a member logs when it starts on a log
// that lost acknowledged data and begins to repair itself (node's
// onRepairChange). logstore's own warning about the damage is not
// enough: the member must also act on it.
const damageNoticedLine = "the member lost data it had acknowledged and repairs itself"

// walSegmentDir is the directory of a member's WAL segments: logstore
// keeps them in wal/ under the log's directory, the data dir's
// member/wal.
func walSegmentDir(dataDir string) string {
	return filepath.Join(dataDir, datadir.MemberDir, datadir.WALDir, "wal")
}

// walSegments lists the WAL segments in dir, oldest first (their names
// start with the sequence number in fixed-width hex).
func walSegments(dir string) ([]string, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil {
		return nil, fmt.Errorf("procharness: list %s: %w", dir, err)
	}
	slices.Sort(names)
	return names, nil
}

// damageWAL applies disk fault kind to the WAL segments in dir (the
// member is down) and says what it did. It returns an error wrapping
// errNotApplicable when the WAL does not lend itself to the fault.
func damageWAL(kind FaultKind, dir string, rng *rand.Rand) (string, error) {
	segs, err := walSegments(dir)
	if err != nil {
		return "", err
	}
	if len(segs) == 0 {
		return "", fmt.Errorf("procharness: %w: no WAL segment in %s", errNotApplicable, dir)
	}
	newest := segs[len(segs)-1]
	switch kind {
	case FaultLoseSegment:
		if len(segs) < 2 {
			return "", fmt.Errorf("procharness: %w: %s is the only segment; without it the member keeps no log at all", errNotApplicable, newest)
		}
		if err := os.Remove(newest); err != nil {
			return "", fmt.Errorf("procharness: %w", err)
		}
		if err := syncDir(dir); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s deleted (of %d segments)", filepath.Base(newest), len(segs)), nil
	case FaultLoseWALTail, FaultLoseVote, FaultFlipBit:
	default:
		return "", fmt.Errorf("procharness: %q is not a disk fault", kind)
	}
	b, err := os.ReadFile(newest)
	if err != nil {
		return "", fmt.Errorf("procharness: %w", err)
	}
	recs, err := logstore.SegmentRecords(b)
	if err != nil {
		return "", fmt.Errorf("procharness: %s: %w", newest, err)
	}
	name := filepath.Base(newest)
	switch kind {
	case FaultLoseWALTail:
		if len(recs) < 2 {
			return "", fmt.Errorf("procharness: %w: %s holds %d records", errNotApplicable, name, len(recs))
		}
		i := 1 + rng.IntN(len(recs)-1)
		off, size := recs[i].Offset, recordSize(b, recs[i].Offset)
		at := off + 1 + rng.Int64N(size-1)
		if err := truncateFile(newest, at); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s cut at byte %d, inside record %d of %d (%s, bytes %d-%d)",
			name, at, i+1, len(recs), recs[i].Type, off, off+size), nil
	case FaultLoseVote:
		at, hs, ok := voteRecord(recs)
		if !ok {
			return "", fmt.Errorf("procharness: %w: %s holds no hard state record", errNotApplicable, name)
		}
		if err := truncateFile(newest, at); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s cut at byte %d, where it recorded its vote for %x in term %d", name, at, hs.Vote, hs.Term), nil
	default: // FaultFlipBit
		// Entries records that valid records follow, the older half.
		var candidates []int
		for i, r := range recs[:len(recs)-1] {
			if r.Type == "entries" {
				candidates = append(candidates, i)
			}
		}
		if len(candidates) == 0 {
			return "", fmt.Errorf("procharness: %w: %s holds no entries record with records after it", errNotApplicable, name)
		}
		i := candidates[rng.IntN(max(1, len(candidates)/2))]
		off, size := recs[i].Offset, recordSize(b, recs[i].Offset)
		at, bit := off+rng.Int64N(size), rng.IntN(8)
		if err := flipBit(newest, at, bit); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s: bit %d of byte %d flipped, in record %d of %d (entries, bytes %d-%d)",
			name, bit, at, i+1, len(recs), off, off+size), nil
	}
}

// recordSize returns the size of the valid record at off in a segment's
// content b: its header, then the length the header gives.
func recordSize(b []byte, off int64) int64 {
	const headerSize = 8 // length and CRC, 4 bytes each (logstore's record format)
	return headerSize + int64(binary.LittleEndian.Uint32(b[off:]))
}

// voteRecord returns the offset of the first hard state record, among a
// segment's records, of the term and vote its last one holds (hs): where
// the member recorded the vote it holds now (or, when the segment holds
// no older one, where the segment starts recording it).
func voteRecord(recs []logstore.SegmentRecord) (off int64, hs raftcore.HardState, ok bool) {
	var hss []logstore.SegmentRecord
	for _, r := range recs {
		if r.Type == "hardstate" {
			hss = append(hss, r)
		}
	}
	if len(hss) == 0 {
		return 0, hs, false
	}
	hs = hss[len(hss)-1].HardState
	i := len(hss) - 1
	for i > 0 && hss[i-1].HardState.Term == hs.Term && hss[i-1].HardState.Vote == hs.Vote {
		i--
	}
	return hss[i].Offset, hs, true
}

// truncateFile cuts file name to size bytes, durably.
func truncateFile(name string, size int64) error {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("procharness: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("procharness: truncate %s to %d: %w", name, size, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("procharness: sync %s: %w", name, err)
	}
	return nil
}

// flipBit flips bit (0-7) of the byte at off in file name, durably.
func flipBit(name string, off int64, bit int) error {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("procharness: %w", err)
	}
	defer f.Close()
	var c [1]byte
	if _, err := f.ReadAt(c[:], off); err != nil {
		return fmt.Errorf("procharness: read byte %d of %s: %w", off, name, err)
	}
	c[0] ^= 1 << bit
	if _, err := f.WriteAt(c[:], off); err != nil {
		return fmt.Errorf("procharness: write byte %d of %s: %w", off, name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("procharness: sync %s: %w", name, err)
	}
	return nil
}

// syncDir fsyncs a directory, making a removal in it durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("procharness: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("procharness: sync %s: %w", dir, err)
	}
	return nil
}

// logSize returns the size of a member's log file (0 when it has none).
func logSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// logSaysSince reports whether the member log at path says line after
// byte offset from.
func logSaysSince(path string, from int64, line string) bool {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < from {
		return false
	}
	return strings.Contains(string(b[from:]), line)
}
