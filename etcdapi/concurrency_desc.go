package etcdapi

import (
	"context"

	"github.com/cairndb/cairn/etcdapi/concurrencypb"
	"google.golang.org/grpc"
)

// etcd generates the descriptions of its Lock and Election services in
// its server module, which cairn does not depend on: these describe the
// same services (concurrencypb has their messages), with handlers that
// pass the face's interceptors as generated ones do.

// lockService is what the Lock service's server provides.
type lockService interface {
	Lock(context.Context, *concurrencypb.LockRequest) (*concurrencypb.LockResponse, error)
	Unlock(context.Context, *concurrencypb.UnlockRequest) (*concurrencypb.UnlockResponse, error)
}

// electionService is what the Election service's server provides.
type electionService interface {
	Campaign(context.Context, *concurrencypb.CampaignRequest) (*concurrencypb.CampaignResponse, error)
	Proclaim(context.Context, *concurrencypb.ProclaimRequest) (*concurrencypb.ProclaimResponse, error)
	Leader(context.Context, *concurrencypb.LeaderRequest) (*concurrencypb.LeaderResponse, error)
	Observe(*concurrencypb.LeaderRequest, electionObserveStream) error
	Resign(context.Context, *concurrencypb.ResignRequest) (*concurrencypb.ResignResponse, error)
}

// lockServiceDesc is etcd's v3lockpb.Lock service.
func lockServiceDesc() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: concurrencypb.LockService,
		HandlerType: (*lockService)(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "Lock", Handler: interceptedHandler(concurrencypb.LockMethod, lockService.Lock)},
			{MethodName: "Unlock", Handler: interceptedHandler(concurrencypb.UnlockMethod, lockService.Unlock)},
		},
		Metadata: "v3lock.proto",
	}
}

// electionServiceDesc is etcd's v3electionpb.Election service.
func electionServiceDesc() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: concurrencypb.ElectionService,
		HandlerType: (*electionService)(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "Campaign", Handler: interceptedHandler(concurrencypb.CampaignMethod, electionService.Campaign)},
			{MethodName: "Proclaim", Handler: interceptedHandler(concurrencypb.ProclaimMethod, electionService.Proclaim)},
			{MethodName: "Leader", Handler: interceptedHandler(concurrencypb.LeaderMethod, electionService.Leader)},
			{MethodName: "Resign", Handler: interceptedHandler(concurrencypb.ResignMethod, electionService.Resign)},
		},
		Streams: []grpc.StreamDesc{
			{StreamName: "Observe", Handler: observeHandler, ServerStreams: true},
		},
		Metadata: "v3election.proto",
	}
}

// interceptedHandler makes the gRPC handler of a unary method from the
// method of the server (lockService.Lock), named full: it decodes the
// request and serves it through the server's interceptor.
func interceptedHandler[Srv, Req, Resp any](full string, serve func(Srv, context.Context, *Req) (*Resp, error)) grpc.MethodHandler {
	return func(srv any, ctx context.Context, decode func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
		req := new(Req)
		if err := decode(req); err != nil {
			return nil, err
		}
		handle := func(ctx context.Context, req any) (any, error) {
			return serve(srv.(Srv), ctx, req.(*Req))
		}
		if interceptor == nil {
			return handle(ctx, req)
		}
		return interceptor(ctx, req, &grpc.UnaryServerInfo{Server: srv, FullMethod: full}, handle)
	}
}

// observeHandler serves an Observe stream: one request, then the
// leader's values.
func observeHandler(srv any, st grpc.ServerStream) error {
	req := new(concurrencypb.LeaderRequest)
	if err := st.RecvMsg(req); err != nil {
		return err
	}
	return srv.(electionService).Observe(req, observeStream{st})
}

// observeStream is an Observe call's gRPC stream.
type observeStream struct{ grpc.ServerStream }

func (s observeStream) Send(r *concurrencypb.LeaderResponse) error { return s.SendMsg(r) }
