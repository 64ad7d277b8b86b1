package raftcore

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// Every type that crosses the disk or the network is a BinaryMarshaler and
// a BinaryUnmarshaler.
var (
	_ encoding.BinaryMarshaler   = (*Entry)(nil)
	_ encoding.BinaryUnmarshaler = (*Entry)(nil)
	_ encoding.BinaryMarshaler   = (*HardState)(nil)
	_ encoding.BinaryUnmarshaler = (*HardState)(nil)
	_ encoding.BinaryMarshaler   = (*ConfState)(nil)
	_ encoding.BinaryUnmarshaler = (*ConfState)(nil)
	_ encoding.BinaryMarshaler   = (*SnapshotMetadata)(nil)
	_ encoding.BinaryUnmarshaler = (*SnapshotMetadata)(nil)
	_ encoding.BinaryMarshaler   = (*Snapshot)(nil)
	_ encoding.BinaryUnmarshaler = (*Snapshot)(nil)
	_ encoding.BinaryMarshaler   = (*ConfChange)(nil)
	_ encoding.BinaryUnmarshaler = (*ConfChange)(nil)
	_ encoding.BinaryMarshaler   = (*Message)(nil)
	_ encoding.BinaryUnmarshaler = (*Message)(nil)
)

// --- generators --------------------------------------------------------------
//
// Unlike the generators in encoding_test.go these produce nil, empty and
// non-empty slices alike, and the tests compare a decoded value with the
// original after codecNorm* (empty becomes nil), which is the documented
// contract.

func codecGenBytes() *rapid.Generator[[]byte] {
	return rapid.Custom(func(t *rapid.T) []byte {
		switch rapid.IntRange(0, 3).Draw(t, "bytesKind") {
		case 0:
			return nil
		case 1:
			return []byte{}
		}
		return rapid.SliceOfN(rapid.Byte(), 1, 300).Draw(t, "bytes")
	})
}

func codecGenIDs() *rapid.Generator[[]uint64] {
	return rapid.Custom(func(t *rapid.T) []uint64 {
		switch rapid.IntRange(0, 3).Draw(t, "idsKind") {
		case 0:
			return nil
		case 1:
			return []uint64{}
		}
		return rapid.SliceOfN(rapid.Uint64(), 1, 7).Draw(t, "ids")
	})
}

func codecGenEntry() *rapid.Generator[Entry] {
	return rapid.Custom(func(t *rapid.T) Entry {
		return Entry{
			Term:  rapid.Uint64().Draw(t, "term"),
			Index: rapid.Uint64().Draw(t, "index"),
			Type:  rapid.SampledFrom([]EntryType{EntryNormal, EntryConfChange}).Draw(t, "type"),
			Data:  codecGenBytes().Draw(t, "data"),
		}
	})
}

func codecGenHardState() *rapid.Generator[HardState] {
	return rapid.Custom(func(t *rapid.T) HardState {
		return HardState{Term: rapid.Uint64().Draw(t, "term"), Vote: rapid.Uint64().Draw(t, "vote"), Commit: rapid.Uint64().Draw(t, "commit")}
	})
}

func codecGenConfState() *rapid.Generator[ConfState] {
	return rapid.Custom(func(t *rapid.T) ConfState {
		return ConfState{Voters: codecGenIDs().Draw(t, "voters"), Learners: codecGenIDs().Draw(t, "learners")}
	})
}

func codecGenSnapshotMetadata() *rapid.Generator[SnapshotMetadata] {
	return rapid.Custom(func(t *rapid.T) SnapshotMetadata {
		return SnapshotMetadata{
			Index:     rapid.Uint64().Draw(t, "index"),
			Term:      rapid.Uint64().Draw(t, "term"),
			ConfState: codecGenConfState().Draw(t, "confState"),
		}
	})
}

func codecGenSnapshot() *rapid.Generator[Snapshot] {
	return rapid.Custom(func(t *rapid.T) Snapshot {
		return Snapshot{Metadata: codecGenSnapshotMetadata().Draw(t, "metadata"), Data: codecGenBytes().Draw(t, "data")}
	})
}

func codecGenConfChange() *rapid.Generator[ConfChange] {
	return rapid.Custom(func(t *rapid.T) ConfChange {
		return ConfChange{
			Type:    rapid.SampledFrom([]ConfChangeType{AddVoter, AddLearner, RemoveNode}).Draw(t, "type"),
			NodeID:  rapid.Uint64().Draw(t, "nodeID"),
			Context: codecGenBytes().Draw(t, "context"),
		}
	})
}

func codecGenMessage() *rapid.Generator[Message] {
	return rapid.Custom(func(t *rapid.T) Message {
		m := Message{
			Type:          MessageType(rapid.IntRange(int(MsgApp), int(MsgTransferLeader)).Draw(t, "type")),
			From:          rapid.Uint64().Draw(t, "from"),
			To:            rapid.Uint64().Draw(t, "to"),
			Term:          rapid.Uint64().Draw(t, "term"),
			LogTerm:       rapid.Uint64().Draw(t, "logTerm"),
			Index:         rapid.Uint64().Draw(t, "index"),
			Commit:        rapid.Uint64().Draw(t, "commit"),
			Reject:        rapid.Bool().Draw(t, "reject"),
			RejectHint:    rapid.Uint64().Draw(t, "rejectHint"),
			Seq:           rapid.Uint64().Draw(t, "seq"),
			Transfer:      rapid.Bool().Draw(t, "transfer"),
			Repairing:     rapid.Bool().Draw(t, "repairing"),
			Repaired:      rapid.Bool().Draw(t, "repaired"),
			RepairAttempt: rapid.Uint64().Draw(t, "repair attempt"),
			Context:       codecGenBytes().Draw(t, "context"),
		}
		switch rapid.IntRange(0, 2).Draw(t, "entriesKind") {
		case 1:
			m.Entries = []Entry{}
		case 2:
			m.Entries = rapid.SliceOfN(codecGenEntry(), 1, 6).Draw(t, "entries")
		}
		if rapid.Bool().Draw(t, "hasSnapshot") {
			s := codecGenSnapshot().Draw(t, "snapshot")
			m.Snapshot = &s
		}
		return m
	})
}

// --- normalization: what a value is expected to decode to -------------------

func codecNormBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func codecNormIDs(ids []uint64) []uint64 {
	if len(ids) == 0 {
		return nil
	}
	return ids
}

func codecNormEntry(e Entry) Entry { e.Data = codecNormBytes(e.Data); return e }

func codecNormHardState(h HardState) HardState { return h }

func codecNormConfState(cs ConfState) ConfState {
	return ConfState{Voters: codecNormIDs(cs.Voters), Learners: codecNormIDs(cs.Learners)}
}

func codecNormSnapshotMetadata(m SnapshotMetadata) SnapshotMetadata {
	m.ConfState = codecNormConfState(m.ConfState)
	return m
}

func codecNormSnapshot(s Snapshot) Snapshot {
	return Snapshot{Metadata: codecNormSnapshotMetadata(s.Metadata), Data: codecNormBytes(s.Data)}
}

func codecNormConfChange(cc ConfChange) ConfChange {
	cc.Context = codecNormBytes(cc.Context)
	return cc
}

func codecNormMessage(m Message) Message {
	if len(m.Entries) == 0 {
		m.Entries = nil
	} else {
		ents := make([]Entry, len(m.Entries))
		for i, e := range m.Entries {
			ents[i] = codecNormEntry(e)
		}
		m.Entries = ents
	}
	if m.Snapshot != nil {
		s := codecNormSnapshot(*m.Snapshot)
		m.Snapshot = &s
	}
	m.Context = codecNormBytes(m.Context)
	return m
}

// --- the codec of one type, as a table row -----------------------------------

// codecOf gathers the functions that make up the encoding of one type T, so
// that one generic check covers every type.
type codecOf[T any] struct {
	name      string
	gen       *rapid.Generator[T]
	appendTo  func([]byte, T) []byte
	size      func(T) int
	decode    func([]byte) (T, int, error)
	normalize func(T) T
}

func entryCodec() codecOf[Entry] {
	return codecOf[Entry]{"Entry", codecGenEntry(), AppendEntry, Entry.EncodedSize, DecodeEntry, codecNormEntry}
}

func hardStateCodec() codecOf[HardState] {
	return codecOf[HardState]{"HardState", codecGenHardState(), AppendHardState, HardState.EncodedSize, DecodeHardState, codecNormHardState}
}

func confStateCodec() codecOf[ConfState] {
	return codecOf[ConfState]{"ConfState", codecGenConfState(), AppendConfState, ConfState.EncodedSize, DecodeConfState, codecNormConfState}
}

func snapshotMetadataCodec() codecOf[SnapshotMetadata] {
	return codecOf[SnapshotMetadata]{"SnapshotMetadata", codecGenSnapshotMetadata(), AppendSnapshotMetadata, SnapshotMetadata.EncodedSize, DecodeSnapshotMetadata, codecNormSnapshotMetadata}
}

func snapshotCodec() codecOf[Snapshot] {
	return codecOf[Snapshot]{"Snapshot", codecGenSnapshot(), AppendSnapshot, Snapshot.EncodedSize, DecodeSnapshot, codecNormSnapshot}
}

func confChangeCodec() codecOf[ConfChange] {
	return codecOf[ConfChange]{"ConfChange", codecGenConfChange(), AppendConfChange, ConfChange.EncodedSize, DecodeConfChange, codecNormConfChange}
}

func messageCodec() codecOf[Message] {
	return codecOf[Message]{"Message", codecGenMessage(), AppendMessage, Message.EncodedSize, DecodeMessage, codecNormMessage}
}

func (c codecOf[T]) marshal(v T) ([]byte, error) {
	return any(v).(encoding.BinaryMarshaler).MarshalBinary()
}

func (c codecOf[T]) unmarshal(b []byte) (T, error) {
	var v T
	err := any(&v).(encoding.BinaryUnmarshaler).UnmarshalBinary(b)
	return v, err
}

// roundTrip checks every entry point of the codec on one value: the
// appender keeps what b already held and writes exactly EncodedSize bytes,
// MarshalBinary agrees with it, the front decoder reads back the
// (normalized) value and reports the right length when more bytes follow,
// UnmarshalBinary reads it back and refuses trailing bytes, and truncated
// encodings are errors.
func (c codecOf[T]) roundTrip(t *rapid.T, v T) {
	prefix := rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(t, "prefix")
	suffix := rapid.SliceOfN(rapid.Byte(), 1, 8).Draw(t, "suffix")
	want := c.normalize(v)

	out := c.appendTo(append([]byte(nil), prefix...), v)
	if !bytes.Equal(out[:len(prefix)], prefix) {
		t.Fatalf("Append%s overwrote the bytes already in the buffer", c.name)
	}
	enc := out[len(prefix):]
	if got := c.size(v); got != len(enc) {
		t.Fatalf("%s.EncodedSize() = %d, encoding is %d bytes", c.name, got, len(enc))
	}
	marshaled, err := c.marshal(v)
	if err != nil || !bytes.Equal(marshaled, enc) {
		t.Fatalf("MarshalBinary = %x, %v; Append%s wrote %x", marshaled, err, c.name, enc)
	}

	got, n, err := c.decode(append(append([]byte(nil), enc...), suffix...))
	if err != nil {
		t.Fatalf("Decode%s(%x + suffix): %v", c.name, enc, err)
	}
	if n != len(enc) {
		t.Fatalf("Decode%s consumed %d bytes, encoding is %d", c.name, n, len(enc))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode%s round trip:\n got %+v\nwant %+v", c.name, got, want)
	}

	got, err = c.unmarshal(enc)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("UnmarshalBinary round trip: %v\n got %+v\nwant %+v", err, got, want)
	}
	if _, err := c.unmarshal(append(append([]byte(nil), enc...), suffix...)); !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), "trailing") {
		t.Fatalf("UnmarshalBinary with %d trailing bytes: err = %v, want a trailing-bytes ErrDecode", len(suffix), err)
	}

	// Truncation anywhere is an error (every field, even the last, takes at
	// least one byte), never a panic or a silently shorter value.
	for range 3 {
		cut := rapid.IntRange(0, len(enc)-1).Draw(t, "cut")
		if _, _, err := c.decode(enc[:cut]); !errors.Is(err, ErrDecode) {
			t.Fatalf("Decode%s of the first %d of %d bytes: err = %v, want ErrDecode", c.name, cut, len(enc), err)
		}
	}
}

func TestCodecRoundTrip(t *testing.T) {
	t.Run("Entry", rapid.MakeCheck(func(t *rapid.T) { entryCodec().roundTrip(t, entryCodec().gen.Draw(t, "v")) }))
	t.Run("HardState", rapid.MakeCheck(func(t *rapid.T) { hardStateCodec().roundTrip(t, hardStateCodec().gen.Draw(t, "v")) }))
	t.Run("ConfState", rapid.MakeCheck(func(t *rapid.T) { confStateCodec().roundTrip(t, confStateCodec().gen.Draw(t, "v")) }))
	t.Run("SnapshotMetadata", rapid.MakeCheck(func(t *rapid.T) {
		snapshotMetadataCodec().roundTrip(t, snapshotMetadataCodec().gen.Draw(t, "v"))
	}))
	t.Run("Snapshot", rapid.MakeCheck(func(t *rapid.T) { snapshotCodec().roundTrip(t, snapshotCodec().gen.Draw(t, "v")) }))
	t.Run("ConfChange", rapid.MakeCheck(func(t *rapid.T) { confChangeCodec().roundTrip(t, confChangeCodec().gen.Draw(t, "v")) }))
	t.Run("Message", rapid.MakeCheck(func(t *rapid.T) { messageCodec().roundTrip(t, messageCodec().gen.Draw(t, "v")) }))
}

// TestCodecEntriesBackToBack decodes a run of entries written one after the
// other, the way a WAL record holds them, using the consumed byte counts.
func TestCodecEntriesBackToBack(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ents := rapid.SliceOfN(codecGenEntry(), 0, 10).Draw(t, "entries")
		var b []byte
		for _, e := range ents {
			b = AppendEntry(b, e)
		}
		for i, want := range ents {
			e, n, err := DecodeEntry(b)
			if err != nil || n == 0 {
				t.Fatalf("entry %d: n = %d, err = %v", i, n, err)
			}
			if !reflect.DeepEqual(e, codecNormEntry(want)) {
				t.Fatalf("entry %d: got %+v, want %+v", i, e, want)
			}
			b = b[n:]
		}
		if len(b) != 0 {
			t.Fatalf("%d bytes left over", len(b))
		}
	})
}

// TestCodecNilAndEmpty pins the documented convention: nil and empty slices
// have the same encoding and both decode to nil; only Message.Snapshot keeps
// nil (no snapshot) apart from a pointer to a zero Snapshot.
func TestCodecNilAndEmpty(t *testing.T) {
	same := []struct {
		name         string
		nilEnc, eEnc []byte
	}{
		{"Entry.Data", AppendEntry(nil, Entry{Term: 1}), AppendEntry(nil, Entry{Term: 1, Data: []byte{}})},
		{"ConfState", AppendConfState(nil, ConfState{}), AppendConfState(nil, ConfState{Voters: []uint64{}, Learners: []uint64{}})},
		{"Snapshot.Data", AppendSnapshot(nil, Snapshot{}), AppendSnapshot(nil, Snapshot{Data: []byte{}})},
		{"ConfChange.Context", AppendConfChange(nil, ConfChange{}), AppendConfChange(nil, ConfChange{Context: []byte{}})},
		{"Message.Entries", AppendMessage(nil, Message{Type: MsgApp}), AppendMessage(nil, Message{Type: MsgApp, Entries: []Entry{}})},
		{"Message.Context", AppendMessage(nil, Message{Type: MsgReadIndex}), AppendMessage(nil, Message{Type: MsgReadIndex, Context: []byte{}})},
	}
	for _, tt := range same {
		if !bytes.Equal(tt.nilEnc, tt.eEnc) {
			t.Errorf("%s: nil encodes as %x, empty as %x", tt.name, tt.nilEnc, tt.eEnc)
		}
	}

	var m Message
	if err := m.UnmarshalBinary(AppendMessage(nil, Message{Type: MsgApp, Entries: []Entry{}, Context: []byte{}})); err != nil {
		t.Fatal(err)
	}
	if m.Entries != nil || m.Context != nil || m.Snapshot != nil {
		t.Errorf("empty slices decoded as %#v, want nil", m)
	}
	var cs ConfState
	if err := cs.UnmarshalBinary(AppendConfState(nil, ConfState{Voters: []uint64{}})); err != nil || cs.Voters != nil || cs.Learners != nil {
		t.Errorf("empty ConfState decoded as %#v, %v; want nil lists", cs, err)
	}

	zero := AppendMessage(nil, Message{Type: MsgSnap, Snapshot: &Snapshot{}})
	if bytes.Equal(zero, AppendMessage(nil, Message{Type: MsgSnap})) {
		t.Fatal("a zero Snapshot and no Snapshot encode the same")
	}
	if err := m.UnmarshalBinary(zero); err != nil || m.Snapshot == nil || !reflect.DeepEqual(*m.Snapshot, Snapshot{}) {
		t.Errorf("Message with a zero Snapshot decoded as %+v, %v", m, err)
	}
}

// aliases reports whether s shares memory with buf, by flipping s's first
// byte and watching buf change.
func aliases(buf, s []byte) bool {
	if len(s) == 0 {
		return false
	}
	before := bytes.Clone(buf)
	s[0] ^= 0xff
	changed := !bytes.Equal(before, buf)
	s[0] ^= 0xff
	return changed
}

// TestCodecDecodedBytesAliasInput pins the zero-copy contract: decoded byte
// strings point into the input, and are capped so that appending to one
// cannot overwrite the bytes after it.
func TestCodecDecodedBytesAliasInput(t *testing.T) {
	buf := AppendMessage(nil, Message{
		Type:     MsgApp,
		Entries:  []Entry{{Term: 1, Index: 1, Data: []byte("first")}, {Term: 1, Index: 2, Data: []byte("second")}},
		Snapshot: &Snapshot{Metadata: SnapshotMetadata{Index: 1}, Data: []byte("snapshot")},
		Context:  []byte("ctx"),
	})
	m, _, err := DecodeMessage(buf)
	if err != nil {
		t.Fatal(err)
	}
	cc := AppendConfChange(nil, ConfChange{NodeID: 2, Context: []byte("addr")})
	c, _, err := DecodeConfChange(cc)
	if err != nil {
		t.Fatal(err)
	}
	snapBuf := AppendSnapshot(nil, Snapshot{Data: []byte("state")})
	s, _, err := DecodeSnapshot(snapBuf)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		buf  []byte
		s    []byte
	}{
		{"Message.Entries[0].Data", buf, m.Entries[0].Data},
		{"Message.Entries[1].Data", buf, m.Entries[1].Data},
		{"Message.Snapshot.Data", buf, m.Snapshot.Data},
		{"Message.Context", buf, m.Context},
		{"ConfChange.Context", cc, c.Context},
		{"Snapshot.Data", snapBuf, s.Data},
	} {
		if !aliases(tt.buf, tt.s) {
			t.Errorf("%s was copied; the codec promises zero copy", tt.name)
		}
		if cap(tt.s) != len(tt.s) {
			t.Errorf("%s has cap %d > len %d: an append would overwrite the input", tt.name, cap(tt.s), len(tt.s))
		}
	}
	before := bytes.Clone(buf)
	_ = append(m.Entries[0].Data, "!!!!!!!!"...)
	if !bytes.Equal(before, buf) {
		t.Error("appending to a decoded Data changed the input buffer")
	}
}

// TestCodecMalformed checks that specific malformed inputs are refused with
// an error that wraps ErrDecode, names the type and says what is wrong.
func TestCodecMalformed(t *testing.T) {
	unmarshalInto := func(v encoding.BinaryUnmarshaler) func([]byte) error { return v.UnmarshalBinary }
	entry := unmarshalInto(new(Entry))
	hardState := unmarshalInto(new(HardState))
	confState := unmarshalInto(new(ConfState))
	meta := unmarshalInto(new(SnapshotMetadata))
	snapshot := unmarshalInto(new(Snapshot))
	confChange := unmarshalInto(new(ConfChange))
	message := unmarshalInto(new(Message))

	overflow := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02} // 2^64 and more
	maxUint := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}  // exactly 2^64-1: valid
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	// msgHeader is a MsgApp with every integer zero, no flags, up to (not
	// including) the entry count.
	msgHeader := func(flags byte) []byte { return []byte{byte(MsgApp), 0, 0, 0, 0, 0, 0, flags, 0, 0} }
	validMsg := AppendMessage(nil, Message{Type: MsgApp, Entries: []Entry{{Term: 1, Index: 2, Data: []byte("x")}}})

	tests := []struct {
		name    string
		decode  func([]byte) error
		in      []byte
		typ     string // the type named in the error
		wantMsg string // a substring of the error
	}{
		{"entry: empty", entry, nil, "Entry", "entry term: varint truncated"},
		{"entry: term not in its shortest form", entry, []byte{0x81, 0x00}, "Entry", "entry term: varint longer than its shortest encoding"},
		{"entry: varint cut short", entry, []byte{0x80}, "Entry", "entry term: varint truncated"},
		{"entry: term overflows 64 bits", entry, overflow, "Entry", "entry term: varint overflows 64 bits"},
		{"entry: index overflows 64 bits", entry, cat([]byte{1}, overflow), "Entry", "entry index: varint overflows 64 bits"},
		{"entry: eleven-byte varint", entry, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, "Entry", "overflows"},
		{"entry: unknown type", entry, []byte{1, 1, 2, 0}, "Entry", "unknown entry type 2"},
		{"entry: type missing", entry, []byte{1, 1}, "Entry", "entry type: truncated"},
		{"entry: data longer than input", entry, []byte{1, 1, 0, 5, 'a'}, "Entry", "entry data: length 5 exceeds the 1 bytes remaining"},
		{"entry: data length overflows", entry, cat([]byte{1, 1, 0}, overflow), "Entry", "entry data length: varint overflows 64 bits"},
		{"entry: trailing byte", entry, []byte{1, 1, 0, 0, 0}, "Entry", "1 trailing bytes"},
		{"hard state: commit missing", hardState, []byte{1, 1}, "HardState", "commit: varint truncated"},
		{"hard state: vote overflows", hardState, cat([]byte{1}, overflow, []byte{1}), "HardState", "vote: varint overflows 64 bits"},
		{"hard state: trailing bytes", hardState, []byte{1, 1, 1, 9, 9}, "HardState", "2 trailing bytes"},
		{"conf state: huge voter count", confState, []byte{0xc0, 0x84, 0x3d, 1, 2, 3}, "ConfState", "voter count 1000000 exceeds what the 3 remaining bytes can hold"},
		{"conf state: count beyond int range", confState, cat(maxUint, make([]byte, 20)), "ConfState", "voter count 18446744073709551615 exceeds"},
		{"conf state: learner list missing", confState, []byte{1, 7}, "ConfState", "learner count: varint truncated"},
		{"conf state: voter overflows", confState, cat([]byte{1}, overflow, []byte{0}), "ConfState", "voter: varint overflows 64 bits"},
		{"snapshot metadata: term missing", meta, []byte{5}, "SnapshotMetadata", "snapshot term: varint truncated"},
		{"snapshot metadata: trailing", meta, []byte{5, 1, 0, 0, 0}, "SnapshotMetadata", "1 trailing bytes"},
		{"snapshot: data longer than input", snapshot, []byte{5, 1, 0, 0, 0x80, 0x80, 0x04, 1, 2}, "Snapshot", "snapshot data: length 65536 exceeds the 2 bytes remaining"},
		{"snapshot: data length missing", snapshot, []byte{5, 1, 0, 0}, "Snapshot", "snapshot data length: varint truncated"},
		{"conf change: unknown type", confChange, []byte{3, 1, 0}, "ConfChange", "unknown conf change type 3"},
		{"conf change: context cut short", confChange, []byte{0, 1, 4, 'a', 'b'}, "ConfChange", "context: length 4 exceeds the 2 bytes remaining"},
		{"message: empty", message, nil, "Message", "message type: truncated"},
		{"message: type zero", message, cat([]byte{0}, validMsg[1:]), "Message", "unknown message type 0"},
		{"message: type past the last", message, cat([]byte{byte(MsgTransferLeader + 1)}, validMsg[1:]), "Message", "unknown message type 15"},
		{"message: unknown flag", message, cat(msgHeader(0x40), []byte{0, 0}), "Message", "unknown flags 0x40"},
		{"message: repair attempt 0", message, cat(msgHeader(flagAttempt), []byte{0, 0, 0}), "Message", "repair attempt 0 with its flag set"},
		{"message: repair attempt missing", message, msgHeader(flagAttempt), "Message", "repair attempt: varint truncated"},
		{"message: huge entry count", message, cat(msgHeader(0), []byte{0xc0, 0x84, 0x3d}, make([]byte, 12)), "Message", "entry count 1000000 exceeds what the 12 remaining bytes can hold"},
		{"message: entry count overflows", message, cat(msgHeader(0), overflow), "Message", "entry count: varint overflows 64 bits"},
		{"message: bad entry inside", message, cat(msgHeader(0), []byte{1, 1, 1, 9, 0, 0}), "Message", "unknown entry type 9"},
		{"message: snapshot flag without snapshot", message, cat(msgHeader(flagSnapshot), []byte{0}), "Message", "snapshot index: varint truncated"},
		{"message: context missing", message, cat(msgHeader(0), []byte{0}), "Message", "context length: varint truncated"},
		{"message: trailing garbage", message, cat(validMsg, []byte{0}), "Message", "1 trailing bytes"},
	}
	for _, tt := range tests {
		err := tt.decode(tt.in)
		if !errors.Is(err, ErrDecode) {
			t.Errorf("%s: err = %v, want one wrapping ErrDecode", tt.name, err)
			continue
		}
		if prefix := "raftcore: decode " + tt.typ + " at byte "; !strings.HasPrefix(err.Error(), prefix) {
			t.Errorf("%s: error %q does not start with %q", tt.name, err, prefix)
		}
		if !strings.Contains(err.Error(), tt.wantMsg) {
			t.Errorf("%s: error %q does not mention %q", tt.name, err, tt.wantMsg)
		}
	}

	// The largest integers are valid, not overflows.
	var h HardState
	if err := h.UnmarshalBinary(cat(maxUint, maxUint, maxUint)); err != nil || h != (HardState{math.MaxUint64, math.MaxUint64, math.MaxUint64}) {
		t.Errorf("HardState of three 2^64-1: %+v, %v", h, err)
	}
	// A failed UnmarshalBinary leaves its receiver alone.
	before := h
	if err := h.UnmarshalBinary([]byte{1}); err == nil || h != before {
		t.Errorf("failed UnmarshalBinary changed the receiver to %+v (err %v)", h, err)
	}
	// The front decoders added in codec.go return the zero value and 0 on
	// error.
	if cc, n, err := DecodeConfChange([]byte{1, 7, 3, 'a'}); err == nil || n != 0 || !reflect.DeepEqual(cc, ConfChange{}) {
		t.Errorf("DecodeConfChange of a short input = %+v, %d, %v; want zero, 0, error", cc, n, err)
	}
}

// TestCodecDecodeMemoryIsBounded checks that decoding never allocates much
// more than the input could hold: a count that the remaining bytes cannot
// back is refused before allocating, and the densest valid inputs (many
// minimal entries or ids) cost a small constant factor of their length.
func TestCodecDecodeMemoryIsBounded(t *testing.T) {
	msgHeader := []byte{byte(MsgApp), 0, 0, 0, 0, 0, 0, 0, 0, 0}
	const n = 4096
	denseEntries := binary.AppendUvarint(append([]byte(nil), msgHeader...), n)
	denseEntries = append(denseEntries, make([]byte, 4*n+1)...) // n entries of 4 zero bytes, empty context
	denseIDs := binary.AppendUvarint(nil, 8*n)
	denseIDs = append(denseIDs, make([]byte, 8*n+1)...) // 8n zero ids, no learners

	tests := []struct {
		name   string
		decode func([]byte) error
		in     []byte
		ok     bool
	}{
		{"lying entry count", func(b []byte) error { _, _, err := DecodeMessage(b); return err },
			append(append([]byte(nil), msgHeader...), 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0), false},
		{"lying voter count", func(b []byte) error { _, _, err := DecodeConfState(b); return err },
			[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0}, false},
		{"lying data length", func(b []byte) error { _, _, err := DecodeSnapshot(b); return err },
			[]byte{1, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1}, false},
		{"dense entries", func(b []byte) error { _, _, err := DecodeMessage(b); return err }, denseEntries, true},
		{"dense voters", func(b []byte) error { _, _, err := DecodeConfState(b); return err }, denseIDs, true},
	}
	for _, tt := range tests {
		if err := tt.decode(tt.in); (err == nil) != tt.ok {
			t.Fatalf("%s: err = %v, want ok = %v", tt.name, err, tt.ok)
		}
		const runs = 20
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			_ = tt.decode(tt.in)
		}
		runtime.ReadMemStats(&after)
		perRun := (after.TotalAlloc - before.TotalAlloc) / runs
		// A decoded Entry is 48 bytes and its encoding at least 4, an id 8
		// bytes for at least 1: 12 times the input at worst. The decoder
		// in encoding.go also builds one short field label per byte string
		// it reads (field + " length", about 6 more bytes per input byte
		// for minimal entries); the bound leaves room for both.
		if limit := uint64(20*len(tt.in) + 1024); perRun > limit {
			t.Errorf("%s: decoding %d bytes allocated %d bytes, more than %d", tt.name, len(tt.in), perRun, limit)
		}
	}
}

// --- fuzzing -----------------------------------------------------------------

// checkDecoded is the fuzz property for one type: decoding arbitrary bytes
// gives a value or an ErrDecode (never a panic); a decoded value is what
// UnmarshalBinary gives for exactly the bytes consumed; its canonical
// re-encoding has EncodedSize bytes, is no longer than the input it came
// from, decodes to the same value, and re-encodes to itself.
func (c codecOf[T]) checkDecoded(t *testing.T, b []byte) {
	v, n, err := c.decode(b)
	if err != nil {
		if !errors.Is(err, ErrDecode) {
			t.Fatalf("Decode%s error %v does not wrap ErrDecode", c.name, err)
		}
		if _, uerr := c.unmarshal(b); uerr == nil {
			t.Fatalf("Decode%s failed (%v) but UnmarshalBinary accepted the same bytes", c.name, err)
		}
		return
	}
	if n <= 0 || n > len(b) {
		t.Fatalf("Decode%s consumed %d of %d bytes", c.name, n, len(b))
	}
	if u, err := c.unmarshal(b[:n]); err != nil || !reflect.DeepEqual(u, v) {
		t.Fatalf("UnmarshalBinary of the %d bytes Decode%s consumed: %+v, %v; Decode gave %+v", n, c.name, u, err, v)
	}
	if _, err := c.unmarshal(b); (err == nil) != (n == len(b)) {
		t.Fatalf("UnmarshalBinary of %d bytes, %d of them consumed: err = %v", len(b), n, err)
	}
	enc := c.appendTo(nil, v)
	if len(enc) != c.size(v) {
		t.Fatalf("%s.EncodedSize() = %d, encoding is %d bytes", c.name, c.size(v), len(enc))
	}
	if len(enc) > n {
		t.Fatalf("re-encoding %+v took %d bytes, more than the %d it was decoded from", v, len(enc), n)
	}
	again, n2, err := c.decode(enc)
	if err != nil || n2 != len(enc) || !reflect.DeepEqual(again, v) {
		t.Fatalf("re-encoding changed the %s: %+v vs %+v (n %d of %d, %v)", c.name, v, again, n2, len(enc), err)
	}
	if enc2 := c.appendTo(nil, again); !bytes.Equal(enc2, enc) {
		t.Fatalf("encoding is not canonical: %x then %x", enc, enc2)
	}
}

func FuzzDecodeHardState(f *testing.F) {
	for _, h := range []HardState{{}, {Term: 3, Vote: 2, Commit: 100}, {Term: math.MaxUint64, Vote: 1 << 35, Commit: 127}} {
		f.Add(AppendHardState(nil, h))
	}
	c := hardStateCodec()
	f.Fuzz(func(t *testing.T, b []byte) { c.checkDecoded(t, b) })
}

func FuzzDecodeConfState(f *testing.F) {
	for _, cs := range []ConfState{{}, {Voters: []uint64{1, 2, 3}}, {Voters: []uint64{1}, Learners: []uint64{1 << 40, 5}}} {
		f.Add(AppendConfState(nil, cs))
	}
	c := confStateCodec()
	f.Fuzz(func(t *testing.T, b []byte) { c.checkDecoded(t, b) })
}

func FuzzDecodeSnapshotMetadata(f *testing.F) {
	for _, m := range []SnapshotMetadata{{}, {Index: 1000, Term: 7, ConfState: ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}}} {
		f.Add(AppendSnapshotMetadata(nil, m))
	}
	c := snapshotMetadataCodec()
	f.Fuzz(func(t *testing.T, b []byte) { c.checkDecoded(t, b) })
}

func FuzzDecodeConfChange(f *testing.F) {
	for _, cc := range []ConfChange{{}, {Type: AddLearner, NodeID: 4, Context: []byte("http://10.0.0.4:2380")}, {Type: RemoveNode, NodeID: 1 << 60}} {
		f.Add(AppendConfChange(nil, cc))
	}
	c := confChangeCodec()
	f.Fuzz(func(t *testing.T, b []byte) { c.checkDecoded(t, b) })
}

// FuzzDecodeStrict runs the full checkDecoded property (which the older
// FuzzDecodeEntry/Message/Snapshot targets check only in part) on Entry
// (kind 0), Snapshot (kind 1) and Message (any other kind).
func FuzzDecodeStrict(f *testing.F) {
	f.Add(uint8(0), AppendEntry(nil, Entry{Term: 2, Index: 9, Type: EntryConfChange, Data: AppendConfChange(nil, ConfChange{NodeID: 3})}))
	f.Add(uint8(1), AppendSnapshot(nil, Snapshot{Metadata: SnapshotMetadata{Index: 5, Term: 1, ConfState: ConfState{Voters: []uint64{1}}}, Data: []byte("state")}))
	f.Add(uint8(2), AppendMessage(nil, benchAppendMessageForCodec(2, 8)))
	f.Add(uint8(2), AppendMessage(nil, Message{Type: MsgSnap, Term: 4, Snapshot: &Snapshot{Metadata: SnapshotMetadata{Index: 9, Term: 2}, Data: []byte("s")}}))
	f.Add(uint8(2), AppendMessage(nil, Message{Type: MsgAppResp, Reject: true, RejectHint: 7, LogTerm: 2, Seq: 3}))
	f.Add(uint8(2), AppendMessage(nil, Message{Type: MsgVote, Transfer: true, Term: 8, Index: 100, LogTerm: 7}))
	f.Add(uint8(2), AppendMessage(nil, Message{Type: MsgReadIndex, Context: []byte("request-17")}))
	entries, snapshots, messages := entryCodec(), snapshotCodec(), messageCodec()
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		switch kind {
		case 0:
			entries.checkDecoded(t, b)
		case 1:
			snapshots.checkDecoded(t, b)
		default:
			messages.checkDecoded(t, b)
		}
	})
}

// --- benchmarks --------------------------------------------------------------
//
// BenchmarkEncodeMessage and BenchmarkDecodeMessage (encoding_test.go)
// measure the MsgApp with 16 entries of 256 B; these add the other paths.

// benchAppendMessageForCodec is a MsgApp with n entries of size bytes.
func benchAppendMessageForCodec(n, size int) Message {
	m := Message{Type: MsgApp, From: 1, To: 2, Term: 5, LogTerm: 5, Index: 1000, Commit: 990}
	for i := range n {
		m.Entries = append(m.Entries, Entry{Term: 5, Index: uint64(1001 + i), Data: make([]byte, size)})
	}
	return m
}

func BenchmarkCodecMarshalMessage(b *testing.B) {
	m := benchAppendMessageForCodec(16, 256)
	b.ReportAllocs()
	b.SetBytes(int64(m.EncodedSize()))
	for b.Loop() {
		if _, err := m.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCodecUnmarshalMessage(b *testing.B) {
	enc, _ := benchAppendMessageForCodec(16, 256).MarshalBinary()
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	var m Message
	for b.Loop() {
		if err := m.UnmarshalBinary(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCodecDecodeEntry(b *testing.B) {
	enc := AppendEntry(nil, Entry{Term: 5, Index: 1001, Data: make([]byte, 256)})
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, _, err := DecodeEntry(enc); err != nil {
			b.Fatal(err)
		}
	}
}
