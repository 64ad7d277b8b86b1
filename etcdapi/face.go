package etcdapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cairndb/cairn/internal/datadir"
	"github.com/cairndb/cairn/node"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/etcdserverpb/gw"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/encoding/protojson"
)

// grpcOverheadBytes is what a gRPC message may add to the largest request
// the member takes (--max-request-bytes), as etcd allows.
const grpcOverheadBytes = 512 * 1024

// streamWorkers is how many goroutines the gRPC server keeps to serve
// calls. A call served on a fresh goroutine outgrows its small first stack
// while gRPC decodes the request, and the runtime copies the stack: on a
// member serving serializable ranges through clientv3 that copy was 12-16%
// of its CPU. A worker keeps its grown stack until it sits idle through a
// garbage collection, which halves it. The workers take calls in turn, so
// too many are each idle for long (1024 workers: 12% again); too few are
// all busy, and the calls beyond them start goroutines of their own (with
// 2 workers, nearly every call: puts wait for raft). 256 covers the calls
// a member has in flight at a few hundred clients (copying: 3%), for
// about 2 MB of stacks.
const streamWorkers = 256

// http2Preface is how every HTTP/2 connection starts.
var http2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// Face is etcd's v3 API for one member: a gRPC server, the JSON gateway,
// and the HTTP server carrying it. Make it with New (as
// node.ServerOptions.ClientFace).
type Face struct {
	s   *node.Server
	log *slog.Logger

	grpc   *grpc.Server
	http   *http.Server
	gwConn *grpc.ClientConn
	grpcLn *connListener
	httpLn *connListener

	// h2 serves HTTP/2 over TLS (serveTLSHTTP2); ctx ends its
	// connections when the face closes.
	h2     *http2.Server
	ctx    context.Context
	cancel context.CancelFunc

	metrics *faceMetrics

	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New makes the etcd face of member s and starts its servers; the member
// hands it connections through ServeConn.
func New(s *node.Server) (node.ClientFace, error) {
	cfg := s.Config()
	// A snapshot's work directory a crash left behind holds up to two
	// copies of the store: its space back at once.
	removeStaleWork(filepath.Join(cfg.DataDir, datadir.MemberDir))
	f := &Face{s: s, log: s.Logger(), grpcLn: newConnListener(), httpLn: newConnListener(),
		h2: &http2.Server{MaxConcurrentStreams: math.MaxUint32}}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	m := s.Metrics()
	f.grpc = grpc.NewServer(
		grpc.Creds(tlsStateCredentials{}),
		grpc.ForceServerCodecV2(countingCodec{gogoCodec: gogoCodec{small: &smallBufferPool{}},
			sent: m.ClientSentBytes, received: m.ClientReceivedBytes}),
		grpc.MaxRecvMsgSize(cfg.MaxRequestBytes+grpcOverheadBytes),
		grpc.MaxSendMsgSize(math.MaxInt32),
		grpc.MaxConcurrentStreams(math.MaxUint32),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: false}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 2 * time.Hour, Timeout: 20 * time.Second}),
		grpc.NumStreamWorkers(streamWorkers),
		grpc.SharedWriteBuffer(true),
		// One interceptor each (a chain of several costs a closure per
		// call): metrics, then the caller's credentials.
		grpc.UnaryInterceptor(f.unaryInterceptor),
		grpc.StreamInterceptor(f.streamInterceptor),
	)
	f.grpc.RegisterService(f.kvServiceDesc(), kvServer{s}) // servicedesc.go
	pb.RegisterWatchServer(f.grpc, watchServer{s})
	pb.RegisterLeaseServer(f.grpc, leaseServer{s})
	pb.RegisterClusterServer(f.grpc, clusterServer{s})
	pb.RegisterMaintenanceServer(f.grpc, maintenanceServer{s})
	pb.RegisterAuthServer(f.grpc, authServer{s})
	f.grpc.RegisterService(lockServiceDesc(), lockServer{s})         // concurrency_desc.go
	f.grpc.RegisterService(electionServiceDesc(), electionServer{s}) // concurrency_desc.go
	hs := health.NewServer()
	f.reportHealth(hs)
	healthpb.RegisterHealthServer(f.grpc, hs)
	f.metrics = newFaceMetrics(m, f.grpc)

	gateway, err := f.newGateway()
	if err != nil {
		f.cancel()
		f.grpc.Stop()
		f.wg.Wait()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/v3/", gateway)
	mux.Handle("/v3beta/", v3betaRedirect(gateway))
	mux.Handle("/", s.HTTPHandler())
	f.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(f.log.Handler(), slog.LevelDebug)}

	f.wg.Add(2)
	go func() {
		defer f.wg.Done()
		_ = f.grpc.Serve(f.grpcLn)
	}()
	go func() {
		defer f.wg.Done()
		_ = f.http.Serve(f.httpLn)
	}()
	return f, nil
}

// reportHealth sets the gRPC health service's status for every service
// (""): SERVING once the member serves, NOT_SERVING while it repairs its
// store (node.Server.StoreRepairing), as etcd reports NOT_SERVING while it
// cannot serve.
func (f *Face) reportHealth(hs *health.Server) {
	if f.s.StoreRepairing() == nil {
		hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		return
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		select {
		case <-f.s.StoreRepaired():
			hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		case <-f.ctx.Done():
		}
	}()
}

// newGateway makes the JSON gateway: etcd's generated handlers, speaking
// to this face's gRPC server over in-memory pipes, with etcd's JSON
// (proto field names, zero values left out, unknown fields ignored).
func (f *Face) newGateway() (http.Handler, error) {
	conn, err := grpc.NewClient("passthrough:///etcd-gateway",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			client, server := net.Pipe()
			if !f.grpcLn.push(server) {
				client.Close()
				return nil, errors.New("etcdapi: the member is stopping")
			}
			return client, nil
		}),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(gatewayCodec{}), grpc.MaxCallRecvMsgSize(math.MaxInt32)),
	)
	if err != nil {
		return nil, fmt.Errorf("etcdapi: gateway connection: %w", err)
	}
	f.gwConn = conn
	mux := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
		Marshaler: &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
		},
	}))
	ctx := context.Background()
	for _, register := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		gw.RegisterKVHandler, gw.RegisterWatchHandler, gw.RegisterLeaseHandler,
		gw.RegisterClusterHandler, gw.RegisterMaintenanceHandler, gw.RegisterAuthHandler,
	} {
		if err := register(ctx, mux, conn); err != nil {
			conn.Close()
			return nil, fmt.Errorf("etcdapi: gateway: %w", err)
		}
	}
	if err := registerConcurrencyGateway(mux, conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("etcdapi: gateway: %w", err)
	}
	return mux, nil
}

// gatewayCodec is the gateway's codec: gogoCodec under no name. A
// forced codec's name becomes the content subtype of the calls, which the
// gRPC server echoes in its answer's content-type, and the gateway passes
// that on as the Grpc-Metadata-Content-Type header: etcd's says
// "application/grpc", with no subtype.
type gatewayCodec struct{ gogoCodec }

func (gatewayCodec) Name() string { return "" }

// v3betaRedirect serves the paths of etcd's beta API, /v3beta/...,
// as /v3/..., as etcd still does for clients written against it.
func v3betaRedirect(gateway http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/v3/" + strings.TrimPrefix(r.URL.Path, "/v3beta/")
		r2.URL.RawPath = ""
		gateway.ServeHTTP(w, r2)
	})
}

// ServeConn takes a connection the rpc server did not recognise as its
// own: HTTP/2 goes to the gRPC server, the rest to the HTTP server. It
// returns at once; the servers read the connection on their goroutines.
//
// Over TLS, ALPN says which: a client that offered "h2" alone is a gRPC
// client (grpc-go, and so etcdctl and clientv3, the other languages'
// gRPC libraries), served by the gRPC server's own HTTP/2 transport; one
// that offered "h2" among others (curl, browsers) may send JSON over it,
// and is served as etcd serves its TLS port, by an HTTP/2 server that
// hands gRPC requests to the gRPC server's HTTP handler — two to two and a half times
// the CPU per call of the gRPC transport (BenchmarkFaceRangeSerializableTLS
// and its ...TLSCurlStyle twin).
func (f *Face) ServeConn(conn net.Conn, st *tls.ConnectionState) {
	if st != nil {
		grpcOnly := offeredOnlyH2(conn)
		conn = &tlsStateConn{Conn: conn, state: st}
		switch st.NegotiatedProtocol {
		case "h2":
			if grpcOnly {
				f.grpcLn.push(conn)
				return
			}
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.serveTLSHTTP2(conn, st)
			}()
			return
		case "http/1.1":
			f.httpLn.push(conn)
			return
		}
	}
	// No ALPN: the client's first bytes tell. The rpc server already read
	// at least one byte, so a short peek returns at once; the full
	// preface needs a few more, read on a goroutine of the connection.
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		br := bufio.NewReaderSize(conn, len(http2Preface))
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		head, _ := br.Peek(len(http2Preface))
		_ = conn.SetReadDeadline(time.Time{})
		c := &bufferedConn{Conn: conn, r: br}
		if bytes.Equal(head, http2Preface) {
			f.grpcLn.push(c)
		} else {
			f.httpLn.push(c)
		}
	}()
}

// offeredOnlyH2 reports whether the client of conn offered the ALPN
// protocol "h2" and nothing else (rpc.ServerOptions.Foreign's conn says
// what it offered).
func offeredOnlyH2(conn net.Conn) bool {
	o, ok := conn.(interface{ OfferedProtocols() []string })
	return ok && slices.Equal(o.OfferedProtocols(), []string{"h2"})
}

// serveTLSHTTP2 serves an HTTP/2 connection that came over TLS, as etcd
// serves its TLS client port: gRPC requests (content-type
// application/grpc) go to the gRPC server's HTTP handler, the rest (curl,
// which asks for h2 by ALPN) to the gateway. Over TLS the two cannot be
// told apart before the first request, and a gRPC client waits for the
// server's settings before it sends one.
func (f *Face) serveTLSHTTP2(conn net.Conn, st *tls.ConnectionState) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.TLS = st // for the gRPC server's peer information: the client certificate
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			f.grpc.ServeHTTP(w, r)
			return
		}
		f.http.Handler.ServeHTTP(w, r)
	})
	served := make(chan struct{})
	defer close(served)
	go func() {
		select {
		case <-f.ctx.Done():
			conn.Close()
		case <-served:
		}
	}()
	f.h2.ServeConn(conn, &http2.ServeConnOpts{Context: f.ctx, BaseConfig: f.http, Handler: handler})
}

// Close stops the servers and closes every connection they hold.
func (f *Face) Close() error {
	f.closeOnce.Do(func() {
		f.cancel()
		f.grpcLn.Close()
		f.httpLn.Close()
		f.grpc.Stop()
		_ = f.http.Close()
		_ = f.gwConn.Close()
		f.wg.Wait()
	})
	return nil
}

// bufferedConn is a connection whose first reads come from a reader that
// peeked at it.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// tlsStateConn carries a TLS connection's state past the wrappers that
// hide the *tls.Conn (tlsStateCredentials reports it to gRPC).
type tlsStateConn struct {
	net.Conn
	state *tls.ConnectionState
}

// connListener is a net.Listener fed by ServeConn.
type connListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newConnListener() *connListener {
	return &connListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// push hands conn to the listener's server; false (and conn closed) once
// the listener is closed.
func (l *connListener) push(conn net.Conn) bool {
	select {
	case l.conns <- conn:
		return true
	case <-l.done:
		conn.Close()
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "etcd-face" }
