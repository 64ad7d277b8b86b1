package etcdapi

import (
	"github.com/cairndb/cairn/api"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Conversions between etcd's generated types (etcdserverpb, mvccpb) and
// cairn's api types. The two describe the same messages field for field;
// the enums have the same values in the same order. Requests are
// converted in (fromX), responses out (toX).

func toHeader(h api.ResponseHeader) *pb.ResponseHeader {
	return &pb.ResponseHeader{ClusterId: h.ClusterID, MemberId: h.MemberID, Revision: h.Revision, RaftTerm: h.RaftTerm}
}

func toKV(kv *api.KeyValue) *mvccpb.KeyValue {
	return &mvccpb.KeyValue{Key: kv.Key, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision,
		Version: kv.Version, Value: kv.Value, Lease: kv.Lease}
}

func toKVs(kvs []api.KeyValue) []*mvccpb.KeyValue {
	if len(kvs) == 0 {
		return nil
	}
	out := make([]*mvccpb.KeyValue, len(kvs))
	backing := make([]mvccpb.KeyValue, len(kvs)) // one allocation for the lot
	for i := range kvs {
		kv := &kvs[i]
		backing[i] = mvccpb.KeyValue{Key: kv.Key, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision,
			Version: kv.Version, Value: kv.Value, Lease: kv.Lease}
		out[i] = &backing[i]
	}
	return out
}

func optionalKV(kv *api.KeyValue) *mvccpb.KeyValue {
	if kv == nil {
		return nil
	}
	return toKV(kv)
}

func toEvents(evs []api.Event) []*mvccpb.Event {
	if len(evs) == 0 {
		return nil
	}
	out := make([]*mvccpb.Event, len(evs))
	for i := range evs {
		e := &evs[i]
		out[i] = &mvccpb.Event{Type: mvccpb.Event_EventType(e.Type), Kv: toKV(&e.Kv), PrevKv: optionalKV(e.PrevKv)}
	}
	return out
}

// The KV service.

func fromRange(r *pb.RangeRequest) *api.RangeRequest {
	return &api.RangeRequest{Key: r.Key, RangeEnd: r.RangeEnd, Limit: r.Limit, Revision: r.Revision,
		SortOrder: api.SortOrder(r.SortOrder), SortTarget: api.SortTarget(r.SortTarget),
		Serializable: r.Serializable, KeysOnly: r.KeysOnly, CountOnly: r.CountOnly,
		MinModRevision: r.MinModRevision, MaxModRevision: r.MaxModRevision,
		MinCreateRevision: r.MinCreateRevision, MaxCreateRevision: r.MaxCreateRevision}
}

func toRange(r *api.RangeResponse) *pb.RangeResponse {
	return &pb.RangeResponse{Header: toHeader(r.Header), Kvs: toKVs(r.Kvs), More: r.More, Count: r.Count}
}

func fromPut(r *pb.PutRequest) *api.PutRequest {
	return &api.PutRequest{Key: r.Key, Value: r.Value, Lease: r.Lease, PrevKv: r.PrevKv,
		IgnoreValue: r.IgnoreValue, IgnoreLease: r.IgnoreLease}
}

func toPut(r *api.PutResponse) *pb.PutResponse {
	return &pb.PutResponse{Header: toHeader(r.Header), PrevKv: optionalKV(r.PrevKv)}
}

func fromDeleteRange(r *pb.DeleteRangeRequest) *api.DeleteRangeRequest {
	return &api.DeleteRangeRequest{Key: r.Key, RangeEnd: r.RangeEnd, PrevKv: r.PrevKv}
}

func toDeleteRange(r *api.DeleteRangeResponse) *pb.DeleteRangeResponse {
	return &pb.DeleteRangeResponse{Header: toHeader(r.Header), Deleted: r.Deleted, PrevKvs: toKVs(r.PrevKvs)}
}

func fromCompare(c *pb.Compare) (api.Compare, error) {
	out := api.Compare{Result: api.CompareResult(c.Result), Target: api.CompareTarget(c.Target), Key: c.Key, RangeEnd: c.RangeEnd}
	if c.Result < pb.Compare_EQUAL || c.Result > pb.Compare_NOT_EQUAL {
		return out, api.Errorf(api.CodeInvalidArgument, "etcdserver: unknown compare result %d", c.Result)
	}
	switch u := c.TargetUnion.(type) {
	case *pb.Compare_Version:
		out.Version = u.Version
	case *pb.Compare_CreateRevision:
		out.CreateRevision = u.CreateRevision
	case *pb.Compare_ModRevision:
		out.ModRevision = u.ModRevision
	case *pb.Compare_Value:
		out.Value = u.Value
	case *pb.Compare_Lease:
		out.Lease = u.Lease
	}
	if c.Target < pb.Compare_VERSION || c.Target > pb.Compare_LEASE {
		return out, api.Errorf(api.CodeInvalidArgument, "etcdserver: unknown compare target %d", c.Target)
	}
	return out, nil
}

// fromRequestOps converts a transaction branch; a RequestOp with nothing
// set is an empty operation, refused as etcd refuses it.
func fromRequestOps(ops []*pb.RequestOp) ([]api.RequestOp, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	out := make([]api.RequestOp, len(ops))
	for i, op := range ops {
		switch r := op.GetRequest().(type) {
		case *pb.RequestOp_RequestRange:
			if r.RequestRange == nil {
				return nil, errEmptyOp()
			}
			out[i].Range = fromRange(r.RequestRange)
		case *pb.RequestOp_RequestPut:
			if r.RequestPut == nil {
				return nil, errEmptyOp()
			}
			out[i].Put = fromPut(r.RequestPut)
		case *pb.RequestOp_RequestDeleteRange:
			if r.RequestDeleteRange == nil {
				return nil, errEmptyOp()
			}
			out[i].DeleteRange = fromDeleteRange(r.RequestDeleteRange)
		case *pb.RequestOp_RequestTxn:
			if r.RequestTxn == nil {
				return nil, errEmptyOp()
			}
			t, err := fromTxn(r.RequestTxn)
			if err != nil {
				return nil, err
			}
			out[i].Txn = t
		default:
			return nil, errEmptyOp()
		}
	}
	return out, nil
}

func errEmptyOp() error {
	return api.Errorf(api.CodeInvalidArgument, "etcdserver: request operation is empty")
}

func fromTxn(r *pb.TxnRequest) (*api.TxnRequest, error) {
	t := &api.TxnRequest{}
	if len(r.Compare) > 0 {
		t.Compare = make([]api.Compare, len(r.Compare))
		for i, c := range r.Compare {
			if c == nil {
				return nil, api.Errorf(api.CodeInvalidArgument, "etcdserver: compare %d is empty", i)
			}
			var err error
			if t.Compare[i], err = fromCompare(c); err != nil {
				return nil, err
			}
		}
	}
	var err error
	if t.Success, err = fromRequestOps(r.Success); err != nil {
		return nil, err
	}
	if t.Failure, err = fromRequestOps(r.Failure); err != nil {
		return nil, err
	}
	return t, nil
}

func toTxn(r *api.TxnResponse) *pb.TxnResponse {
	out := &pb.TxnResponse{Header: toHeader(r.Header), Succeeded: r.Succeeded}
	if len(r.Responses) > 0 {
		out.Responses = make([]*pb.ResponseOp, len(r.Responses))
		for i := range r.Responses {
			out.Responses[i] = toResponseOp(&r.Responses[i])
		}
	}
	return out
}

func toResponseOp(op *api.ResponseOp) *pb.ResponseOp {
	switch {
	case op.Range != nil:
		return &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{ResponseRange: toRange(op.Range)}}
	case op.Put != nil:
		return &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{ResponsePut: toPut(op.Put)}}
	case op.DeleteRange != nil:
		return &pb.ResponseOp{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: toDeleteRange(op.DeleteRange)}}
	case op.Txn != nil:
		return &pb.ResponseOp{Response: &pb.ResponseOp_ResponseTxn{ResponseTxn: toTxn(op.Txn)}}
	}
	return &pb.ResponseOp{}
}

// The Watch service.

func fromWatchRequest(r *pb.WatchRequest) (*api.WatchRequest, error) {
	switch u := r.RequestUnion.(type) {
	case *pb.WatchRequest_CreateRequest:
		c := u.CreateRequest
		if c == nil {
			break
		}
		req := &api.WatchCreateRequest{Key: c.Key, RangeEnd: c.RangeEnd, StartRevision: c.StartRevision,
			ProgressNotify: c.ProgressNotify, PrevKv: c.PrevKv, WatchID: c.WatchId, Fragment: c.Fragment}
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

func toWatchResponse(r *api.WatchResponse) *pb.WatchResponse {
	return &pb.WatchResponse{Header: toHeader(r.Header), WatchId: r.WatchID, Created: r.Created, Canceled: r.Canceled,
		CompactRevision: r.CompactRevision, CancelReason: cancelReason(r), Fragment: r.Fragment, Events: toEvents(r.Events)}
}

// cancelReason is a cancellation's reason in etcd's words: the standard
// message of its code when it has one.
func cancelReason(r *api.WatchResponse) string {
	if r.CancelReason == "" || r.CancelCode == 0 {
		return r.CancelReason
	}
	if st, ok := grpcStatus(api.ErrorFromCode(uint16(r.CancelCode), r.CancelReason)); ok {
		return st.Message()
	}
	return r.CancelReason
}
