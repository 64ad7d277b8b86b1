package etcdconv

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/cairndb/cairn/api"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// The responses of the Lease, Cluster, Maintenance and Auth services that
// carry more than a header (those that carry only a header convert with
// ToHeader).

// ToLeaseGrant converts a lease grant response.
func ToLeaseGrant(r *api.LeaseGrantResponse) *pb.LeaseGrantResponse {
	return &pb.LeaseGrantResponse{Header: ToHeader(r.Header), ID: r.ID, TTL: r.TTL}
}

// ToLeaseKeepAlive converts a lease keep-alive response.
func ToLeaseKeepAlive(r *api.LeaseKeepAliveResponse) *pb.LeaseKeepAliveResponse {
	return &pb.LeaseKeepAliveResponse{Header: ToHeader(r.Header), ID: r.ID, TTL: r.TTL}
}

// ToLeaseTimeToLive converts a lease time-to-live response.
func ToLeaseTimeToLive(r *api.LeaseTimeToLiveResponse) *pb.LeaseTimeToLiveResponse {
	return &pb.LeaseTimeToLiveResponse{Header: ToHeader(r.Header), ID: r.ID, TTL: r.TTL,
		GrantedTTL: r.GrantedTTL, Keys: r.Keys}
}

// ToLeaseLeases converts a lease list response.
func ToLeaseLeases(r *api.LeaseLeasesResponse) *pb.LeaseLeasesResponse {
	out := &pb.LeaseLeasesResponse{Header: ToHeader(r.Header), Leases: make([]*pb.LeaseStatus, len(r.Leases))}
	for i, ls := range r.Leases {
		out.Leases[i] = &pb.LeaseStatus{ID: ls.ID}
	}
	return out
}

// The Cluster service's answers are etcd's: their header names no
// revision (the membership is not in the key space: clusterHeader), and
// they list the members in the order of their ids (clusterMembers).

// ToMemberAdd converts a member add response.
func ToMemberAdd(r *api.MemberAddResponse) *pb.MemberAddResponse {
	return &pb.MemberAddResponse{Header: clusterHeader(r.Header), Member: ToMember(&r.Member), Members: clusterMembers(r.Members)}
}

// ToMemberRemove converts a member remove response.
func ToMemberRemove(r *api.MemberRemoveResponse) *pb.MemberRemoveResponse {
	return &pb.MemberRemoveResponse{Header: clusterHeader(r.Header), Members: clusterMembers(r.Members)}
}

// ToMemberUpdate converts a member update response.
func ToMemberUpdate(r *api.MemberUpdateResponse) *pb.MemberUpdateResponse {
	return &pb.MemberUpdateResponse{Header: clusterHeader(r.Header), Members: clusterMembers(r.Members)}
}

// ToMemberList converts a member list response.
func ToMemberList(r *api.MemberListResponse) *pb.MemberListResponse {
	return &pb.MemberListResponse{Header: clusterHeader(r.Header), Members: clusterMembers(r.Members)}
}

// ToMemberPromote converts a member promote response.
func ToMemberPromote(r *api.MemberPromoteResponse) *pb.MemberPromoteResponse {
	return &pb.MemberPromoteResponse{Header: clusterHeader(r.Header), Members: clusterMembers(r.Members)}
}

// clusterHeader is the header of a Cluster answer: h without its revision.
func clusterHeader(h api.ResponseHeader) *pb.ResponseHeader {
	out := ToHeader(h)
	out.Revision = 0
	return out
}

// clusterMembers converts the members of a Cluster answer, in the order
// of their ids.
func clusterMembers(ms []api.Member) []*pb.Member {
	out := ToMembers(ms)
	slices.SortFunc(out, func(a, b *pb.Member) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// ToAlarm converts an alarm response.
func ToAlarm(r *api.AlarmResponse) *pb.AlarmResponse {
	out := &pb.AlarmResponse{Header: ToHeader(r.Header)}
	for _, a := range r.Alarms {
		out.Alarms = append(out.Alarms, &pb.AlarmMember{MemberID: a.MemberID, Alarm: pb.AlarmType(a.Alarm)})
	}
	return out
}

// ToStatus converts a status response. Version is the member's own;
// DowngradeInfo, which cairn has no use for, says no downgrade is under way.
// The errors that name a raised alarm are written as etcd writes them
// (statusAlarmError).
func ToStatus(r *api.StatusResponse) *pb.StatusResponse {
	var errs []string
	if r.Errors != nil {
		errs = make([]string, len(r.Errors))
		for i, e := range r.Errors {
			errs[i] = statusAlarmError(e)
		}
	}
	return &pb.StatusResponse{Header: ToHeader(r.Header), Version: r.Version, DbSize: r.DbSize,
		Leader: r.Leader, RaftIndex: r.RaftIndex, RaftTerm: r.RaftTerm, RaftAppliedIndex: r.RaftAppliedIndex,
		Errors: errs, DbSizeInUse: r.DbSizeInUse, IsLearner: r.IsLearner,
		StorageVersion: r.StorageVersion, DbSizeQuota: r.DbSizeQuota,
		DowngradeInfo: &pb.DowngradeInfo{}} // as etcd's: present, and no downgrade under way
}

// ToHashKV converts a key-value hash response.
// A store never compacted reports compact revision -1, as etcd's does.
func ToHashKV(r *api.HashKVResponse) *pb.HashKVResponse {
	compacted := r.CompactRevision
	if compacted == 0 {
		compacted = -1
	}
	return &pb.HashKVResponse{Header: ToHeader(r.Header), Hash: r.Hash, CompactRevision: compacted,
		HashRevision: r.HashRevision}
}

// ToAuthStatus converts an auth status response.
func ToAuthStatus(r *api.AuthStatusResponse) *pb.AuthStatusResponse {
	return &pb.AuthStatusResponse{Header: ToHeader(r.Header), Enabled: r.Enabled, AuthRevision: r.AuthRevision}
}

// ToUserGet converts a user get response.
func ToUserGet(r *api.UserGetResponse) *pb.AuthUserGetResponse {
	return &pb.AuthUserGetResponse{Header: ToHeader(r.Header), Roles: r.Roles}
}

// ToUserList converts a user list response.
func ToUserList(r *api.UserListResponse) *pb.AuthUserListResponse {
	return &pb.AuthUserListResponse{Header: ToHeader(r.Header), Users: r.Users}
}

// ToRoleGet converts a role get response.
func ToRoleGet(r *api.RoleGetResponse) *pb.AuthRoleGetResponse {
	out := &pb.AuthRoleGetResponse{Header: ToHeader(r.Header)}
	for _, p := range r.Perm {
		out.Perm = append(out.Perm, &authpb.Permission{PermType: authpb.Permission_Type(p.PermType), Key: p.Key, RangeEnd: p.RangeEnd})
	}
	return out
}

// ToRoleList converts a role list response.
func ToRoleList(r *api.RoleListResponse) *pb.AuthRoleListResponse {
	return &pb.AuthRoleListResponse{Header: ToHeader(r.Header), Roles: r.Roles}
}

// statusAlarmError is a status error as etcd writes it: a raised alarm,
// which cairn writes "memberID:<hex id> alarm:<name>", becomes the alarm's
// protobuf text ("memberID:<decimal id> alarm:<name> ", trailing space
// included); any other error is kept.
func statusAlarmError(e string) string {
	var id uint64
	var name string
	if _, err := fmt.Sscanf(e, "memberID:%x alarm:%s", &id, &name); err != nil {
		return e
	}
	alarm, ok := pb.AlarmType_value[name]
	if !ok || fmt.Sprintf("memberID:%016x alarm:%s", id, name) != e {
		return e
	}
	return (&pb.AlarmMember{MemberID: id, Alarm: pb.AlarmType(alarm)}).String()
}
