package node

import (
	"fmt"
	"iter"

	"github.com/cairndb/cairn/internal/wire"
	"github.com/cairndb/cairn/raftcore"
)

// appendBatch appends a batch of raft messages as a raft stream carries
// it: a uvarint count, then each message as a length-prefixed byte string.
func appendBatch(dst []byte, msgs []raftcore.Message) []byte {
	dst = wire.AppendUvarint(dst, uint64(len(msgs)))
	for _, m := range msgs {
		dst = wire.AppendUvarint(dst, uint64(m.EncodedSize()))
		dst = raftcore.AppendMessage(dst, m)
	}
	return dst
}

// batchMessages yields the messages of a batch as appendBatch writes it. A batch that is cut short, claims more
// messages than its bytes could hold, or has bytes after its last message
// yields an error naming what is wrong as its last pair, possibly after
// the messages before the damage.
func batchMessages(b []byte) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		n, k, err := wire.Uvarint(b)
		if err != nil {
			yield(nil, fmt.Errorf("message count: %w", err))
			return
		}
		b := b[k:]
		if n > uint64(len(b)) { // every message takes at least its length's byte
			yield(nil, fmt.Errorf("message count %d exceeds the %d bytes after it", n, len(b)))
			return
		}
		for i := range n {
			msg, k, err := wire.Bytes(b)
			if err != nil {
				yield(nil, fmt.Errorf("message %d of %d: %w", i+1, n, err))
				return
			}
			b = b[k:]
			if !yield(msg, nil) {
				return
			}
		}
		if len(b) != 0 {
			yield(nil, fmt.Errorf("%d bytes after the last of its %d messages", len(b), n))
		}
	}
}

// snapshotHeader reads the first message of a snapshot stream after its
// streamHeader, as sendSnapshot writes it: the size of the data to come
// (a uvarint), then the MsgSnap without its data.
func snapshotHeader(b []byte) (size uint64, m raftcore.Message, err error) {
	size, k, err := wire.Uvarint(b)
	if err != nil {
		return 0, m, fmt.Errorf("snapshot size: %w", err)
	}
	m, _, err = raftcore.DecodeMessage(b[k:])
	if err != nil {
		return 0, m, fmt.Errorf("snapshot message: %w", err)
	}
	if m.Type != raftcore.MsgSnap {
		return 0, m, fmt.Errorf("a %s message, not a %s", m.Type, raftcore.MsgSnap)
	}
	if m.Snapshot == nil {
		return 0, m, fmt.Errorf("a %s without its snapshot", m.Type)
	}
	return size, m, nil
}
