package concurrencypb_test

import (
	"bytes"
	"testing"

	"github.com/cairndb/cairn/etcdapi/concurrencypb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

// field appends one length-delimited field.
func field(b []byte, num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
}

// varint appends one varint field.
func varint(b []byte, num protowire.Number, v int64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), uint64(v))
}

// The messages encode with the field numbers and wire types of etcd's
// v3lock.proto and v3election.proto, and decode back to themselves.
func TestWireFormat(t *testing.T) {
	hdr := &pb.ResponseHeader{ClusterId: 1, MemberId: 2, Revision: 3, RaftTerm: 4}
	hdrBytes := must(hdr.Marshal())
	kv := &mvccpb.KeyValue{Key: []byte("e/1"), Value: []byte("v"), CreateRevision: 5, ModRevision: 6, Version: 1, Lease: 1}
	kvBytes := must(kv.Marshal())
	leaderKey := varint(varint(field(field(nil, 1, []byte("e")), 2, []byte("e/1")), 3, 5), 4, 1)
	for _, tt := range []struct {
		msg  protoadapt.MessageV1
		want []byte
	}{
		{&concurrencypb.LockRequest{Name: []byte("l"), Lease: 7}, varint(field(nil, 1, []byte("l")), 2, 7)},
		{&concurrencypb.LockResponse{Header: hdr, Key: []byte("l/7")}, field(field(nil, 1, hdrBytes), 2, []byte("l/7"))},
		{&concurrencypb.UnlockRequest{Key: []byte("l/7")}, field(nil, 1, []byte("l/7"))},
		{&concurrencypb.UnlockResponse{Header: hdr}, field(nil, 1, hdrBytes)},
		{&concurrencypb.CampaignRequest{Name: []byte("e"), Lease: 1, Value: []byte("v")}, field(varint(field(nil, 1, []byte("e")), 2, 1), 3, []byte("v"))},
		{&concurrencypb.CampaignResponse{Header: hdr, Leader: &concurrencypb.LeaderKey{Name: []byte("e"), Key: []byte("e/1"), Rev: 5, Lease: 1}},
			field(field(nil, 1, hdrBytes), 2, leaderKey)},
		{&concurrencypb.LeaderRequest{Name: []byte("e")}, field(nil, 1, []byte("e"))},
		{&concurrencypb.LeaderResponse{Header: hdr, Kv: kv}, field(field(nil, 1, hdrBytes), 2, kvBytes)},
		{&concurrencypb.ResignRequest{Leader: &concurrencypb.LeaderKey{Name: []byte("e"), Key: []byte("e/1"), Rev: 5, Lease: 1}}, field(nil, 1, leaderKey)},
		{&concurrencypb.ResignResponse{Header: hdr}, field(nil, 1, hdrBytes)},
		{&concurrencypb.ProclaimRequest{Leader: &concurrencypb.LeaderKey{Name: []byte("e"), Key: []byte("e/1"), Rev: 5, Lease: 1}, Value: []byte("w")},
			field(field(nil, 1, leaderKey), 2, []byte("w"))},
		{&concurrencypb.ProclaimResponse{Header: hdr}, field(nil, 1, hdrBytes)},
	} {
		m := protoadapt.MessageV2Of(tt.msg)
		got, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			t.Fatalf("%T: %v", tt.msg, err)
		}
		if !bytes.Equal(got, tt.want) {
			t.Errorf("%T encodes to %x, want %x", tt.msg, got, tt.want)
		}
		back := m.ProtoReflect().New().Interface()
		if err := proto.Unmarshal(tt.want, back); err != nil || !proto.Equal(back, m) {
			t.Errorf("%T: %x decodes to %v (%v), want %v", tt.msg, tt.want, back, err, m)
		}
	}
}

// The JSON names are the proto field names, as etcd's gateway speaks.
func TestJSONNames(t *testing.T) {
	m := &concurrencypb.CampaignResponse{Leader: &concurrencypb.LeaderKey{Name: []byte("e"), Rev: 5}}
	got := must(protojson.MarshalOptions{UseProtoNames: true}.Marshal(protoadapt.MessageV2Of(m)))
	want := `{"leader":{"name":"ZQ==","rev":"5"}}`
	if string(bytes.ReplaceAll(got, []byte(" "), nil)) != want {
		t.Fatalf("JSON %s, want %s", got, want)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
