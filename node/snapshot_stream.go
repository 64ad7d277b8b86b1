package node

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
//	data      chunks of at most snapshotChunk bytes, size bytes in all
//	checksum  the SHA-256 of the data, 32 bytes
//
// Both ends handle the data a chunk at a time — the sender reads it from a
// read transaction on its store, the receiver writes it to a file — so a
// snapshot costs O(chunk) memory, not O(store). The rpc stream's flow
// control keeps a slow receiver from making the sender buffer more.

// chunkSender is an io.Writer that sends what is written to it in chunks
// of at most snapshotChunk bytes, hashing it; Finish sends the rest and
// the checksum.
type chunkSender struct {
	send func([]byte) error
	buf  []byte
	hash hash.Hash
}

func newChunkSender(send func([]byte) error) *chunkSender {
	return &chunkSender{send: send, hash: sha256.New()}
}

// Write implements io.Writer.
func (w *chunkSender) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if len(w.buf) == 0 && len(p) >= snapshotChunk {
			// A whole chunk at hand: send it without copying.
			if err := w.sendChunk(p[:snapshotChunk]); err != nil {
				return written, err
			}
			p, written = p[snapshotChunk:], written+snapshotChunk
			continue
		}
		if w.buf == nil {
			w.buf = make([]byte, 0, snapshotChunk)
		}
		n := min(len(p), snapshotChunk-len(w.buf))
		w.buf = append(w.buf, p[:n]...)
		p, written = p[n:], written+n
		if len(w.buf) == snapshotChunk {
			if err := w.sendChunk(w.buf); err != nil {
				return written, err
			}
			w.buf = w.buf[:0]
		}
	}
	return written, nil
}

func (w *chunkSender) sendChunk(b []byte) error {
	w.hash.Write(b)
	return w.send(b)
}

// Finish sends what is buffered, then the checksum of everything sent.
func (w *chunkSender) Finish() error {
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

// chunkReceiver is an io.Reader over the data of a snapshot arriving in
// chunks (recv returns each; io.EOF when the stream ends): size bytes,
// then the checksum. It returns io.EOF only once all the data has come
// and matches the checksum; a stream that ends early, carries more, or
// fails the checksum is an error.
type chunkReceiver struct {
	recv func() ([]byte, error)
	left int64
	cur  []byte
	hash hash.Hash
	done bool
}

func newChunkReceiver(recv func() ([]byte, error), size int64) *chunkReceiver {
	return &chunkReceiver{recv: recv, left: size, hash: sha256.New()}
}

// Read implements io.Reader.
func (r *chunkReceiver) Read(p []byte) (int, error) {
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
func (r *chunkReceiver) checkSum() error {
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
