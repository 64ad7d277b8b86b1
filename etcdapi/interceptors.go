package etcdapi

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/cairndb/cairn/rpc"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// Every call passes an interceptor that gives the services what the
// native rpc gives them: the caller's token (metadata "token", or
// "authorization" from the gateway) and verified client certificate in
// the context, read by rpc.Token and rpc.PeerCertificate. It also keeps
// etcd's "hasleader" promise: a call that requires a leader is refused
// when the member has none, and a stream that requires one ends with
// etcd's no-leader error when the member loses it. And it counts the
// call in the face's metrics (metrics.go). The KV service's calls do the
// same in their own handlers, without the interceptor (servicedesc.go).

func (f *Face) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	call := f.metrics.startUnary(info.FullMethod)
	ctx, err := f.admitUnary(ctx, req)
	var resp any
	if err == nil {
		resp, err = handler(ctx, req)
	}
	call.endUnary(err)
	return resp, err
}

// admitUnary gives a unary call the caller's credentials, and refuses it
// when the member cannot serve it: while it repairs its store (but its
// status and membership), without the leader the caller requires, or as
// a learner.
func (f *Face) admitUnary(ctx context.Context, req any) (context.Context, error) {
	ctx = callerContext(ctx)
	if err := f.s.StoreRepairing(); err != nil {
		return ctx, refuseDuringStoreRepair(ctx, req, err)
	}
	if requiresLeader(ctx) && f.s.Leader() == 0 {
		return ctx, rpctypes.ErrGRPCNoLeader
	}
	if !servedByLearners(req) && f.s.IsLearner() {
		return ctx, rpctypes.ErrGRPCNotSupportedForLearner
	}
	return ctx, nil
}

// servedByLearners reports whether a learner answers req itself, as in
// etcd: its status and serializable reads. Anything else is refused with
// an error clientv3 retries at another member.
func servedByLearners(req any) bool {
	switch r := req.(type) {
	case *pb.StatusRequest:
		return true
	case *pb.RangeRequest:
		return r.Serializable
	}
	return false
}

// refuseDuringStoreRepair is the error of a unary call to a member that
// repairs its store (repairing: node.Server.StoreRepairing), nil for the
// calls it answers then: Status, which says why in its errors, MemberList
// (maintenanceServer.Status, clusterServer.MemberList), and the gRPC
// health check (NOT_SERVING: Face.reportHealth). The others get etcd's
// "unhealthy cluster", of code Unavailable, at once: clientv3 retries a
// read on it, at the next endpoint if it has another. A caller that
// requires a leader gets etcd's "no leader": the member knows none until
// its core starts.
func refuseDuringStoreRepair(ctx context.Context, req any, repairing error) error {
	switch req.(type) {
	case *healthpb.HealthCheckRequest:
		return nil
	case *pb.StatusRequest, *pb.MemberListRequest:
		if requiresLeader(ctx) {
			return rpctypes.ErrGRPCNoLeader
		}
		return nil
	}
	return toGRPCError(repairing)
}

// snapshotMethod is the Maintenance service's Snapshot stream, the one
// stream a learner serves.
const snapshotMethod = "/etcdserverpb.Maintenance/Snapshot"

func (f *Face) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	call, ss := f.metrics.startStream(info.FullMethod, ss)
	err := f.serveStream(srv, ss, info.FullMethod, handler)
	call.endStream(err)
	return err
}

func (f *Face) serveStream(srv any, ss grpc.ServerStream, method string, handler grpc.StreamHandler) error {
	ctx := callerContext(ss.Context())
	if err := f.s.StoreRepairing(); err != nil {
		if _, ok := srv.(healthpb.HealthServer); ok {
			return handler(srv, ss) // a health watch: NOT_SERVING until the repair ends
		}
		return toGRPCError(err) // watches, keep-alives and snapshots need the store
	}
	if f.s.IsLearner() && method != snapshotMethod {
		// Watches and keep-alives are served at a voter; a learner sends
		// a snapshot of its own store, as etcd's learners do.
		return rpctypes.ErrGRPCNotSupportedForLearner
	}
	if !requiresLeader(ctx) {
		return handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
	}
	if f.s.Leader() == 0 {
		return rpctypes.ErrGRPCNoLeader
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go f.monitorLeader(ctx, cancel)
	err := handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
	if cause := context.Cause(ctx); errors.Is(cause, rpctypes.ErrGRPCNoLeader) {
		return rpctypes.ErrGRPCNoLeader
	}
	return err
}

// monitorLeader cancels ctx with etcd's no-leader error once the member
// has been without a leader for a few election timeouts (an election
// that succeeds in that time does not end the stream).
func (f *Face) monitorLeader(ctx context.Context, cancel context.CancelCauseFunc) {
	election := f.s.Config().ElectionTimeout
	tick := time.NewTicker(max(election/4, time.Millisecond))
	defer tick.Stop()
	var since time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if f.s.Leader() != 0 {
				since = time.Time{}
				continue
			}
			if since.IsZero() {
				since = now
			}
			if now.Sub(since) >= 3*election {
				cancel(rpctypes.ErrGRPCNoLeader)
				return
			}
		}
	}
}

// callerContext puts the caller's credentials where the services look
// for them. A token may come as "Bearer <token>" (an HTTP client's
// Authorization header), as etcd takes it.
func callerContext(ctx context.Context) context.Context {
	// ValueFromIncomingContext looks one key up without copying the
	// whole metadata, as FromIncomingContext does (measurable per call).
	for _, key := range []string{rpctypes.TokenFieldNameGRPC, rpctypes.TokenFieldNameSwagger} {
		if ts := metadata.ValueFromIncomingContext(ctx, key); len(ts) > 0 && ts[0] != "" {
			ctx = rpc.WithToken(ctx, strings.TrimPrefix(ts[0], "Bearer "))
			break
		}
	}
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			st := info.State
			if len(st.VerifiedChains) > 0 && len(st.PeerCertificates) > 0 {
				ctx = rpc.WithPeerCertificate(ctx, st.PeerCertificates[0])
			}
		}
	}
	return ctx
}

// requiresLeader reports whether the caller asked that the call fail
// without a leader (clientv3.WithRequireLeader).
func requiresLeader(ctx context.Context) bool {
	v := metadata.ValueFromIncomingContext(ctx, rpctypes.MetadataRequireLeaderKey)
	return len(v) > 0 && v[0] == rpctypes.MetadataHasLeader
}

// contextStream is a server stream with the interceptor's context.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }
