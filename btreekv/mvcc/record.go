package mvcc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"

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

// readStored decodes a record as the page file keeps it (rec, under
// revision rev in rtx's "key" bucket), reading its value from the "value"
// bucket if it is stored out of line, unless keysOnly. The key and value
// alias the page file: callers that keep them copy them.
func readStored(rtx *pagefile.Tx, rev Revision, rec []byte, keysOnly bool) (api.KeyValue, bool, error) {
	kv, tomb, ref, err := parseStored(rec)
	if err != nil || keysOnly || !ref.separate {
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
// b. A record whose value is stored out of line ('v') gives a nil value
// (see readStored).
func parseRecord(b []byte) (api.KeyValue, bool, error) {
	kv, tomb, _, err := parseStored(b)
	return kv, tomb, err
}

// valueRef is what a 'v' record says of its value.
type valueRef struct {
	separate bool
	size     uint64
	sum      uint32
}

// parseStored is parseRecord telling also where the value is.
func parseStored(b []byte) (api.KeyValue, bool, valueRef, error) {
	var ref valueRef
	bad := func(what string, err error) (api.KeyValue, bool, valueRef, error) {
		return api.KeyValue{}, false, ref, fmt.Errorf("%w: bad record %s: %v", pagefile.ErrCorrupt, what, err)
	}
	if len(b) == 0 || (b[0] != flagPut && b[0] != flagTombstone && b[0] != flagSeparate) {
		return bad("flag", fmt.Errorf("flag byte not %q, %q or %q", flagPut, flagTombstone, flagSeparate))
	}
	tomb := b[0] == flagTombstone
	ref.separate = b[0] == flagSeparate
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
	if ref.separate {
		if ref.size, n, err = wire.Uvarint(p); err != nil {
			return bad("value length", err)
		}
		if len(p)-n != 4 {
			return bad("value checksum", fmt.Errorf("%d bytes where 4 were expected", len(p)-n))
		}
		ref.sum = binary.BigEndian.Uint32(p[n:])
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
