package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/datadir"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
)

// The Cluster and Maintenance services.

// Member is a member's record: id, name, peer and client URLs, learner.
type Member = api.Member

func (s *Server) memberList() []api.Member { return s.replica.State.Members().List() }

func (s *Server) serveMemberAdd(ctx context.Context, req *api.MemberAddRequest) (api.Message, error) {
	if err := s.authorizeAdmin(ctx, "MemberAdd"); err != nil {
		return nil, err
	}
	if err := s.membershipCurrent(ctx); err != nil {
		return nil, err
	}
	urls, err := ParseURLs(strings.Join(req.PeerURLs, ","))
	if err != nil || len(urls) == 0 {
		return nil, api.Errorf(api.CodeMemberBadURLs, "member peer URLs %q: %v", req.PeerURLs, err)
	}
	m := Member{PeerURLs: urlStrings(urls), IsLearner: req.IsLearner}
	// The id mixes in the time, so a member re-added with the URLs of a
	// removed one gets a new id (a removed id never comes back).
	m.ID = MemberID(urls, fmt.Sprintf("%s/%d", s.cfg.InitialClusterToken, time.Now().UnixNano()))
	cc := raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: m.ID, Context: datadir.EncodeMember(m)}
	if req.IsLearner {
		cc.Type = raftcore.AddLearner
	}
	// etcd's strict reconfiguration check comes before the checks of the
	// member itself, in etcd's order.
	if err := s.replica.State.Members().CheckStarted(cc); err != nil {
		return nil, err
	}
	if err := s.replica.State.Members().ValidateChange(cc, m); err != nil {
		return nil, err
	}
	if err := s.confChange(ctx, cc); err != nil {
		return nil, err
	}
	return &api.MemberAddResponse{Header: s.header(), Member: m, Members: s.memberList()}, nil
}

// membershipCurrent makes this member's view of the membership current
// (a ReadIndex round) before a change is checked against it: a change
// made a moment ago through another member (the same peer URLs added, the
// member removed) is seen and the new one refused as it should be.
func (s *Server) membershipCurrent(ctx context.Context) error {
	return s.readBarrier(ctx)
}

// confChange proposes a membership change and waits until it is made. A
// follower forwards the proposal to the leader, which drops it without a
// word while it cannot take a change (just elected, handing leadership
// over, or another change pending); so the change is proposed again every
// two election timeouts until this member sees it made, or ctx ends.
// Proposing it twice is harmless: raft refuses a change already made.
func (s *Server) confChange(ctx context.Context, cc raftcore.ConfChange) error {
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*s.cfg.ElectionTimeout)
		_, err := s.driver.ProposeConfChange(attempt, cc)
		cancel()
		if err == nil || s.confChangeMade(cc) {
			return nil
		}
		retry := errors.Is(err, context.DeadlineExceeded) || certainlyNotProposed(err)
		if !retry || ctx.Err() != nil {
			return err
		}
		if made, err := s.recheckChange(ctx, cc); made || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-s.stop:
			// The attempt that timed out may still be made.
			return ErrStoppedInFlight
		case <-time.After(s.cfg.HeartbeatInterval):
		}
	}
}

// recheckChange looks at the membership as it is now before a change is
// proposed again: the change may have been made after all (made), or
// another change made meanwhile may conflict with it (the same peer URLs
// added through another member). The leader refuses such a change
// (Members.CheckChange), but a follower that forwarded it is not told
// why; this gives the client the reason.
func (s *Server) recheckChange(ctx context.Context, cc raftcore.ConfChange) (made bool, err error) {
	if err := s.membershipCurrent(ctx); err != nil {
		return false, nil // the retry finds out itself
	}
	if s.confChangeMade(cc) {
		return true, nil
	}
	var m Member
	if len(cc.Context) > 0 {
		if m, err = datadir.DecodeMember(cc.Context); err != nil {
			return false, fmt.Errorf("node: conf change %s %x: member record: %w", cc.Type, cc.NodeID, err)
		}
	}
	return false, s.replica.State.Members().CheckChange(cc, m)
}

// confChangeMade reports whether this member has applied the effect of cc
// (perhaps proposed by an earlier attempt).
func (s *Server) confChangeMade(cc raftcore.ConfChange) bool {
	ms := s.replica.State.Members()
	m, ok := ms.Get(cc.NodeID)
	switch cc.Type {
	case raftcore.AddVoter:
		return ok && !m.IsLearner
	case raftcore.AddLearner:
		return ok
	case raftcore.RemoveNode:
		return ms.IsRemoved(cc.NodeID)
	}
	return false
}

func (s *Server) serveMemberRemove(ctx context.Context, req *api.MemberRemoveRequest) (api.Message, error) {
	if err := s.authorizeAdmin(ctx, "MemberRemove"); err != nil {
		return nil, err
	}
	if err := s.membershipCurrent(ctx); err != nil {
		return nil, err
	}
	cc := raftcore.ConfChange{Type: raftcore.RemoveNode, NodeID: req.ID}
	if err := s.replica.State.Members().CheckStarted(cc); err != nil {
		return nil, err
	}
	if err := s.replica.State.Members().ValidateChange(cc, Member{}); err != nil {
		return nil, err
	}
	change := s.confChange
	if req.ID == s.id {
		change = s.removeSelf
	}
	if err := change(ctx, cc); err != nil {
		return nil, err
	}
	members := s.memberList()
	if req.ID == s.id {
		// This member may not have applied its own removal (see
		// removeSelf): answer with the membership after it.
		members = slices.DeleteFunc(members, func(m Member) bool { return m.ID == s.id })
	}
	return &api.MemberRemoveResponse{Header: s.header(), Members: members}, nil
}

// removeSelf proposes this member's own removal. The member may never
// apply it: once the leader has, the other members refuse this one's
// messages and its log ends before the removal. Their refusal proves that
// the removal committed, so it answers the request too.
func (s *Server) removeSelf(ctx context.Context, cc raftcore.ConfChange) error {
	errc := make(chan error, 1)
	go func() { errc <- s.confChange(ctx, cc) }()
	select {
	case err := <-errc:
		return err
	case <-s.removed:
		return nil
	}
}

func (s *Server) serveMemberUpdate(ctx context.Context, req *api.MemberUpdateRequest) (api.Message, error) {
	if err := s.authorizeAdmin(ctx, "MemberUpdate"); err != nil {
		return nil, err
	}
	if err := s.membershipCurrent(ctx); err != nil {
		return nil, err
	}
	urls, err := ParseURLs(strings.Join(req.PeerURLs, ","))
	if err != nil || len(urls) == 0 {
		return nil, api.Errorf(api.CodeMemberBadURLs, "member peer URLs %q: %v", req.PeerURLs, err)
	}
	if _, ok := s.replica.State.Members().Get(req.ID); !ok {
		return nil, api.ErrMemberNotFound
	}
	upd := &api.MemberUpdateRequest{ID: req.ID, PeerURLs: urlStrings(urls)}
	if err := s.replica.State.Members().CheckUpdate(upd.ID, upd.PeerURLs); err != nil {
		return nil, err
	}
	cmd, err := replica.NewCommand(upd)
	if err == nil {
		_, err = s.proposeOwn(ctx, cmd)
	}
	if err != nil {
		return nil, err
	}
	return &api.MemberUpdateResponse{Header: s.header(), Members: s.memberList()}, nil
}

func (s *Server) serveMemberList(ctx context.Context, req *api.MemberListRequest) (api.Message, error) {
	if req.Linearizable {
		if err := s.readBarrier(ctx); err != nil {
			return nil, err
		}
	}
	return &api.MemberListResponse{Header: s.header(), Members: s.memberList()}, nil
}

// serveMemberPromote makes a learner a voter once it has caught up (its
// log within 10% of the leader's), so that promoting it cannot stall the
// cluster.
func (s *Server) serveMemberPromote(ctx context.Context, req *api.MemberPromoteRequest) (api.Message, error) {
	if err := s.authorizeAdmin(ctx, "MemberPromote"); err != nil {
		return nil, err
	}
	if err := s.membershipCurrent(ctx); err != nil {
		return nil, err
	}
	m, ok := s.replica.State.Members().Get(req.ID)
	if !ok {
		return nil, api.ErrMemberNotFound
	}
	if !m.IsLearner {
		return nil, api.ErrMemberNotLearner
	}
	// Only the leader knows how far the learner got: a follower asks it.
	err := s.atLeader(ctx, func(leader uint64) error {
		if leader == s.id {
			return s.learnerReady(ctx, req.ID)
		}
		return s.callLeader(ctx, leader, methodPeerLearnerReady, req, &api.MemberPromoteResponse{})
	})
	if err != nil {
		return nil, err
	}
	promote := raftcore.ConfChange{Type: raftcore.AddVoter, NodeID: req.ID}
	if err := s.replica.State.Members().CheckStarted(promote); err != nil {
		return nil, err
	}
	if err := s.confChange(ctx, promote); err != nil {
		return nil, err
	}
	return &api.MemberPromoteResponse{Header: s.header(), Members: s.memberList()}, nil
}

// learnerReady checks, on the leader, that learner id has caught up.
func (s *Server) learnerReady(ctx context.Context, id uint64) error {
	if s.driver.Leader() != s.id {
		return api.ErrNotLeader
	}
	st, err := s.driver.Status(ctx)
	if err != nil {
		return err
	}
	pr, ok := st.Progress[id]
	leaderMatch := st.Progress[s.id].Match
	if !ok || pr.Match*10 < leaderMatch*9 {
		return api.Errorf(api.CodeLearnerNotReady, "learner %016x has %d of the leader's %d entries; promote it once it has caught up", id, pr.Match, leaderMatch)
	}
	return nil
}

// servePeerLearnerReady answers a follower that was asked to promote a
// learner (an api.MemberPromoteRequest, answered by an empty
// api.MemberPromoteResponse or the reason the learner is not ready).
func (s *Server) servePeerLearnerReady(ctx context.Context, b []byte) ([]byte, error) {
	var req api.MemberPromoteRequest
	if err := api.Unmarshal(b, &req); err != nil {
		return nil, api.Errorf(api.CodeInvalidArgument, "malformed forwarded promote request: %v", err)
	}
	if err := s.learnerReady(ctx, req.ID); err != nil {
		return nil, toAPIError(err)
	}
	return api.Marshal(&api.MemberPromoteResponse{Header: s.header()}), nil
}

func (s *Server) serveAlarm(ctx context.Context, req *api.AlarmRequest) (api.Message, error) {
	if req.Action == api.AlarmGet {
		// The list is read linearizably (etcd's goes through its log):
		// a member cut off from the quorum does not answer with alarms
		// that may have been disarmed meanwhile.
		if err := s.readBarrier(ctx); err != nil {
			return nil, err
		}
		if err := s.authorizeUser(ctx, "Alarm"); err != nil {
			return nil, err
		}
		resp := &api.AlarmResponse{Header: s.header()}
		for _, a := range s.replica.State.Alarms() {
			if (req.MemberID == 0 || a.MemberID == req.MemberID) && (req.Alarm == api.AlarmNone || a.Alarm == req.Alarm) {
				resp.Alarms = append(resp.Alarms, a)
			}
		}
		return resp, nil
	}
	return s.servePlan(ctx, req)
}

func (s *Server) serveStatus(ctx context.Context, req *api.StatusRequest) (api.Message, error) {
	st, err := s.driver.Status(ctx)
	if err != nil {
		return nil, err
	}
	dbSize, inUse := replica.StoreSize(s.replica.State.Store())
	resp := &api.StatusResponse{
		Header:           s.header(),
		Version:          Version,
		DbSize:           dbSize,
		DbSizeInUse:      inUse,
		Leader:           st.SoftState.Lead,
		RaftIndex:        st.HardState.Commit,
		RaftTerm:         st.HardState.Term,
		RaftAppliedIndex: st.Applied,
		StorageVersion:   EtcdAPIVersion,
		DbSizeQuota:      s.cfg.QuotaBackendBytes,
	}
	for _, id := range st.ConfState.Learners {
		if id == s.id {
			resp.IsLearner = true
		}
	}
	// etcd's errors: no leader first, then the alarms.
	if resp.Leader == 0 {
		resp.Errors = append(resp.Errors, api.ErrNoLeader.Error())
	}
	for _, a := range s.replica.State.Alarms() {
		resp.Errors = append(resp.Errors, fmt.Sprintf("memberID:%016x alarm:%s", a.MemberID, a.Alarm))
	}
	resp.Errors = append(resp.Errors, s.repairErrors()...)
	resp.Errors = append(resp.Errors, s.identityErrors()...)
	return resp, nil
}

func (s *Server) serveDefragment(ctx context.Context, req *api.DefragmentRequest) (api.Message, error) {
	if err := s.authorizeAdmin(ctx, "Defragment"); err != nil {
		return nil, err
	}
	s.metrics.DefragInflight.Set(1)
	// The page file rewrites itself in one go: the log says when it
	// started, and when it ended what it gained.
	before, inUse := replica.StoreSize(s.replica.State.Store())
	prog := startProgress(s.log, s.progressInterval(), false, "defragmenting",
		"db-size", before, "db-size-in-use", inUse)
	start := time.Now()
	err := s.replica.State.Store().Defragment()
	s.metrics.DefragInflight.Set(0)
	if err != nil {
		s.log.Warn("defragmenting failed", "took", time.Since(start).String(), "err", err)
		return nil, fmt.Errorf("defragment: %w", err)
	}
	s.metrics.DefragDuration.Observe(time.Since(start).Seconds())
	// The quota check reads the size of the last commit: the file just
	// shrank, so a write right after must not see the old size.
	after, _ := replica.StoreSize(s.replica.State.Store())
	s.dbSize.Store(after)
	prog.finish("finished defragmenting", "db-size-before", before, "db-size-after", after)
	return &api.DefragmentResponse{Header: s.header()}, nil
}

func (s *Server) serveHash(ctx context.Context, req *api.HashRequest) (api.Message, error) {
	if err := s.authorizeAdmin(ctx, "Hash"); err != nil {
		return nil, err
	}
	h, _, err := s.replica.State.Store().Hash(0)
	if err != nil {
		return nil, err
	}
	return &api.HashResponse{Header: s.header(), Hash: h}, nil
}

func (s *Server) serveHashKV(ctx context.Context, req *api.HashKVRequest) (api.Message, error) {
	if err := s.authorizeAdmin(ctx, "HashKV"); err != nil {
		return nil, err
	}
	st := s.replica.State.Store()
	rev := req.Revision
	if rev == 0 {
		rev = st.Rev()
	}
	h, compacted, err := st.Hash(rev)
	if err != nil {
		return nil, err
	}
	return &api.HashKVResponse{Header: s.header(), Hash: h, CompactRevision: compacted, HashRevision: rev}, nil
}

// SnapshotChecksumSize is the length of the SHA-256 checksum that ends a
// snapshot stream: the data is the store's page file, then its checksum.
const SnapshotChecksumSize = sha256.Size

// serveSnapshot streams a consistent copy of the store: the page file as
// of this moment (taken between two applied entries), then its SHA-256.
func (s *Server) serveSnapshot(ctx context.Context, st SnapshotSender) error {
	if err := s.authorizeAdmin(ctx, "Snapshot"); err != nil {
		return err
	}
	// The copy is opened on the core's goroutine, where nothing is being
	// applied, and streamed from a read transaction while the member goes
	// on: a chunk of memory, whatever the size of the store.
	var src replica.SnapshotSource
	var openErr error
	if err := s.driver.Inspect(ctx, func(*replica.Core) { src, openErr = s.replica.State.OpenSnapshot() }); err != nil {
		return err
	}
	if openErr != nil {
		return fmt.Errorf("snapshot: %w", openErr)
	}
	defer src.Close()
	// The data, then its SHA-256: the client checks the one against the
	// other (RemainingBytes counts both).
	size, err := src.Size()
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	left := uint64(size) + sha256.Size
	w := replica.NewChunkSender(func(b []byte) error {
		left -= uint64(len(b))
		resp := &api.SnapshotResponse{Header: s.header(), RemainingBytes: left, Blob: b, Version: Version}
		return st.Send(resp)
	})
	if _, err := src.WriteTo(w); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return w.Finish()
}

func (s *Server) serveMoveLeader(ctx context.Context, req *api.MoveLeaderRequest) (api.Message, error) {
	if err := s.authorizeAdmin(ctx, "MoveLeader"); err != nil {
		return nil, err
	}
	if s.driver.Leader() != s.id {
		return nil, api.ErrNotLeader
	}
	if req.TargetID == s.id {
		return &api.MoveLeaderResponse{Header: s.header()}, nil // already there, as etcd answers
	}
	m, ok := s.replica.State.Members().Get(req.TargetID)
	if !ok || m.IsLearner {
		return nil, api.Errorf(api.CodeBadLeaderTransferee, "member %016x cannot take over leadership (not a voting member, or already leader)", req.TargetID)
	}
	if err := s.driver.TransferLeadership(ctx, req.TargetID); err != nil {
		return nil, err
	}
	return &api.MoveLeaderResponse{Header: s.header()}, nil
}
