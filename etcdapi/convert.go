package etcdapi

import (
	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/etcdconv"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// The conversions between etcd's generated types and cairn's api types
// are package etcdconv's; a watch response's cancel reason is worded here,
// from the error codes this face maps.

// toWatchResponse converts a message of a watch stream, its cancel reason
// in etcd's words. A watcher canceled because its start revision is
// compacted away is told as etcd tells it: by the compact revision alone,
// with no reason and no revision in the header.
func toWatchResponse(r *api.WatchResponse) *pb.WatchResponse {
	out := etcdconv.ToWatchResponse(r)
	out.CancelReason = cancelReason(r)
	if r.Canceled && r.CompactRevision != 0 {
		out.CancelReason = ""
		if out.Header != nil {
			out.Header.Revision = 0
		}
	}
	return out
}

// cancelReason is a cancellation's reason in etcd's words: the standard
// message of its code when it has one. A watch auth refused (permission
// denied, no user, an invalid or outdated token) is worded as etcd words
// it, as the whole gRPC error ("rpc error: code = PermissionDenied desc =
// etcdserver: permission denied"), which etcdctl watch prints.
func cancelReason(r *api.WatchResponse) string {
	if r.CancelReason == "" || r.CancelCode == 0 {
		return r.CancelReason
	}
	st, ok := grpcStatus(api.ErrorFromCode(uint16(r.CancelCode), r.CancelReason))
	if !ok {
		return r.CancelReason
	}
	switch r.CancelCode {
	case api.CodePermissionDenied, api.CodeUserEmpty, api.CodeInvalidAuthToken, api.CodeAuthOldRevision:
		return st.Err().Error()
	}
	return st.Message()
}
