package main

import (
	"fmt"
	"strconv"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// etcdctl's fields format: one `"Name" : value` line for each field of a
// response, strings quoted as Go quotes them, a blank line after each
// member, endpoint or alarm of a list. With --hex, cluster and member ids
// are hex, and lease ids 16 hex digits.

// fields prints m, etcd's message for a response, as fields lines.
func (p *printer) fields(m any) {
	switch m := m.(type) {
	case *pb.RangeResponse:
		p.fieldsRange(m)
	case *pb.PutResponse:
		p.fieldsPut(m)
	case *pb.DeleteRangeResponse:
		p.fieldsDelete(m)
	case *pb.TxnResponse:
		p.fieldsTxn(m)
	case *watchMessage:
		p.fieldsHeader(&m.Header)
		for _, ev := range m.Events {
			p.field("Type", ev.Type)
			if ev.PrevKv != nil {
				p.fieldsKV("Prev", ev.PrevKv)
			}
			p.fieldsKV("", ev.Kv)
		}
	case *leaseGrantMessage:
		p.fieldsHeader(m.ResponseHeader)
		p.fieldLease("ID", m.ID)
		p.field("TTL", m.TTL)
	case *leaseKeepAliveMessage:
		p.fieldsHeader(m.ResponseHeader)
		p.fieldLease("ID", m.ID)
		p.field("TTL", m.TTL)
	case *leaseTimeToLiveMessage:
		p.fieldsHeader(m.ResponseHeader)
		p.fieldLease("ID", m.ID)
		p.field("TTL", m.TTL)
		p.field("GrantedTTL", m.GrantedTTL)
		for _, k := range m.Keys {
			p.fieldQuoted("Key", string(k))
		}
	case *leaseLeasesMessage:
		p.fieldsHeader(m.ResponseHeader)
		for _, l := range m.Leases {
			p.fieldLease("ID", l.ID)
		}
	case *pb.MemberListResponse:
		p.fieldsHeader(m.Header)
		for _, mb := range m.Members {
			p.field("ID", p.fieldID(mb.ID))
			p.fieldQuoted("Name", mb.Name)
			for _, u := range mb.PeerURLs {
				p.fieldQuoted("PeerURL", u)
			}
			for _, u := range mb.ClientURLs {
				p.fieldQuoted("ClientURL", u)
			}
			p.field("IsLearner", mb.IsLearner)
			p.printf("\n")
		}
	case []endpointHealth:
		for _, h := range m {
			p.fieldQuoted("Endpoint", h.Endpoint)
			p.field("Health", h.Health)
			p.field("Took", h.Took)
			p.field("Error", h.Error)
			p.printf("\n")
		}
	case []endpointStatusMessage:
		for _, s := range m {
			p.fieldsStatus(s)
		}
	case []endpointHashMessage:
		for _, h := range m {
			p.fieldsHeader(h.HashKV.Header)
			p.fieldQuoted("Endpoint", h.Endpoint)
			p.field("Hash", h.HashKV.Hash)
			p.field("HashRevision", h.HashKV.HashRevision)
			p.printf("\n")
		}
	case *pb.AlarmResponse:
		p.fieldsHeader(m.Header)
		for _, a := range m.Alarms {
			p.field("MemberID", p.fieldID(a.MemberID))
			p.field("AlarmType", a.Alarm)
			p.printf("\n")
		}
	case *pb.AuthRoleGetResponse:
		p.fieldsHeader(m.Header)
		for _, pm := range m.Perm {
			p.printf("\"PermType\" :  %s\n", pm.PermType) // etcdctl's two spaces
			p.fieldQuoted("Key", string(pm.Key))
			p.fieldQuoted("RangeEnd", string(pm.RangeEnd))
		}
	case *pb.AuthRoleListResponse:
		p.fieldsHeader(m.Header)
		p.printf(`"Roles" :`)
		for _, r := range m.Roles {
			p.printf(" %q", r)
		}
		p.printf("\n")
	case *pb.AuthRoleAddResponse:
		p.fieldsHeader(m.Header)
	case *pb.AuthRoleDeleteResponse:
		p.fieldsHeader(m.Header)
	case *pb.AuthRoleGrantPermissionResponse:
		p.fieldsHeader(m.Header)
	case *pb.AuthRoleRevokePermissionResponse:
		p.fieldsHeader(m.Header)
	case *pb.AuthUserAddResponse:
		p.fieldsHeader(m.Header)
	case *pb.AuthUserDeleteResponse:
		p.fieldsHeader(m.Header)
	case *pb.AuthUserChangePasswordResponse:
		p.fieldsHeader(m.Header)
	case *pb.AuthUserGrantRoleResponse:
		p.fieldsHeader(m.Header)
	case *pb.AuthUserRevokeRoleResponse:
		p.fieldsHeader(m.Header)
	case *pb.LeaseRevokeResponse:
		p.fieldsHeader(m.Header)
	default:
		// checkFormat refuses the commands whose responses are not here.
		p.fail(fmt.Errorf("%T has no fields format", m))
	}
}

// field prints `"name" : value`.
func (p *printer) field(name string, v any) {
	p.printf("\"%s\" : %v\n", name, v)
}

// fieldQuoted prints `"name" : "value"`, quoted as Go quotes.
func (p *printer) fieldQuoted(name, v string) {
	p.printf("\"%s\" : %q\n", name, v)
}

// fieldLease prints a lease id: 16 hex digits with --hex, else decimal.
func (p *printer) fieldLease(name string, id int64) {
	if p.hex {
		p.printf("\"%s\" : %016x\n", name, id)
		return
	}
	p.field(name, id)
}

// fieldID is a cluster or member id: hex with --hex, else decimal.
func (p *printer) fieldID(id uint64) string {
	if p.hex {
		return strconv.FormatUint(id, 16)
	}
	return strconv.FormatUint(id, 10)
}

// fieldsHeader prints a response header; the revision only when set (a
// cluster response has none).
func (p *printer) fieldsHeader(h *pb.ResponseHeader) {
	if h == nil {
		h = &pb.ResponseHeader{}
	}
	p.field("ClusterID", p.fieldID(h.ClusterId))
	p.field("MemberID", p.fieldID(h.MemberId))
	if h.Revision > 0 {
		p.field("Revision", h.Revision)
	}
	p.field("RaftTerm", h.RaftTerm)
}

// fieldsKV prints a key-value pair, each name prefixed with prefix.
func (p *printer) fieldsKV(prefix string, kv *mvccpb.KeyValue) {
	p.fieldQuoted(prefix+"Key", string(kv.Key))
	p.field(prefix+"CreateRevision", kv.CreateRevision)
	p.field(prefix+"ModRevision", kv.ModRevision)
	p.field(prefix+"Version", kv.Version)
	p.fieldQuoted(prefix+"Value", string(kv.Value))
	p.fieldLease(prefix+"Lease", kv.Lease)
}

func (p *printer) fieldsRange(r *pb.RangeResponse) {
	p.fieldsHeader(r.Header)
	for _, kv := range r.Kvs {
		p.fieldsKV("", kv)
	}
	p.field("More", r.More)
	p.field("Count", r.Count)
}

func (p *printer) fieldsPut(r *pb.PutResponse) {
	p.fieldsHeader(r.Header)
	if r.PrevKv != nil {
		p.fieldsKV("Prev", r.PrevKv)
	}
}

func (p *printer) fieldsDelete(r *pb.DeleteRangeResponse) {
	p.fieldsHeader(r.Header)
	p.field("Deleted", r.Deleted)
	for _, kv := range r.PrevKvs {
		p.fieldsKV("Prev", kv)
	}
}

// fieldsTxn prints a transaction's outcome, then each operation's
// response; a nested transaction's is one "Unknown" line holding it in
// protobuf text, as etcdctl prints it.
func (p *printer) fieldsTxn(r *pb.TxnResponse) {
	p.fieldsHeader(r.Header)
	p.field("Succeeded", r.Succeeded)
	for _, op := range r.Responses {
		switch v := op.Response.(type) {
		case *pb.ResponseOp_ResponseDeleteRange:
			p.fieldsDelete(v.ResponseDeleteRange)
		case *pb.ResponseOp_ResponsePut:
			p.fieldsPut(v.ResponsePut)
		case *pb.ResponseOp_ResponseRange:
			p.fieldsRange(v.ResponseRange)
		default:
			p.fieldQuoted("Unknown", fmt.Sprintf("%+v", v))
		}
	}
}

// fieldsStatus prints one endpoint's status.
func (p *printer) fieldsStatus(s endpointStatusMessage) {
	r := s.Status
	p.fieldsHeader(r.Header)
	p.fieldQuoted("Version", r.Version)
	p.fieldQuoted("StorageVersion", r.StorageVersion)
	p.field("DBSize", r.DbSize)
	p.field("DBSizeInUse", r.DbSizeInUse)
	p.field("DBSizeQuota", r.DbSizeQuota)
	p.field("Leader", r.Leader)
	p.field("IsLearner", r.IsLearner)
	p.field("RaftIndex", r.RaftIndex)
	p.field("RaftAppliedIndex", r.RaftAppliedIndex)
	p.field("Errors", r.Errors)
	p.fieldQuoted("Endpoint", s.Endpoint)
	p.fieldQuoted("DowngradeTargetVersion", r.DowngradeInfo.GetTargetVersion())
	p.field("DowngradeEnabled", r.DowngradeInfo.GetEnabled())
	p.printf("\n")
}
