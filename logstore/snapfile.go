package logstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/raftcore"
)

// A snapshot file, %016x-%016x.snap (term, index), holds one encoded
// raftcore.Snapshot:
//
//	magic   [8]byte "CAIRNSNP"
//	version uint32  little endian
//	crc     uint32  little endian: CRC-32C of the payload
//	length  uint64  little endian: payload bytes
//	payload raftcore.AppendSnapshot encoding
//
// The snapshot is its metadata (index, term, membership) and at most
// MaxSnapshotData bytes of the application's: never a copy of the state
// machine, which keeps its own data durably with the index it covers, and
// which the server streams from the store itself when a follower needs it.
// Version 1 files, written by cairn before that change, held a whole copy
// of the store; this build refuses them with a clear error rather than
// taking their data for something else.
//
// It is written to a temporary file, fsynced, renamed into place and the
// directory fsynced, so a crash leaves either the old set of snapshots or
// the new one, never a half-written file under a real name.

const (
	snapMagic   = "CAIRNSNP"
	snapVersion = 2
	// snapVersionWithStore is the old format whose data was a copy of the
	// store.
	snapVersionWithStore = 1
	snapHeaderSize       = 24
	snapExt              = ".snap"
)

// MaxSnapshotData bounds the application data a snapshot may carry: a
// snapshot records where the state machine stands, not the state itself.
const MaxSnapshotData = 1 << 20

// errSnapshotWithStore is the error for a snapshot file of the old format,
// which held a copy of the store: recovery stops on it rather than falling
// back to an older snapshot (all of that data dir's are of that format).
var errSnapshotWithStore = fmt.Errorf("%w: format version %d, written by an older cairn, holds a copy of the store; this build keeps only metadata in snapshots (version %d) and cannot read this data dir: start the member from a new one (restore a `ctl snapshot save` backup, or let it rejoin)",
	ErrBadFormat, snapVersionWithStore, snapVersion)

type snapInfo struct {
	term, index uint64
	name        string
}

func snapName(term, index uint64) string {
	return fmt.Sprintf("%016x-%016x%s", term, index, snapExt)
}

func parseSnapName(name string) (snapInfo, bool) {
	if !strings.HasSuffix(name, snapExt) || len(name) != 16+1+16+len(snapExt) {
		return snapInfo{}, false
	}
	var s snapInfo
	if _, err := fmt.Sscanf(name, "%016x-%016x.snap", &s.term, &s.index); err != nil {
		return snapInfo{}, false
	}
	s.name = name
	return s, true
}

func encodeSnapFile(s raftcore.Snapshot) []byte {
	payload := raftcore.AppendSnapshot(make([]byte, snapHeaderSize, snapHeaderSize+len(s.Data)+64), s)
	h := payload[:snapHeaderSize]
	copy(h, snapMagic)
	binary.LittleEndian.PutUint32(h[8:], snapVersion)
	binary.LittleEndian.PutUint32(h[12:], crc32.Checksum(payload[snapHeaderSize:], crcTable))
	binary.LittleEndian.PutUint64(h[16:], uint64(len(payload)-snapHeaderSize))
	return payload
}

func decodeSnapFile(path string, b []byte) (raftcore.Snapshot, error) {
	if len(b) < snapHeaderSize {
		return raftcore.Snapshot{}, fmt.Errorf("logstore: snapshot %s: %w: %d bytes, shorter than the header", path, ErrCorrupt, len(b))
	}
	if !bytes.Equal(b[:8], []byte(snapMagic)) {
		return raftcore.Snapshot{}, fmt.Errorf("logstore: snapshot %s: %w: not a cairn snapshot file", path, ErrBadFormat)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v == snapVersionWithStore {
		return raftcore.Snapshot{}, fmt.Errorf("logstore: snapshot %s: %w", path, errSnapshotWithStore)
	} else if v != snapVersion {
		return raftcore.Snapshot{}, fmt.Errorf("logstore: snapshot %s: %w: format version %d, this build reads %d", path, ErrBadFormat, v, snapVersion)
	}
	n := binary.LittleEndian.Uint64(b[16:])
	if n != uint64(len(b)-snapHeaderSize) {
		return raftcore.Snapshot{}, fmt.Errorf("logstore: snapshot %s: %w: header says %d payload bytes, file has %d", path, ErrCorrupt, n, len(b)-snapHeaderSize)
	}
	payload := b[snapHeaderSize:]
	if want, got := binary.LittleEndian.Uint32(b[12:]), crc32.Checksum(payload, crcTable); want != got {
		return raftcore.Snapshot{}, fmt.Errorf("logstore: snapshot %s: %w: checksum %08x, expected %08x", path, ErrCorrupt, got, want)
	}
	var s raftcore.Snapshot
	if err := s.UnmarshalBinary(payload); err != nil {
		return raftcore.Snapshot{}, fmt.Errorf("logstore: snapshot %s: %w: %v", path, ErrCorrupt, err)
	}
	return s, nil
}

// writeSnapFile saves s durably and atomically under its final name.
func writeSnapFile(fsys fsx.FS, dir string, s raftcore.Snapshot) (snapInfo, error) {
	info, err := writeSnapTemp(fsys, dir, s)
	if err != nil {
		return snapInfo{}, err
	}
	return info, publishSnap(fsys, dir, info)
}

// writeSnapTemp writes s to its temporary name and fsyncs it; publishSnap
// then gives it its real name. Between the two, the snapshot exists only
// as a temporary file, which recovery deletes unless the WAL holds a
// marker for it (see Log.ApplySnapshot).
func writeSnapTemp(fsys fsx.FS, dir string, s raftcore.Snapshot) (snapInfo, error) {
	info := snapInfo{term: s.Metadata.Term, index: s.Metadata.Index, name: snapName(s.Metadata.Term, s.Metadata.Index)}
	tmp := filepath.Join(dir, info.name+tmpExt)
	err := func() error {
		f, err := fsx.Create(fsys, tmp)
		if err != nil {
			return err
		}
		if _, err := f.Write(encodeSnapFile(s)); err != nil {
			_ = f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		// The temporary file's name must be durable too: an install's
		// WAL marker may refer to it (see Log.ApplySnapshot).
		return fsys.SyncDir(dir)
	}()
	if err != nil {
		return snapInfo{}, fmt.Errorf("logstore: write snapshot %s: %w", tmp, err)
	}
	return info, nil
}

// publishSnap renames a snapshot's temporary file to its real name and
// makes the rename durable.
func publishSnap(fsys fsx.FS, dir string, info snapInfo) error {
	path := filepath.Join(dir, info.name)
	if err := fsys.Rename(path+tmpExt, path); err != nil {
		return fmt.Errorf("logstore: publish snapshot %s: %w", path, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("logstore: publish snapshot %s: sync %s: %w", path, dir, err)
	}
	return nil
}

// loadSnapFile reads and checks the snapshot file at path, which must hold
// the snapshot its name says.
func loadSnapFile(fsys fsx.FS, path string, want snapInfo) (raftcore.Snapshot, error) {
	b, err := readWhole(fsys, path)
	if err != nil {
		return raftcore.Snapshot{}, fmt.Errorf("logstore: read snapshot %s: %w", path, err)
	}
	snap, err := decodeSnapFile(path, b)
	if err != nil {
		return raftcore.Snapshot{}, err
	}
	if snap.Metadata.Index != want.index || snap.Metadata.Term != want.term {
		return raftcore.Snapshot{}, fmt.Errorf("logstore: snapshot %s: %w: holds term %d index %d", path, ErrCorrupt, snap.Metadata.Term, snap.Metadata.Index)
	}
	return snap, nil
}

// listSnaps returns the snapshot files in dir, oldest first, and the
// snapshots that exist only as temporary files (a crash interrupted their
// writing or their installation).
func listSnaps(fsys fsx.FS, dir string) (snaps, temps []snapInfo, err error) {
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("logstore: list snapshots in %s: %w", dir, err)
	}
	var out []snapInfo
	for _, n := range names {
		if base, ok := strings.CutSuffix(n, tmpExt); ok {
			if s, ok := parseSnapName(base); ok {
				temps = append(temps, s)
			} else {
				_ = fsys.Remove(filepath.Join(dir, n)) // not ours to keep
			}
			continue
		}
		if s, ok := parseSnapName(n); ok {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b snapInfo) int {
		if a.index != b.index {
			return cmpUint(a.index, b.index)
		}
		return cmpUint(a.term, b.term)
	})
	return out, temps, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
