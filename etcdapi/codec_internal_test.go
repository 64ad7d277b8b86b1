package etcdapi

import (
	"bytes"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
)

// The codec encodes as gogo's generated Marshal does, small messages and
// pooled large ones alike, with and without its pool of small buffers
// (whose buffers are reused unclear: larger messages go first); decodes
// from one buffer or several; and the decoded message keeps nothing of
// the buffer, which gRPC reuses.
func TestGogoCodec(t *testing.T) {
	codecs := []gogoCodec{{}, {small: &smallBufferPool{}}}
	for _, size := range []int{100000, 5000, 1000, 10, 0} {
		in := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: 7},
			Kvs: []*mvccpb.KeyValue{{Key: []byte("k"), Value: bytes.Repeat([]byte{'v'}, size), ModRevision: 7}}}
		want, err := in.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		for _, codec := range codecs {
			enc, err := codec.Marshal(in)
			if err != nil {
				t.Fatalf("value of %d bytes: %v", size, err)
			}
			got = enc.Materialize()
			enc.Free()
			if !bytes.Equal(got, want) {
				t.Fatalf("value of %d bytes, small buffers pooled %v: encoded %d bytes, not gogo's %d",
					size, codec.small != nil, len(got), len(want))
			}
		}

		for _, pieces := range []int{1, 3} {
			data := split(got, pieces)
			var out pb.RangeResponse
			if err := (gogoCodec{}).Unmarshal(data, &out); err != nil {
				t.Fatalf("value of %d bytes in %d pieces: %v", size, pieces, err)
			}
			for _, b := range data {
				clear(b.ReadOnlyData()) // what gRPC may do with its buffer next
			}
			if again, _ := out.Marshal(); !bytes.Equal(again, want) {
				t.Fatalf("value of %d bytes in %d pieces: decoded a message that encodes to %d bytes, not %d", size, pieces, len(again), len(want))
			}
		}
	}
}

// Messages without gogo's methods (the health service's) take the
// standard protobuf path.
func TestGogoCodecStandardMessages(t *testing.T) {
	in := &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}
	enc, err := gogoCodec{}.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out healthpb.HealthCheckResponse
	if err := (gogoCodec{}).Unmarshal(enc, &out); err != nil {
		t.Fatal(err)
	}
	if out.Status != in.Status {
		t.Fatalf("decoded status %v, want %v", out.Status, in.Status)
	}
	if _, err := (gogoCodec{}).Marshal(struct{}{}); err == nil {
		t.Fatal("encoding a struct that is no message: no error")
	}
}

// Small messages are encoded into buffers that gRPC gives back to the
// pool once written, and the next message reuses them.
func TestGogoCodecReusesSmallBuffers(t *testing.T) {
	codec := gogoCodec{small: &smallBufferPool{}}
	in := &pb.PutResponse{Header: &pb.ResponseHeader{Revision: 7, MemberId: 3}}
	first, err := codec.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	data := &first[0].ReadOnlyData()[0]
	first.Free()
	// sync.Pool may drop what it is given (it does at random under -race,
	// and a buffer dropped is gone): some of many tries must reuse the
	// buffer the try before freed.
	for range 100 {
		again, err := codec.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		got := &again[0].ReadOnlyData()[0]
		again.Free()
		if got == data {
			return
		}
		data = got
	}
	t.Fatal("no small message was encoded into the buffer the first one freed")
}

// split cuts b into n buffers of its own (n ≤ len(b) + 1).
func split(b []byte, n int) mem.BufferSlice {
	var out mem.BufferSlice
	for i := range n {
		piece := bytes.Clone(b[i*len(b)/n : (i+1)*len(b)/n])
		out = append(out, mem.SliceBuffer(piece))
	}
	return out
}
