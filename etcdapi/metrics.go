package etcdapi

import (
	"time"

	"github.com/cairndb/cairn/internal/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
)

// The face counts its calls as etcd's gRPC server does
// (grpc_server_started_total, grpc_server_handled_total, ... by service,
// method, type and code, every method's series there from the start) and
// the bytes of the messages it exchanges with clients
// (etcd_network_client_grpc_{sent,received}_bytes_total), in the member's
// registry.

// faceMetrics are the series of the face's methods, by full method name
// ("/etcdserverpb.KV/Range").
type faceMetrics struct {
	methods map[string]*metrics.Method
}

// newFaceMetrics registers the series of every method the gRPC server
// serves.
func newFaceMetrics(m *metrics.Member, srv *grpc.Server) *faceMetrics {
	fm := &faceMetrics{methods: map[string]*metrics.Method{}}
	for service, info := range srv.GetServiceInfo() {
		for _, mi := range info.Methods {
			typ := metrics.Unary
			switch {
			case mi.IsClientStream && mi.IsServerStream:
				typ = metrics.BidiStream
			case mi.IsClientStream:
				typ = metrics.ClientStream
			case mi.IsServerStream:
				typ = metrics.ServerStream
			}
			fm.methods["/"+service+"/"+mi.Name] = m.RPC.Register(service, mi.Name, typ)
		}
	}
	return fm
}

// method is the series of a full method name; nil for one the server does
// not serve (gRPC answers Unimplemented without calling the interceptors).
func (fm *faceMetrics) method(full string) *metrics.Method {
	return fm.methods[full]
}

// callMetrics counts one call: made by startUnary or startStream, ended
// by endUnary or endStream.
type callMetrics struct {
	m     *metrics.Method // nil for a method the face does not count
	start time.Time
}

// startUnary counts the start of a unary call and its request.
func (fm *faceMetrics) startUnary(full string) callMetrics {
	m := fm.method(full)
	if m == nil {
		return callMetrics{}
	}
	c := callMetrics{m: m, start: m.Started()}
	m.Received()
	return c
}

// endUnary counts the end of a unary call: its response, if it has one,
// and its status code.
func (c callMetrics) endUnary(err error) {
	if c.m == nil {
		return
	}
	if err == nil {
		c.m.Sent()
	}
	c.m.Handled(c.start, uint32(status.Code(err)))
}

// startStream counts the start of a stream; ss counts its messages.
func (fm *faceMetrics) startStream(full string, ss grpc.ServerStream) (callMetrics, grpc.ServerStream) {
	m := fm.method(full)
	if m == nil {
		return callMetrics{}, ss
	}
	return callMetrics{m: m, start: m.Started()}, &countedStream{ServerStream: ss, m: m}
}

// endStream counts the end of a stream with its status code.
func (c callMetrics) endStream(err error) {
	if c.m != nil {
		c.m.Handled(c.start, uint32(status.Code(err)))
	}
}

// countedStream counts the messages of a stream.
type countedStream struct {
	grpc.ServerStream
	m *metrics.Method
}

func (s *countedStream) SendMsg(msg any) error {
	err := s.ServerStream.SendMsg(msg)
	if err == nil {
		s.m.Sent()
	}
	return err
}

func (s *countedStream) RecvMsg(msg any) error {
	err := s.ServerStream.RecvMsg(msg)
	if err == nil {
		s.m.Received()
	}
	return err
}

// countingCodec is the server's codec: gogoCodec, counting the bytes of
// every message it encodes or decodes.
type countingCodec struct {
	gogoCodec
	sent, received prometheus.Counter
}

func (c countingCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, err := c.gogoCodec.Marshal(v)
	if err == nil {
		c.sent.Add(float64(b.Len()))
	}
	return b, err
}

func (c countingCodec) Unmarshal(data mem.BufferSlice, v any) error {
	c.received.Add(float64(data.Len()))
	return c.gogoCodec.Unmarshal(data, v)
}
