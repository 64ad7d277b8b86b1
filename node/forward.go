package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/rpc"
)

// Calls only the leader can answer, through any member: lease renewals,
// time-to-live questions, and whether a learner may be promoted. The
// leader alone keeps the leases' clocks (the lessor is promoted when a
// member becomes leader); another member asks the leader over the peer
// connection and answers its client with what the leader said, so a
// client may keep its leases alive through whichever member it talks to,
// as etcd's clients expect.

const (
	// methodPeerLeaseRenew renews a lease at the leader (an
	// api.LeaseKeepAliveRequest answered by an api.LeaseKeepAliveResponse).
	methodPeerLeaseRenew rpc.Method = 1004
	// methodPeerLeaseTimeToLive asks the leader for a lease's granted and
	// remaining TTL (an api.LeaseTimeToLiveRequest answered by an
	// api.LeaseTimeToLiveResponse without keys).
	methodPeerLeaseTimeToLive rpc.Method = 1005
	// methodPeerLearnerReady asks the leader whether a learner caught up
	// enough to be promoted (service_cluster.go).
	methodPeerLearnerReady rpc.Method = 1006
)

// renewLease renews lease id at the leader, here or over the peer
// connection, and returns its new TTL (0 when the lease does not exist).
func (s *Server) renewLease(ctx context.Context, id int64) (int64, error) {
	var ttl int64
	err := s.atLeader(ctx, func(leader uint64) error {
		if leader == s.id {
			var err error
			ttl, err = s.localRenew(ctx, id)
			return err
		}
		var resp api.LeaseKeepAliveResponse
		if err := s.callLeader(ctx, leader, methodPeerLeaseRenew, &api.LeaseKeepAliveRequest{ID: id}, &resp); err != nil {
			return err
		}
		ttl = resp.TTL
		return nil
	})
	return ttl, err
}

// leaseTimeToLive asks the leader for lease id's granted and remaining
// TTL (replica.ErrLeaseNotFound when it does not exist).
func (s *Server) leaseTimeToLive(ctx context.Context, id int64) (granted, remaining int64, err error) {
	err = s.atLeader(ctx, func(leader uint64) error {
		if leader == s.id {
			var err error
			granted, remaining, err = s.localTimeToLive(ctx, id)
			return err
		}
		var resp api.LeaseTimeToLiveResponse
		if err := s.callLeader(ctx, leader, methodPeerLeaseTimeToLive, &api.LeaseTimeToLiveRequest{ID: id}, &resp); err != nil {
			return err
		}
		if resp.TTL < 0 {
			return replica.ErrLeaseNotFound
		}
		granted, remaining = resp.GrantedTTL, resp.TTL
		return nil
	})
	return granted, remaining, err
}

// atLeader runs try with the member this one believes leads
// (replica.LeaseRoute), again when leadership moved under it (the leader
// it asked no longer leads: replica.RetryLeaseCall), until ctx ends.
func (s *Server) atLeader(ctx context.Context, try func(leader uint64) error) error {
	return s.untilLeader(ctx, time.Time{}, func() error {
		leader, err := s.replica.LeaseRoute(s.driver.Leader())
		if err != nil {
			return err
		}
		err = try(leader)
		if replica.RetryLeaseCall(err) {
			return replica.ErrNoLeader // it lost leadership a moment ago: ask the next one
		}
		return err
	})
}

// localRenew renews a lease at this member, which must lead
// (Replica.Renew), after a ReadIndex round if the lessor does not know
// the lease: its grant may be committed but not yet applied here.
func (s *Server) localRenew(ctx context.Context, id int64) (int64, error) {
	ttl, err := s.replica.Renew(s.driver.Leader(), id, false)
	if errors.Is(err, replica.ErrLeaseNotFound) {
		ctx, bound := s.withDeadline(ctx) // a keep-alive stream has none
		defer bound.Release()
		_ = s.readBarrier(ctx) // failed: the lease is as unknown as it was
		return s.replica.Renew(s.driver.Leader(), id, true)
	}
	return ttl, err
}

// localTimeToLive answers a time-to-live question at the leader.
func (s *Server) localTimeToLive(ctx context.Context, id int64) (granted, remaining int64, err error) {
	err = s.leaseLookup(ctx, func() (err error) {
		granted, remaining, _, err = s.replica.Lessor.TimeToLive(id, time.Now())
		return err
	})
	return granted, remaining, err
}

// leaseLookup runs lookup, and once more after this member applied
// everything committed when the lease was not found: the grant may be
// committed but not yet applied here (the client had it from a member
// that applied it first). Only a miss pays the ReadIndex round.
func (s *Server) leaseLookup(ctx context.Context, lookup func() error) error {
	err := lookup()
	if errors.Is(err, replica.ErrLeaseNotFound) {
		ctx, bound := s.withDeadline(ctx) // a keep-alive stream has none
		defer bound.Release()
		if s.readBarrier(ctx) == nil {
			err = lookup()
		}
	}
	return err
}

// callLeader makes one peer call to the leader.
func (s *Server) callLeader(ctx context.Context, leader uint64, m rpc.Method, req, resp api.Message) error {
	p := s.transport.peer(leader)
	if p == nil {
		return replica.ErrNoLeader
	}
	c, err := p.connection()
	if err != nil {
		return fmt.Errorf("connect to the leader %016x: %w", leader, err)
	}
	ctx, bound := s.withDeadline(ctx) // a keep-alive stream has none
	defer bound.Release()
	b, err := c.Call(ctx, m, api.Marshal(req))
	if err != nil {
		return toAPIErrorFromRemote(err)
	}
	if err := api.Unmarshal(b, resp); err != nil {
		return fmt.Errorf("the leader %016x answered a malformed %T: %w", leader, resp, err)
	}
	return nil
}

// servePeerLeaseRenew renews a lease for a member forwarding its client's
// keep-alive.
func (s *Server) servePeerLeaseRenew(ctx context.Context, b []byte) ([]byte, error) {
	var req api.LeaseKeepAliveRequest
	if err := api.Unmarshal(b, &req); err != nil {
		return nil, api.Errorf(api.CodeInvalidArgument, "malformed forwarded keep-alive: %v", err)
	}
	ttl, err := s.localRenew(ctx, req.ID)
	if err != nil {
		return nil, toAPIError(err)
	}
	return api.Marshal(&api.LeaseKeepAliveResponse{Header: s.header(), ID: req.ID, TTL: ttl}), nil
}

// servePeerLeaseTimeToLive answers a forwarded time-to-live question
// (TTL -1 when the lease does not exist).
func (s *Server) servePeerLeaseTimeToLive(ctx context.Context, b []byte) ([]byte, error) {
	var req api.LeaseTimeToLiveRequest
	if err := api.Unmarshal(b, &req); err != nil {
		return nil, api.Errorf(api.CodeInvalidArgument, "malformed forwarded time-to-live request: %v", err)
	}
	if s.driver.Leader() != s.id {
		return nil, api.ErrNotLeader
	}
	resp := &api.LeaseTimeToLiveResponse{Header: s.header(), ID: req.ID}
	granted, remaining, err := s.localTimeToLive(ctx, req.ID)
	switch {
	case errors.Is(err, replica.ErrLeaseNotFound):
		resp.TTL = -1
	case err != nil:
		return nil, toAPIError(err)
	default:
		resp.GrantedTTL, resp.TTL = granted, remaining
	}
	return api.Marshal(resp), nil
}
