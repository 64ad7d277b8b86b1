// Package concurrencypb holds the messages of etcd's two concurrency
// services, v3lockpb.Lock and v3electionpb.Election, which etcd serves on
// its client port beside KV, Watch and Lease. etcd generates them in its
// server module (go.etcd.io/etcd/server/v3), which cairn does not depend
// on; these are the same messages written out by hand: the same field
// numbers, wire types and JSON names (from the protobuf struct tags, read
// by the protobuf runtime's support for such messages), so they encode
// and decode exactly as etcd's, over gRPC and over the JSON gateway.
//
// The full method names (LockMethod, CampaignMethod, ...) are the gRPC
// paths etcd's clients call.
package concurrencypb

import (
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/protoadapt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// The services' full names, as etcd's v3lock.proto and v3election.proto
// declare them.
const (
	LockService     = "v3lockpb.Lock"
	ElectionService = "v3electionpb.Election"
)

// The methods' full gRPC names.
const (
	LockMethod     = "/" + LockService + "/Lock"
	UnlockMethod   = "/" + LockService + "/Unlock"
	CampaignMethod = "/" + ElectionService + "/Campaign"
	ProclaimMethod = "/" + ElectionService + "/Proclaim"
	LeaderMethod   = "/" + ElectionService + "/Leader"
	ObserveMethod  = "/" + ElectionService + "/Observe"
	ResignMethod   = "/" + ElectionService + "/Resign"
)

// LockRequest asks for the lock Name, held under the lease Lease.
type LockRequest struct {
	Name  []byte `protobuf:"bytes,1,opt,name=name,proto3" json:"name,omitempty"`
	Lease int64  `protobuf:"varint,2,opt,name=lease,proto3" json:"lease,omitempty"`
}

// LockResponse answers a LockRequest once the lock is held: Key is the
// holder's key, which Unlock deletes.
type LockResponse struct {
	Header *pb.ResponseHeader `protobuf:"bytes,1,opt,name=header,proto3" json:"header,omitempty"`
	Key    []byte             `protobuf:"bytes,2,opt,name=key,proto3" json:"key,omitempty"`
}

// UnlockRequest releases the lock whose holder's key is Key.
type UnlockRequest struct {
	Key []byte `protobuf:"bytes,1,opt,name=key,proto3" json:"key,omitempty"`
}

// UnlockResponse answers an UnlockRequest.
type UnlockResponse struct {
	Header *pb.ResponseHeader `protobuf:"bytes,1,opt,name=header,proto3" json:"header,omitempty"`
}

// CampaignRequest asks to lead the election Name with Value, under the
// lease Lease.
type CampaignRequest struct {
	Name  []byte `protobuf:"bytes,1,opt,name=name,proto3" json:"name,omitempty"`
	Lease int64  `protobuf:"varint,2,opt,name=lease,proto3" json:"lease,omitempty"`
	Value []byte `protobuf:"bytes,3,opt,name=value,proto3" json:"value,omitempty"`
}

// CampaignResponse answers a CampaignRequest once the caller leads.
type CampaignResponse struct {
	Header *pb.ResponseHeader `protobuf:"bytes,1,opt,name=header,proto3" json:"header,omitempty"`
	Leader *LeaderKey         `protobuf:"bytes,2,opt,name=leader,proto3" json:"leader,omitempty"`
}

// LeaderKey names one leadership: the election, the leader's key, its
// create revision and its lease. Proclaim and Resign take it.
type LeaderKey struct {
	Name  []byte `protobuf:"bytes,1,opt,name=name,proto3" json:"name,omitempty"`
	Key   []byte `protobuf:"bytes,2,opt,name=key,proto3" json:"key,omitempty"`
	Rev   int64  `protobuf:"varint,3,opt,name=rev,proto3" json:"rev,omitempty"`
	Lease int64  `protobuf:"varint,4,opt,name=lease,proto3" json:"lease,omitempty"`
}

// LeaderRequest asks for (Leader) or follows (Observe) the leader of the
// election Name.
type LeaderRequest struct {
	Name []byte `protobuf:"bytes,1,opt,name=name,proto3" json:"name,omitempty"`
}

// LeaderResponse carries the leader's key and value.
type LeaderResponse struct {
	Header *pb.ResponseHeader `protobuf:"bytes,1,opt,name=header,proto3" json:"header,omitempty"`
	Kv     *mvccpb.KeyValue   `protobuf:"bytes,2,opt,name=kv,proto3" json:"kv,omitempty"`
}

// ResignRequest gives up the leadership Leader.
type ResignRequest struct {
	Leader *LeaderKey `protobuf:"bytes,1,opt,name=leader,proto3" json:"leader,omitempty"`
}

// ResignResponse answers a ResignRequest.
type ResignResponse struct {
	Header *pb.ResponseHeader `protobuf:"bytes,1,opt,name=header,proto3" json:"header,omitempty"`
}

// ProclaimRequest sets the value of the leadership Leader, while it leads.
type ProclaimRequest struct {
	Leader *LeaderKey `protobuf:"bytes,1,opt,name=leader,proto3" json:"leader,omitempty"`
	Value  []byte     `protobuf:"bytes,2,opt,name=value,proto3" json:"value,omitempty"`
}

// ProclaimResponse answers a ProclaimRequest.
type ProclaimResponse struct {
	Header *pb.ResponseHeader `protobuf:"bytes,1,opt,name=header,proto3" json:"header,omitempty"`
}

// The methods of protobuf's original Go API (protoadapt.MessageV1), by
// which gRPC's codec and the gateway's JSON marshaler recognise a message.

// Reset clears m.
func (m *LockRequest) Reset() { *m = LockRequest{} }

// String is m in protobuf's text format.
func (m *LockRequest) String() string { return text(m) }

// ProtoMessage marks LockRequest as a protobuf message.
func (*LockRequest) ProtoMessage() {}

// Reset clears m.
func (m *LockResponse) Reset() { *m = LockResponse{} }

// String is m in protobuf's text format.
func (m *LockResponse) String() string { return text(m) }

// ProtoMessage marks LockResponse as a protobuf message.
func (*LockResponse) ProtoMessage() {}

// Reset clears m.
func (m *UnlockRequest) Reset() { *m = UnlockRequest{} }

// String is m in protobuf's text format.
func (m *UnlockRequest) String() string { return text(m) }

// ProtoMessage marks UnlockRequest as a protobuf message.
func (*UnlockRequest) ProtoMessage() {}

// Reset clears m.
func (m *UnlockResponse) Reset() { *m = UnlockResponse{} }

// String is m in protobuf's text format.
func (m *UnlockResponse) String() string { return text(m) }

// ProtoMessage marks UnlockResponse as a protobuf message.
func (*UnlockResponse) ProtoMessage() {}

// Reset clears m.
func (m *CampaignRequest) Reset() { *m = CampaignRequest{} }

// String is m in protobuf's text format.
func (m *CampaignRequest) String() string { return text(m) }

// ProtoMessage marks CampaignRequest as a protobuf message.
func (*CampaignRequest) ProtoMessage() {}

// Reset clears m.
func (m *CampaignResponse) Reset() { *m = CampaignResponse{} }

// String is m in protobuf's text format.
func (m *CampaignResponse) String() string { return text(m) }

// ProtoMessage marks CampaignResponse as a protobuf message.
func (*CampaignResponse) ProtoMessage() {}

// Reset clears m.
func (m *LeaderKey) Reset() { *m = LeaderKey{} }

// String is m in protobuf's text format.
func (m *LeaderKey) String() string { return text(m) }

// ProtoMessage marks LeaderKey as a protobuf message.
func (*LeaderKey) ProtoMessage() {}

// Reset clears m.
func (m *LeaderRequest) Reset() { *m = LeaderRequest{} }

// String is m in protobuf's text format.
func (m *LeaderRequest) String() string { return text(m) }

// ProtoMessage marks LeaderRequest as a protobuf message.
func (*LeaderRequest) ProtoMessage() {}

// Reset clears m.
func (m *LeaderResponse) Reset() { *m = LeaderResponse{} }

// String is m in protobuf's text format.
func (m *LeaderResponse) String() string { return text(m) }

// ProtoMessage marks LeaderResponse as a protobuf message.
func (*LeaderResponse) ProtoMessage() {}

// Reset clears m.
func (m *ResignRequest) Reset() { *m = ResignRequest{} }

// String is m in protobuf's text format.
func (m *ResignRequest) String() string { return text(m) }

// ProtoMessage marks ResignRequest as a protobuf message.
func (*ResignRequest) ProtoMessage() {}

// Reset clears m.
func (m *ResignResponse) Reset() { *m = ResignResponse{} }

// String is m in protobuf's text format.
func (m *ResignResponse) String() string { return text(m) }

// ProtoMessage marks ResignResponse as a protobuf message.
func (*ResignResponse) ProtoMessage() {}

// Reset clears m.
func (m *ProclaimRequest) Reset() { *m = ProclaimRequest{} }

// String is m in protobuf's text format.
func (m *ProclaimRequest) String() string { return text(m) }

// ProtoMessage marks ProclaimRequest as a protobuf message.
func (*ProclaimRequest) ProtoMessage() {}

// Reset clears m.
func (m *ProclaimResponse) Reset() { *m = ProclaimResponse{} }

// String is m in protobuf's text format.
func (m *ProclaimResponse) String() string { return text(m) }

// ProtoMessage marks ProclaimResponse as a protobuf message.
func (*ProclaimResponse) ProtoMessage() {}

// text is m in protobuf's text format.
func text(m protoadapt.MessageV1) string {
	return prototext.MarshalOptions{}.Format(protoadapt.MessageV2Of(m))
}
