package node

import (
	"context"
	"errors"
	"io"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/node/replica"
)

// The Lease service. Grants and revocations go through raft, as
// replica.Plan says (servePlan, services.go); keep-alives and time-to-live
// questions are answered by the leader, which alone keeps the leases'
// clocks: another member forwards them to it over the peer connection
// (lease_forward.go), so they work through any member.

// serveLeaseGrant grants a lease; one that names no id gets a random one
// (positive, never 0).
func (s *Server) serveLeaseGrant(ctx context.Context, req *api.LeaseGrantRequest) (api.Message, error) {
	if req.ID == 0 {
		grant := *req
		grant.ID = s.rand.Int64()&(1<<62-1) | 1<<32
		req = &grant
	}
	return s.servePlan(ctx, req)
}

func (s *Server) serveLeaseRevoke(ctx context.Context, req *api.LeaseRevokeRequest) (api.Message, error) {
	return s.servePlan(ctx, req)
}

// serveLeaseKeepAlive renews leases for as long as the client sends
// requests. A lease that does not exist (expired, revoked) is answered
// with TTL 0.
func (s *Server) serveLeaseKeepAlive(ctx context.Context, st LeaseKeepAliveStream) error {
	if err := s.authorizeUser(ctx, "LeaseKeepAlive"); err != nil {
		return err
	}
	for {
		req, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.authorizeKeepAlive(ctx, req.ID); err != nil {
			return err
		}
		ttl, err := s.renewLease(ctx, req.ID)
		if err != nil {
			return err
		}
		resp := &api.LeaseKeepAliveResponse{Header: s.header(), ID: req.ID, TTL: ttl}
		if err := st.Send(resp); err != nil {
			return err
		}
	}
}

func (s *Server) serveLeaseTimeToLive(ctx context.Context, req *api.LeaseTimeToLiveRequest) (api.Message, error) {
	if req.Keys {
		// The keys are read from this member's store: current first, so
		// a key attached through another member a moment ago is listed.
		if err := s.readBarrier(ctx); err != nil {
			return nil, err
		}
	}
	if err := s.authorizeLeaseTimeToLive(ctx, req); err != nil {
		return nil, err
	}
	resp := &api.LeaseTimeToLiveResponse{Header: s.header(), ID: req.ID}
	granted, remaining, err := s.leaseTimeToLive(ctx, req.ID)
	if errors.Is(err, replica.ErrLeaseNotFound) {
		resp.TTL = -1
		return resp, nil
	}
	if err != nil {
		return nil, err
	}
	resp.TTL, resp.GrantedTTL = remaining, granted
	if req.Keys {
		for _, l := range s.replica.State.Store().Leases() {
			if l.ID == req.ID {
				for _, k := range l.Keys {
					resp.Keys = append(resp.Keys, []byte(k))
				}
			}
		}
	}
	return resp, nil
}

func (s *Server) serveLeaseLeases(ctx context.Context, req *api.LeaseLeasesRequest) (api.Message, error) {
	visible, err := s.leaseFilter(ctx)
	if err != nil {
		return nil, err
	}
	resp := &api.LeaseLeasesResponse{Header: s.header()}
	var ids []int64
	for _, l := range s.replica.State.Store().Leases() {
		if visible(l.Keys) {
			ids = append(ids, l.ID)
		}
	}
	// In etcd's order: at the leader, the first to expire first.
	s.replica.Lessor.SortByExpiry(ids)
	for _, id := range ids {
		resp.Leases = append(resp.Leases, api.LeaseStatus{ID: id})
	}
	return resp, nil
}
