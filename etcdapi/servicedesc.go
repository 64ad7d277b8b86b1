package etcdapi

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
)

// The KV service carries nearly every call a member serves, so the face
// registers it with a service description of its own instead of the
// generated one (pb.RegisterKVServer): the same service, methods, request
// and response types and server interface, with handlers that run the
// unary interceptor's work (admitUnary and the call's metrics) in line.
// A generated handler, given an interceptor, allocates the interceptor's
// call information and a closure around the method on every call; these
// allocate nothing but the request. The other services keep their
// generated descriptions and the interceptor.

// kvServiceName is the KV service's full name, as etcd's rpc.proto
// declares it.
const kvServiceName = "etcdserverpb.KV"

// kvServiceDesc is etcd's KV service served by this face.
func (f *Face) kvServiceDesc() *grpc.ServiceDesc {
	method := func(name string, h func(f *Face, full string) grpc.MethodHandler) grpc.MethodDesc {
		return grpc.MethodDesc{MethodName: name, Handler: h(f, "/"+kvServiceName+"/"+name)}
	}
	return &grpc.ServiceDesc{
		ServiceName: kvServiceName,
		HandlerType: (*pb.KVServer)(nil),
		Methods: []grpc.MethodDesc{
			method("Range", unaryHandler(pb.KVServer.Range)),
			method("Put", unaryHandler(pb.KVServer.Put)),
			method("DeleteRange", unaryHandler(pb.KVServer.DeleteRange)),
			method("Txn", unaryHandler(pb.KVServer.Txn)),
			method("Compact", unaryHandler(pb.KVServer.Compact)),
		},
		Metadata: "rpc.proto",
	}
}

// unaryHandler makes the gRPC handler of a unary method from the method
// of the service's interface (pb.KVServer.Range): it decodes the request,
// then counts, admits and serves the call as unaryInterceptor does. gRPC
// passes the server's interceptor to every handler; this one does its
// work itself and leaves it unused.
func unaryHandler[Srv, Req, Resp any](serve func(Srv, context.Context, *Req) (*Resp, error)) func(f *Face, full string) grpc.MethodHandler {
	return func(f *Face, full string) grpc.MethodHandler {
		return func(srv any, ctx context.Context, decode func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			req := new(Req)
			if err := decode(req); err != nil {
				return nil, err
			}
			call := f.metrics.startUnary(full)
			ctx, err := f.admitUnary(ctx, req)
			var resp *Resp
			if err == nil {
				resp, err = serve(srv.(Srv), ctx, req)
			}
			call.endUnary(err)
			if err != nil {
				return nil, err
			}
			return resp, nil
		}
	}
}
