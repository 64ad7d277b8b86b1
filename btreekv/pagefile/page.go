package pagefile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// ErrCorrupt is wrapped by errors about damaged pages.
var ErrCorrupt = errors.New("pagefile: corrupt page")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type pgid = uint64

type pageType uint8

const (
	pageMeta pageType = iota + 1
	pageBranch
	pageLeaf
	pageFreelist      // one 8-byte id per free page (files written before spans)
	pageFreelistSpans // one 16-byte span (first page, length) per run of free pages
)

// String names the page type in errors.
func (t pageType) String() string {
	switch t {
	case pageMeta:
		return "meta"
	case pageBranch:
		return "branch"
	case pageLeaf:
		return "leaf"
	case pageFreelist, pageFreelistSpans:
		return "freelist"
	}
	return fmt.Sprintf("pageType(%d)", uint8(t))
}

const pageHeaderSize = 16

// pageHeader is the first 16 bytes of a page run.
type pageHeader struct {
	typ pageType
	// level is a node's height above the leaves (0 for a leaf): a
	// branch's children are one level below it, which rules out cycles
	// and unequal depths in a damaged file.
	level    uint8
	count    uint32
	overflow uint32
}

func putHeader(b []byte, h pageHeader) {
	b[4] = byte(h.typ)
	b[5], b[6], b[7] = h.level, 0, 0
	binary.LittleEndian.PutUint32(b[8:], h.count)
	binary.LittleEndian.PutUint32(b[12:], h.overflow)
}

// sealPage writes the checksum of a finished page run.
func sealPage(b []byte) {
	binary.LittleEndian.PutUint32(b[0:], crc32.Checksum(b[4:], crcTable))
}

// checkPage validates the checksum and type of the page run b read at id.
func checkPage(b []byte, id pgid, want pageType) (pageHeader, error) {
	if len(b) < pageHeaderSize {
		return pageHeader{}, fmt.Errorf("%w %d: short read of %d bytes", ErrCorrupt, id, len(b))
	}
	h := pageHeader{typ: pageType(b[4]), level: b[5], count: binary.LittleEndian.Uint32(b[8:]), overflow: binary.LittleEndian.Uint32(b[12:])}
	if got, stored := crc32.Checksum(b[4:], crcTable), binary.LittleEndian.Uint32(b); got != stored {
		return h, fmt.Errorf("%w %d: checksum %08x, expected %08x", ErrCorrupt, id, got, stored)
	}
	if want != 0 && h.typ != want && !(want == pageBranch && h.typ == pageLeaf) && !(want == pageFreelist && h.typ == pageFreelistSpans) {
		return h, fmt.Errorf("%w %d: %s page where a %s page was expected", ErrCorrupt, id, h.typ, want)
	}
	return h, nil
}

// meta is the root of everything: which tree and freelist are current.
type meta struct {
	pageSize uint32
	txid     uint64
	root     pgid // root node of the bucket directory (0: empty)
	freelist pgid
	hwm      pgid // high-water mark: pages [0, hwm) exist in the file
}

const (
	metaMagic   = 0xCA12_B7EE
	metaVersion = 2
	metaSize    = pageHeaderSize + 48
)

func (m meta) encode(pageSize int) []byte {
	b := make([]byte, pageSize)
	putHeader(b, pageHeader{typ: pageMeta})
	p := b[pageHeaderSize:]
	binary.LittleEndian.PutUint32(p[0:], metaMagic)
	binary.LittleEndian.PutUint32(p[4:], metaVersion)
	binary.LittleEndian.PutUint32(p[8:], m.pageSize)
	binary.LittleEndian.PutUint64(p[16:], m.txid)
	binary.LittleEndian.PutUint64(p[24:], m.root)
	binary.LittleEndian.PutUint64(p[32:], m.freelist)
	binary.LittleEndian.PutUint64(p[40:], m.hwm)
	sealPage(b)
	return b
}

// decodeMeta validates and decodes a meta page.
func decodeMeta(b []byte, id pgid) (meta, error) {
	if _, err := checkPage(b, id, pageMeta); err != nil {
		return meta{}, err
	}
	p := b[pageHeaderSize:]
	if binary.LittleEndian.Uint32(p[0:]) != metaMagic {
		return meta{}, fmt.Errorf("%w: %w %d: not a cairn page file", ErrBadFormat, ErrCorrupt, id)
	}
	if v := binary.LittleEndian.Uint32(p[4:]); v != metaVersion {
		return meta{}, fmt.Errorf("%w: meta page %d has format version %d, this build reads %d", ErrBadFormat, id, v, metaVersion)
	}
	m := meta{
		pageSize: binary.LittleEndian.Uint32(p[8:]),
		txid:     binary.LittleEndian.Uint64(p[16:]),
		root:     binary.LittleEndian.Uint64(p[24:]),
		freelist: binary.LittleEndian.Uint64(p[32:]),
		hwm:      binary.LittleEndian.Uint64(p[40:]),
	}
	if m.hwm < 2 || m.root >= m.hwm || m.freelist >= m.hwm {
		return meta{}, fmt.Errorf("%w %d: meta points outside the file (root %d, freelist %d, %d pages)", ErrCorrupt, id, m.root, m.freelist, m.hwm)
	}
	return m, nil
}

// ErrBadFormat is wrapped by errors about files that are not page files
// of a version this build reads.
var ErrBadFormat = errors.New("pagefile: not a cairn page file of a known version")
