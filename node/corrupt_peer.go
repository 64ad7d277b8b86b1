package node

import (
	"context"
	"fmt"
	"time"

	"github.com/cairndb/cairn/api"
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
	if req.Revision < 1 {
		// The store reads revision 0 as "the current one", which differs
		// from member to member: a check names its revision.
		return nil, api.Errorf(api.CodeInvalidArgument, "peer hash request for revision %d: want a revision of at least 1", req.Revision)
	}
	wait := maxHashWait
	if deadline, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(deadline)/2)
	}
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	rev := min(req.Revision, s.waitRev(waitCtx, req.Revision))
	if rev < 1 {
		return nil, api.Errorf(api.CodeFutureRev, "this member has applied no revision yet")
	}
	h, compacted, err := s.replica.State.Store().Hash(rev)
	if err != nil {
		s.checkStoreCorrupt(err)
		return nil, toAPIError(err)
	}
	resp := &api.HashKVResponse{Header: s.header(), Hash: h, CompactRevision: compacted, HashRevision: rev}
	return api.Marshal(resp), nil
}

// waitRev waits until the store has applied revision rev or ctx ends,
// and returns the revision the store is at.
func (s *Server) waitRev(ctx context.Context, rev int64) int64 {
	poll := max(s.cfg.HeartbeatInterval/4, time.Millisecond)
	for {
		cur := s.replica.State.Store().Rev()
		if cur >= rev {
			return cur
		}
		select {
		case <-ctx.Done():
			return cur
		case <-s.stop:
			return cur
		case <-time.After(poll):
		}
	}
}

// peerHashKV asks member id for its hash at rev (or at its own revision,
// if it is behind), over the peer connection raft uses.
func (s *Server) peerHashKV(ctx context.Context, id uint64, rev int64) (memberHash, error) {
	p := s.transport.peer(id)
	if p == nil {
		return memberHash{}, api.ErrStopped
	}
	c, err := p.connection()
	if err != nil {
		return memberHash{}, fmt.Errorf("connect to member %016x: %w", id, err)
	}
	b, err := c.Call(ctx, methodPeerHashKV, api.Marshal(&api.HashKVRequest{Revision: rev}))
	if err != nil {
		return memberHash{}, fmt.Errorf("hash of member %016x at revision %d: %w", id, rev, toAPIErrorFromRemote(err))
	}
	var resp api.HashKVResponse
	if err := api.Unmarshal(b, &resp); err != nil {
		return memberHash{}, fmt.Errorf("hash of member %016x: malformed answer: %w", id, err)
	}
	if resp.Header.ClusterID != s.clusterID || resp.Header.MemberID != id || resp.HashRevision < 1 || resp.HashRevision > rev {
		return memberHash{}, fmt.Errorf("hash of member %016x at revision %d: answered by member %016x of cluster %016x at revision %d",
			id, rev, resp.Header.MemberID, resp.Header.ClusterID, resp.HashRevision)
	}
	return memberHash{ID: id, Hash: resp.Hash, Rev: resp.HashRevision, CompactRev: resp.CompactRevision}, nil
}

// localHash is this member's own answer (rev at least 1).
func (s *Server) localHash(rev int64) (memberHash, error) {
	h, compacted, err := s.replica.State.Store().Hash(rev)
	if err != nil {
		s.checkStoreCorrupt(err)
		return memberHash{}, fmt.Errorf("hash of this member at revision %d: %w", rev, err)
	}
	return memberHash{ID: s.id, Hash: h, Rev: rev, CompactRev: compacted}, nil
}
