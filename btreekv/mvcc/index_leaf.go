package mvcc

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// leaf holds a run of consecutive keys of the index with their packed
// histories. Its keys share prefix, which is kept once; each entry of
// data is
//
//	uvarint suffix length, suffix (the key without the prefix), history
//
// (the packed history of index_codec.go), in key order, and offs[i] is
// where entry i starts (it ends where entry i+1 starts, or at the end).
// fps[i] is the low byte of entry i's fingerprint: a lookup of a key
// known to be in the leaf scans them (a cache line) and compares only
// the keys whose byte matches, rather than search the entries.
type leaf struct {
	id     uint32
	prefix []byte
	data   []byte
	offs   []uint32
	fps    []byte
}

func (l *leaf) len() int { return len(l.offs) }

// entry returns entry i's suffix and history.
func (l *leaf) entry(i int) (suffix, hist []byte) {
	end := len(l.data)
	if i+1 < len(l.offs) {
		end = int(l.offs[i+1])
	}
	e := l.data[l.offs[i]:end]
	n, k := binary.Uvarint(e)
	return e[k : k+int(n)], e[k+int(n):]
}

// appendKey appends entry i's whole key to dst.
func (l *leaf) appendKey(dst []byte, i int) []byte {
	suffix, _ := l.entry(i)
	return append(append(dst, l.prefix...), suffix...)
}

// search returns the position of key in the leaf, or where it would go,
// and whether it is there.
func (l *leaf) search(key []byte) (int, bool) {
	if !bytes.HasPrefix(key, l.prefix) {
		// Every key of the leaf starts with the prefix: key is before
		// them all or after them all.
		if bytes.Compare(key, l.prefix) < 0 {
			return 0, false
		}
		return len(l.offs), false
	}
	suffix := key[len(l.prefix):]
	lo, hi := 0, len(l.offs)
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

// find returns the position of key, whose fingerprint's low byte is fp,
// if it is in the leaf.
func (l *leaf) find(key []byte, fp byte) (int, bool) {
	if !bytes.HasPrefix(key, l.prefix) {
		return 0, false
	}
	suffix := key[len(l.prefix):]
	for i, b := range l.fps {
		if b == fp {
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

// splice replaces entries [i, j) with the entry of key (which must start
// with the prefix), hist and fingerprint byte fp, or with nothing if key
// is nil.
func (l *leaf) splice(i, j int, key, hist []byte, fp byte) {
	start := len(l.data)
	if i < len(l.offs) {
		start = int(l.offs[i])
	}
	end := len(l.data)
	if j < len(l.offs) {
		end = int(l.offs[j])
	}
	var e []byte
	var scratch [64]byte
	if key != nil {
		e = appendEntry(scratch[:0], key[len(l.prefix):], hist)
	}
	delta := len(e) - (end - start)
	switch {
	case delta > 0:
		l.data = slices.Grow(l.data, delta)[:len(l.data)+delta]
		copy(l.data[end+delta:], l.data[end:len(l.data)-delta])
	case delta < 0:
		copy(l.data[end+delta:], l.data[end:])
		l.data = l.data[:len(l.data)+delta]
	}
	copy(l.data[start:], e)
	// Offsets: entries [i, j) become one (or none); those after move by
	// delta.
	var add int
	if key != nil {
		add = 1
	}
	shift := add - (j - i)
	tail := l.offs[j:]
	switch {
	case shift > 0:
		l.offs = append(l.offs, 0)
		copy(l.offs[j+1:], l.offs[j:len(l.offs)-1])
		l.fps = append(l.fps, 0)
		copy(l.fps[j+1:], l.fps[j:len(l.fps)-1])
	case shift < 0:
		copy(l.offs[i+add:], tail)
		l.offs = l.offs[:len(l.offs)+shift]
		copy(l.fps[i+add:], l.fps[j:])
		l.fps = l.fps[:len(l.fps)+shift]
	}
	if key != nil {
		l.offs[i] = uint32(start)
		l.fps[i] = fp
	}
	for k := i + add; k < len(l.offs); k++ {
		l.offs[k] = uint32(int(l.offs[k]) + delta)
	}
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
		prefix = bytes.Clone(first[:n])
	}
	size := 0
	for i := range keys {
		n := len(keys[i]) - len(prefix)
		size += uvarintLen(uint64(n)) + n + len(hists[i])
	}
	data := make([]byte, 0, size)
	offs := make([]uint32, len(keys))
	for i := range keys {
		offs[i] = uint32(len(data))
		data = appendEntry(data, keys[i][len(prefix):], hists[i])
	}
	l.prefix, l.data, l.offs, l.fps = prefix, data, offs, slices.Clone(fps)
}

// entries returns copies of the leaf's keys, histories and fingerprint
// bytes.
func (l *leaf) entries() (keys, hists [][]byte, fps []byte) {
	keys = make([][]byte, len(l.offs))
	hists = make([][]byte, len(l.offs))
	for i := range l.offs {
		_, h := l.entry(i)
		keys[i] = l.appendKey(nil, i)
		hists[i] = bytes.Clone(h)
	}
	return keys, hists, slices.Clone(l.fps)
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
