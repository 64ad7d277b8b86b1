// Package etcdconv converts between cairn's api types and etcd's generated
// message types (go.etcd.io/etcd/api/v3: etcdserverpb, mvccpb). The two
// describe the same messages field for field, and the enums have the same
// values in the same order. Requests are converted in (FromX), responses
// out (ToX).
//
// The etcd face of a member (package etcdapi) converts every call with
// it; cmd/ctl converts the responses it prints in etcdctl's formats, so
// that both show etcd's messages alike.
package etcdconv

import (
	"github.com/cairndb/cairn/api"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// ToHeader converts a response header.
func ToHeader(h api.ResponseHeader) *pb.ResponseHeader {
	out := header(h)
	return &out
}

func header(h api.ResponseHeader) pb.ResponseHeader {
	return pb.ResponseHeader{ClusterId: h.ClusterID, MemberId: h.MemberID, Revision: h.Revision, RaftTerm: h.RaftTerm}
}

// ToKV converts a key-value pair.
func ToKV(kv *api.KeyValue) *mvccpb.KeyValue {
	out := keyValue(kv)
	return &out
}

func keyValue(kv *api.KeyValue) mvccpb.KeyValue {
	return mvccpb.KeyValue{Key: kv.Key, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision,
		Version: kv.Version, Value: kv.Value, Lease: kv.Lease}
}

// ToKVs converts a list of key-value pairs; an empty list is nil.
func ToKVs(kvs []api.KeyValue) []*mvccpb.KeyValue {
	if len(kvs) == 0 {
		return nil
	}
	out := make([]*mvccpb.KeyValue, len(kvs))
	backing := make([]mvccpb.KeyValue, len(kvs)) // one allocation for the lot
	for i := range kvs {
		backing[i] = keyValue(&kvs[i])
		out[i] = &backing[i]
	}
	return out
}

// OptionalKV converts a key-value pair that may be absent (nil).
func OptionalKV(kv *api.KeyValue) *mvccpb.KeyValue {
	if kv == nil {
		return nil
	}
	return ToKV(kv)
}

// ToEvents converts watch events; an empty list is nil.
func ToEvents(evs []api.Event) []*mvccpb.Event {
	if len(evs) == 0 {
		return nil
	}
	out := make([]*mvccpb.Event, len(evs))
	for i := range evs {
		e := &evs[i]
		out[i] = &mvccpb.Event{Type: mvccpb.Event_EventType(e.Type), Kv: ToKV(&e.Kv), PrevKv: OptionalKV(e.PrevKv)}
	}
	return out
}

// ToMember converts a member.
func ToMember(m *api.Member) *pb.Member {
	return &pb.Member{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.IsLearner}
}

// ToMembers converts a list of members.
func ToMembers(ms []api.Member) []*pb.Member {
	out := make([]*pb.Member, len(ms))
	for i := range ms {
		out[i] = ToMember(&ms[i])
	}
	return out
}
