package mvcc

import (
	"bytes"
	"fmt"

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
	bad := func(what string, err error) (api.KeyValue, bool, error) {
		return api.KeyValue{}, false, fmt.Errorf("%w: bad record %s: %v", pagefile.ErrCorrupt, what, err)
	}
	if len(b) == 0 || (b[0] != flagPut && b[0] != flagTombstone) {
		return bad("flag", fmt.Errorf("flag byte not %q or %q", flagPut, flagTombstone))
	}
	tomb := b[0] == flagTombstone
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
	if kv.Value, n, err = wire.Bytes(p); err != nil {
		return bad("value", err)
	}
	if n != len(p) {
		return bad("value", fmt.Errorf("%d bytes after it", len(p)-n))
	}
	if len(kv.Value) == 0 {
		kv.Value = nil
	}
	return kv, tomb, nil
}
