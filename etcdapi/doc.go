// Package etcdapi serves etcd's v3 API on a cairn member's client port, so
// that etcdctl, clientv3 and every other etcd client work against cairn
// unchanged: the gRPC services (KV, Watch, Lease, Cluster, Maintenance,
// Auth, and the concurrency services Lock and Election) and the JSON
// gateway (/v3/kv/range, /v3/watch, /v3/lock/lock, ...) that etcd
// serves, with etcd's message types (go.etcd.io/etcd/api/v3), error codes
// and messages, and metadata (the auth "token", "hasleader").
//
// It is an adapter and nothing more: every call is translated to cairn's
// api types and served by the member's service layer (node.Server's
// exported methods), the same one cairn's native rpc calls, so both faces
// get the same admission, auth, limits and errors.
//
// One port, three protocols. The member's rpc server looks at the first
// bytes of every connection (after TLS): cairn's hello stays with it; the
// rest come here (rpc.ServerOptions.Foreign). In plain TCP an HTTP/2
// connection (its preface) goes to the gRPC server and anything else is
// HTTP/1.x for the HTTP server: the JSON gateway under /v3/, and /health,
// /metrics and /version beside it. Over TLS the ALPN protocol decides:
// "http/1.1" is the HTTP server's; "h2" from a client that offered "h2"
// alone is a gRPC client's (every gRPC library offers just that), for the
// gRPC server's own transport; "h2" from one that offered more (curl)
// may carry gRPC or JSON, which cannot be told apart before the first
// request, so such a connection is served by an HTTP/2 server that hands
// gRPC requests to the gRPC server's HTTP handler (as etcd serves TLS,
// at two to two and a half times the CPU per call) and the rest to the gateway. The
// gateway reaches the gRPC server over in-memory pipes.
//
//	client port ──► rpc.Server ──► cairn hello?  ── native rpc services ─┐
//	                     │                                               ├─► node.Server
//	                     └──► Face ─► HTTP/2 ─► grpc.Server ─────────────┤
//	                                 HTTP/1 ─► gateway ─► (pipe) ─► grpc ┘
//
// The face is made before the member's store is open, and serves while
// the member repairs a corrupt store (node.Server.StoreRepairing): it
// answers Status (the repair in its errors), a serializable MemberList
// and the health service (NOT_SERVING), and refuses every other call at
// once with etcd's "unhealthy cluster" (Unavailable), which clientv3
// retries at another endpoint.
package etcdapi
