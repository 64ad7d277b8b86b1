package node

import (
	"context"
	"fmt"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/rpc"
)

// methodPeerHashKV answers another member's corruption check with the
// hash of this member's key-value history at a revision (an
// api.HashKVRequest and api.HashKVResponse). It is a peer method, not a
// client one, so the check works whatever the client listeners require
// (client certificates, auth) and reaches learners too.
const methodPeerHashKV rpc.Method = 1003

// maxHashWait bounds how long a member waits to apply the revision a
// peer asks it to hash, whatever deadline the peer gave.
const maxHashWait = 5 * time.Second

// servePeerHashKV hashes this member's history at the requested
// revision. A follower is usually a few entries behind the leader that
// asks: it first waits to apply the revision, for half the time the asker
// gives it, then answers at its own revision if it is still behind (the
// asker then compares at that one). The answer's HashRevision says which.
func (s *Server) servePeerHashKV(ctx context.Context, b []byte) ([]byte, error) {
	var req api.HashKVRequest
	if err := api.Unmarshal(b, &req); err != nil {
		return nil, api.Errorf(api.CodeInvalidArgument, "malformed peer hash request: %v", err)
	}
	wait := maxHashWait
	if deadline, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(deadline)/2)
	}
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	s.waitRev(waitCtx, req.Revision)
	h, err := s.replica.HashFor(req.Revision)
	if err != nil {
		s.checkStoreCorrupt(err)
		return nil, toAPIError(err)
	}
	resp := &api.HashKVResponse{Header: s.header(), Hash: h.Hash, CompactRevision: h.CompactRev, HashRevision: h.Rev}
	return api.Marshal(resp), nil
}

// waitRev waits until the store has applied revision rev or ctx ends.
func (s *Server) waitRev(ctx context.Context, rev int64) {
	poll := max(s.cfg.HeartbeatInterval/4, time.Millisecond)
	for s.replica.State.Store().Rev() < rev {
		select {
		case <-ctx.Done():
			return
		case <-s.stop:
			return
		case <-time.After(poll):
		}
	}
}

// peerHashKV asks member id for its hash at rev (or at its own revision,
// if it is behind), over the peer connection raft uses.
func (s *Server) peerHashKV(ctx context.Context, id uint64, rev int64) (replica.MemberHash, error) {
	p := s.transport.peer(id)
	if p == nil {
		return replica.MemberHash{}, api.ErrStopped
	}
	c, err := p.connection()
	if err != nil {
		return replica.MemberHash{}, fmt.Errorf("connect to member %016x: %w", id, err)
	}
	b, err := c.Call(ctx, methodPeerHashKV, api.Marshal(&api.HashKVRequest{Revision: rev}))
	if err != nil {
		return replica.MemberHash{}, fmt.Errorf("hash of member %016x at revision %d: %w", id, rev, toAPIErrorFromRemote(err))
	}
	var resp api.HashKVResponse
	if err := api.Unmarshal(b, &resp); err != nil {
		return replica.MemberHash{}, fmt.Errorf("hash of member %016x: malformed answer: %w", id, err)
	}
	if resp.Header.ClusterID != s.clusterID || resp.Header.MemberID != id || resp.HashRevision < 1 || resp.HashRevision > rev {
		return replica.MemberHash{}, fmt.Errorf("hash of member %016x at revision %d: answered by member %016x of cluster %016x at revision %d",
			id, rev, resp.Header.MemberID, resp.Header.ClusterID, resp.HashRevision)
	}
	return replica.MemberHash{ID: id, Hash: resp.Hash, Rev: resp.HashRevision, CompactRev: resp.CompactRevision}, nil
}
