package etcdapi

import (
	"context"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/etcdconv"
	"github.com/cairndb/cairn/node"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// clusterServer is etcd's Cluster service on cairn's services. Its
// answers' headers carry no revision, as etcd's (the membership is not
// the key-value store's: etcd's Cluster service leaves it out).
type clusterServer struct{ s *node.Server }

// clusterHeader is h without its revision.
func clusterHeader(h *pb.ResponseHeader) *pb.ResponseHeader {
	if h != nil {
		h.Revision = 0
	}
	return h
}

func (c clusterServer) MemberAdd(ctx context.Context, r *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	resp, err := c.s.MemberAdd(ctx, &api.MemberAddRequest{PeerURLs: r.PeerURLs, IsLearner: r.IsLearner})
	if err != nil {
		return nil, toGRPCError(err)
	}
	out := etcdconv.ToMemberAdd(resp)
	out.Header = clusterHeader(out.Header)
	return out, nil
}

func (c clusterServer) MemberRemove(ctx context.Context, r *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	resp, err := c.s.MemberRemove(ctx, &api.MemberRemoveRequest{ID: r.ID})
	if err != nil {
		return nil, toGRPCError(err)
	}
	out := etcdconv.ToMemberRemove(resp)
	out.Header = clusterHeader(out.Header)
	return out, nil
}

func (c clusterServer) MemberUpdate(ctx context.Context, r *pb.MemberUpdateRequest) (*pb.MemberUpdateResponse, error) {
	resp, err := c.s.MemberUpdate(ctx, &api.MemberUpdateRequest{ID: r.ID, PeerURLs: r.PeerURLs})
	if err != nil {
		return nil, toGRPCError(err)
	}
	out := etcdconv.ToMemberUpdate(resp)
	out.Header = clusterHeader(out.Header)
	return out, nil
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
	out := etcdconv.ToMemberList(resp)
	out.Header = clusterHeader(out.Header)
	return out, nil
}

func (c clusterServer) MemberPromote(ctx context.Context, r *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	resp, err := c.s.MemberPromote(ctx, &api.MemberPromoteRequest{ID: r.ID})
	if err != nil {
		return nil, toGRPCError(err)
	}
	out := etcdconv.ToMemberPromote(resp)
	out.Header = clusterHeader(out.Header)
	return out, nil
}
