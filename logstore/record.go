package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// A record is the unit of the log:
//
//	length  uint32  little endian: bytes of type + payload
//	crc     uint32  little endian: CRC-32C (Castagnoli) of type + payload
//	type    uint8
//	payload [length-1]byte
//
// The length comes first so a reader knows how much to read; the CRC
// covers everything after itself, so a torn write (a record cut short, or
// garbage where a record should be) never passes for a record.

// recordType says what a record's payload holds.
type recordType uint8

const (
	// recEntries holds raft entries: count, then each encoded entry.
	recEntries recordType = iota + 1
	// recHardState holds a raft HardState.
	recHardState
	// recSnapshot marks that a snapshot (term, index) was saved: entries
	// at or below its index are covered by the snapshot file.
	recSnapshot
	// recMetadata holds the log's identity; the first record of every
	// segment.
	recMetadata
	// recSeal ends a segment the log moved past: it names the sequence
	// number of the next one, which existed (durably) before the seal
	// was written. A last segment that is sealed lost its successor.
	recSeal
)

func (t recordType) String() string {
	switch t {
	case recEntries:
		return "entries"
	case recHardState:
		return "hardstate"
	case recSnapshot:
		return "snapshot"
	case recMetadata:
		return "metadata"
	case recSeal:
		return "seal"
	}
	return fmt.Sprintf("recordType(%d)", uint8(t))
}

const recordHeaderSize = 8

// MaxRecordSize bounds a record's length (type + payload), so that a
// corrupt length field cannot make the reader allocate gigabytes.
const MaxRecordSize = 64 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errTorn says the bytes at an offset are not a whole valid record; at the
// tail of the last segment that is a torn write, anywhere else corruption.
var errTorn = errors.New("torn or corrupt record")

// appendRecord appends a record of type t with the payload built by fill
// (which appends to the buffer it is given) — no intermediate copy.
func appendRecord(b []byte, t recordType, fill func([]byte) []byte) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0, byte(t))
	b = fill(b)
	body := b[start+recordHeaderSize:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(body, crcTable))
	return b
}

// readRecord decodes the record at the front of b. It returns the type,
// the payload (aliasing b) and the record's total size. A header of zeros
// (preallocated, never written space) is reported as errEnd.
func readRecord(b []byte) (recordType, []byte, int, error) {
	if len(b) < recordHeaderSize {
		if allZero(b) {
			return 0, nil, 0, errEnd
		}
		return 0, nil, 0, fmt.Errorf("%w: %d bytes, shorter than a record header", errTorn, len(b))
	}
	n := binary.LittleEndian.Uint32(b)
	if n == 0 {
		if allZero(b[:recordHeaderSize]) {
			return 0, nil, 0, errEnd
		}
		return 0, nil, 0, fmt.Errorf("%w: zero length with a non-zero checksum", errTorn)
	}
	if n > MaxRecordSize {
		return 0, nil, 0, fmt.Errorf("%w: length %d exceeds the maximum %d", errTorn, n, MaxRecordSize)
	}
	if uint64(n) > uint64(len(b)-recordHeaderSize) {
		return 0, nil, 0, fmt.Errorf("%w: length %d exceeds the %d bytes left", errTorn, n, len(b)-recordHeaderSize)
	}
	body := b[recordHeaderSize : recordHeaderSize+int(n)]
	if want, got := binary.LittleEndian.Uint32(b[4:]), crc32.Checksum(body, crcTable); want != got {
		return 0, nil, 0, fmt.Errorf("%w: checksum %08x, expected %08x", errTorn, got, want)
	}
	t := recordType(body[0])
	if t < recEntries || t > recSeal {
		return 0, nil, 0, fmt.Errorf("%w: unknown record type %d", errTorn, t)
	}
	return t, body[1:], recordHeaderSize + int(n), nil
}

// errEnd marks the end of the written part of a segment (zeros follow).
var errEnd = errors.New("end of records")

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
