package mvcc

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/pagefile"
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
	b = binary.AppendUvarint(b, uint64(len(kv.Key)))
	b = append(b, kv.Key...)
	b = binary.AppendVarint(b, kv.CreateRevision)
	b = binary.AppendVarint(b, kv.ModRevision)
	b = binary.AppendVarint(b, kv.Version)
	b = binary.AppendVarint(b, kv.Lease)
	b = binary.AppendUvarint(b, uint64(len(kv.Value)))
	return append(b, kv.Value...)
}

// recordKey returns the key of n bytes inside an encoded record.
func recordKey(rec []byte, n int) []byte {
	var l [binary.MaxVarintLen64]byte
	off := 1 + binary.PutUvarint(l[:], uint64(n))
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
// b.
func parseRecord(b []byte) (api.KeyValue, bool, error) {
	bad := func(what string) (api.KeyValue, bool, error) {
		return api.KeyValue{}, false, fmt.Errorf("%w: bad record %s", pagefile.ErrCorrupt, what)
	}
	if len(b) == 0 || (b[0] != flagPut && b[0] != flagTombstone) {
		return bad("flag")
	}
	tomb := b[0] == flagTombstone
	p := b[1:]
	var kv api.KeyValue
	bytesField := func() ([]byte, bool) {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return nil, false
		}
		f := p[k : k+int(n) : k+int(n)]
		p = p[k+int(n):]
		return f, true
	}
	varint := func() (int64, bool) {
		v, k := binary.Varint(p)
		if k <= 0 {
			return 0, false
		}
		p = p[k:]
		return v, true
	}
	var ok bool
	if kv.Key, ok = bytesField(); !ok {
		return bad("key")
	}
	for _, f := range []*int64{&kv.CreateRevision, &kv.ModRevision, &kv.Version, &kv.Lease} {
		if *f, ok = varint(); !ok {
			return bad("number")
		}
	}
	if kv.Value, ok = bytesField(); !ok || len(p) != 0 {
		return bad("value")
	}
	if len(kv.Value) == 0 {
		kv.Value = nil
	}
	return kv, tomb, nil
}
