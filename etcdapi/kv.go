package etcdapi

import (
	"context"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/etcdconv"
	"github.com/cairndb/cairn/node"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// kvServer is etcd's KV service on cairn's services.
type kvServer struct{ s *node.Server }

func (k kvServer) Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	resp, err := k.s.Range(ctx, etcdconv.FromRange(r))
	if err != nil {
		return nil, toGRPCError(err)
	}
	return etcdconv.ToRange(resp), nil
}

func (k kvServer) Put(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	resp, err := k.s.Put(ctx, etcdconv.FromPut(r))
	if err != nil {
		return nil, toGRPCError(err)
	}
	return etcdconv.ToPut(resp), nil
}

func (k kvServer) DeleteRange(ctx context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	resp, err := k.s.DeleteRange(ctx, etcdconv.FromDeleteRange(r))
	if err != nil {
		return nil, toGRPCError(err)
	}
	return etcdconv.ToDeleteRange(resp), nil
}

func (k kvServer) Txn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	req, err := etcdconv.FromTxn(r)
	if err != nil {
		return nil, toGRPCError(err)
	}
	resp, err := k.s.Txn(ctx, req)
	if err != nil {
		return nil, toGRPCError(err)
	}
	return etcdconv.ToTxn(resp), nil
}

func (k kvServer) Compact(ctx context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	resp, err := k.s.Compact(ctx, &api.CompactionRequest{Revision: r.Revision, Physical: r.Physical})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.CompactionResponse{Header: etcdconv.ToHeader(resp.Header)}, nil
}
