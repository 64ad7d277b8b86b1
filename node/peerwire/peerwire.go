// Package peerwire is how a member's raft traffic is laid out on a peer
// stream: batches of raft messages on a raft stream, and a store copy (a
// snapshot for a lagging follower, or a store for a member repairing its
// own) on a stream of its own. The server's transport (node/transport.go,
// node/store_repair.go) writes and reads these bytes over its rpc streams,
// and the simulator (sim/network.go, sim/snapshot.go) over its simulated
// network, so a bug here breaks a simulated run as it would break a
// cluster.
//
// A raft stream carries batches:
//
//	batch     uvarint count, then each message as a length-prefixed
//	          byte string (raftcore.AppendMessage)
//
// A store copy's stream carries, after the stream's header:
//
//	message   uvarint size of the data, then the MsgSnap without data
//	data      chunks of the data, size bytes in all
//	checksum  the SHA-256 of the data (replica.ChunkSender)
//
// The package is pure: it does no I/O of its own, and imports only the
// core packages, so that the simulator may import it.
package peerwire

import (
	"fmt"
	"iter"

	"github.com/cairndb/cairn/internal/wire"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
)

// AppendBatch appends a batch of raft messages as a raft stream carries
// it: a uvarint count, then each message as a length-prefixed byte string.
func AppendBatch(dst []byte, msgs []raftcore.Message) []byte {
	dst = wire.AppendUvarint(dst, uint64(len(msgs)))
	for _, m := range msgs {
		dst = wire.AppendUvarint(dst, uint64(m.EncodedSize()))
		dst = raftcore.AppendMessage(dst, m)
	}
	return dst
}

// BatchSize is len(AppendBatch(nil, msgs)).
func BatchSize(msgs []raftcore.Message) int {
	n := wire.UvarintLen(uint64(len(msgs)))
	for _, m := range msgs {
		n += wire.BytesLen(m.EncodedSize())
	}
	return n
}

// BatchMessages yields the messages of a batch as AppendBatch writes it,
// each still encoded (raftcore.DecodeMessage decodes it; what it decodes
// shares b's memory). A batch that is cut short, claims more messages
// than its bytes could hold, or has bytes after its last message yields
// an error naming what is wrong as its last pair, possibly after the
// messages before the damage.
func BatchMessages(b []byte) iter.Seq2[[]byte, error] {
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

// SendStoreCopy sends a copy of the store, as both a snapshot for a
// lagging follower and a store for a member repairing its own are sent:
// the copy's size and the MsgSnap m that describes it (one frame), then
// the copy in checksummed chunks of chunk bytes (replica.ChunkSender; 0
// is replica.SnapshotChunk). send may keep no slice it is handed: they are
// reused. what names the copy in errors.
func SendStoreCopy(send func([]byte) error, m raftcore.Message, src replica.SnapshotSource, chunk int, what string) error {
	size, err := src.Size()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := send(raftcore.AppendMessage(wire.AppendUvarint(nil, uint64(size)), m)); err != nil {
		return err
	}
	w := replica.NewChunkSenderSized(send, chunk)
	if n, err := src.WriteTo(w); err != nil {
		return err
	} else if n != size {
		return fmt.Errorf("%s of %d bytes, %d announced", what, n, size)
	}
	return w.Finish()
}

// StoreCopyHeader reads the first frame of a store copy, as SendStoreCopy
// writes it: the size of the data to come (a uvarint), then the MsgSnap
// without its data. The data follows in chunks: replica.NewChunkReceiver
// reads it, size bytes and the checksum.
func StoreCopyHeader(b []byte) (size uint64, m raftcore.Message, err error) {
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
