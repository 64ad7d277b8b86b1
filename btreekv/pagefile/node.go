package pagefile

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/cairndb/cairn/internal/wire"
)

// node is a B+tree node in memory. Leaves hold sorted keys and their
// values. Branches hold one key per child: a separator no greater than any
// key in that child and greater than every key in the previous one (the
// first child's key is never compared: everything smaller than the second
// separator goes to the first child).
//
// Nodes read from committed pages are shared by every transaction and
// never modified; a write transaction works on copies (see tx.writable).
type node struct {
	id   pgid // page it was read from or written to; 0 if never written
	leaf bool
	// level is the node's height above the leaves: 0 for a leaf, one
	// more than its children's for a branch.
	level    uint8
	keys     [][]byte
	vals     [][]byte // leaf
	children []child  // branch
	// owner is the write transaction that copied this node and may change
	// it, nil for a shared committed node.
	owner *Tx
	// diskPages is the length of the page run at id.
	diskPages int
	// heads holds, for a committed node, the first eight bytes of each
	// key as a big-endian number, zero-padded (keyHead): a search
	// compares those, side by side in one array, and reads a key itself
	// only where its head equals the sought key's. The keys lie apart in
	// the page, between their values, and a binary search that read each
	// one it passed missed the CPU's cache at every step. Nil for a
	// writer's node (its keys change; see withHeads).
	heads []uint64
}

// keyHead is the first eight bytes of k as a big-endian number, k
// padded with zeros if shorter. Heads order as their keys do, except
// that keys equal in their first eight bytes (or differing only in
// trailing zeros within them) have equal heads.
func keyHead(k []byte) uint64 {
	if len(k) >= 8 {
		return binary.BigEndian.Uint64(k)
	}
	var b [8]byte
	copy(b[:], k)
	return binary.BigEndian.Uint64(b[:])
}

// withHeads gives a node the heads of its keys, once it is committed
// and before it is shared (a decoded node, or a written one as its commit
// publishes it).
func (n *node) withHeads() {
	n.heads = make([]uint64, len(n.keys))
	for i, k := range n.keys {
		n.heads[i] = keyHead(k)
	}
}

// compareAt compares key i with key, whose head is head.
func (n *node) compareAt(i int, key []byte, head uint64) int {
	if n.heads != nil {
		if h := n.heads[i]; h != head {
			if h < head {
				return -1
			}
			return 1
		}
	}
	return bytes.Compare(n.keys[i], key)
}

// child is a branch's reference to a child: a page, and the child node
// once loaded (always set for a child the writer changed).
type child struct {
	id   pgid
	node *node
}

// search returns the index of the first key >= key, and whether it is
// equal.
func (n *node) search(key []byte) (int, bool) {
	head := keyHead(key)
	lo, hi := 0, len(n.keys)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if n.compareAt(m, key, head) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(n.keys) && (n.heads == nil || n.heads[lo] == head) && bytes.Equal(n.keys[lo], key)
}

// childIndex returns which child of a branch may hold key: the last child
// whose separator is <= key (the first separator is never compared).
func (n *node) childIndex(key []byte) int {
	head := keyHead(key)
	lo, hi := 0, len(n.keys)-1
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if n.compareAt(m+1, key, head) <= 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// size is the node's encoded size (header included).
func (n *node) size() int {
	s := pageHeaderSize
	for i, k := range n.keys {
		s += wire.BytesLen(len(k))
		if n.leaf {
			s += wire.BytesLen(len(n.vals[i]))
		} else {
			s += childIDSize
		}
	}
	return s
}

// childIDSize is the space budgeted for a child id in a branch: the
// largest a uvarint of a page id below 2^63 takes. Children get their
// final ids only at commit, after sizes were decided.
const childIDSize = 9

// encode writes the node into a page run of the given size (a multiple of
// the page size); children must already have page ids.
func (n *node) encode(buf []byte, pageSize int) {
	typ := pageBranch
	if n.leaf {
		typ = pageLeaf
	}
	putHeader(buf, pageHeader{typ: typ, level: n.level, count: uint32(len(n.keys)), overflow: uint32(len(buf)/pageSize - 1)})
	p := buf[pageHeaderSize:pageHeaderSize]
	for i, k := range n.keys {
		p = wire.AppendBytes(p, k)
		if n.leaf {
			p = wire.AppendBytes(p, n.vals[i])
		} else {
			p = wire.AppendUvarint(p, n.children[i].id)
		}
	}
	clear(buf[pageHeaderSize+len(p):])
	sealPage(buf)
}

// decodeNode parses a checked node page run. Keys and values alias b.
func decodeNode(b []byte, id pgid, h pageHeader, hwm pgid) (*node, error) {
	n := &node{id: id, leaf: h.typ == pageLeaf, level: h.level, diskPages: int(h.overflow) + 1}
	if len(b) < pageHeaderSize {
		return nil, fmt.Errorf("%w %d: node of %d bytes is shorter than a page header", ErrCorrupt, id, len(b))
	}
	if n.leaf != (n.level == 0) {
		return nil, fmt.Errorf("%w %d: %s page at level %d", ErrCorrupt, id, h.typ, h.level)
	}
	if h.count > uint32(len(b)) {
		return nil, fmt.Errorf("%w %d: %d elements cannot fit in %d bytes", ErrCorrupt, id, h.count, len(b))
	}
	n.keys = make([][]byte, h.count)
	if n.leaf {
		n.vals = make([][]byte, h.count)
	} else {
		n.children = make([]child, h.count)
	}
	p := b[pageHeaderSize:]
	field := func(what string) ([]byte, error) {
		f, k, err := wire.Bytes(p)
		if err != nil {
			return nil, fmt.Errorf("%w %d: bad %s length: %v", ErrCorrupt, id, what, err)
		}
		p = p[k:]
		return f, nil
	}
	var err error
	for i := range n.keys {
		if n.keys[i], err = field("key"); err != nil {
			return nil, err
		}
		// A branch's first key is not a separator: only check the rest.
		if i > 0 && (n.leaf || i > 1) && bytes.Compare(n.keys[i-1], n.keys[i]) >= 0 {
			return nil, fmt.Errorf("%w %d: keys out of order at %d", ErrCorrupt, id, i)
		}
		if n.leaf {
			if n.vals[i], err = field("value"); err != nil {
				return nil, err
			}
			continue
		}
		c, k, err := wire.Uvarint(p)
		if err != nil {
			return nil, fmt.Errorf("%w %d: bad child id: %v", ErrCorrupt, id, err)
		}
		if c < 2 || c >= hwm {
			return nil, fmt.Errorf("%w %d: child page %d out of range [2, %d)", ErrCorrupt, id, c, hwm)
		}
		n.children[i].id = c
		p = p[k:]
	}
	if !n.leaf && h.count == 0 {
		return nil, fmt.Errorf("%w %d: branch without children", ErrCorrupt, id)
	}
	n.withHeads()
	return n, nil
}

// clone returns a private, writable copy of n owned by tx.
func (n *node) clone(tx *Tx) *node {
	c := &node{id: n.id, leaf: n.leaf, level: n.level, owner: tx, diskPages: n.diskPages}
	c.keys = append(make([][]byte, 0, len(n.keys)+1), n.keys...)
	if n.leaf {
		c.vals = append(make([][]byte, 0, len(n.vals)+1), n.vals...)
	} else {
		c.children = append(make([]child, 0, len(n.children)+1), n.children...)
	}
	return c
}

// splitPoint returns where to split a node that is too large, so that the
// left part fills close to one page; 0 if it cannot be split.
func (n *node) splitPoint(pageSize int) int {
	if len(n.keys) < 2 {
		return 0
	}
	s := pageHeaderSize
	for i, k := range n.keys {
		e := wire.BytesLen(len(k))
		if n.leaf {
			e += wire.BytesLen(len(n.vals[i]))
		} else {
			e += childIDSize
		}
		if s+e > pageSize && i > 0 {
			return i
		}
		s += e
	}
	return len(n.keys) - 1
}
