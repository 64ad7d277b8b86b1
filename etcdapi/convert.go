package etcdapi

import (
	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/etcdconv"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
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
// message of its code when it has one; a permission denied is, as etcd
// writes it, the whole gRPC error ("rpc error: code = PermissionDenied
// desc = etcdserver: permission denied").
func cancelReason(r *api.WatchResponse) string {
	if r.CancelReason == "" || r.CancelCode == 0 {
		return r.CancelReason
	}
	if st, ok := grpcStatus(api.ErrorFromCode(uint16(r.CancelCode), r.CancelReason)); ok {
		if st.Code() == codes.PermissionDenied {
			return st.Err().Error()
		}
		return st.Message()
	}
	return r.CancelReason
}
