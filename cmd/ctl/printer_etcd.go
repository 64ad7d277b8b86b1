package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// etcdctl's message formats. In json, fields and protobuf ctl prints what
// etcdctl 3.6 prints for the same response, so that scripts written for
// etcdctl (jq over -w json, say) read ctl's output alike. What is printed
// is etcd's message for the response (etcdserverpb, mvccpb), converted
// from cairn's by package etcdconv: encoding/json writes it with etcd's
// snake_case names, zero values left out, bytes in base64 and ids as
// numbers; protobuf is its own encoding. Where etcdctl prints a type of
// etcd's client library instead (lease and watch responses, endpoint
// lists), the types below have that type's shape.

// etcd reports whether p prints in one of etcdctl's message formats.
func (p *printer) etcd() bool {
	return p.format == formatJSON || p.format == formatFields || p.format == formatProtobuf
}

// protoMarshaler is a message with a protobuf encoding.
type protoMarshaler interface {
	Marshal() ([]byte, error)
}

// message prints m, etcd's message for a response, in the current
// format: one line of JSON, fields lines, or the protobuf encoding alone
// (no newline, as etcdctl).
func (p *printer) message(m any) {
	switch p.format {
	case formatJSON:
		if ml, ok := m.(*pb.MemberListResponse); ok && p.hex {
			p.printf("%s\n", hexMemberListJSON(ml))
			return
		}
		p.json(m)
	case formatFields:
		p.fields(m)
	case formatProtobuf:
		pm, ok := m.(protoMarshaler)
		if !ok {
			p.fail(fmt.Errorf("%T has no protobuf encoding", m))
			return
		}
		b, err := pm.Marshal()
		if err != nil {
			p.fail(fmt.Errorf("encoding %T as protobuf: %w", m, err))
			return
		}
		p.printf("%s", b)
	default:
		p.fail(fmt.Errorf("format %q prints no etcd messages", p.format))
	}
}

// fail records err as the printer's error unless one is recorded.
func (p *printer) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

// checkFormat refuses, before anything is sent, a command that etcdctl
// cannot print in the chosen format, so that ctl never makes a change it
// then fails to show. (etcdctl fails after the request: member add -w
// fields adds the member, then says fields is not supported.)
func checkFormat(cmd, format string) error {
	// ctl's own commands (snapshot status and restore, mirror) print
	// json of their own, and neither of the others.
	ctlOnly := []string{"snapshot status", "snapshot restore", "mirror"}
	var unsupported []string
	switch format {
	case formatFields:
		unsupported = append(ctlOnly, "member add", "member remove", "member update", "member promote", "move-leader",
			"auth status", "user list")
	case formatProtobuf:
		unsupported = append(ctlOnly, "lease revoke", "endpoint status", "endpoint health", "endpoint hashkv")
	}
	for _, u := range unsupported {
		if cmd == u {
			return usageErrorf("ctl "+cmd+" [flags]", "%s cannot print in the %s format (nor can etcdctl); use json", cmd, format)
		}
	}
	return nil
}

// The client library's types that etcdctl prints. A lease response embeds
// the header, so its fields sit at the top level of the JSON, and its
// Marshal method is the header's: etcdctl's protobuf format prints the
// header alone for lease grant, keep-alive, timetolive and list.

// leaseGrantMessage is a lease grant.
type leaseGrantMessage struct {
	*pb.ResponseHeader
	ID    int64
	TTL   int64
	Error string
}

// leaseKeepAliveMessage is one renewal of a lease.
type leaseKeepAliveMessage struct {
	*pb.ResponseHeader
	ID  int64
	TTL int64
}

// leaseTimeToLiveMessage is a lease's time to live.
type leaseTimeToLiveMessage struct {
	*pb.ResponseHeader
	ID         int64    `json:"id"`
	TTL        int64    `json:"ttl"`
	GrantedTTL int64    `json:"granted-ttl"`
	Keys       [][]byte `json:"keys"`
}

// leaseLeasesMessage is the list of leases.
type leaseLeasesMessage struct {
	*pb.ResponseHeader
	Leases []leaseStatusMessage `json:"leases"`
}

// leaseStatusMessage is one lease of the list.
type leaseStatusMessage struct {
	ID int64 `json:"id"`
}

// watchMessage is a watch response, without the watch id.
type watchMessage struct {
	Header          pb.ResponseHeader
	Events          []*mvccpb.Event
	CompactRevision int64
	Canceled        bool
	Created         bool
}

// Marshal encodes w as etcd's WatchResponse, as etcdctl's protobuf format
// does.
func (w *watchMessage) Marshal() ([]byte, error) {
	return (&pb.WatchResponse{Header: &w.Header, Events: w.Events, CompactRevision: w.CompactRevision,
		Canceled: w.Canceled, Created: w.Created}).Marshal()
}

// endpointStatusMessage is one endpoint's status.
type endpointStatusMessage struct {
	Endpoint string             `json:"Endpoint"`
	Status   *pb.StatusResponse `json:"Status"`
}

// endpointHashMessage is one endpoint's key-value hash.
type endpointHashMessage struct {
	Endpoint string             `json:"Endpoint"`
	HashKV   *pb.HashKVResponse `json:"HashKV"`
}

// hexMemberListJSON is member list -w json --hex: the cluster, member and
// members' ids as hex strings, the header without its revision, and each
// member without its learner flag.
func hexMemberListJSON(r *pb.MemberListResponse) []byte {
	hex := func(id uint64) string { return strconv.Quote(strconv.FormatUint(id, 16)) }
	str := func(v any) string {
		b, _ := json.Marshal(v) // strings and string lists always encode
		return string(b)
	}
	h := r.Header
	if h == nil {
		h = &pb.ResponseHeader{}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `{"header":{"cluster_id":%s,"member_id":%s,"raft_term":%d}`, hex(h.ClusterId), hex(h.MemberId), h.RaftTerm)
	for i, m := range r.Members {
		if i == 0 {
			b.WriteString(`,"members":[`)
		} else {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"ID":%s,"name":%s,"peerURLs":%s,"clientURLs":%s}`, hex(m.ID), str(m.Name), str(m.PeerURLs), str(m.ClientURLs))
	}
	if len(r.Members) > 0 {
		b.WriteString("]")
	}
	b.WriteString("}")
	return []byte(b.String())
}
