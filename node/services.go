package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/internal/lazydeadline"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
	"github.com/cairndb/cairn/rpc"
)

// This file holds the plumbing of the client services: decoding requests,
// encoding responses, and turning internal errors into the API's typed
// errors. The services themselves are in service_*.go.

// apiMessage is a pointer to an API message type.
type apiMessage[T any] interface {
	*T
	api.Message
}

// unary adapts a typed handler to the rpc layer.
func unary[Req any, PReq apiMessage[Req]](s *Server, handle func(context.Context, PReq) (api.Message, error)) rpc.UnaryHandler {
	return func(ctx context.Context, b []byte) ([]byte, error) {
		ctx, bound := s.withDeadline(ctx) // a caller that gave no deadline still gets an answer
		defer bound.Release()
		req := PReq(new(Req))
		if err := api.Unmarshal(b, req); err != nil {
			return nil, api.Errorf(api.CodeInvalidArgument, "malformed %T: %v", req, err)
		}
		start := time.Now()
		resp, err := handle(ctx, req)
		s.logRequestStats(ctx, start, req, resp, err)
		if err != nil {
			s.checkStoreCorrupt(err)
			return nil, toAPIError(err)
		}
		return api.Marshal(resp), nil
	}
}

// rpcStream is a native rpc stream seen as a typed stream of the client
// services: requests decoded, responses encoded.
type rpcStream[Req any, PReq apiMessage[Req], Resp api.Message] struct {
	st *rpc.Stream
}

func (r rpcStream[Req, PReq, Resp]) Recv() (PReq, error) {
	b, err := r.st.Recv()
	if err != nil {
		return nil, err
	}
	req := PReq(new(Req))
	if err := api.Unmarshal(b, req); err != nil {
		return nil, api.Errorf(api.CodeInvalidArgument, "malformed %T: %v", req, err)
	}
	return req, nil
}

func (r rpcStream[Req, PReq, Resp]) Send(resp Resp) error { return r.st.Send(api.Marshal(resp)) }

// header is the response header of this member, now.
func (s *Server) header() api.ResponseHeader {
	h := api.ResponseHeader{ClusterID: s.clusterID, MemberID: s.id}
	if s.replica != nil {
		h.Revision = s.replica.State.Store().Rev()
		h.RaftTerm = s.metrics.term.Load()
	}
	return h
}

// toAPIError maps the errors of the layers below onto the API's typed
// errors, which keep their meaning across the wire.
func toAPIError(err error) error {
	var apiErr *api.Error
	if errors.As(err, &apiErr) {
		return err
	}
	var rpcErr *rpc.Error
	if errors.As(err, &rpcErr) {
		return err
	}
	if errors.Is(err, mvcc.ErrInvalidSortOption) {
		// etcd's words, which clientv3 knows the error by (no code of
		// the API stands for it).
		return api.Errorf(api.CodeInvalidArgument, "etcdserver: invalid sort option")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// In etcd's words, not "context deadline exceeded", which reads
		// as the client's own deadline.
		return api.ErrTimeout
	}
	table := []struct {
		from error
		to   api.Code
	}{
		{mvcc.ErrCompacted, api.CodeCompacted},
		{mvcc.ErrFutureRev, api.CodeFutureRev},
		{mvcc.ErrEmptyKey, api.CodeEmptyKey},
		{mvcc.ErrKeyNotFound, api.CodeKeyNotFound},
		{mvcc.ErrLeaseNotFound, api.CodeLeaseNotFound},
		{mvcc.ErrLeaseExists, api.CodeLeaseExist},
		{mvcc.ErrDuplicateKey, api.CodeDuplicateKey},
		{mvcc.ErrTooManyOps, api.CodeTooManyOps},
		{mvcc.ErrValueProvided, api.CodeValueProvided},
		{mvcc.ErrLeaseProvided, api.CodeLeaseProvided},
		{mvcc.ErrEmptyOp, api.CodeInvalidArgument},
		{mvcc.ErrLeaseIDZero, api.CodeInvalidArgument},
		{replica.ErrLeaseNotFound, api.CodeLeaseNotFound},
		{replica.ErrLeaseExists, api.CodeLeaseExist},
		{replica.ErrLeaseTTLTooLarge, api.CodeLeaseTTLTooLarge},
		{replica.ErrNotPrimary, api.CodeNotLeader},
		{replica.ErrNoLeader, api.CodeNoLeader},
		{replica.ErrOutcomeUnknown, api.CodeTimeout},
		{ErrStoppedInFlight, api.CodeTimeout},
		{replica.ErrStopped, api.CodeStopped},
		{replica.ErrMemberExists, api.CodeMemberExist},
		{replica.ErrMemberNotFound, api.CodeMemberNotFound},
		{replica.ErrPeerURLExists, api.CodePeerURLExist},
		{replica.ErrMemberNotLearner, api.CodeMemberNotLearner},
		{replica.ErrIDRemoved, api.CodeMemberNotFound},
		{replica.ErrTooManyLearners, api.CodeTooManyLearners},
		{replica.ErrMemberBadURLs, api.CodeMemberBadURLs},
		{context.DeadlineExceeded, api.CodeTimeout},
	}
	for _, t := range table {
		if errors.Is(err, t.from) {
			return api.Errorf(t.to, "%v", err)
		}
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("node: %w", err)
}

// limits are the bounds on a client's request.
func (s *Server) limits() replica.Limits {
	return replica.Limits{MaxTxnOps: s.cfg.MaxTxnOps, MaxRequestBytes: s.cfg.MaxRequestBytes}
}

// servePlan answers a client's KV or lease request (Range, Put,
// DeleteRange, Txn, Compact, LeaseGrant, LeaseRevoke, an alarm change) as
// every member does: it carries out the replica.Plan the member makes of it
// (replica/requests.go), and adds what needs the world — the caller found
// from its token or certificate (caller), the driver's answers
// (replicate, readBarrier), the response header's ids and term, the logs.
// A transaction that neither puts nor deletes is served as a read, by the
// member the client asked, as a Range is (serveRead).
func (s *Server) servePlan(ctx context.Context, req api.Message) (api.Message, error) {
	p := s.replica.Plan(req, replica.Local{Limits: s.limits(),
		QuotaBytes: s.cfg.QuotaBackendBytes, DBSize: s.dbSize.Load(), ReadRefusal: s.readRefusal})
	switch p.Step {
	case replica.StepRefuse:
		return nil, p.Err
	case replica.StepRaiseNoSpace:
		s.raiseNoSpace(ctx, p.Alarm)
		return nil, p.Err
	case replica.StepRead:
		return s.serveRead(ctx, p)
	}
	caller, err := s.caller(ctx) // auth.go
	var resp api.Message
	if err == nil {
		var cmd replica.Envelope
		if cmd, err = p.Propose(caller); err == nil {
			resp, err = s.replicate(ctx, cmd)
		}
	}
	if err != nil {
		s.noteDenied(req, caller, err)
	}
	return resp, err
}

// serveRead carries out the plan of a read: a ReadIndex round first if
// it is linearizable, which makes the member's state at least as current
// as the leader's when the read arrived; then the caller's permission,
// checked after the wait so that one revoked a moment ago through another
// member is seen, and the answer from this member's store (Plan.Answer).
// A read-only transaction is answered as it would have been through raft:
// the same branch, the same reads, and the store revision they saw.
func (s *Server) serveRead(ctx context.Context, p replica.Plan) (api.Message, error) {
	if p.Read.Linearizable {
		if err := s.readBarrier(ctx); err != nil {
			return nil, err
		}
	}
	caller, err := s.caller(ctx)
	var resp api.Message
	if err == nil {
		resp, err = p.Answer(caller, int64(rpc.ResponseLimit(ctx)))
	}
	if err != nil {
		s.noteDenied(p.Read.Req, caller, err)
		return nil, err
	}
	s.completeHeader(resp)
	switch r := resp.(type) {
	case *api.RangeResponse:
		s.metrics.Ranges.Inc()
	case *api.TxnResponse:
		s.countTxn(r)
	}
	return resp, nil
}

// raiseNoSpace proposes the NOSPACE alarm a write found the store past
// its quota for (replica.StepRaiseNoSpace). The size is the one measured
// after the last store commit (refreshed every commit interval), so a
// write costs no file-system call for it.
func (s *Server) raiseNoSpace(ctx context.Context, alarm replica.Envelope) {
	if _, err := s.replicate(ctx, alarm); err != nil {
		s.log.Warn("raising the NOSPACE alarm failed", "err", err)
		return
	}
	s.log.Warn("backend quota exceeded: NOSPACE alarm raised; writes are refused until space is freed and the alarm disarmed",
		"size", s.dbSize.Load(), "quota", s.cfg.QuotaBackendBytes)
}

// proposeOwn replicates a command the member makes on no user's behalf
// (a member's attributes, a token it issued) and returns its response.
func (s *Server) proposeOwn(ctx context.Context, cmd replica.Envelope) (api.Message, error) {
	cmd, err := replica.Seal(cmd, nil, s.limits())
	if err != nil {
		return nil, err
	}
	return s.replicate(ctx, cmd)
}

// replicate proposes a sealed command, waits for its reply, and builds
// the response (replica.Response).
func (s *Server) replicate(ctx context.Context, cmd replica.Envelope) (api.Message, error) {
	// As etcd, a proposal waits at most the request timeout, whatever
	// the client's deadline: one that is not applied by then was most
	// likely lost (with a leader that stepped down, or on its way to
	// one), and the client learns so in seconds, not at its own deadline
	// (proposalTimedOut). A context that ends sooner bounds it already
	// (a call that came with no deadline has the member's, set when it
	// came in) and needs no second timer.
	clientFirst := s.clientGivesUpFirst(ctx)
	var limit time.Time // the request timeout, when it comes first
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > s.requestTimeout() {
		limit = time.Now().Add(s.requestTimeout())
	}
	s.metrics.ProposalsPending.Inc()
	start, startTerm, startLeader := time.Now(), s.metrics.term.Load(), s.driver.Leader()
	var res any
	err := s.untilLeader(ctx, limit, func() error {
		var err error
		res, err = s.driver.ProposeWithin(ctx, cmd, limit)
		return err
	})
	s.metrics.ProposalsPending.Dec()
	if err != nil {
		s.metrics.ProposalsFailed.Inc()
		if errors.Is(err, context.DeadlineExceeded) && !clientFirst {
			// The proposal may have reached a leader before it was lost:
			// its outcome is unknown, so this must not be an error the
			// client retries elsewhere (replica.ErrNoLeader is).
			return nil, s.proposalTimedOut(start, startTerm, startLeader)
		}
		return nil, err
	}
	resp, err := replica.Response(res)
	if err != nil {
		return nil, err
	}
	s.completeHeader(resp)
	return resp, nil
}

// completeHeader fills in the header of a response, whose revision the
// store set, with this member's ids and term.
func (s *Server) completeHeader(resp api.Message) {
	var h *api.ResponseHeader
	switch r := resp.(type) {
	case *api.RangeResponse:
		h = &r.Header
	case *api.PutResponse:
		h = &r.Header
	case *api.DeleteRangeResponse:
		h = &r.Header
	case *api.TxnResponse:
		h = &r.Header
	case *api.CompactionResponse:
		h = &r.Header
	case *api.LeaseGrantResponse:
		h = &r.Header
	case *api.LeaseRevokeResponse:
		h = &r.Header
	case *api.AlarmResponse:
		h = &r.Header
	default:
		return
	}
	rev := h.Revision
	*h = s.header()
	if rev != 0 {
		h.Revision = rev
	}
}

// untilLeader runs try, and again while it fails because no leader could
// take it (an election or a leadership transfer is under way: nothing was
// proposed, so trying again is safe), until ctx ends or limit (unless
// zero) passes.
func (s *Server) untilLeader(ctx context.Context, limit time.Time, try func() error) error {
	for {
		err := try()
		if !certainlyNotProposed(err) {
			return err
		}
		if err := s.pauseForLeader(ctx, limit); err != nil {
			return err
		}
	}
}

// certainlyNotProposed reports whether err says for sure that a request
// had no effect, so that proposing it again cannot apply it twice: no
// leader took it, or raft or the duplicate filter dropped it
// (raftcore.ErrProposalDropped, replica.ErrProposalNotApplied). Any other
// error after a proposal (a timeout, replica.ErrOutcomeUnknown, a stopped
// member) leaves the outcome open.
func certainlyNotProposed(err error) bool {
	return errors.Is(err, replica.ErrNoLeader) || errors.Is(err, raftcore.ErrProposalDropped)
}

// pauseForLeader waits a heartbeat interval before untilLeader tries
// again, or returns the error to give up with.
func (s *Server) pauseForLeader(ctx context.Context, limit time.Time) error {
	w := lazydeadline.NewWatch(ctx, limit)
	defer w.Stop()
	pause := time.NewTimer(s.cfg.HeartbeatInterval)
	defer pause.Stop()
	select {
	case <-w.Expired:
		return api.ErrNoLeader
	case <-w.Ended:
		return api.ErrNoLeader
	case <-s.stop:
		return api.ErrStopped
	case <-s.removed:
		return api.ErrStopped // removed from the cluster: try another member
	case <-pause.C:
		return nil
	}
}

// requestTimeout bounds a request whose caller gave no deadline.
func (s *Server) requestTimeout() time.Duration {
	return 5*time.Second + 2*s.cfg.ElectionTimeout
}

// readBarrier waits until a linearizable read may be served locally.
func (s *Server) readBarrier(ctx context.Context) error {
	err := s.untilLeader(ctx, time.Time{}, func() error { return s.driver.ReadBarrier(ctx) })
	if errors.Is(err, context.DeadlineExceeded) && s.driver.Leader() == 0 {
		return api.ErrNoLeader
	}
	return err
}

// registerClientServices installs every client service on the client rpc
// server.
func (s *Server) registerClientServices() {
	r := s.clientServices()
	m := func(id uint16) rpc.Method { return rpc.Method(id) }
	// KV.
	r.HandleUnary(m(api.MethodRange), unary(s, s.serveRange))
	r.HandleUnary(m(api.MethodPut), unary(s, s.servePut))
	r.HandleUnary(m(api.MethodDeleteRange), unary(s, s.serveDeleteRange))
	r.HandleUnary(m(api.MethodTxn), unary(s, s.serveTxn))
	r.HandleUnary(m(api.MethodCompact), unary(s, s.serveCompact))
	// Watch.
	r.HandleStream(m(api.MethodWatch), func(ctx context.Context, st *rpc.Stream) error {
		return s.serveWatch(ctx, rpcStream[api.WatchRequest, *api.WatchRequest, *api.WatchResponse]{st})
	})
	// Lease.
	r.HandleUnary(m(api.MethodLeaseGrant), unary(s, s.serveLeaseGrant))
	r.HandleUnary(m(api.MethodLeaseRevoke), unary(s, s.serveLeaseRevoke))
	r.HandleStream(m(api.MethodLeaseKeepAlive), func(ctx context.Context, st *rpc.Stream) error {
		return s.serveLeaseKeepAlive(ctx, rpcStream[api.LeaseKeepAliveRequest, *api.LeaseKeepAliveRequest, *api.LeaseKeepAliveResponse]{st})
	})
	r.HandleUnary(m(api.MethodLeaseTimeToLive), unary(s, s.serveLeaseTimeToLive))
	r.HandleUnary(m(api.MethodLeaseLeases), unary(s, s.serveLeaseLeases))
	// Cluster.
	r.HandleUnary(m(api.MethodMemberAdd), unary(s, s.serveMemberAdd))
	r.HandleUnary(m(api.MethodMemberRemove), unary(s, s.serveMemberRemove))
	r.HandleUnary(m(api.MethodMemberUpdate), unary(s, s.serveMemberUpdate))
	r.HandleUnary(m(api.MethodMemberList), unary(s, s.serveMemberList))
	r.HandleUnary(m(api.MethodMemberPromote), unary(s, s.serveMemberPromote))
	// Maintenance.
	r.HandleUnary(m(api.MethodAlarm), unary(s, s.serveAlarm))
	r.HandleUnary(m(api.MethodStatus), unary(s, s.serveStatus))
	r.HandleUnary(m(api.MethodDefragment), unary(s, s.serveDefragment))
	r.HandleUnary(m(api.MethodHash), unary(s, s.serveHash))
	r.HandleUnary(m(api.MethodHashKV), unary(s, s.serveHashKV))
	r.HandleStream(m(api.MethodSnapshot), func(ctx context.Context, st *rpc.Stream) error {
		if _, err := st.Recv(); err != nil { // the request: nothing to read in it
			return err
		}
		return s.serveSnapshot(ctx, rpcStream[api.SnapshotRequest, *api.SnapshotRequest, *api.SnapshotResponse]{st})
	})
	r.HandleUnary(m(api.MethodMoveLeader), unary(s, s.serveMoveLeader))
	// Auth.
	s.registerAuthServices()
}
