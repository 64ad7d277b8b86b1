package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"pgregory.net/rapid"
)

func TestUvarintRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := rapid.Uint64().Draw(t, "v")
		tail := rapid.SliceOf(rapid.Byte()).Draw(t, "tail")
		b := AppendUvarint(nil, v)
		if want := binary.AppendUvarint(nil, v); !bytes.Equal(b, want) {
			t.Fatalf("AppendUvarint(%d) = %x, encoding/binary says %x", v, b, want)
		}
		if len(b) != UvarintLen(v) {
			t.Fatalf("UvarintLen(%d) = %d, encoding is %d bytes", v, UvarintLen(v), len(b))
		}
		got, n, err := Uvarint(append(b, tail...))
		if err != nil || got != v || n != len(b) {
			t.Fatalf("Uvarint(%x) = %d, %d, %v; want %d, %d", b, got, n, err, v, len(b))
		}
	})
}

func TestVarintRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := rapid.Int64().Draw(t, "v")
		b := AppendVarint(nil, v)
		if want := binary.AppendVarint(nil, v); !bytes.Equal(b, want) {
			t.Fatalf("AppendVarint(%d) = %x, encoding/binary says %x", v, b, want)
		}
		if len(b) != VarintLen(v) {
			t.Fatalf("VarintLen(%d) = %d, encoding is %d bytes", v, VarintLen(v), len(b))
		}
		got, n, err := Varint(b)
		if err != nil || got != v || n != len(b) {
			t.Fatalf("Varint(%x) = %d, %d, %v; want %d", b, got, n, err, v)
		}
	})
}

func TestUvarintRefusesBadInput(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"continuation at the end", []byte{0x80}, ErrTruncated},
		{"a long prefix cut short", []byte{0xff, 0xff, 0xff}, ErrTruncated},
		{"zero in two bytes", []byte{0x80, 0x00}, ErrOverlong},
		{"one in three bytes", []byte{0x81, 0x80, 0x00}, ErrOverlong},
		{"eleven bytes", append(bytes.Repeat([]byte{0xff}, 10), 0x01), ErrOverflow},
		{"a tenth byte past bit 63", append(bytes.Repeat([]byte{0xff}, 9), 0x02), ErrOverflow},
	}
	for _, c := range cases {
		if v, n, err := Uvarint(c.in); !errors.Is(err, c.want) || n != 0 || v != 0 {
			t.Errorf("%s: Uvarint(%x) = %d, %d, %v; want error %v", c.name, c.in, v, n, err, c.want)
		}
	}
	max := append(bytes.Repeat([]byte{0xff}, 9), 0x01)
	if v, n, err := Uvarint(max); err != nil || v != math.MaxUint64 || n != 10 {
		t.Errorf("Uvarint(max) = %d, %d, %v", v, n, err)
	}
}

func TestBytes(t *testing.T) {
	b := AppendBytes([]byte{9}, []byte("abc"))
	if len(b)-1 != BytesLen(3) {
		t.Fatalf("BytesLen(3) = %d, encoding is %d bytes", BytesLen(3), len(b)-1)
	}
	p, n, err := Bytes(b[1:])
	if err != nil || string(p) != "abc" || n != 4 || cap(p) != 3 {
		t.Fatalf("Bytes = %q (cap %d), %d, %v", p, cap(p), n, err)
	}
	for _, in := range [][]byte{{4, 'a', 'b', 'c'}, {0x80}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}} {
		if _, _, err := Bytes(in); !errors.Is(err, ErrTruncated) {
			t.Errorf("Bytes(%x): %v, want ErrTruncated", in, err)
		}
	}
}

// FuzzUvarint checks the decoder against encoding/binary on any input:
// it accepts exactly the shortest encodings encoding/binary accepts, with
// the same value and length, and never panics.
func FuzzUvarint(f *testing.F) {
	for _, s := range [][]byte{{}, {0}, {0x80, 0}, {0xff, 0x01}, bytes.Repeat([]byte{0xff}, 11)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := Uvarint(b)
		sv, sn := binary.Uvarint(b)
		if err != nil {
			if sn > 0 && errors.Is(err, ErrOverlong) {
				if bytes.Equal(binary.AppendUvarint(nil, sv), b[:sn]) {
					t.Fatalf("%x: the shortest encoding refused as overlong", b)
				}
				return
			}
			if sn > 0 {
				t.Fatalf("%x: refused (%v), encoding/binary reads %d", b, err, sv)
			}
			return
		}
		if sn <= 0 || v != sv || n != sn {
			t.Fatalf("%x: %d, %d; encoding/binary %d, %d", b, v, n, sv, sn)
		}
		if !bytes.Equal(AppendUvarint(nil, v), b[:n]) {
			t.Fatalf("%x: accepted a non-shortest encoding of %d", b, v)
		}
		if _, _, err := Bytes(b); err == nil && v > uint64(len(b)-n) {
			t.Fatalf("%x: Bytes accepted a length past the input", b)
		}
	})
}
