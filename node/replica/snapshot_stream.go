package replica

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
)

// A snapshot's data travels on its peer stream (methodRaftSnapshot) after
// the MsgSnap that announces it:
//
//	header    streamHeader: cluster, sender, receiver
//	message   uvarint size of the data, then the MsgSnap without data
//	data      chunks of at most SnapshotChunk bytes, size bytes in all
//	checksum  the SHA-256 of the data, 32 bytes
//
// Both ends handle the data a chunk at a time — the sender reads it from a
// read transaction on its store, the receiver writes it to a file — so a
// snapshot costs O(chunk) memory, not O(store). The rpc stream's flow
// control keeps a slow receiver from making the sender buffer more.

// SnapshotChunk is the size of a snapshot's data chunks.
const SnapshotChunk = 1 << 20

// ChunkSender is an io.Writer that sends what is written to it in chunks
// of at most SnapshotChunk bytes (or the size NewChunkSenderSized was
// given), hashing it; Finish sends the rest and the checksum. The slice
// handed to send is reused once send returns: send must copy what it
// keeps.
type ChunkSender struct {
	send  func([]byte) error
	chunk int
	buf   []byte
	hash  hash.Hash
}

// NewChunkSender makes a ChunkSender that hands each chunk of
// SnapshotChunk bytes to send.
func NewChunkSender(send func([]byte) error) *ChunkSender {
	return NewChunkSenderSized(send, SnapshotChunk)
}

// NewChunkSenderSized makes a ChunkSender of chunks of chunk bytes (the
// simulator's are small, so that its small stores travel in several); a
// chunk of 0 or less is SnapshotChunk.
func NewChunkSenderSized(send func([]byte) error, chunk int) *ChunkSender {
	if chunk <= 0 {
		chunk = SnapshotChunk
	}
	return &ChunkSender{send: send, chunk: chunk, hash: sha256.New()}
}

// Write implements io.Writer.
func (w *ChunkSender) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if len(w.buf) == 0 && len(p) >= w.chunk {
			// A whole chunk at hand: send it without copying.
			if err := w.sendChunk(p[:w.chunk]); err != nil {
				return written, err
			}
			p, written = p[w.chunk:], written+w.chunk
			continue
		}
		if w.buf == nil {
			w.buf = make([]byte, 0, w.chunk)
		}
		n := min(len(p), w.chunk-len(w.buf))
		w.buf = append(w.buf, p[:n]...)
		p, written = p[n:], written+n
		if len(w.buf) == w.chunk {
			if err := w.sendChunk(w.buf); err != nil {
				return written, err
			}
			w.buf = w.buf[:0]
		}
	}
	return written, nil
}

func (w *ChunkSender) sendChunk(b []byte) error {
	w.hash.Write(b)
	return w.send(b)
}

// Finish sends what is buffered, then the checksum of everything sent.
func (w *ChunkSender) Finish() error {
	if len(w.buf) > 0 {
		if err := w.sendChunk(w.buf); err != nil {
			return err
		}
		w.buf = w.buf[:0]
	}
	return w.send(w.hash.Sum(nil))
}

// errSnapshotChecksum reports a snapshot whose data does not match the
// checksum sent after it.
var errSnapshotChecksum = errors.New("node: snapshot data does not match its checksum")

// ChunkReceiver is an io.Reader over the data of a snapshot arriving in
// chunks (recv returns each; io.EOF when the stream ends): size bytes,
// then the checksum. It returns io.EOF only once all the data has come
// and matches the checksum; a stream that ends early, carries more, or
// fails the checksum is an error.
type ChunkReceiver struct {
	recv func() ([]byte, error)
	left int64
	cur  []byte
	hash hash.Hash
	done bool
}

// NewChunkReceiver makes a ChunkReceiver of size bytes of data, reading
// the chunks from recv.
func NewChunkReceiver(recv func() ([]byte, error), size int64) *ChunkReceiver {
	return &ChunkReceiver{recv: recv, left: size, hash: sha256.New()}
}

// Read implements io.Reader.
func (r *ChunkReceiver) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.done {
			return 0, io.EOF
		}
		if r.left == 0 {
			return 0, r.checkSum()
		}
		b, err := r.recv()
		if errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("node: snapshot stream ended with %d bytes of data still to come: %w", r.left, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return 0, err
		}
		if int64(len(b)) > r.left {
			return 0, fmt.Errorf("node: snapshot chunk of %d bytes where %d were left: more data than announced", len(b), r.left)
		}
		r.cur = b
		r.left -= int64(len(b))
		r.hash.Write(b)
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// checkSum reads the checksum after the data and compares it.
func (r *ChunkReceiver) checkSum() error {
	sum, err := r.recv()
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("node: snapshot stream ended before its checksum: %w", io.ErrUnexpectedEOF)
	}
	if err != nil {
		return err
	}
	if string(sum) != string(r.hash.Sum(nil)) {
		return errSnapshotChecksum
	}
	r.done = true
	return io.EOF
}
