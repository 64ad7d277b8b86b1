package etcdapi

import (
	"context"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/etcdapi/concurrencypb"
	"github.com/cairndb/cairn/internal/etcdconv"
	"github.com/cairndb/cairn/node"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errSessionExpired is etcd's error for a Lock whose key went (its lease
// expired) while it waited: etcd's message, and code Unknown, as etcd's
// server sends its client library's plain errors.
var errSessionExpired = status.Error(codes.Unknown, "mutex: session is expired")

// lockServer is etcd's Lock service (v3lockpb.Lock): a distributed mutex
// per name, held under a lease (keywait.go tells how).
type lockServer struct{ s *node.Server }

// Lock returns once the caller holds the lock r.Name under the lease
// r.Lease (a new lease of a minute when 0), with the holder's key:
// r.Name, "/", the lease id in hexadecimal. A lease that already holds
// or waits for the lock finds its key and waits with it. A call that
// ends before it holds the lock (canceled, timed out, failed) deletes the
// key it put.
func (l lockServer) Lock(ctx context.Context, r *concurrencypb.LockRequest) (*concurrencypb.LockResponse, error) {
	lease, err := sessionLease(ctx, l.s, r.Lease)
	if err != nil {
		return nil, concurrencyError(err)
	}
	prefix := namePrefix(r.Name)
	key := contenderKey(prefix, lease)
	resp, err := l.s.Txn(ctx, &api.TxnRequest{
		Compare: []api.Compare{createdAt(key, 0)},
		Success: []api.RequestOp{
			{Put: &api.PutRequest{Key: key, Lease: lease}},
			{Range: firstCreated(prefix)},
		},
		Failure: []api.RequestOp{
			{Range: &api.RangeRequest{Key: key}},
			{Range: firstCreated(prefix)},
		},
	})
	if err != nil {
		return nil, concurrencyError(err)
	}
	myRev := resp.Header.Revision
	if !resp.Succeeded {
		myRev = resp.Responses[0].Range.Kvs[0].CreateRevision
	}
	holder := resp.Responses[1].Range.Kvs
	if len(holder) == 0 || holder[0].CreateRevision == myRev {
		return &concurrencypb.LockResponse{Header: etcdconv.ToHeader(resp.Header), Key: key}, nil
	}
	header, err := awaitTurn(ctx, l.s, prefix, key, myRev, errSessionExpired)
	if err != nil {
		if resp.Succeeded {
			deleteCreated(ctx, l.s, key, myRev)
		}
		return nil, concurrencyError(err)
	}
	return &concurrencypb.LockResponse{Header: etcdconv.ToHeader(header), Key: key}, nil
}

// Unlock deletes the holder's key r.Key, releasing the lock (a key that
// is gone already is no error).
func (l lockServer) Unlock(ctx context.Context, r *concurrencypb.UnlockRequest) (*concurrencypb.UnlockResponse, error) {
	resp, err := l.s.DeleteRange(ctx, &api.DeleteRangeRequest{Key: r.Key})
	if err != nil {
		return nil, concurrencyError(err)
	}
	return &concurrencypb.UnlockResponse{Header: etcdconv.ToHeader(resp.Header)}, nil
}
