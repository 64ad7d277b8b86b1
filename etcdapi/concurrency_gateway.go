package etcdapi

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/cairndb/cairn/etcdapi/concurrencypb"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

// The JSON gateway's paths of the Lock and Election services, which etcd
// generates in its server module: each takes its request as the JSON body
// of a POST and calls the method over the gateway's connection to the
// gRPC server, as the generated handlers do.

// registerConcurrencyGateway adds the paths of the Lock and Election
// services to mux, calling them over conn.
func registerConcurrencyGateway(mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	routes := []struct {
		path    string
		handler runtime.HandlerFunc
	}{
		{"/v3/lock/lock", gatewayUnary[concurrencypb.LockRequest, concurrencypb.LockResponse](mux, conn, concurrencypb.LockMethod)},
		{"/v3/lock/unlock", gatewayUnary[concurrencypb.UnlockRequest, concurrencypb.UnlockResponse](mux, conn, concurrencypb.UnlockMethod)},
		{"/v3/election/campaign", gatewayUnary[concurrencypb.CampaignRequest, concurrencypb.CampaignResponse](mux, conn, concurrencypb.CampaignMethod)},
		{"/v3/election/proclaim", gatewayUnary[concurrencypb.ProclaimRequest, concurrencypb.ProclaimResponse](mux, conn, concurrencypb.ProclaimMethod)},
		{"/v3/election/leader", gatewayUnary[concurrencypb.LeaderRequest, concurrencypb.LeaderResponse](mux, conn, concurrencypb.LeaderMethod)},
		{"/v3/election/observe", gatewayObserve(mux, conn)},
		{"/v3/election/resign", gatewayUnary[concurrencypb.ResignRequest, concurrencypb.ResignResponse](mux, conn, concurrencypb.ResignMethod)},
	}
	for _, r := range routes {
		if err := mux.HandlePath(http.MethodPost, r.path, r.handler); err != nil {
			return err
		}
	}
	return nil
}

// gatewayUnary is the gateway's handler of the unary method named full.
func gatewayUnary[Req, Resp any, PReq interface {
	*Req
	protoadapt.MessageV1
}, PResp interface {
	*Resp
	protoadapt.MessageV1
}](mux *runtime.ServeMux, conn *grpc.ClientConn, full string) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
		ctx, inbound, outbound, ok := gatewayCall(mux, w, r, full)
		if !ok {
			return
		}
		req := PReq(new(Req))
		if err := decodeGatewayBody(inbound, r, req); err != nil {
			runtime.HTTPError(ctx, mux, outbound, w, r, err)
			return
		}
		var md runtime.ServerMetadata
		resp := PResp(new(Resp))
		err := conn.Invoke(ctx, full, req, resp, grpc.Header(&md.HeaderMD), grpc.Trailer(&md.TrailerMD))
		ctx = runtime.NewServerMetadataContext(ctx, md)
		if err != nil {
			runtime.HTTPError(ctx, mux, outbound, w, r, err)
			return
		}
		runtime.ForwardResponseMessage(ctx, mux, outbound, w, r, protoadapt.MessageV2Of(resp))
	}
}

// gatewayObserve is the gateway's handler of Observe: a response of one
// JSON object per leader value, as etcd's gateway streams it.
func gatewayObserve(mux *runtime.ServeMux, conn *grpc.ClientConn) runtime.HandlerFunc {
	desc := &grpc.StreamDesc{StreamName: "Observe", ServerStreams: true}
	return func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
		ctx, inbound, outbound, ok := gatewayCall(mux, w, r, concurrencypb.ObserveMethod)
		if !ok {
			return
		}
		req := new(concurrencypb.LeaderRequest)
		if err := decodeGatewayBody(inbound, r, req); err != nil {
			runtime.HTTPError(ctx, mux, outbound, w, r, err)
			return
		}
		st, err := conn.NewStream(ctx, desc, concurrencypb.ObserveMethod)
		if err == nil {
			err = st.SendMsg(req)
		}
		if err == nil {
			err = st.CloseSend()
		}
		var md runtime.ServerMetadata
		if err == nil {
			md.HeaderMD, err = st.Header()
		}
		if err != nil {
			runtime.HTTPError(ctx, mux, outbound, w, r, err)
			return
		}
		ctx = runtime.NewServerMetadataContext(ctx, md)
		runtime.ForwardResponseStream(ctx, mux, outbound, w, r, func() (proto.Message, error) {
			resp := new(concurrencypb.LeaderResponse)
			if err := st.RecvMsg(resp); err != nil {
				return nil, err
			}
			return protoadapt.MessageV2Of(resp), nil
		})
	}
}

// gatewayCall starts a gateway call of the method named full: the
// request's context with its metadata (the auth token), and the
// marshalers of its body and answer. False when it already answered.
func gatewayCall(mux *runtime.ServeMux, w http.ResponseWriter, r *http.Request, full string) (context.Context, runtime.Marshaler, runtime.Marshaler, bool) {
	inbound, outbound := runtime.MarshalerForRequest(mux, r)
	ctx, err := runtime.AnnotateContext(r.Context(), mux, r, full, runtime.WithHTTPPathPattern(r.URL.Path))
	if err != nil {
		runtime.HTTPError(r.Context(), mux, outbound, w, r, err)
		return nil, nil, nil, false
	}
	return ctx, inbound, outbound, true
}

// decodeGatewayBody decodes a request's JSON body into req; an empty body
// is an empty request.
func decodeGatewayBody(m runtime.Marshaler, r *http.Request, req protoadapt.MessageV1) error {
	err := m.NewDecoder(r.Body).Decode(protoadapt.MessageV2Of(req))
	if err != nil && !errors.Is(err, io.EOF) {
		return status.Errorf(codes.InvalidArgument, "%v", err)
	}
	return nil
}
