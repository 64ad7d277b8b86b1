package mvcc

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"
)

// leaf holds a run of consecutive keys of the index with their packed
// histories, in one allocation, buf:
//
//	prefix | fps: one byte per entry | offs: 4 bytes per entry | data
//
// The keys share prefix, which is kept once. Each entry of data is
//
//	uvarint suffix length, suffix (the key without the prefix), history
//
// (the packed history of index_codec.go), in key order; offs holds where
// each entry starts in data, little endian (it ends where the next one
// starts, or at the end). fps holds the low byte of each entry's
// fingerprint: a lookup of a key known to be in the leaf scans them, 8 at
// a time, and compares only the keys whose byte matches, rather than
// search the entries. A lookup so reads the leaf's prefix and fingerprint
// bytes (adjacent), one offset and one entry: three or four cache lines of
// one allocation, where separate slices cost six.
type leaf struct {
	id   uint32
	n    uint32 // entries
	plen uint32 // prefix length
	buf  []byte
}

func (l *leaf) len() int { return int(l.n) }

func (l *leaf) prefix() []byte { return l.buf[:l.plen] }

// fps returns the entries' fingerprint bytes (aliasing the leaf).
func (l *leaf) fps() []byte { return l.buf[l.plen : l.plen+l.n] }

// offsAt is where the offsets start in buf.
func (l *leaf) offsAt() int { return int(l.plen + l.n) }

// dataAt is where the data starts in buf.
func (l *leaf) dataAt() int { return int(l.plen + 5*l.n) }

// off returns where entry i starts in the data.
func (l *leaf) off(i int) int {
	return int(binary.LittleEndian.Uint32(l.buf[l.offsAt()+4*i:]))
}

func (l *leaf) setOff(i, v int) {
	binary.LittleEndian.PutUint32(l.buf[l.offsAt()+4*i:], uint32(v))
}

// dataLen is the length of the data.
func (l *leaf) dataLen() int { return len(l.buf) - l.dataAt() }

// entry returns entry i's suffix and history.
func (l *leaf) entry(i int) (suffix, hist []byte) {
	data := l.buf[l.dataAt():]
	end := len(data)
	if i+1 < int(l.n) {
		end = l.off(i + 1)
	}
	e := data[l.off(i):end]
	n, k := binary.Uvarint(e)
	return e[k : k+int(n)], e[k+int(n):]
}

// appendKey appends entry i's whole key to dst.
func (l *leaf) appendKey(dst []byte, i int) []byte {
	suffix, _ := l.entry(i)
	return append(append(dst, l.prefix()...), suffix...)
}

// search returns the position of key in the leaf, or where it would go,
// and whether it is there.
func (l *leaf) search(key []byte) (int, bool) {
	prefix := l.prefix()
	if !bytes.HasPrefix(key, prefix) {
		// Every key of the leaf starts with the prefix: key is before
		// them all or after them all.
		if bytes.Compare(key, prefix) < 0 {
			return 0, false
		}
		return l.len(), false
	}
	suffix := key[len(prefix):]
	lo, hi := 0, l.len()
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		s, _ := l.entry(m)
		switch c := bytes.Compare(s, suffix); {
		case c < 0:
			lo = m + 1
		case c > 0:
			hi = m
		default:
			return m, true
		}
	}
	return lo, false
}

const (
	lowBits  = 0x0101010101010101
	highBits = 0x8080808080808080
)

// find returns the position of key, whose fingerprint's low byte is fp,
// if it is in the leaf.
func (l *leaf) find(key []byte, fp byte) (int, bool) {
	plen := int(l.plen)
	if len(key) < plen || !bytes.Equal(key[:plen], l.buf[:plen]) {
		return 0, false
	}
	suffix := key[plen:]
	fps := l.buf[plen : plen+int(l.n)]
	pattern := uint64(fp) * lowBits
	for base := 0; base < len(fps); base += 8 {
		// The offsets follow the fingerprint bytes in buf, so 8 bytes
		// from any of them are there to read (those past fps are
		// ignored).
		var word uint64
		if at := plen + base; at+8 <= len(l.buf) {
			word = binary.LittleEndian.Uint64(l.buf[at:])
		} else {
			var tail [8]byte
			copy(tail[:], fps[base:])
			word = binary.LittleEndian.Uint64(tail[:])
		}
		// A zero byte of x is a byte equal to fp; (x-lowBits)&^x&highBits
		// marks every zero byte, and may mark a 0x01 byte above one (a
		// false candidate, which the key comparison rejects).
		x := word ^ pattern
		for m := (x - lowBits) &^ x & highBits; m != 0; m &= m - 1 {
			i := base + bits.TrailingZeros64(m)>>3
			if i >= len(fps) {
				break
			}
			if s, _ := l.entry(i); bytes.Equal(s, suffix) {
				return i, true
			}
		}
	}
	return 0, false
}

// appendEntry appends an entry to dst.
func appendEntry(dst, suffix, hist []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(suffix)))
	dst = append(dst, suffix...)
	return append(dst, hist...)
}

// splice replaces entry i with the entry of key (which must start with
// the prefix), hist and fingerprint byte fp (j = i+1), inserts that entry
// at i (j = i), or removes entry i (j = i+1, key nil).
func (l *leaf) splice(i, j int, key, hist []byte, fp byte) {
	n := int(l.n)
	plen := int(l.plen)
	oo, do := plen+n, plen+5*n // offsets and data in buf
	dlen := len(l.buf) - do
	start, end := dlen, dlen
	if i < n {
		start = l.off(i)
	}
	if j < n {
		end = l.off(j)
	}
	var e []byte
	var scratch [64]byte
	if key != nil {
		e = appendEntry(scratch[:0], key[plen:], hist)
	}
	delta := len(e) - (end - start) // change of the data's length
	shift := 0                      // change of the number of entries
	switch {
	case key == nil:
		shift = -1
	case i == j:
		shift = 1
	}
	size := len(l.buf) + 5*shift + delta
	if size > cap(l.buf) {
		l.buf = slices.Grow(l.buf, size-len(l.buf))
	}
	buf := l.buf[:max(size, len(l.buf))]
	oo2, do2 := plen+n+shift, plen+5*(n+shift)
	switch shift {
	case 0:
		copy(buf[do+end+delta:], buf[do+end:do+dlen])
		copy(buf[do+start:], e)
		for k := i + 1; k < n; k++ {
			binary.LittleEndian.PutUint32(buf[oo+4*k:], uint32(int(binary.LittleEndian.Uint32(buf[oo+4*k:]))+delta))
		}
	case 1:
		// Every region moves right: the rightmost first.
		copy(buf[do2+start+len(e):], buf[do+start:do+dlen])
		copy(buf[do2+start:], e)
		copy(buf[do2:], buf[do:do+start])
		copy(buf[oo2+4*(i+1):], buf[oo+4*i:oo+4*n])
		copy(buf[oo2:], buf[oo:oo+4*i])
		copy(buf[plen+i+1:], buf[plen+i:plen+n])
		buf[plen+i] = fp
		binary.LittleEndian.PutUint32(buf[oo2+4*i:], uint32(start))
		for k := i + 1; k <= n; k++ {
			binary.LittleEndian.PutUint32(buf[oo2+4*k:], uint32(int(binary.LittleEndian.Uint32(buf[oo2+4*k:]))+delta))
		}
	case -1:
		// Every region moves left: the leftmost first.
		copy(buf[plen+i:], buf[plen+i+1:plen+n])
		copy(buf[oo2:], buf[oo:oo+4*i])
		copy(buf[oo2+4*i:], buf[oo+4*(i+1):oo+4*n])
		copy(buf[do2:], buf[do:do+start])
		copy(buf[do2+start:], buf[do+end:do+dlen])
		for k := i; k < n-1; k++ {
			binary.LittleEndian.PutUint32(buf[oo2+4*k:], uint32(int(binary.LittleEndian.Uint32(buf[oo2+4*k:]))+delta))
		}
	}
	if key != nil && shift == 0 {
		buf[plen+i] = fp
	}
	l.buf = buf[:size]
	l.n = uint32(n + shift)
}

// rebuild sets the leaf's contents to the given keys, packed histories
// and fingerprint bytes (in key order), with the keys' longest common
// prefix as the prefix.
func (l *leaf) rebuild(keys, hists [][]byte, fps []byte) {
	var prefix []byte
	if len(keys) > 0 {
		first, last := keys[0], keys[len(keys)-1]
		n := 0
		for n < len(first) && n < len(last) && first[n] == last[n] {
			n++
		}
		prefix = first[:n]
	}
	size := len(prefix) + 5*len(keys)
	for i := range keys {
		n := len(keys[i]) - len(prefix)
		size += uvarintLen(uint64(n)) + n + len(hists[i])
	}
	buf := make([]byte, size)
	copy(buf, prefix)
	copy(buf[len(prefix):], fps)
	oo, do := len(prefix)+len(keys), len(prefix)+5*len(keys)
	data := buf[do:do]
	for i := range keys {
		binary.LittleEndian.PutUint32(buf[oo+4*i:], uint32(len(data)))
		data = appendEntry(data, keys[i][len(prefix):], hists[i])
	}
	l.buf, l.n, l.plen = buf, uint32(len(keys)), uint32(len(prefix))
}

// entries returns copies of the leaf's keys, histories and fingerprint
// bytes.
func (l *leaf) entries() (keys, hists [][]byte, fps []byte) {
	keys = make([][]byte, l.n)
	hists = make([][]byte, l.n)
	for i := range keys {
		_, h := l.entry(i)
		keys[i] = l.appendKey(nil, i)
		hists[i] = bytes.Clone(h)
	}
	return keys, hists, slices.Clone(l.fps())
}

// uvarintLen is the length of v's uvarint encoding.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
