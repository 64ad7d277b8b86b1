package etcdapi

import (
	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/etcdconv"
	"github.com/cairndb/cairn/node"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// watchServer is etcd's Watch service on cairn's services: many watchers
// on one stream, ids chosen by the client or by the stream, ranges,
// filters, prev_kv, progress notifications, fragments and compaction
// cancellations behave as etcd's.
type watchServer struct{ s *node.Server }

func (w watchServer) Watch(st pb.Watch_WatchServer) error {
	return toGRPCError(w.s.Watch(st.Context(), watchStream{st}))
}

// watchStream is a gRPC watch stream as node sees one.
type watchStream struct{ st pb.Watch_WatchServer }

func (w watchStream) Recv() (*api.WatchRequest, error) {
	for {
		r, err := w.st.Recv()
		if err != nil {
			return nil, streamEnd(err)
		}
		req, err := etcdconv.FromWatchRequest(r)
		if err != nil {
			return nil, err
		}
		if req != nil {
			return req, nil
		}
	}
}

func (w watchStream) Send(r *api.WatchResponse) error {
	return w.st.Send(toWatchResponse(r))
}
