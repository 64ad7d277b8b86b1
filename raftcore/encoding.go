package raftcore

import (
	"errors"
	"fmt"
	"math"

	"github.com/cairndb/cairn/internal/wire"
)

// The binary encoding of raft's types, used by the write-ahead log and the
// network. Integers are unsigned varints (uvarint), enums and flags one
// byte, byte strings a uvarint length then the bytes. No version byte: the
// containers (WAL records, RPC frames) carry versions.
//
//	Entry            Term Index Type(1) len Data
//	HardState        Term Vote Commit
//	ConfState        nVoters Voter... nLearners Learner...
//	SnapshotMetadata Index Term ConfState
//	Snapshot         SnapshotMetadata len Data
//	ConfChange       Type(1) NodeID len Context
//	Message          Type(1) From To Term LogTerm Index Commit Flags(1)
//	                 RejectHint Seq [RepairAttempt] nEntries Entry...
//	                 [Snapshot] len Context
//
// Message flags: 1 Reject, 2 Transfer, 4 a Snapshot follows the entries,
// 8 Repairing, 16 Repaired, 32 a RepairAttempt follows Seq (it is not 0).
//
// Decoders never panic and never allocate more than the input could hold:
// every count is checked against the bytes that remain. Decoded byte
// strings (Data, Context) alias the input buffer: the caller must not
// modify or reuse the buffer while the decoded value is in use.

// ErrDecode is wrapped by every decoding error.
var ErrDecode = errors.New("raftcore: decode")

const (
	flagReject    = 1 << 0
	flagTransfer  = 1 << 1
	flagSnapshot  = 1 << 2
	flagRepairing = 1 << 3
	flagRepaired  = 1 << 4
	flagAttempt   = 1 << 5
	flagsKnown    = flagReject | flagTransfer | flagSnapshot | flagRepairing | flagRepaired | flagAttempt
)

// --- appenders ------------------------------------------------------------

func appendBytes(b, s []byte) []byte { return wire.AppendBytes(b, s) }

// AppendEntry appends the encoding of e to b.
func AppendEntry(b []byte, e Entry) []byte {
	b = wire.AppendUvarint(b, e.Term)
	b = wire.AppendUvarint(b, e.Index)
	b = append(b, byte(e.Type))
	return appendBytes(b, e.Data)
}

// AppendHardState appends the encoding of h to b.
func AppendHardState(b []byte, h HardState) []byte {
	b = wire.AppendUvarint(b, h.Term)
	b = wire.AppendUvarint(b, h.Vote)
	return wire.AppendUvarint(b, h.Commit)
}

// AppendConfState appends the encoding of cs to b.
func AppendConfState(b []byte, cs ConfState) []byte {
	b = wire.AppendUvarint(b, uint64(len(cs.Voters)))
	for _, id := range cs.Voters {
		b = wire.AppendUvarint(b, id)
	}
	b = wire.AppendUvarint(b, uint64(len(cs.Learners)))
	for _, id := range cs.Learners {
		b = wire.AppendUvarint(b, id)
	}
	return b
}

// AppendSnapshotMetadata appends the encoding of m to b.
func AppendSnapshotMetadata(b []byte, m SnapshotMetadata) []byte {
	b = wire.AppendUvarint(b, m.Index)
	b = wire.AppendUvarint(b, m.Term)
	return AppendConfState(b, m.ConfState)
}

// AppendSnapshot appends the encoding of s to b.
func AppendSnapshot(b []byte, s Snapshot) []byte {
	b = AppendSnapshotMetadata(b, s.Metadata)
	return appendBytes(b, s.Data)
}

// AppendConfChange appends the encoding of cc to b.
func AppendConfChange(b []byte, cc ConfChange) []byte {
	b = append(b, byte(cc.Type))
	b = wire.AppendUvarint(b, cc.NodeID)
	return appendBytes(b, cc.Context)
}

// AppendMessage appends the encoding of m to b.
func AppendMessage(b []byte, m Message) []byte {
	b = append(b, byte(m.Type))
	for _, v := range [...]uint64{m.From, m.To, m.Term, m.LogTerm, m.Index, m.Commit} {
		b = wire.AppendUvarint(b, v)
	}
	var flags byte
	if m.Reject {
		flags |= flagReject
	}
	if m.Transfer {
		flags |= flagTransfer
	}
	if m.Snapshot != nil {
		flags |= flagSnapshot
	}
	if m.Repairing {
		flags |= flagRepairing
	}
	if m.Repaired {
		flags |= flagRepaired
	}
	if m.RepairAttempt != 0 {
		flags |= flagAttempt
	}
	b = append(b, flags)
	b = wire.AppendUvarint(b, m.RejectHint)
	b = wire.AppendUvarint(b, m.Seq)
	if m.RepairAttempt != 0 {
		b = wire.AppendUvarint(b, m.RepairAttempt)
	}
	b = wire.AppendUvarint(b, uint64(len(m.Entries)))
	for _, e := range m.Entries {
		b = AppendEntry(b, e)
	}
	if m.Snapshot != nil {
		b = AppendSnapshot(b, *m.Snapshot)
	}
	return appendBytes(b, m.Context)
}

// --- sizes ----------------------------------------------------------------

func uvarintSize(v uint64) int { return wire.UvarintLen(v) }

func bytesSize(s []byte) int { return wire.BytesLen(len(s)) }

// EncodedSize returns the length of e's encoding.
func (e Entry) EncodedSize() int {
	return uvarintSize(e.Term) + uvarintSize(e.Index) + 1 + bytesSize(e.Data)
}

// EntryDataOffset returns where e.Data begins in e's encoding
// (AppendEntry): after the term, the index, the type and the data's
// length. The data runs from there to the encoding's end. The write-ahead
// log uses it to record where on disk each entry's data lies.
func EntryDataOffset(e Entry) int {
	return uvarintSize(e.Term) + uvarintSize(e.Index) + 1 + uvarintSize(uint64(len(e.Data)))
}

// EncodedSize returns the length of m's encoding.
func (m Message) EncodedSize() int {
	n := 1 + 1
	for _, v := range [...]uint64{m.From, m.To, m.Term, m.LogTerm, m.Index, m.Commit, m.RejectHint, m.Seq} {
		n += uvarintSize(v)
	}
	if m.RepairAttempt != 0 {
		n += uvarintSize(m.RepairAttempt)
	}
	n += uvarintSize(uint64(len(m.Entries)))
	for _, e := range m.Entries {
		n += e.EncodedSize()
	}
	if m.Snapshot != nil {
		n += m.Snapshot.EncodedSize()
	}
	return n + bytesSize(m.Context)
}

// --- decoder --------------------------------------------------------------

// decoder reads an encoding front to back; the first error sticks.
type decoder struct {
	what string // the type being decoded, for error messages
	b    []byte
	off  int
	err  error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w %s at byte %d: %s", ErrDecode, d.what, d.off, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) uvarint(field string) uint64 { return d.uvarintOf(field, "") }

// uvarintOf reads a varint; field and suffix name it in an error (kept
// apart so that naming costs nothing unless decoding fails).
func (d *decoder) uvarintOf(field, suffix string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n, err := wire.Uvarint(d.b[d.off:])
	if err != nil {
		d.fail("%s%s: %v", field, suffix, err)
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) byte(field string) byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.fail("%s: truncated", field)
		return 0
	}
	c := d.b[d.off]
	d.off++
	return c
}

func (d *decoder) bytes(field string) []byte {
	// The label is only formatted on failure: building "field length"
	// here would allocate on every byte string decoded.
	n := d.uvarintOf(field, " length")
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)-d.off) {
		d.fail("%s: length %d exceeds the %d bytes remaining", field, n, len(d.b)-d.off)
		return nil
	}
	if n == 0 {
		return nil
	}
	s := d.b[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return s
}

// count reads a element count and checks that that many elements of at
// least minSize bytes each can fit in what remains.
func (d *decoder) count(field string, minSize int) int {
	n := d.uvarint(field)
	if d.err != nil {
		return 0
	}
	if n > uint64(len(d.b)-d.off)/uint64(minSize) || n > math.MaxInt32 {
		d.fail("%s %d exceeds what the %d remaining bytes can hold", field, n, len(d.b)-d.off)
		return 0
	}
	return int(n)
}

func (d *decoder) entry() Entry {
	var e Entry
	e.Term = d.uvarint("entry term")
	e.Index = d.uvarint("entry index")
	t := EntryType(d.byte("entry type"))
	if d.err == nil && t != EntryNormal && t != EntryConfChange {
		d.fail("unknown entry type %d", t)
	}
	e.Type = t
	e.Data = d.bytes("entry data")
	return e
}

func (d *decoder) ids(field string) []uint64 {
	n := d.count(field+" count", 1)
	if n == 0 {
		return nil
	}
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = d.uvarint(field)
	}
	return ids
}

func (d *decoder) confState() ConfState {
	return ConfState{Voters: d.ids("voter"), Learners: d.ids("learner")}
}

func (d *decoder) snapshotMetadata() SnapshotMetadata {
	var m SnapshotMetadata
	m.Index = d.uvarint("snapshot index")
	m.Term = d.uvarint("snapshot term")
	m.ConfState = d.confState()
	return m
}

func (d *decoder) snapshot() Snapshot {
	var s Snapshot
	s.Metadata = d.snapshotMetadata()
	s.Data = d.bytes("snapshot data")
	return s
}

func (d *decoder) message() Message {
	var m Message
	m.Type = MessageType(d.byte("message type"))
	if d.err == nil && !m.Type.Valid() {
		d.fail("unknown message type %d", m.Type)
	}
	m.From = d.uvarint("from")
	m.To = d.uvarint("to")
	m.Term = d.uvarint("term")
	m.LogTerm = d.uvarint("log term")
	m.Index = d.uvarint("index")
	m.Commit = d.uvarint("commit")
	flags := d.byte("flags")
	if d.err == nil && flags&^flagsKnown != 0 {
		d.fail("unknown flags %#x", flags)
	}
	m.Reject = flags&flagReject != 0
	m.Transfer = flags&flagTransfer != 0
	m.Repairing = flags&flagRepairing != 0
	m.Repaired = flags&flagRepaired != 0
	m.RejectHint = d.uvarint("reject hint")
	m.Seq = d.uvarint("seq")
	if flags&flagAttempt != 0 {
		if m.RepairAttempt = d.uvarint("repair attempt"); d.err == nil && m.RepairAttempt == 0 {
			d.fail("repair attempt 0 with its flag set")
		}
	}
	// An entry takes at least 4 bytes (term, index, type, data length).
	if n := d.count("entry count", 4); n > 0 {
		m.Entries = make([]Entry, n)
		for i := range m.Entries {
			m.Entries[i] = d.entry()
		}
	}
	if flags&flagSnapshot != 0 {
		s := d.snapshot()
		m.Snapshot = &s
	}
	m.Context = d.bytes("context")
	return m
}

func (d *decoder) confChange() ConfChange {
	var cc ConfChange
	cc.Type = ConfChangeType(d.byte("conf change type"))
	if d.err == nil && cc.Type > RemoveNode {
		d.fail("unknown conf change type %d", cc.Type)
	}
	cc.NodeID = d.uvarint("node id")
	cc.Context = d.bytes("context")
	return cc
}

func (d *decoder) hardState() HardState {
	return HardState{Term: d.uvarint("term"), Vote: d.uvarint("vote"), Commit: d.uvarint("commit")}
}

// finish checks that the whole input was consumed.
func (d *decoder) finish() error {
	if d.err == nil && d.off != len(d.b) {
		d.fail("%d trailing bytes", len(d.b)-d.off)
	}
	return d.err
}

// --- public decoders --------------------------------------------------------

// DecodeEntry decodes an entry from the front of b and returns it with the
// number of bytes it took.
func DecodeEntry(b []byte) (Entry, int, error) {
	d := decoder{what: "Entry", b: b}
	e := d.entry()
	return e, d.off, d.err
}

// DecodeMessage decodes a message from the front of b and returns it with
// the number of bytes it took.
func DecodeMessage(b []byte) (Message, int, error) {
	d := decoder{what: "Message", b: b}
	m := d.message()
	return m, d.off, d.err
}

// --- encoding.BinaryMarshaler / BinaryUnmarshaler ---------------------------

// MarshalBinary encodes e.
func (e Entry) MarshalBinary() ([]byte, error) { return AppendEntry(nil, e), nil }

// UnmarshalBinary decodes exactly one entry from b.
func (e *Entry) UnmarshalBinary(b []byte) error {
	d := decoder{what: "Entry", b: b}
	v := d.entry()
	if err := d.finish(); err != nil {
		return err
	}
	*e = v
	return nil
}

// MarshalBinary encodes h.
func (h HardState) MarshalBinary() ([]byte, error) { return AppendHardState(nil, h), nil }

// UnmarshalBinary decodes exactly one HardState from b.
func (h *HardState) UnmarshalBinary(b []byte) error {
	d := decoder{what: "HardState", b: b}
	v := d.hardState()
	if err := d.finish(); err != nil {
		return err
	}
	*h = v
	return nil
}

// MarshalBinary encodes cs.
func (cs ConfState) MarshalBinary() ([]byte, error) { return AppendConfState(nil, cs), nil }

// UnmarshalBinary decodes exactly one ConfState from b.
func (cs *ConfState) UnmarshalBinary(b []byte) error {
	d := decoder{what: "ConfState", b: b}
	v := d.confState()
	if err := d.finish(); err != nil {
		return err
	}
	*cs = v
	return nil
}

// MarshalBinary encodes s.
func (s Snapshot) MarshalBinary() ([]byte, error) { return AppendSnapshot(nil, s), nil }

// UnmarshalBinary decodes exactly one Snapshot from b.
func (s *Snapshot) UnmarshalBinary(b []byte) error {
	d := decoder{what: "Snapshot", b: b}
	v := d.snapshot()
	if err := d.finish(); err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalBinary encodes cc.
func (cc ConfChange) MarshalBinary() ([]byte, error) { return AppendConfChange(nil, cc), nil }

// UnmarshalBinary decodes exactly one ConfChange from b.
func (cc *ConfChange) UnmarshalBinary(b []byte) error {
	d := decoder{what: "ConfChange", b: b}
	v := d.confChange()
	if err := d.finish(); err != nil {
		return err
	}
	*cc = v
	return nil
}

// MarshalBinary encodes m.
func (m Message) MarshalBinary() ([]byte, error) {
	return AppendMessage(make([]byte, 0, m.EncodedSize()), m), nil
}

// UnmarshalBinary decodes exactly one Message from b.
func (m *Message) UnmarshalBinary(b []byte) error {
	d := decoder{what: "Message", b: b}
	v := d.message()
	if err := d.finish(); err != nil {
		return err
	}
	*m = v
	return nil
}
