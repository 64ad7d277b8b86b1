package etcdconv

import (
	"github.com/cairndb/cairn/api"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// The Watch service.

// FromWatchRequest converts a message of a watch stream: nil, nil for a
// message with nothing in it (etcd ignores those), an InvalidArgument
// error for an unknown filter.
func FromWatchRequest(r *pb.WatchRequest) (*api.WatchRequest, error) {
	switch u := r.RequestUnion.(type) {
	case *pb.WatchRequest_CreateRequest:
		c := u.CreateRequest
		if c == nil {
			break
		}
		req := &api.WatchCreateRequest{Key: c.Key, RangeEnd: c.RangeEnd, StartRevision: c.StartRevision,
			ProgressNotify: c.ProgressNotify, PrevKv: c.PrevKv, WatchID: c.WatchId, Fragment: c.Fragment}
		if len(req.Key) == 0 && len(req.RangeEnd) > 0 {
			// A range from the empty key, which etcd watches: the same
			// keys as from "\x00", the least key there can be.
			req.Key = []byte{0}
		}
		for _, f := range c.Filters {
			switch f {
			case pb.WatchCreateRequest_NOPUT:
				req.Filters = append(req.Filters, api.FilterNoPut)
			case pb.WatchCreateRequest_NODELETE:
				req.Filters = append(req.Filters, api.FilterNoDelete)
			default:
				return nil, api.Errorf(api.CodeInvalidArgument, "etcdserver: unknown watch filter %d", f)
			}
		}
		return &api.WatchRequest{Create: req}, nil
	case *pb.WatchRequest_CancelRequest:
		if u.CancelRequest == nil {
			break
		}
		return &api.WatchRequest{Cancel: &api.WatchCancelRequest{WatchID: u.CancelRequest.WatchId}}, nil
	case *pb.WatchRequest_ProgressRequest:
		return &api.WatchRequest{Progress: &api.WatchProgressRequest{}}, nil
	}
	return nil, nil // etcd ignores a request with nothing in it
}

// ToWatchResponse converts a message of a watch stream. The cancel
// reason is cairn's text as is; the etcd face words it as etcd does.
func ToWatchResponse(r *api.WatchResponse) *pb.WatchResponse {
	return &pb.WatchResponse{Header: ToHeader(r.Header), WatchId: r.WatchID, Created: r.Created, Canceled: r.Canceled,
		CompactRevision: r.CompactRevision, CancelReason: r.CancelReason, Fragment: r.Fragment, Events: ToEvents(r.Events)}
}
