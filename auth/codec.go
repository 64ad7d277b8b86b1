package auth

import (
	"errors"
	"fmt"

	"github.com/cairndb/cairn/internal/wire"
)

// The records and commands of this package are encoded by hand: unsigned
// varints for numbers and lengths, then the bytes. A decoder never
// allocates more than the input holds and reports truncation as an error.

// maxFieldLen bounds a single string or byte field.
const maxFieldLen = 1 << 20

// errShort is a truncated encoding.
var errShort = errors.New("auth: encoding is truncated")

type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = wire.AppendUvarint(e.b, v) }

func (e *encoder) bytes(v []byte) {
	e.uvarint(uint64(len(v)))
	e.b = append(e.b, v...)
}

func (e *encoder) str(v string) { e.bytes([]byte(v)) }

func (e *encoder) boolean(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n, err := wire.Uvarint(d.b)
	if err != nil {
		d.err = fmt.Errorf("auth: decode: %w", err)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > maxFieldLen {
		d.err = fmt.Errorf("auth: field of %d bytes exceeds the limit %d", n, maxFieldLen)
		return nil
	}
	if uint64(len(d.b)) < n {
		d.err = errShort
		return nil
	}
	v := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string { return string(d.bytes()) }

func (d *decoder) boolean() bool {
	if d.err != nil {
		return false
	}
	if len(d.b) == 0 {
		d.err = errShort
		return false
	}
	v := d.b[0]
	d.b = d.b[1:]
	if v > 1 {
		d.err = fmt.Errorf("auth: boolean byte %d is neither 0 nor 1", v)
	}
	return v == 1
}

// count reads a list length, refusing one the rest of the input cannot
// hold (every element takes at least one byte).
func (d *decoder) count() int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = fmt.Errorf("auth: list of %d elements in %d bytes", n, len(d.b))
		return 0
	}
	return int(n)
}

// done reports the first error, or trailing bytes.
func (d *decoder) done() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("auth: %d unexpected trailing bytes", len(d.b))
	}
	return d.err
}
