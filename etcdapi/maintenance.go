package etcdapi

import (
	"context"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/pagefile"
	"github.com/cairndb/cairn/internal/etcdconv"
	"github.com/cairndb/cairn/node"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// maintenanceServer is etcd's Maintenance service on cairn's services.
type maintenanceServer struct{ s *node.Server }

func (m maintenanceServer) Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	if r.Action < pb.AlarmRequest_GET || r.Action > pb.AlarmRequest_DEACTIVATE {
		return nil, status.Errorf(codes.InvalidArgument, "etcdserver: unknown alarm action %d", r.Action)
	}
	if r.Alarm < pb.AlarmType_NONE || r.Alarm > pb.AlarmType_CORRUPT {
		return nil, status.Errorf(codes.InvalidArgument, "etcdserver: unknown alarm type %d", r.Alarm)
	}
	resp, err := m.s.Alarm(ctx, &api.AlarmRequest{Action: api.AlarmAction(r.Action), MemberID: r.MemberID, Alarm: api.AlarmType(r.Alarm)})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return etcdconv.ToAlarm(resp), nil
}

// Status answers with etcd's fields. Version is the etcd API level cairn
// serves (clients gate features on it), as the storage version the member
// reports is; the errors list the raised alarms, or say that the member
// repairs its store (then its raft state is its log's: node.Server.StoreRepairStatus).
func (m maintenanceServer) Status(ctx context.Context, r *pb.StatusRequest) (*pb.StatusResponse, error) {
	if m.s.StoreRepairing() != nil {
		out := etcdconv.ToStatus(m.s.StoreRepairStatus())
		out.Version = node.EtcdAPIVersion
		// etcdctl's endpoint status table divides by the size, which an
		// etcd member never reports as 0. A member whose page file was
		// missing reports one page: the smallest page file.
		out.DbSize = max(out.DbSize, pagefile.DefaultPageSize)
		return out, nil
	}
	resp, err := m.s.Status(ctx, &api.StatusRequest{})
	if err != nil {
		return nil, toGRPCError(err)
	}
	out := etcdconv.ToStatus(resp)
	out.Version = node.EtcdAPIVersion
	return out, nil
}

// Defragment answers with nothing, not even a header, as etcd does.
func (m maintenanceServer) Defragment(ctx context.Context, r *pb.DefragmentRequest) (*pb.DefragmentResponse, error) {
	if _, err := m.s.Defragment(ctx, &api.DefragmentRequest{}); err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.DefragmentResponse{}, nil
}

func (m maintenanceServer) Hash(ctx context.Context, r *pb.HashRequest) (*pb.HashResponse, error) {
	resp, err := m.s.Hash(ctx, &api.HashRequest{})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.HashResponse{Header: etcdconv.ToHeader(resp.Header), Hash: resp.Hash}, nil
}

func (m maintenanceServer) HashKV(ctx context.Context, r *pb.HashKVRequest) (*pb.HashKVResponse, error) {
	resp, err := m.s.HashKV(ctx, &api.HashKVRequest{Revision: r.Revision})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return etcdconv.ToHashKV(resp), nil
}

// Snapshot streams the store as etcd streams its own: an etcd 3.6
// snapshot (bbolt database, then its SHA-256; snapshot_etcd.go), which
// `etcdctl snapshot save` writes, etcd's tools (etcdutl snapshot status
// and restore) read, and `ctl snapshot restore` reads too.
func (m maintenanceServer) Snapshot(r *pb.SnapshotRequest, st pb.Maintenance_SnapshotServer) error {
	return toGRPCError(m.serveEtcdSnapshot(st))
}

// MoveLeader answers with nothing, not even a header, as etcd does.
func (m maintenanceServer) MoveLeader(ctx context.Context, r *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	if _, err := m.s.MoveLeader(ctx, &api.MoveLeaderRequest{TargetID: r.TargetID}); err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.MoveLeaderResponse{}, nil
}

// Downgrade is refused: a cairn cluster has one storage version, so there
// is nothing to downgrade to.
func (m maintenanceServer) Downgrade(ctx context.Context, r *pb.DowngradeRequest) (*pb.DowngradeResponse, error) {
	return nil, status.Error(codes.Unimplemented, "etcdserver: cairn does not support cluster downgrades")
}
