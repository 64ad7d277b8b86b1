// Package etcdapi serves etcd's v3 API on a cairn member's client port, so
// that etcdctl, clientv3 and every other etcd client work against cairn
// unchanged: the gRPC services (KV, Watch, Lease, Cluster, Maintenance,
// Auth) and the JSON gateway (/v3/kv/range, /v3/watch, ...) that etcd
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
// rest come here (rpc.ServerOptions.Foreign). An HTTP/2 connection (its
// preface, or ALPN "h2" over TLS) goes to the gRPC server; anything else
// is HTTP/1.x and goes to the HTTP server: the JSON gateway under /v3/,
// and /health, /metrics and /version beside it. The gateway reaches the
// gRPC server over in-memory pipes.
//
//	client port ──► rpc.Server ──► cairn hello?  ── native rpc services ─┐
//	                     │                                               ├─► node.Server
//	                     └──► Face ─► HTTP/2 ─► grpc.Server ─────────────┤
//	                                 HTTP/1 ─► gateway ─► (pipe) ─► grpc ┘
package etcdapi
