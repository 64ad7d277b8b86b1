package raftcore

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

// Byte strings decode to nil when empty, so generators produce nil for
// empty and tests compare with that convention.
func genBytes() *rapid.Generator[[]byte] {
	return rapid.Custom(func(t *rapid.T) []byte {
		b := rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "bytes")
		if len(b) == 0 {
			return nil
		}
		return b
	})
}

func genIDs() *rapid.Generator[[]uint64] {
	return rapid.Custom(func(t *rapid.T) []uint64 {
		ids := rapid.SliceOfN(rapid.Uint64(), 0, 5).Draw(t, "ids")
		if len(ids) == 0 {
			return nil
		}
		return ids
	})
}

func genEntry() *rapid.Generator[Entry] {
	return rapid.Custom(func(t *rapid.T) Entry {
		return Entry{
			Term:  rapid.Uint64().Draw(t, "term"),
			Index: rapid.Uint64().Draw(t, "index"),
			Type:  EntryType(rapid.IntRange(0, 1).Draw(t, "type")),
			Data:  genBytes().Draw(t, "data"),
		}
	})
}

func genSnapshot() *rapid.Generator[Snapshot] {
	return rapid.Custom(func(t *rapid.T) Snapshot {
		return Snapshot{
			Metadata: SnapshotMetadata{
				Index:     rapid.Uint64().Draw(t, "index"),
				Term:      rapid.Uint64().Draw(t, "term"),
				ConfState: ConfState{Voters: genIDs().Draw(t, "voters"), Learners: genIDs().Draw(t, "learners")},
			},
			Data: genBytes().Draw(t, "data"),
		}
	})
}

func genMessage() *rapid.Generator[Message] {
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
			RejectHint:    rapid.Uint64().Draw(t, "hint"),
			Seq:           rapid.Uint64().Draw(t, "seq"),
			Transfer:      rapid.Bool().Draw(t, "transfer"),
			Repairing:     rapid.Bool().Draw(t, "repairing"),
			Repaired:      rapid.Bool().Draw(t, "repaired"),
			RepairAttempt: rapid.Uint64().Draw(t, "repair attempt"),
			Context:       genBytes().Draw(t, "context"),
		}
		if ents := rapid.SliceOfN(genEntry(), 0, 5).Draw(t, "entries"); len(ents) > 0 {
			m.Entries = ents
		}
		if rapid.Bool().Draw(t, "hasSnapshot") {
			s := genSnapshot().Draw(t, "snapshot")
			m.Snapshot = &s
		}
		return m
	})
}

type binaryCodec interface {
	MarshalBinary() ([]byte, error)
}

func roundTrip[T binaryCodec](t *rapid.T, v T, decode func([]byte) (T, error)) {
	b, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got, err := decode(b)
	if err != nil {
		t.Fatalf("decode %x: %v", b, err)
	}
	if !reflect.DeepEqual(got, v) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, v)
	}
	// Every strict prefix is an error, never a panic.
	for i := 0; i < len(b); i++ {
		if _, err := decode(b[:i]); err == nil {
			t.Fatalf("prefix of %d/%d bytes decoded without error", i, len(b))
		} else if !errors.Is(err, ErrDecode) {
			t.Fatalf("error %v does not wrap ErrDecode", err)
		}
	}
}

func TestEncodingRoundTrip(t *testing.T) {
	t.Run("Entry", rapid.MakeCheck(func(t *rapid.T) {
		roundTrip(t, genEntry().Draw(t, "e"), func(b []byte) (Entry, error) { var v Entry; return v, v.UnmarshalBinary(b) })
	}))
	t.Run("HardState", rapid.MakeCheck(func(t *rapid.T) {
		h := HardState{Term: rapid.Uint64().Draw(t, "t"), Vote: rapid.Uint64().Draw(t, "v"), Commit: rapid.Uint64().Draw(t, "c")}
		roundTrip(t, h, func(b []byte) (HardState, error) { var v HardState; return v, v.UnmarshalBinary(b) })
	}))
	t.Run("ConfChange", rapid.MakeCheck(func(t *rapid.T) {
		cc := ConfChange{Type: ConfChangeType(rapid.IntRange(0, 2).Draw(t, "type")), NodeID: rapid.Uint64().Draw(t, "id"), Context: genBytes().Draw(t, "ctx")}
		roundTrip(t, cc, func(b []byte) (ConfChange, error) { var v ConfChange; return v, v.UnmarshalBinary(b) })
	}))
	t.Run("Snapshot", rapid.MakeCheck(func(t *rapid.T) {
		roundTrip(t, genSnapshot().Draw(t, "s"), func(b []byte) (Snapshot, error) { var v Snapshot; return v, v.UnmarshalBinary(b) })
	}))
	t.Run("Message", rapid.MakeCheck(func(t *rapid.T) {
		m := genMessage().Draw(t, "m")
		roundTrip(t, m, func(b []byte) (Message, error) { var v Message; return v, v.UnmarshalBinary(b) })
		if got, want := len(AppendMessage(nil, m)), m.EncodedSize(); got != want {
			t.Fatalf("EncodedSize %d, encoding is %d bytes", want, got)
		}
	}))
}

func TestDecodeRejectsMalformed(t *testing.T) {
	valid := AppendMessage(nil, Message{Type: MsgApp, Entries: []Entry{{Term: 1, Index: 2, Data: []byte("x")}}})
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"unknown message type", append([]byte{0}, valid[1:]...)},
		{"message type beyond range", append([]byte{99}, valid[1:]...)},
		{"trailing garbage", append(append([]byte(nil), valid...), 0)},
		{"varint overflow", []byte{byte(MsgApp), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"huge entry count", []byte{byte(MsgApp), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"unknown flags", []byte{byte(MsgApp), 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		var m Message
		if err := m.UnmarshalBinary(tt.b); !errors.Is(err, ErrDecode) {
			t.Errorf("%s: err = %v, want ErrDecode", tt.name, err)
		}
	}
	var e Entry
	if err := e.UnmarshalBinary([]byte{1, 1, 7, 0}); !errors.Is(err, ErrDecode) {
		t.Errorf("unknown entry type: %v", err)
	}
	var cc ConfChange
	if err := cc.UnmarshalBinary([]byte{9, 1, 0}); !errors.Is(err, ErrDecode) {
		t.Errorf("unknown conf change type: %v", err)
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, m := range []Message{
		{Type: MsgApp, From: 1, To: 2, Term: 3, Index: 4, LogTerm: 3, Commit: 4, Entries: []Entry{{Term: 3, Index: 5, Data: []byte("hello")}}},
		{Type: MsgSnap, Snapshot: &Snapshot{Metadata: SnapshotMetadata{Index: 9, Term: 2, ConfState: ConfState{Voters: []uint64{1, 2, 3}}}, Data: []byte("state")}},
		{Type: MsgReadIndex, Context: []byte("ctx")},
		{Type: MsgAppResp, Reject: true, RejectHint: 7, LogTerm: 2},
	} {
		f.Add(AppendMessage(nil, m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, n, err := DecodeMessage(b)
		if err != nil {
			return
		}
		again, n2, err := DecodeMessage(AppendMessage(nil, m))
		if err != nil || n2 > n || !reflect.DeepEqual(again, m) {
			t.Fatalf("re-encoding changed the message: %+v vs %+v (%v)", m, again, err)
		}
	})
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(AppendEntry(nil, Entry{Term: 1, Index: 1, Type: EntryConfChange, Data: AppendConfChange(nil, ConfChange{NodeID: 3})}))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, _, err := DecodeEntry(b)
		if err != nil {
			return
		}
		again, _, err := DecodeEntry(AppendEntry(nil, e))
		if err != nil || !reflect.DeepEqual(again, e) {
			t.Fatalf("re-encoding changed the entry: %+v vs %+v (%v)", e, again, err)
		}
	})
}

func FuzzDecodeSnapshot(f *testing.F) {
	f.Add(AppendSnapshot(nil, Snapshot{Metadata: SnapshotMetadata{Index: 5, Term: 1, ConfState: ConfState{Voters: []uint64{1}, Learners: []uint64{2}}}, Data: []byte("x")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Snapshot
		if err := s.UnmarshalBinary(b); err != nil {
			return
		}
		var again Snapshot
		if err := again.UnmarshalBinary(AppendSnapshot(nil, s)); err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("re-encoding changed the snapshot: %+v vs %+v (%v)", s, again, err)
		}
	})
}

func BenchmarkEncodeMessage(b *testing.B) {
	m := benchAppendMessage()
	buf := make([]byte, 0, m.EncodedSize())
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendMessage(buf[:0], m)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeMessage(b *testing.B) {
	enc := AppendMessage(nil, benchAppendMessage())
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, _, err := DecodeMessage(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// benchAppendMessage is a MsgApp with 16 entries of 256 bytes.
func benchAppendMessage() Message {
	m := Message{Type: MsgApp, From: 1, To: 2, Term: 5, LogTerm: 5, Index: 1000, Commit: 990}
	for i := range 16 {
		m.Entries = append(m.Entries, Entry{Term: 5, Index: uint64(1001 + i), Data: make([]byte, 256)})
	}
	return m
}

// TestEntryDataOffset: the offset EntryDataOffset gives is where the data
// starts in AppendEntry's output, whatever the sizes of the varints
// before it, and DecodeEntry's data is the bytes from there to the end.
func TestEntryDataOffset(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		e := Entry{
			Term:  rapid.OneOf(rapid.Uint64Range(0, 300), rapid.Uint64()).Draw(t, "term"),
			Index: rapid.OneOf(rapid.Uint64Range(0, 300), rapid.Uint64()).Draw(t, "index"),
			Type:  EntryType(rapid.IntRange(0, 1).Draw(t, "type")),
		}
		// Lengths on each side of the varint's 1-, 2- and 3-byte steps.
		n := rapid.SampledFrom([]int{0, 1, 127, 128, 129, 16383, 16384, 70000}).Draw(t, "size")
		e.Data = bytes.Repeat([]byte{rapid.Byte().Draw(t, "fill")}, n)
		prefix := rapid.SliceOfN(rapid.Byte(), 0, 10).Draw(t, "prefix")
		b := AppendEntry(prefix, e)
		off := len(prefix) + EntryDataOffset(e)
		if off+len(e.Data) != len(b) || !bytes.Equal(b[off:], e.Data) {
			t.Fatalf("data offset %d in an encoding of %d bytes (data %d bytes)", off, len(b), len(e.Data))
		}
		d, used, err := DecodeEntry(b[len(prefix):])
		if err != nil || used != len(b)-len(prefix) || EntryDataOffset(d)+len(d.Data) != used {
			t.Fatalf("decoded entry: used %d of %d bytes, data offset %d, err %v", used, len(b)-len(prefix), EntryDataOffset(d), err)
		}
	})
}
