package etcdapi

import (
	"context"
	"errors"
	"io"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/etcdconv"
	"github.com/cairndb/cairn/node"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// leaseServer is etcd's Lease service on cairn's services. Every call
// works through any member: a follower forwards keep-alives and
// time-to-live questions to the leader.
type leaseServer struct{ s *node.Server }

func (l leaseServer) LeaseGrant(ctx context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	resp, err := l.s.LeaseGrant(ctx, &api.LeaseGrantRequest{TTL: r.TTL, ID: r.ID})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return etcdconv.ToLeaseGrant(resp), nil
}

func (l leaseServer) LeaseRevoke(ctx context.Context, r *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	resp, err := l.s.LeaseRevoke(ctx, &api.LeaseRevokeRequest{ID: r.ID})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.LeaseRevokeResponse{Header: etcdconv.ToHeader(resp.Header)}, nil
}

func (l leaseServer) LeaseKeepAlive(st pb.Lease_LeaseKeepAliveServer) error {
	return toGRPCError(l.s.LeaseKeepAlive(st.Context(), keepAliveStream{st}))
}

func (l leaseServer) LeaseTimeToLive(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	resp, err := l.s.LeaseTimeToLive(ctx, &api.LeaseTimeToLiveRequest{ID: r.ID, Keys: r.Keys})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return etcdconv.ToLeaseTimeToLive(resp), nil
}

func (l leaseServer) LeaseLeases(ctx context.Context, r *pb.LeaseLeasesRequest) (*pb.LeaseLeasesResponse, error) {
	resp, err := l.s.LeaseLeases(ctx, &api.LeaseLeasesRequest{})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return etcdconv.ToLeaseLeases(resp), nil
}

// keepAliveStream is a gRPC keep-alive stream as node sees one.
type keepAliveStream struct{ st pb.Lease_LeaseKeepAliveServer }

func (k keepAliveStream) Recv() (*api.LeaseKeepAliveRequest, error) {
	r, err := k.st.Recv()
	if err != nil {
		return nil, streamEnd(err)
	}
	return &api.LeaseKeepAliveRequest{ID: r.ID}, nil
}

func (k keepAliveStream) Send(r *api.LeaseKeepAliveResponse) error {
	return k.st.Send(etcdconv.ToLeaseKeepAlive(r))
}

// streamEnd is what a stream's Recv error means to node: io.EOF when the
// client closed its side (or went away), else the error.
func streamEnd(err error) error {
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	return err
}
