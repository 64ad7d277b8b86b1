package etcdapi

import (
	"context"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/node"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// kvServer is etcd's KV service on cairn's services.
type kvServer struct{ s *node.Server }

func (k kvServer) Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	resp, err := k.s.Range(ctx, fromRange(r))
	if err != nil {
		return nil, toGRPCError(err)
	}
	return toRange(resp), nil
}

func (k kvServer) Put(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	resp, err := k.s.Put(ctx, fromPut(r))
	if err != nil {
		return nil, toGRPCError(err)
	}
	return toPut(resp), nil
}

func (k kvServer) DeleteRange(ctx context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	resp, err := k.s.DeleteRange(ctx, fromDeleteRange(r))
	if err != nil {
		return nil, toGRPCError(err)
	}
	return toDeleteRange(resp), nil
}

func (k kvServer) Txn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	req, err := fromTxn(r)
	if err != nil {
		return nil, toGRPCError(err)
	}
	resp, err := k.s.Txn(ctx, req)
	if err != nil {
		return nil, toGRPCError(err)
	}
	return toTxn(resp), nil
}

func (k kvServer) Compact(ctx context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	resp, err := k.s.Compact(ctx, &api.CompactionRequest{Revision: r.Revision, Physical: r.Physical})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.CompactionResponse{Header: toHeader(resp.Header)}, nil
}
