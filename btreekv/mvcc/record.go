package mvcc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/pagefile"
	"github.com/cairndb/cairn/internal/wire"
)

// encodeRecord encodes one change as the page file keeps it, under its
// revision in the "key" bucket:
//
//	flag ('p' put, 't' tombstone) | key length | key | create revision |
//	mod revision | version | lease | value length | value
//
// (lengths as uvarints; revisions, version and lease as varints).
func encodeRecord(kv api.KeyValue, tomb bool) []byte {
	flag := byte(flagPut)
	if tomb {
		flag = flagTombstone
	}
	b := make([]byte, 0, 1+len(kv.Key)+len(kv.Value)+32)
	b = append(b, flag)
	b = wire.AppendBytes(b, kv.Key)
	b = wire.AppendVarint(b, kv.CreateRevision)
	b = wire.AppendVarint(b, kv.ModRevision)
	b = wire.AppendVarint(b, kv.Version)
	b = wire.AppendVarint(b, kv.Lease)
	return wire.AppendBytes(b, kv.Value)
}

// recordKey returns the key of n bytes inside an encoded record.
func recordKey(rec []byte, n int) []byte {
	off := 1 + wire.UvarintLen(uint64(n))
	return rec[off : off+n : off+n]
}

// recordValue returns the value inside an encoded record of value (nil
// if value is nil).
func recordValue(rec, value []byte) []byte {
	if value == nil {
		return nil
	}
	return rec[len(rec)-len(value):]
}

// Values of at least separateValueMin bytes are stored out of line: the
// "key" bucket keeps the record without its value, with flag 'v' and,
// where the value was, its length and CRC-32C:
//
//	'v' | key length | key | create revision | mod revision | version |
//	lease | value length | crc32c of the value (4 bytes, big endian)
//
// and the value itself is in the "value" bucket under the same revision.
// So the records stay small whatever the values: a restart rebuilds the
// index reading the records alone, not every value the store holds, and
// a read of a few keys' metadata (keys only, counts) touches no value.
// The two are written in the same page-file transaction. The in-memory
// records (the open batch's overlay) are always whole ('p').
const separateValueMin = 2048

// storedForm returns what the page file keeps of a whole record rec: rec
// itself, or for a put of a value of at least minValue bytes (> 0) the
// record head (flag 'v') and the value (aliasing rec).
func storedForm(rec []byte, minValue int) (head, value []byte, err error) {
	if len(rec) < minValue || rec[0] != flagPut {
		return rec, nil, nil
	}
	kv, _, err := parseRecord(rec)
	if err != nil || len(kv.Value) < max(minValue, 1) {
		return rec, nil, err
	}
	head = make([]byte, 0, len(rec)-len(kv.Value)+4)
	head = append(head, rec[:len(rec)-len(kv.Value)]...)
	head[0] = flagSeparate
	head = binary.BigEndian.AppendUint32(head, crc32.Checksum(kv.Value, castagnoli))
	return head, kv.Value, nil
}

// A value of at least Options.MinLogValue bytes that the store was given
// as a slice of the raft entry it applies (LogValues.Place) is not copied
// into the page file at all: the "key" bucket keeps the record head with
// flag 'l', the value's length and CRC-32C as in a 'v' record, and where
// the value lies in the raft log:
//
//	'l' | key length | key | create revision | mod revision | version |
//	lease | value length | crc32c of the value (4 bytes, big endian) |
//	log segment | offset in the segment
//
// (the segment's sequence number and the offset as uvarints), and the
// "logrefs" bucket a reference to the place, written and deleted in the
// same page-file transactions as the record (logvalues.go). A read checks
// the bytes it finds there against the length and CRC: a lost or damaged
// segment is reported as corruption, never served.

// logHead returns the stored form of a put record rec whose value (its
// last n bytes) lies in the raft log at place: the record without its
// value, with flag 'l', the value's CRC-32C and the place.
func logHead(rec []byte, n int, place LogPlace) []byte {
	value := rec[len(rec)-n:]
	head := make([]byte, 0, len(rec)-n+4+2*binary.MaxVarintLen64)
	head = append(head, rec[:len(rec)-n]...)
	head[0] = flagLogValue
	head = binary.BigEndian.AppendUint32(head, crc32.Checksum(value, castagnoli))
	head = wire.AppendUvarint(head, place.Segment)
	return wire.AppendUvarint(head, uint64(place.Offset))
}

// readStored decodes a record as the page file keeps it (rec, under
// revision rev in rtx's "key" bucket), reading its value, unless
// keysOnly, from the "value" bucket if it is stored out of line, or
// through log if it lies in the raft log. A value that is missing or
// differs from what its record says (length, CRC-32C) is an error
// wrapping pagefile.ErrCorrupt; a record whose value is in the raft log
// when log is nil is an ErrNoLogValues. The key aliases the page file,
// the value too unless it was read from the log: callers that keep them
// copy them.
func readStored(rtx *pagefile.Tx, log LogValues, rev Revision, rec []byte, keysOnly bool) (api.KeyValue, bool, error) {
	kv, tomb, ref, err := parseStored(rec)
	if err != nil || keysOnly || ref.form == 0 {
		return kv, tomb, err
	}
	if ref.form == flagLogValue {
		v, err := readLogValue(log, rev, ref)
		kv.Value = v
		return kv, tomb, err
	}
	v, err := rtx.Bucket(bucketValue).Get(revBytes(rev))
	switch {
	case err != nil:
		return kv, tomb, err
	case uint64(len(v)) != ref.size || crc32.Checksum(v, castagnoli) != ref.sum:
		return kv, tomb, fmt.Errorf("%w: revision %v: the value stored out of line is missing or differs from its record (%d bytes, want %d)",
			pagefile.ErrCorrupt, rev, len(v), ref.size)
	}
	kv.Value = v
	return kv, tomb, nil
}

// readLogValue reads the value of revision rev's record, which lies in
// the raft log where ref says, checking its CRC-32C. The value is new
// memory, the caller's.
func readLogValue(log LogValues, rev Revision, ref valueRef) ([]byte, error) {
	if log == nil {
		return nil, fmt.Errorf("%w: revision %v: its value (%d bytes) is at offset %d of raft log segment %d",
			ErrNoLogValues, rev, ref.size, ref.place.Offset, ref.place.Segment)
	}
	v := make([]byte, ref.size)
	if err := log.ReadValue(ref.place, v); err != nil {
		return nil, fmt.Errorf("%w: revision %v: its value (%d bytes at offset %d of raft log segment %d) cannot be read: %w",
			pagefile.ErrCorrupt, rev, ref.size, ref.place.Offset, ref.place.Segment, err)
	}
	if crc32.Checksum(v, castagnoli) != ref.sum {
		return nil, fmt.Errorf("%w: revision %v: its value (%d bytes at offset %d of raft log segment %d) differs from its record (CRC-32C)",
			pagefile.ErrCorrupt, rev, ref.size, ref.place.Offset, ref.place.Segment)
	}
	return v, nil
}

// decodeRecord decodes a record, reporting whether it is a tombstone; any
// malformed record is an ErrCorrupt. The result does not alias b (which
// may be a page shared by every reader): callers may keep or change it.
func decodeRecord(b []byte) (api.KeyValue, bool, error) {
	if len(b) == 0 {
		return parseRecord(b)
	}
	return parseRecord(bytes.Clone(b))
}

// parseRecord is decodeRecord without the copy: the key and value alias
// b. A record whose value is stored out of line ('v') or in the raft log
// ('l') gives a nil value: only the records of the overlay, always whole,
// are read with it for their values; the page file's go through
// readStored.
func parseRecord(b []byte) (api.KeyValue, bool, error) {
	kv, tomb, _, err := parseStored(b)
	return kv, tomb, err
}

// valueRef is what a 'v' or 'l' record says of its value.
type valueRef struct {
	// form is the record's flag if its value is not inline: flagSeparate
	// or flagLogValue (0: inline).
	form byte
	size uint64
	sum  uint32
	// place is where an 'l' record's value lies in the raft log; headLen
	// is the length of the record before it (a 'v' record's length).
	place   LogPlace
	headLen int
}

// maxLogValue bounds the length of a value kept in the raft log, so that
// a damaged record cannot make a read allocate without bound (a raft
// entry is far smaller).
const maxLogValue = 1 << 30

// parseStored is parseRecord telling also where the value is.
func parseStored(b []byte) (api.KeyValue, bool, valueRef, error) {
	var ref valueRef
	bad := func(what string, err error) (api.KeyValue, bool, valueRef, error) {
		return api.KeyValue{}, false, ref, fmt.Errorf("%w: bad record %s: %v", pagefile.ErrCorrupt, what, err)
	}
	if len(b) == 0 || (b[0] != flagPut && b[0] != flagTombstone && b[0] != flagSeparate && b[0] != flagLogValue) {
		return bad("flag", fmt.Errorf("flag byte not %q, %q, %q or %q", flagPut, flagTombstone, flagSeparate, flagLogValue))
	}
	tomb := b[0] == flagTombstone
	if b[0] == flagSeparate || b[0] == flagLogValue {
		ref.form = b[0]
	}
	p := b[1:]
	var kv api.KeyValue
	key, n, err := wire.Bytes(p)
	if err != nil {
		return bad("key", err)
	}
	kv.Key, p = key, p[n:]
	for _, f := range []*int64{&kv.CreateRevision, &kv.ModRevision, &kv.Version, &kv.Lease} {
		if *f, n, err = wire.Varint(p); err != nil {
			return bad("number", err)
		}
		p = p[n:]
	}
	if ref.form != 0 {
		if ref.size, n, err = wire.Uvarint(p); err != nil {
			return bad("value length", err)
		}
		p = p[n:]
		if len(p) < 4 || (ref.form == flagSeparate && len(p) != 4) {
			return bad("value checksum", fmt.Errorf("%d bytes where 4 were expected", len(p)))
		}
		ref.sum = binary.BigEndian.Uint32(p)
		p = p[4:]
		ref.headLen = len(b) - len(p)
		if ref.form == flagSeparate {
			return kv, false, ref, nil
		}
		var seg, off uint64
		if seg, n, err = wire.Uvarint(p); err != nil {
			return bad("log segment", err)
		}
		p = p[n:]
		if off, n, err = wire.Uvarint(p); err != nil {
			return bad("log offset", err)
		}
		switch {
		case n != len(p):
			return bad("log place", fmt.Errorf("%d bytes after it", len(p)-n))
		case off > math.MaxInt64:
			return bad("log offset", fmt.Errorf("offset %d", off))
		case ref.size > maxLogValue:
			return bad("value length", fmt.Errorf("%d bytes in the raft log, more than %d", ref.size, maxLogValue))
		}
		ref.place = LogPlace{Segment: seg, Offset: int64(off)}
		return kv, false, ref, nil
	}
	if kv.Value, n, err = wire.Bytes(p); err != nil {
		return bad("value", err)
	}
	if n != len(p) {
		return bad("value", fmt.Errorf("%d bytes after it", len(p)-n))
	}
	if len(kv.Value) == 0 {
		kv.Value = nil
	}
	return kv, tomb, ref, nil
}
