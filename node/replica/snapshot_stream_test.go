package replica

import (
	"bytes"
	"crypto/sha256"
	"io"
	"testing"

	"pgregory.net/rapid"
)

// Whatever the chunk size and however the data is written, a ChunkSender
// sends full chunks but for the last, then the data's SHA-256, and a
// ChunkReceiver reads the data back from them.
func TestChunkSenderSizedRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		chunk := rapid.IntRange(1, 64).Draw(t, "chunk")
		writes := rapid.SliceOf(rapid.SliceOfN(rapid.Byte(), 0, 200)).Draw(t, "writes")
		var frames [][]byte
		w := NewChunkSenderSized(func(b []byte) error {
			frames = append(frames, bytes.Clone(b))
			return nil
		}, chunk)
		var data []byte
		for _, p := range writes {
			if n, err := w.Write(p); n != len(p) || err != nil {
				t.Fatalf("Write of %d bytes: %d, %v", len(p), n, err)
			}
			data = append(data, p...)
		}
		if err := w.Finish(); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if last := frames[len(frames)-1]; !bytes.Equal(last, sum[:]) {
			t.Fatalf("last frame %x, want the checksum %x", last, sum)
		}
		chunks := frames[:len(frames)-1]
		for i, c := range chunks {
			if len(c) > chunk || len(c) < chunk && i < len(chunks)-1 || len(c) == 0 {
				t.Fatalf("chunk %d of %d has %d bytes, chunks of %d", i+1, len(chunks), len(c), chunk)
			}
		}
		got, err := io.ReadAll(NewChunkReceiver(chunkSource(frames), int64(len(data))))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("received %d bytes, %v; want the %d sent", len(got), err, len(data))
		}
	})
}
