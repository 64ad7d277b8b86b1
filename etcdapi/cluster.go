package etcdapi

import (
	"context"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/etcdconv"
	"github.com/cairndb/cairn/node"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// clusterServer is etcd's Cluster service on cairn's services.
type clusterServer struct{ s *node.Server }

func (c clusterServer) MemberAdd(ctx context.Context, r *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	resp, err := c.s.MemberAdd(ctx, &api.MemberAddRequest{PeerURLs: r.PeerURLs, IsLearner: r.IsLearner})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return etcdconv.ToMemberAdd(resp), nil
}

func (c clusterServer) MemberRemove(ctx context.Context, r *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	resp, err := c.s.MemberRemove(ctx, &api.MemberRemoveRequest{ID: r.ID})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return etcdconv.ToMemberRemove(resp), nil
}

func (c clusterServer) MemberUpdate(ctx context.Context, r *pb.MemberUpdateRequest) (*pb.MemberUpdateResponse, error) {
	resp, err := c.s.MemberUpdate(ctx, &api.MemberUpdateRequest{ID: r.ID, PeerURLs: r.PeerURLs})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return etcdconv.ToMemberUpdate(resp), nil
}

// MemberList answers from the member's registry, or, while it repairs its
// store, with the membership a peer told it (node.Server.StoreRepairMembers).
func (c clusterServer) MemberList(ctx context.Context, r *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	req := &api.MemberListRequest{Linearizable: r.Linearizable}
	var resp *api.MemberListResponse
	var err error
	if c.s.StoreRepairing() != nil {
		resp, err = c.s.StoreRepairMembers(req)
	} else {
		resp, err = c.s.MemberList(ctx, req)
	}
	if err != nil {
		return nil, toGRPCError(err)
	}
	return etcdconv.ToMemberList(resp), nil
}

func (c clusterServer) MemberPromote(ctx context.Context, r *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	resp, err := c.s.MemberPromote(ctx, &api.MemberPromoteRequest{ID: r.ID})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return etcdconv.ToMemberPromote(resp), nil
}
