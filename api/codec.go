package api

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/cairndb/cairn/internal/wire"
)

// The binary encoding of the API's messages, used on the wire and in the
// raft log. Each message type lists its fields once, in order, in a
// fields method; the same list drives encoding and decoding, so the two
// cannot disagree. Integers are varints (zigzag for signed), byte strings
// a uvarint length then the bytes (strings alike), booleans and enums one
// byte, a uint32 a uvarint checked to fit, optional messages a presence
// byte, lists a uvarint count, and a message with exactly one of several
// fields set (RequestOp, WatchRequest) a tag byte naming the field.
//
// Decoding any byte string returns a message or an error wrapping
// ErrDecode; it never panics, and never allocates more than the input
// could describe (every count is checked against the bytes left). Decoded
// byte strings alias the input: callers must not reuse the buffer while
// the message is in use.

// ErrDecode is wrapped by every decoding error.
var ErrDecode = errors.New("api: decode")

// Message is a type this package can encode.
type Message interface {
	fields(c *coder)
}

// Marshal encodes m.
func Marshal(m Message) []byte { return AppendMarshal(nil, m) }

// AppendMarshal appends the encoding of m to b. A first pass over the
// fields sizes the encoding, so that b grows once (appending a value's
// bytes to a buffer that grew field by field cost a twentieth of a
// member's CPU under small puts).
func AppendMarshal(b []byte, m Message) []byte {
	// One coder for both passes: m.fields makes it escape to the heap.
	c := sizingCoder(m)
	c.buf, c.sizing = slices.Grow(b, c.size), false
	m.fields(c)
	return c.buf
}

// encodedLen is the length of m's encoding, counted over its fields.
func encodedLen(m Message) int { return sizingCoder(m).size }

// sizingCoder returns a coder that has counted the bytes of m's encoding
// (size), the first pass of AppendMarshal.
func sizingCoder(m Message) *coder {
	c := &coder{sizing: true}
	m.fields(c)
	return c
}

// Unmarshal decodes b, which must hold exactly one message, into m.
func Unmarshal(b []byte, m Message) error {
	c := coder{dec: true, buf: b}
	m.fields(&c)
	if c.err == nil && c.off != len(b) {
		c.fail("%d trailing bytes", len(b)-c.off)
	}
	return c.err
}

// coder encodes (dec false) or decodes (dec true) a message's fields.
type coder struct {
	dec bool
	// sizing counts the encoding's bytes (size) instead of writing them
	// (dec false).
	sizing bool
	size   int
	buf    []byte
	off    int
	err    error
	depth  int // nesting of transactions
}

func (c *coder) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%w at byte %d: %s", ErrDecode, c.off, fmt.Sprintf(format, args...))
	}
}

func (c *coder) uvarint(v *uint64) {
	if c.sizing {
		c.size += wire.UvarintLen(*v)
		return
	}
	if !c.dec {
		c.buf = wire.AppendUvarint(c.buf, *v)
		return
	}
	if c.err != nil {
		return
	}
	x, n, err := wire.Uvarint(c.buf[c.off:])
	if err != nil {
		c.fail("%v", err)
		return
	}
	c.off += n
	*v = x
}

func (c *coder) varint(v *int64) {
	if c.sizing {
		c.size += wire.VarintLen(*v)
		return
	}
	if !c.dec {
		c.buf = wire.AppendVarint(c.buf, *v)
		return
	}
	if c.err != nil {
		return
	}
	x, n, err := wire.Varint(c.buf[c.off:])
	if err != nil {
		c.fail("%v", err)
		return
	}
	c.off += n
	*v = x
}

// code codes an error code as a uvarint of at most 16 bits.
func (c *coder) code(v *Code) {
	x := uint64(*v)
	c.uvarint(&x)
	if c.dec && c.err == nil {
		if x > 0xffff {
			c.fail("error code %d exceeds 16 bits", x)
			return
		}
		*v = Code(x)
	}
}

func (c *coder) byte1(v *uint8) {
	if c.sizing {
		c.size++
		return
	}
	if !c.dec {
		c.buf = append(c.buf, *v)
		return
	}
	if c.err != nil {
		return
	}
	if c.off >= len(c.buf) {
		c.fail("truncated")
		return
	}
	*v = c.buf[c.off]
	c.off++
}

func (c *coder) boolean(v *bool) {
	b := uint8(0)
	if *v {
		b = 1
	}
	c.byte1(&b)
	if c.dec && c.err == nil {
		if b > 1 {
			c.fail("boolean byte %d", b)
		}
		*v = b == 1
	}
}

func (c *coder) bytes(v *[]byte) {
	n := uint64(len(*v))
	c.uvarint(&n)
	if c.sizing {
		c.size += len(*v)
		return
	}
	if !c.dec {
		c.buf = append(c.buf, *v...)
		return
	}
	if c.err != nil {
		return
	}
	if n > uint64(len(c.buf)-c.off) {
		c.fail("byte string of %d bytes, %d left", n, len(c.buf)-c.off)
		return
	}
	if n == 0 {
		*v = nil
		return
	}
	*v = c.buf[c.off : c.off+int(n) : c.off+int(n)]
	c.off += int(n)
}

func (c *coder) str(v *string) {
	if !c.dec {
		n := uint64(len(*v))
		c.uvarint(&n)
		if c.sizing {
			c.size += len(*v)
		} else {
			c.buf = append(c.buf, *v...)
		}
		return
	}
	var b []byte
	c.bytes(&b)
	*v = string(b)
}

// u32 codes a uint32 as a uvarint, rejecting values that overflow it.
func (c *coder) u32(v *uint32) {
	x := uint64(*v)
	c.uvarint(&x)
	if c.dec && c.err == nil {
		if x > math.MaxUint32 {
			c.fail("value %d overflows 32 bits", x)
			return
		}
		*v = uint32(x)
	}
}

// strs codes a list of strings (decoded empty as nil).
func (c *coder) strs(s *[]string) {
	n := c.count(len(*s), 1)
	if c.dec {
		if n == 0 {
			*s = nil
			return
		}
		*s = make([]string, n)
	}
	for i := range *s {
		c.str(&(*s)[i])
		if c.err != nil {
			return
		}
	}
}

// bytesList codes a list of byte strings (decoded empty as nil, and each
// empty element as nil, as bytes does).
func (c *coder) bytesList(s *[][]byte) {
	n := c.count(len(*s), 1)
	if c.dec {
		if n == 0 {
			*s = nil
			return
		}
		*s = make([][]byte, n)
	}
	for i := range *s {
		c.bytes(&(*s)[i])
		if c.err != nil {
			return
		}
	}
}

// count encodes a list length; on decode it checks that n elements of at
// least minSize bytes fit in what is left.
func (c *coder) count(n int, minSize int) int {
	v := uint64(n)
	c.uvarint(&v)
	if !c.dec {
		return n
	}
	if c.err != nil {
		return 0
	}
	if v > uint64(len(c.buf)-c.off)/uint64(minSize) || v > math.MaxInt32 {
		c.fail("list of %d elements cannot fit in %d bytes", v, len(c.buf)-c.off)
		return 0
	}
	return int(v)
}

// more reports whether fields added to a message after its first release
// follow: always when encoding; when decoding, only if bytes are left, so
// a message from an older sender, which ends before them, decodes with
// those fields zero. Fields after a more check must stay last.
func (c *coder) more() bool {
	return !c.dec || (c.err == nil && c.off < len(c.buf))
}

// present encodes whether an optional field is set.
func (c *coder) present(set bool) bool {
	c.boolean(&set)
	return set && c.err == nil
}

// enum codes a one-byte enum, rejecting values above maxValue.
func enum[T ~uint8](c *coder, v *T, maxValue T) {
	b := uint8(*v)
	c.byte1(&b)
	if c.dec && c.err == nil {
		if T(b) > maxValue {
			c.fail("enum value %d out of range", b)
			return
		}
		*v = T(b)
	}
}

// enumList codes a slice of one-byte enums, each at most maxValue.
func enumList[T ~uint8](c *coder, s *[]T, maxValue T) {
	n := c.count(len(*s), 1)
	if c.dec {
		if n == 0 {
			*s = nil
			return
		}
		*s = make([]T, n)
	}
	for i := range *s {
		enum(c, &(*s)[i], maxValue)
		if c.err != nil {
			return
		}
	}
}

// list codes a slice of messages.
func list[T any, P interface {
	*T
	Message
}](c *coder, s *[]T) {
	n := c.count(len(*s), 1)
	if c.dec {
		if n == 0 {
			*s = nil
			return
		}
		*s = make([]T, n)
	}
	for i := range *s {
		P(&(*s)[i]).fields(c)
		if c.err != nil {
			return
		}
	}
}

// optional codes a pointer to a message (nil when absent).
func optional[T any, P interface {
	*T
	Message
}](c *coder, p **T) {
	if !c.present(*p != nil) {
		if c.dec {
			*p = nil
		}
		return
	}
	if c.dec {
		*p = new(T)
	}
	P(*p).fields(c)
}

// --- KV messages --------------------------------------------------------

func (m *KeyValue) fields(c *coder) {
	c.bytes(&m.Key)
	c.varint(&m.CreateRevision)
	c.varint(&m.ModRevision)
	c.varint(&m.Version)
	c.bytes(&m.Value)
	c.varint(&m.Lease)
}

// EncodedSize is the length of m's encoding (len(Marshal(m))), computed
// without encoding it: what one key adds to a RangeResponse, so a reader
// can stop before its answer passes a size limit.
func (m *KeyValue) EncodedSize() int {
	return bytesSize(len(m.Key)) + varintSize(m.CreateRevision) + varintSize(m.ModRevision) +
		varintSize(m.Version) + bytesSize(len(m.Value)) + varintSize(m.Lease)
}

// uvarintSize is the length of a coded uvarint.
func uvarintSize(v uint64) int { return wire.UvarintLen(v) }

// varintSize is the length of a coded (zigzag) varint.
func varintSize(v int64) int { return wire.VarintLen(v) }

// bytesSize is the length of a byte string of n bytes as coded.
func bytesSize(n int) int { return wire.BytesLen(n) }

func (m *Event) fields(c *coder) {
	enum(c, &m.Type, EventDelete)
	m.Kv.fields(c)
	optional(c, &m.PrevKv)
}

func (m *ResponseHeader) fields(c *coder) {
	c.uvarint(&m.ClusterID)
	c.uvarint(&m.MemberID)
	c.varint(&m.Revision)
	c.uvarint(&m.RaftTerm)
}

func (m *RangeRequest) fields(c *coder) {
	c.bytes(&m.Key)
	c.bytes(&m.RangeEnd)
	c.varint(&m.Limit)
	c.varint(&m.Revision)
	enum(c, &m.SortOrder, SortDescend)
	enum(c, &m.SortTarget, SortByValue)
	c.boolean(&m.Serializable)
	c.boolean(&m.KeysOnly)
	c.boolean(&m.CountOnly)
	c.varint(&m.MinModRevision)
	c.varint(&m.MaxModRevision)
	c.varint(&m.MinCreateRevision)
	c.varint(&m.MaxCreateRevision)
}

func (m *RangeResponse) fields(c *coder) {
	m.Header.fields(c)
	list(c, &m.Kvs)
	c.boolean(&m.More)
	c.varint(&m.Count)
}

func (m *PutRequest) fields(c *coder) {
	c.bytes(&m.Key)
	c.bytes(&m.Value)
	c.varint(&m.Lease)
	c.boolean(&m.PrevKv)
	c.boolean(&m.IgnoreValue)
	c.boolean(&m.IgnoreLease)
}

func (m *PutResponse) fields(c *coder) {
	m.Header.fields(c)
	optional(c, &m.PrevKv)
}

func (m *DeleteRangeRequest) fields(c *coder) {
	c.bytes(&m.Key)
	c.bytes(&m.RangeEnd)
	c.boolean(&m.PrevKv)
}

func (m *DeleteRangeResponse) fields(c *coder) {
	m.Header.fields(c)
	c.varint(&m.Deleted)
	list(c, &m.PrevKvs)
}

func (m *Compare) fields(c *coder) {
	enum(c, &m.Result, CompareNotEqual)
	enum(c, &m.Target, CompareLease)
	c.bytes(&m.Key)
	c.bytes(&m.RangeEnd)
	c.varint(&m.Version)
	c.varint(&m.CreateRevision)
	c.varint(&m.ModRevision)
	c.bytes(&m.Value)
	c.varint(&m.Lease)
}

// RequestOp and ResponseOp carry exactly one request: a kind byte says
// which.
const (
	opRange uint8 = iota + 1
	opPut
	opDeleteRange
	opTxn
)

func (m *RequestOp) fields(c *coder) {
	var kind uint8
	switch {
	case m.Range != nil:
		kind = opRange
	case m.Put != nil:
		kind = opPut
	case m.DeleteRange != nil:
		kind = opDeleteRange
	case m.Txn != nil:
		kind = opTxn
	}
	c.byte1(&kind)
	switch kind {
	case opRange:
		codeOne(c, &m.Range)
	case opPut:
		codeOne(c, &m.Put)
	case opDeleteRange:
		codeOne(c, &m.DeleteRange)
	case opTxn:
		codeOne(c, &m.Txn)
	default:
		c.fail("request op of unknown kind %d", kind)
	}
}

func (m *ResponseOp) fields(c *coder) {
	var kind uint8
	switch {
	case m.Range != nil:
		kind = opRange
	case m.Put != nil:
		kind = opPut
	case m.DeleteRange != nil:
		kind = opDeleteRange
	case m.Txn != nil:
		kind = opTxn
	}
	c.byte1(&kind)
	switch kind {
	case opRange:
		codeOne(c, &m.Range)
	case opPut:
		codeOne(c, &m.Put)
	case opDeleteRange:
		codeOne(c, &m.DeleteRange)
	case opTxn:
		codeOne(c, &m.Txn)
	default:
		c.fail("response op of unknown kind %d", kind)
	}
}

// codeOne codes a required message behind a pointer.
func codeOne[T any, P interface {
	*T
	Message
}](c *coder, p **T) {
	if c.dec {
		*p = new(T)
	}
	P(*p).fields(c)
}

// maxTxnDepth bounds nested transactions so a hostile input cannot
// recurse without limit.
const maxTxnDepth = 32

func (m *TxnRequest) fields(c *coder) {
	if c.depth++; c.depth > maxTxnDepth {
		c.fail("transactions nested deeper than %d", maxTxnDepth)
		return
	}
	list(c, &m.Compare)
	list(c, &m.Success)
	list(c, &m.Failure)
	c.depth--
}

func (m *TxnResponse) fields(c *coder) {
	if c.depth++; c.depth > maxTxnDepth {
		c.fail("transactions nested deeper than %d", maxTxnDepth)
		return
	}
	m.Header.fields(c)
	c.boolean(&m.Succeeded)
	list(c, &m.Responses)
	c.depth--
}

func (m *CompactionRequest) fields(c *coder) {
	c.varint(&m.Revision)
	c.boolean(&m.Physical)
}

func (m *CompactionResponse) fields(c *coder) { m.Header.fields(c) }
