package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Call types, as gRPC servers instrumented for Prometheus name them in
// the grpc_type label.
const (
	Unary        = "unary"
	ClientStream = "client_stream"
	ServerStream = "server_stream"
	BidiStream   = "bidi_stream"
)

// Codes are the names of the gRPC status codes, the values of the
// grpc_code label, in the codes' numeric order.
var Codes = []string{
	"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
	"AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
	"Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss",
	"Unauthenticated",
}

// HandlingBuckets are the buckets of grpc_server_handling_seconds, the
// default buckets of Prometheus's Go client (5 ms to 10 s).
var HandlingBuckets = prometheus.DefBuckets

// RPC counts the calls a server handles, under the names and labels of
// the gRPC servers instrumented for Prometheus (grpc_server_*), which the
// etcd dashboard and alerts query: by grpc_service, grpc_method,
// grpc_type, and for finished calls grpc_code. The etcd face reports its
// services under etcd's names (etcdserverpb.KV, ...), cairn's native rpc
// under cairn's (cairn.KV, ...), so a sum over both counts every call of
// the client port and a filter on the service tells the faces apart.
type RPC struct {
	started, handled     *prometheus.CounterVec
	msgReceived, msgSent *prometheus.CounterVec
	handling             *prometheus.HistogramVec
}

func newRPC(reg prometheus.Registerer) *RPC {
	f := factory{reg}
	labels := []string{"grpc_type", "grpc_service", "grpc_method"}
	return &RPC{
		started:     f.counterVec("grpc_server_started_total", "Calls started on the server.", labels...),
		handled:     f.counterVec("grpc_server_handled_total", "Calls finished on the server, whatever their outcome (grpc_code).", append(labels, "grpc_code")...),
		msgReceived: f.counterVec("grpc_server_msg_received_total", "Messages received from clients, stream messages each on its own.", labels...),
		msgSent:     f.counterVec("grpc_server_msg_sent_total", "Messages sent to clients, stream messages each on its own.", labels...),
		handling:    f.histogramVec("grpc_server_handling_seconds", "Time from a call's start to its end on the server.", HandlingBuckets, labels...),
	}
}

// Method is one method's series, looked up once (Register) so that a call
// costs no label lookup.
type Method struct {
	started, msgReceived, msgSent prometheus.Counter
	handling                      prometheus.Observer
	handled                       []prometheus.Counter // by code, in Codes' order
	handledOther                  *prometheus.CounterVec
	labels                        [3]string
}

// Register makes the series of one method exist, every code at 0, as
// instrumented gRPC servers do when their services are registered, and
// returns them.
func (r *RPC) Register(service, method, typ string) *Method {
	m := &Method{
		started:      r.started.WithLabelValues(typ, service, method),
		msgReceived:  r.msgReceived.WithLabelValues(typ, service, method),
		msgSent:      r.msgSent.WithLabelValues(typ, service, method),
		handling:     r.handling.WithLabelValues(typ, service, method),
		handledOther: r.handled,
		labels:       [3]string{typ, service, method},
		handled:      make([]prometheus.Counter, len(Codes)),
	}
	for i, code := range Codes {
		m.handled[i] = r.handled.WithLabelValues(typ, service, method, code)
	}
	return m
}

// Started counts a call's start; the caller ends it with Handled.
func (m *Method) Started() time.Time {
	m.started.Inc()
	return time.Now()
}

// Handled counts the end of a call that started at start, with its gRPC
// status code (the number: 0 for OK, an index of Codes).
func (m *Method) Handled(start time.Time, code uint32) {
	m.handling.Observe(time.Since(start).Seconds())
	if int(code) < len(m.handled) {
		m.handled[code].Inc()
		return
	}
	m.handledOther.WithLabelValues(m.labels[0], m.labels[1], m.labels[2], "Code("+strconv.FormatUint(uint64(code), 10)+")").Inc()
}

// Received counts a message received from the client.
func (m *Method) Received() { m.msgReceived.Inc() }

// Sent counts a message sent to the client.
func (m *Method) Sent() { m.msgSent.Inc() }
