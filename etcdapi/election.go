package etcdapi

import (
	"context"
	"errors"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/etcdapi/concurrencypb"
	"github.com/cairndb/cairn/internal/etcdconv"
	"github.com/cairndb/cairn/node"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// etcd's errors of the Election service, with etcd's messages and code
// Unknown, as etcd's server sends its client library's plain errors.
var (
	errElectionNotLeader = status.Error(codes.Unknown, "election: not leader")
	errElectionNoLeader  = status.Error(codes.Unknown, "election: no leader")
	errMissingLeaderKey  = status.Error(codes.Unknown, `"leader" field must be provided`)
)

// electionServer is etcd's Election service (v3electionpb.Election):
// leader election per name, the leader holding a key under a lease
// (keywait.go tells how), with a value it may change while it leads.
type electionServer struct{ s *node.Server }

// Campaign returns once the caller leads the election r.Name with value
// r.Value, under the lease r.Lease (a new lease of a minute when 0). A
// lease that already campaigns finds its key, and sets its value to
// r.Value. A call that ends before it leads deletes the key it put.
func (e electionServer) Campaign(ctx context.Context, r *concurrencypb.CampaignRequest) (*concurrencypb.CampaignResponse, error) {
	lease, err := sessionLease(ctx, e.s, r.Lease)
	if err != nil {
		return nil, concurrencyError(err)
	}
	prefix := namePrefix(r.Name)
	key := contenderKey(prefix, lease)
	resp, err := e.s.Txn(ctx, &api.TxnRequest{
		Compare: []api.Compare{createdAt(key, 0)},
		Success: []api.RequestOp{{Put: &api.PutRequest{Key: key, Value: r.Value, Lease: lease}}},
		Failure: []api.RequestOp{{Range: &api.RangeRequest{Key: key}}},
	})
	if err != nil {
		return nil, concurrencyError(err)
	}
	leader := &concurrencypb.LeaderKey{Name: r.Name, Key: key, Rev: resp.Header.Revision, Lease: lease}
	if !resp.Succeeded {
		kv := resp.Responses[0].Range.Kvs[0]
		leader.Rev = kv.CreateRevision
		if string(kv.Value) != string(r.Value) {
			if _, err := e.proclaim(ctx, leader, r.Value); err != nil {
				return nil, concurrencyError(err)
			}
		}
	}
	if _, err := awaitTurn(ctx, e.s, prefix, key, leader.Rev, errElectionNotLeader); err != nil {
		if resp.Succeeded {
			deleteCreated(ctx, e.s, key, leader.Rev)
		}
		return nil, concurrencyError(err)
	}
	return &concurrencypb.CampaignResponse{Header: etcdconv.ToHeader(resp.Header), Leader: leader}, nil
}

// Proclaim sets the leader's value, if r.Leader still leads (its key
// holds the create revision it was elected with); etcd's "not leader"
// error if not.
func (e electionServer) Proclaim(ctx context.Context, r *concurrencypb.ProclaimRequest) (*concurrencypb.ProclaimResponse, error) {
	if r.Leader == nil {
		return nil, errMissingLeaderKey
	}
	header, err := e.proclaim(ctx, r.Leader, r.Value)
	if err != nil {
		return nil, concurrencyError(err)
	}
	return &concurrencypb.ProclaimResponse{Header: etcdconv.ToHeader(header)}, nil
}

func (e electionServer) proclaim(ctx context.Context, leader *concurrencypb.LeaderKey, value []byte) (api.ResponseHeader, error) {
	resp, err := e.s.Txn(ctx, &api.TxnRequest{
		Compare: []api.Compare{createdAt(leader.Key, leader.Rev)},
		Success: []api.RequestOp{{Put: &api.PutRequest{Key: leader.Key, Value: value, Lease: leader.Lease}}},
	})
	if err != nil {
		return api.ResponseHeader{}, err
	}
	if !resp.Succeeded {
		return api.ResponseHeader{}, errElectionNotLeader
	}
	return resp.Header, nil
}

// Leader returns the key and value of the election's leader: its
// contender of the lowest create revision; etcd's "no leader" error when
// it has none.
func (e electionServer) Leader(ctx context.Context, r *concurrencypb.LeaderRequest) (*concurrencypb.LeaderResponse, error) {
	resp, err := e.s.Range(ctx, firstCreated(namePrefix(r.Name)))
	if err != nil {
		return nil, concurrencyError(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, errElectionNoLeader
	}
	return &concurrencypb.LeaderResponse{Header: etcdconv.ToHeader(resp.Header), Kv: etcdconv.ToKV(&resp.Kvs[0])}, nil
}

// Resign ends r.Leader's leadership by deleting its key, if it still
// leads (if not, there is nothing to give up, and no error).
func (e electionServer) Resign(ctx context.Context, r *concurrencypb.ResignRequest) (*concurrencypb.ResignResponse, error) {
	if r.Leader == nil {
		return nil, errMissingLeaderKey
	}
	resp, err := e.s.Txn(ctx, &api.TxnRequest{
		Compare: []api.Compare{createdAt(r.Leader.Key, r.Leader.Rev)},
		Success: []api.RequestOp{{DeleteRange: &api.DeleteRangeRequest{Key: r.Leader.Key}}},
	})
	if err != nil {
		return nil, concurrencyError(err)
	}
	return &concurrencypb.ResignResponse{Header: etcdconv.ToHeader(resp.Header)}, nil
}

// electionObserveStream is the server stream of an Observe call.
type electionObserveStream interface {
	Context() context.Context
	Send(*concurrencypb.LeaderResponse) error
}

// Observe sends the election's leader, then every new value of the
// leader and every new leader, until the caller ends the call. Like
// etcd's, it sends the latest leader value reliably, not necessarily
// every one in between.
//
// Also like etcd's, a read or watch of the member that fails (the
// caller may not read the election, say) ends the stream with no error
// and nothing more sent: etcd's recipe closes its channel of leaders
// then, and its server ends the call. The member logs why.
func (e electionServer) Observe(r *concurrencypb.LeaderRequest, st electionObserveStream) error {
	ctx := st.Context()
	prefix := namePrefix(r.Name)
	var sendErr observeSendError
	for {
		header, kv, err := e.awaitLeader(ctx, prefix)
		if err == nil {
			err = st.Send(&concurrencypb.LeaderResponse{Header: etcdconv.ToHeader(header), Kv: etcdconv.ToKV(kv)})
			if err != nil {
				return err
			}
			err = e.followLeader(ctx, kv.Key, header.Revision+1, st)
		}
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return concurrencyError(ctx.Err())
		case errors.As(err, &sendErr):
			return sendErr.err
		default:
			e.s.Logger().Info("etcdapi: an election's Observe ends: the member's read or watch failed", "election", string(r.Name), "err", err)
			return nil
		}
	}
}

// observeSendError is a failure of an Observe stream's Send (the caller
// is gone): unlike the member's refusals, it ends the call with its
// error.
type observeSendError struct{ err error }

func (e observeSendError) Error() string { return e.err.Error() }
func (e observeSendError) Unwrap() error { return e.err }

// awaitLeader returns the leader's key-value under prefix, waiting for a
// contender when there is none, with the header of the revision it was
// read at.
func (e electionServer) awaitLeader(ctx context.Context, prefix []byte) (api.ResponseHeader, *api.KeyValue, error) {
	resp, err := e.s.Range(ctx, firstCreated(prefix))
	if err != nil {
		return api.ResponseHeader{}, nil, err
	}
	if len(resp.Kvs) > 0 {
		return resp.Header, &resp.Kvs[0], nil
	}
	// No contender: the first key put under the prefix leads.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := watchMember(ctx, e.s, &api.WatchCreateRequest{Key: prefix, RangeEnd: api.PrefixEnd(prefix),
		StartRevision: resp.Header.Revision, Filters: []api.WatchFilterType{api.FilterNoDelete}})
	for {
		wr, err := w.next(ctx)
		if err != nil {
			return api.ResponseHeader{}, nil, err
		}
		if len(wr.Events) > 0 {
			kv := &wr.Events[0].Kv
			header := wr.Header
			header.Revision = kv.ModRevision
			return header, kv, nil
		}
	}
}

// followLeader sends each new value of the leader's key from revision
// from on, and returns when the key is deleted.
func (e electionServer) followLeader(ctx context.Context, key []byte, from int64, st electionObserveStream) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := watchMember(ctx, e.s, &api.WatchCreateRequest{Key: key, StartRevision: from})
	for {
		wr, err := w.next(ctx)
		if err != nil {
			return err
		}
		for i := range wr.Events {
			ev := &wr.Events[i]
			if ev.Type == api.EventDelete {
				return nil
			}
			if err := st.Send(&concurrencypb.LeaderResponse{Header: etcdconv.ToHeader(wr.Header), Kv: etcdconv.ToKV(&ev.Kv)}); err != nil {
				return observeSendError{err}
			}
		}
	}
}
