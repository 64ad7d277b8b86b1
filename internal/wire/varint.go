// Package wire is cairn's one varint codec: the unsigned and zigzag
// signed varints (the encoding of encoding/binary and protobuf) that
// every hand-written format in the repository — raft messages, log
// records, page-file nodes, MVCC records, API messages, auth records, RPC
// frames — uses for numbers and lengths.
//
// Encoding appends to a slice. Decoding is bounds-checked and strict: it
// returns an error, never panics, for input that is cut short
// (ErrTruncated), that does not fit 64 bits (ErrOverflow), or that is
// longer than the shortest encoding of its value (ErrOverlong) — every
// encoder writes the shortest, so a longer one is damage, and accepting
// it would give one value two encodings.
package wire

import (
	"encoding/binary"
	"errors"
	"math/bits"
)

// MaxVarintLen is the longest encoding of a 64-bit varint.
const MaxVarintLen = binary.MaxVarintLen64

// Decoding errors.
var (
	ErrTruncated = errors.New("varint truncated")
	ErrOverflow  = errors.New("varint overflows 64 bits")
	ErrOverlong  = errors.New("varint longer than its shortest encoding")
)

// AppendUvarint appends the encoding of v to b.
func AppendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// AppendVarint appends the zigzag encoding of v to b.
func AppendVarint(b []byte, v int64) []byte { return AppendUvarint(b, zigzag(v)) }

// UvarintLen is len(AppendUvarint(nil, v)).
func UvarintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// VarintLen is len(AppendVarint(nil, v)).
func VarintLen(v int64) int { return UvarintLen(zigzag(v)) }

// Uvarint decodes the varint at the start of b and returns it with the
// number of bytes it took.
func Uvarint(b []byte) (uint64, int, error) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1, nil // the common case: one byte
	}
	var v uint64
	for i := 0; i < len(b); i++ {
		c := b[i]
		if i == MaxVarintLen-1 && c > 1 {
			return 0, 0, ErrOverflow
		}
		if c < 0x80 {
			if c == 0 {
				return 0, 0, ErrOverlong // a final zero group adds nothing
			}
			return v | uint64(c)<<(7*i), i + 1, nil
		}
		v |= uint64(c&0x7f) << (7 * i)
	}
	return 0, 0, ErrTruncated
}

// Varint decodes the zigzag varint at the start of b and returns it with
// the number of bytes it took.
func Varint(b []byte) (int64, int, error) {
	u, n, err := Uvarint(b)
	return int64(u>>1) ^ -int64(u&1), n, err
}

// AppendBytes appends p with its length before it (a uvarint).
func AppendBytes(b, p []byte) []byte { return append(AppendUvarint(b, uint64(len(p))), p...) }

// BytesLen is len(AppendBytes(nil, p)) for a p of n bytes.
func BytesLen(n int) int { return UvarintLen(uint64(n)) + n }

// Bytes decodes a length-prefixed byte string at the start of b and
// returns it (aliasing b) with the number of bytes it took in all.
func Bytes(b []byte) ([]byte, int, error) {
	l, k, err := Uvarint(b)
	if err != nil {
		return nil, 0, err
	}
	if l > uint64(len(b)-k) {
		return nil, 0, ErrTruncated
	}
	end := k + int(l)
	return b[k:end:end], end, nil
}

func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }
