package peerwire

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/cairndb/cairn/internal/wire"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
)

// A batch AppendBatch writes is read back message by message.
func TestBatchRoundTrip(t *testing.T) {
	msgs := []raftcore.Message{
		{Type: raftcore.MsgHeartbeat, From: 1, To: 2, Term: 3},
		{Type: raftcore.MsgApp, From: 1, To: 2, Term: 3, Index: 4, LogTerm: 3,
			Entries: []raftcore.Entry{{Term: 3, Index: 5, Data: bytes.Repeat([]byte{7}, 200)}}},
		{Type: raftcore.MsgAppResp, From: 2, To: 1, Term: 3, Index: 5},
	}
	batch := AppendBatch([]byte("ignored"), msgs)[len("ignored"):]
	if len(batch) != BatchSize(msgs) {
		t.Fatalf("a batch of %d bytes, BatchSize says %d", len(batch), BatchSize(msgs))
	}
	var got []raftcore.Message
	for b, err := range BatchMessages(batch) {
		if err != nil {
			t.Fatalf("message %d: %v", len(got)+1, err)
		}
		m, _, err := raftcore.DecodeMessage(b)
		if err != nil {
			t.Fatalf("message %d: %v", len(got)+1, err)
		}
		got = append(got, m)
	}
	if len(got) != len(msgs) {
		t.Fatalf("read %d messages, want %d", len(got), len(msgs))
	}
	for i := range msgs {
		if !bytes.Equal(raftcore.AppendMessage(nil, got[i]), raftcore.AppendMessage(nil, msgs[i])) {
			t.Errorf("message %d = %+v, want %+v", i+1, got[i], msgs[i])
		}
	}
}

// A malformed batch ends in an error naming what is wrong, after the
// messages before the damage.
func TestBatchMessagesRefusesMalformed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		batch []byte
		good  int    // messages read before the error
		want  string // what the error must say
	}{
		{"empty", nil, 0, "message count: varint truncated"},
		{"count cut short", []byte{0x80}, 0, "message count: varint truncated"},
		{"count overlong", []byte{0x81, 0x00, 0}, 0, "message count: varint longer than its shortest encoding"},
		{"count overflows", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, 0, "message count: varint overflows 64 bits"},
		{"count larger than the batch", []byte{3, 0, 0}, 0, "message count 3 exceeds the 2 bytes after it"},
		{"length cut short", []byte{1, 0x80}, 0, "message 1 of 1: varint truncated"},
		{"length overlong", []byte{1, 0x80, 0x00}, 0, "message 1 of 1: varint longer than its shortest encoding"},
		{"message past the end", []byte{2, 1, 9, 3, 1, 2}, 1, "message 2 of 2: varint truncated"},
		{"bytes after the last message", []byte{1, 1, 9, 4}, 1, "1 bytes after the last of its 1 messages"},
	} {
		good := 0
		var err error
		for _, err = range BatchMessages(tc.batch) {
			if err != nil {
				break
			}
			good++
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || good != tc.good {
			t.Errorf("%s: %d messages, then %v; want %d, then an error saying %q", tc.name, good, err, tc.good, tc.want)
		}
	}
}

// The first frame of a store copy is the data's size and the MsgSnap;
// anything else is an error naming what is wrong.
func TestStoreCopyHeader(t *testing.T) {
	snap := raftcore.Message{Type: raftcore.MsgSnap, From: 1, To: 2, Term: 3,
		Snapshot: &raftcore.Snapshot{Metadata: raftcore.SnapshotMetadata{Index: 9, Term: 3}}}
	size, m, err := StoreCopyHeader(raftcore.AppendMessage(wire.AppendUvarint(nil, 1<<20), snap))
	if err != nil || size != 1<<20 || m.Type != raftcore.MsgSnap || m.Snapshot == nil || m.Snapshot.Metadata.Index != 9 {
		t.Fatalf("StoreCopyHeader = %d, %+v, %v", size, m, err)
	}
	for _, tc := range []struct {
		name   string
		header []byte
		want   string
	}{
		{"empty", nil, "snapshot size: varint truncated"},
		{"size cut short", []byte{0xff}, "snapshot size: varint truncated"},
		{"size overlong", []byte{0x80, 0x00}, "snapshot size: varint longer than its shortest encoding"},
		{"size overflows", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, "snapshot size: varint overflows 64 bits"},
		{"no message", []byte{5}, "snapshot message: "},
		{"not a snapshot", raftcore.AppendMessage([]byte{5}, raftcore.Message{Type: raftcore.MsgApp, From: 1, To: 2}), "a MsgApp message, not a MsgSnap"},
		{"no snapshot", raftcore.AppendMessage([]byte{5}, raftcore.Message{Type: raftcore.MsgSnap, From: 1, To: 2}), "a MsgSnap without its snapshot"},
	} {
		if _, _, err := StoreCopyHeader(tc.header); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

// A store copy SendStoreCopy sends is read back by StoreCopyHeader and a
// ChunkReceiver, in chunks of the size asked for.
func TestStoreCopyRoundTrip(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 1000)
	snap := raftcore.Message{Type: raftcore.MsgSnap, From: 1, To: 2, Term: 3,
		Snapshot: &raftcore.Snapshot{Metadata: raftcore.SnapshotMetadata{Index: 9, Term: 3}}}
	var frames [][]byte
	send := func(b []byte) error { frames = append(frames, bytes.Clone(b)); return nil }
	if err := SendStoreCopy(send, snap, bytesSource(data), 4096, "test copy"); err != nil {
		t.Fatal(err)
	}
	if len(frames) != 1+3+1 { // header, 10000 bytes in chunks of 4096, checksum
		t.Fatalf("%d frames, want 5", len(frames))
	}
	size, m, err := StoreCopyHeader(frames[0])
	if err != nil || size != uint64(len(data)) || m.Snapshot.Metadata.Index != 9 {
		t.Fatalf("StoreCopyHeader = %d, %+v, %v", size, m, err)
	}
	rest := frames[1:]
	got, err := io.ReadAll(replica.NewChunkReceiver(func() ([]byte, error) {
		if len(rest) == 0 {
			return nil, io.EOF
		}
		b := rest[0]
		rest = rest[1:]
		return b, nil
	}, int64(size)))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes, %v", len(got), err)
	}
}

// A source whose size is not what it writes is an error naming the copy.
func TestSendStoreCopyRefusesWrongSize(t *testing.T) {
	snap := raftcore.Message{Type: raftcore.MsgSnap, Snapshot: &raftcore.Snapshot{}}
	err := SendStoreCopy(func([]byte) error { return nil }, snap, lyingSource{bytesSource("abc")}, 0, "test copy")
	if err == nil || !strings.Contains(err.Error(), "test copy of 3 bytes, 5 announced") {
		t.Fatalf("SendStoreCopy of a source that lies about its size: %v", err)
	}
}

// bytesSource is a replica.SnapshotSource of a byte string.
type bytesSource []byte

func (b bytesSource) Index() uint64                      { return 0 }
func (b bytesSource) Term() uint64                       { return 0 }
func (b bytesSource) Size() (int64, error)               { return int64(len(b)), nil }
func (b bytesSource) WriteTo(w io.Writer) (int64, error) { n, err := w.Write(b); return int64(n), err }
func (b bytesSource) Close() error                       { return nil }

// lyingSource announces two bytes more than it writes.
type lyingSource struct{ bytesSource }

func (l lyingSource) Size() (int64, error) { n, _ := l.bytesSource.Size(); return n + 2, nil }
