package etcd

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Protocol Buffers wire format, the little of it etcd's messages need:
// every field is a tag (field number << 3 | wire type) followed by a
// varint (wire type 0) or a length and that many bytes (wire type 2:
// strings, bytes and nested messages). Fixed-width types (1 and 5) are
// skipped when read; etcd's messages used here have none.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// appendTag appends a field's tag.
func appendTag(b []byte, field, wire int) []byte {
	return binary.AppendUvarint(b, uint64(field)<<3|uint64(wire))
}

// appendInt appends an integer field, omitted when 0 (proto3's default).
func appendInt(b []byte, field int, v int64) []byte {
	if v == 0 {
		return b
	}
	return appendIntAlways(b, field, v)
}

// appendIntAlways appends an integer field even when 0, as a member of
// a oneof must be to show which member is set.
func appendIntAlways(b []byte, field int, v int64) []byte {
	return binary.AppendUvarint(appendTag(b, field, wireVarint), uint64(v))
}

// appendBool appends a boolean field, omitted when false.
func appendBool(b []byte, field int, v bool) []byte {
	if !v {
		return b
	}
	return appendIntAlways(b, field, 1)
}

// appendBytes appends a bytes field, omitted when empty.
func appendBytes(b []byte, field int, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	return appendMessage(b, field, v)
}

// appendMessage appends a nested message (or bytes) field, even empty.
func appendMessage(b []byte, field int, msg []byte) []byte {
	b = binary.AppendUvarint(appendTag(b, field, wireBytes), uint64(len(msg)))
	return append(b, msg...)
}

// field is one decoded field: for a varint, n holds its value; for bytes,
// data holds them (aliasing the message).
type field struct {
	num  int
	wire int
	n    uint64
	data []byte
}

// errTruncated reports a message that ends inside a field.
var errTruncated = errors.New("etcd: truncated protobuf message")

// eachField calls fn for every field of msg in order.
func eachField(msg []byte, fn func(f field) error) error {
	for len(msg) > 0 {
		tag, k := binary.Uvarint(msg)
		if k <= 0 {
			return errTruncated
		}
		msg = msg[k:]
		f := field{num: int(tag >> 3), wire: int(tag & 7)}
		switch f.wire {
		case wireVarint:
			v, k := binary.Uvarint(msg)
			if k <= 0 {
				return errTruncated
			}
			f.n, msg = v, msg[k:]
		case wireBytes:
			l, k := binary.Uvarint(msg)
			if k <= 0 || l > uint64(len(msg)-k) {
				return errTruncated
			}
			f.data, msg = msg[k:k+int(l)], msg[k+int(l):]
		case wireFixed64, wireFixed32:
			size := 8
			if f.wire == wireFixed32 {
				size = 4
			}
			if len(msg) < size {
				return errTruncated
			}
			msg = msg[size:]
			continue
		default:
			return fmt.Errorf("etcd: protobuf wire type %d of field %d not supported", f.wire, f.num)
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}
