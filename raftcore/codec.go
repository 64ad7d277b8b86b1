package raftcore

// This file completes the binary encoding defined in encoding.go (whose
// comment holds the format table) so that every type that crosses the disk
// or the network has the same four things:
//
//	AppendX(b, x) []byte          append the encoding, never fails (encoding.go)
//	x.EncodedSize() int           exact length of that encoding, to preallocate
//	DecodeX(b) (X, int, error)    decode from the front of b, report bytes used
//	MarshalBinary/UnmarshalBinary encoding.BinaryMarshaler/Unmarshaler; Unmarshal
//	                              rejects trailing bytes
//
// Entry and Message have their size and front decoder in encoding.go; the
// other types have them here.
//
// Nil and empty: an empty byte string or list is encoded as a zero length,
// whether it was nil or empty, and always decodes to nil. So a value
// round-trips to itself up to "empty slice becomes nil"; Message.Snapshot
// is the exception that keeps the difference, because nil (no snapshot) and
// a pointer to a zero Snapshot encode differently (a flag bit).
//
// ALIASING: decoded byte strings (Entry.Data, ConfChange.Context,
// Snapshot.Data, Message.Context) point into the input buffer; nothing is
// copied. The caller must neither modify nor reuse the buffer while a
// decoded value is in use. The aliases are capped at their own length, so
// appending to one never writes over the bytes that follow it.

// EncodedSize returns the length of h's encoding.
func (h HardState) EncodedSize() int {
	return uvarintSize(h.Term) + uvarintSize(h.Vote) + uvarintSize(h.Commit)
}

// EncodedSize returns the length of cs's encoding.
func (cs ConfState) EncodedSize() int {
	return idsSize(cs.Voters) + idsSize(cs.Learners)
}

func idsSize(ids []uint64) int {
	n := uvarintSize(uint64(len(ids)))
	for _, id := range ids {
		n += uvarintSize(id)
	}
	return n
}

// EncodedSize returns the length of m's encoding.
func (m SnapshotMetadata) EncodedSize() int {
	return uvarintSize(m.Index) + uvarintSize(m.Term) + m.ConfState.EncodedSize()
}

// EncodedSize returns the length of s's encoding.
func (s Snapshot) EncodedSize() int {
	return s.Metadata.EncodedSize() + bytesSize(s.Data)
}

// EncodedSize returns the length of cc's encoding.
func (cc ConfChange) EncodedSize() int {
	return 1 + uvarintSize(cc.NodeID) + bytesSize(cc.Context)
}

// decodeFront runs read on a decoder over b. On success it returns the value
// and the number of bytes read; on failure the zero value, 0 and an error
// wrapping ErrDecode that names the type (what), the byte offset and the
// field.
func decodeFront[T any](what string, b []byte, read func(*decoder) T) (T, int, error) {
	d := decoder{what: what, b: b}
	v := read(&d)
	if d.err != nil {
		var zero T
		return zero, 0, d.err
	}
	return v, d.off, nil
}

// DecodeHardState decodes a HardState from the front of b and returns it
// with the number of bytes it took.
func DecodeHardState(b []byte) (HardState, int, error) {
	return decodeFront("HardState", b, (*decoder).hardState)
}

// DecodeConfState decodes a ConfState from the front of b and returns it
// with the number of bytes it took.
func DecodeConfState(b []byte) (ConfState, int, error) {
	return decodeFront("ConfState", b, (*decoder).confState)
}

// DecodeSnapshotMetadata decodes a SnapshotMetadata from the front of b and
// returns it with the number of bytes it took.
func DecodeSnapshotMetadata(b []byte) (SnapshotMetadata, int, error) {
	return decodeFront("SnapshotMetadata", b, (*decoder).snapshotMetadata)
}

// DecodeSnapshot decodes a Snapshot from the front of b and returns it with
// the number of bytes it took. The snapshot's Data aliases b.
func DecodeSnapshot(b []byte) (Snapshot, int, error) {
	return decodeFront("Snapshot", b, (*decoder).snapshot)
}

// DecodeConfChange decodes a ConfChange from the front of b and returns it
// with the number of bytes it took. Its Context aliases b.
func DecodeConfChange(b []byte) (ConfChange, int, error) {
	return decodeFront("ConfChange", b, (*decoder).confChange)
}

// MarshalBinary encodes m.
func (m SnapshotMetadata) MarshalBinary() ([]byte, error) {
	return AppendSnapshotMetadata(make([]byte, 0, m.EncodedSize()), m), nil
}

// UnmarshalBinary decodes exactly one SnapshotMetadata from b.
func (m *SnapshotMetadata) UnmarshalBinary(b []byte) error {
	d := decoder{what: "SnapshotMetadata", b: b}
	v := d.snapshotMetadata()
	if err := d.finish(); err != nil {
		return err
	}
	*m = v
	return nil
}
