package logstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/raftcore"
)

// A segment file is a header followed by records, preallocated with zeros
// so that appends do not change the file size (an fsync of data alone is
// cheaper than one that also changes the size):
//
//	magic   [8]byte "CAIRNWAL"
//	version uint32  little endian
//	size    uint32  little endian: the preallocated size (0: unknown, or
//	                4 GiB and more)
//	records ...
//	zeros   ... (the preallocated, unwritten rest)
//
// The file is preallocated and fsynced before it is renamed into place and
// never shrinks, so a crash cannot make it shorter than its size: a shorter
// one lost its tail to something else (recovery reports it as damage).
// Segments written before the size was recorded have 0 there.
//
// Its name, %016x-%016x.wal, is its sequence number and the index of the
// first entry it may hold.

const (
	segmentMagic      = "CAIRNWAL"
	segmentVersion    = 1
	segmentHeaderSize = 16
	segmentExt        = ".wal"
	tmpExt            = ".tmp"
)

func segmentName(seq, firstIndex uint64) string {
	return fmt.Sprintf("%016x-%016x%s", seq, firstIndex, segmentExt)
}

// ParseSegmentName returns the sequence and first index of a segment
// file name (its base name, as a Damage's File ends), or ok=false if
// name is not one.
func ParseSegmentName(name string) (seq, firstIndex uint64, ok bool) {
	return parseSegmentName(name)
}

// parseSegmentName returns the sequence and first index of a segment
// file name, or ok=false if name is not one.
func parseSegmentName(name string) (seq, firstIndex uint64, ok bool) {
	if !strings.HasSuffix(name, segmentExt) || len(name) != 16+1+16+len(segmentExt) {
		return 0, 0, false
	}
	if _, err := fmt.Sscanf(name, "%016x-%016x.wal", &seq, &firstIndex); err != nil {
		return 0, 0, false
	}
	return seq, firstIndex, true
}

// segmentHeader is the header of a segment preallocated to size bytes.
func segmentHeader(size int64) []byte {
	h := make([]byte, segmentHeaderSize)
	copy(h, segmentMagic)
	binary.LittleEndian.PutUint32(h[8:], segmentVersion)
	if size < 1<<32 {
		binary.LittleEndian.PutUint32(h[12:], uint32(size))
	}
	return h
}

// checkSegmentHeader validates a segment's first bytes (the caller has
// checked that there are enough of them) and returns the size the segment
// was preallocated to (0: not recorded).
func checkSegmentHeader(path string, h []byte) (int64, error) {
	if !bytes.Equal(h[:8], []byte(segmentMagic)) {
		return 0, fmt.Errorf("logstore: %s: %w: not a cairn WAL segment (magic %q)", path, ErrBadFormat, h[:8])
	}
	if v := binary.LittleEndian.Uint32(h[8:]); v != segmentVersion {
		return 0, fmt.Errorf("logstore: %s: %w: segment format version %d, this build reads version %d", path, ErrBadFormat, v, segmentVersion)
	}
	return int64(binary.LittleEndian.Uint32(h[12:])), nil
}

// segment is the open segment being appended to.
type segment struct {
	f          fsx.File
	path       string
	seq        uint64
	firstIndex uint64
	size       int64 // preallocated size
	tail       int64 // offset of the next record
}

// createSegment writes a new segment atomically: a temporary file with the
// header and the first records (metadata, hard state), preallocated,
// fsynced, then renamed into place and the directory fsynced.
func createSegment(fsys fsx.FS, dir string, seq, firstIndex uint64, size int64, first []byte) (*segment, error) {
	name := segmentName(seq, firstIndex)
	path := filepath.Join(dir, name)
	tmp := path + tmpExt
	f, err := fsx.Create(fsys, tmp)
	if err != nil {
		return nil, fmt.Errorf("logstore: create segment %s: %w", tmp, err)
	}
	size = max(size, int64(segmentHeaderSize+len(first)))
	content := append(segmentHeader(size), first...)
	err = func() error {
		if err := f.Truncate(size); err != nil {
			return err
		}
		if _, err := f.WriteAt(content, 0); err != nil {
			return err
		}
		return f.Sync()
	}()
	if err == nil {
		err = fsys.Rename(tmp, path)
	}
	if err == nil {
		err = fsys.SyncDir(dir)
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("logstore: create segment %s: %w", path, err)
	}
	return &segment{f: f, path: path, seq: seq, firstIndex: firstIndex, size: size, tail: int64(len(content))}, nil
}

// readWhole reads a whole file.
func readWhole(fsys fsx.FS, path string) ([]byte, error) {
	f, err := fsx.Open(fsys, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, size), b); err != nil {
		return nil, err
	}
	return b, nil
}

// findValidRecord returns the offset of the first valid record that starts
// in b at an offset in [from, limit): used to tell a torn tail (nothing
// valid follows) from damage in the middle of the log.
func findValidRecord(b []byte, from, limit int) (int, bool) {
	for off := from; off < limit && off+recordHeaderSize < len(b); off++ {
		n := binary.LittleEndian.Uint32(b[off:])
		if n == 0 || n > MaxRecordSize || int(n) > len(b)-off-recordHeaderSize {
			continue
		}
		if _, _, _, err := readRecord(b[off:]); err == nil {
			return off, true
		}
	}
	return 0, false
}

// SegmentRecord describes one record of a WAL segment.
type SegmentRecord struct {
	// Offset is where the record starts in the segment file.
	Offset int64
	// Type is "entries", "hardstate", "snapshot", "metadata" or "seal".
	Type string
	// HardState is a hard state record's content.
	HardState raftcore.HardState
}

// SegmentRecords lists the records at the start of a segment file's
// content b, up to the first that does not check: for tools that inspect
// a log, and for tests that damage one in a chosen place.
func SegmentRecords(b []byte) ([]SegmentRecord, error) {
	if len(b) < segmentHeaderSize {
		return nil, fmt.Errorf("logstore: %w: %d bytes, shorter than a segment header", ErrCorrupt, len(b))
	}
	if _, err := checkSegmentHeader("segment", b); err != nil {
		return nil, err
	}
	var out []SegmentRecord
	for off := segmentHeaderSize; ; {
		t, payload, n, err := readRecord(b[off:])
		if err != nil {
			return out, nil
		}
		r := SegmentRecord{Offset: int64(off), Type: t.String()}
		if t == recHardState {
			if err := r.HardState.UnmarshalBinary(payload); err != nil {
				return out, nil
			}
		}
		out = append(out, r)
		off += n
	}
}
