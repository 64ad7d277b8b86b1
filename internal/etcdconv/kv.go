package etcdconv

import (
	"github.com/cairndb/cairn/api"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// The KV service.

// FromRange converts a range request.
func FromRange(r *pb.RangeRequest) *api.RangeRequest {
	return &api.RangeRequest{Key: r.Key, RangeEnd: r.RangeEnd, Limit: r.Limit, Revision: r.Revision,
		SortOrder: api.SortOrder(clampEnum(int32(r.SortOrder))), SortTarget: api.SortTarget(clampEnum(int32(r.SortTarget))),
		Serializable: r.Serializable, KeysOnly: r.KeysOnly, CountOnly: r.CountOnly,
		MinModRevision: r.MinModRevision, MaxModRevision: r.MaxModRevision,
		MinCreateRevision: r.MinCreateRevision, MaxCreateRevision: r.MaxCreateRevision}
}

// ToRange converts a range response. The response, its header and (for
// the most common read, one key) its key-value pair are allocated
// together.
func ToRange(r *api.RangeResponse) *pb.RangeResponse {
	if len(r.Kvs) == 1 {
		one := &struct {
			resp pb.RangeResponse
			hdr  pb.ResponseHeader
			kvs  [1]*mvccpb.KeyValue
			kv   mvccpb.KeyValue
		}{}
		one.hdr = header(r.Header)
		one.kv = keyValue(&r.Kvs[0])
		one.kvs[0] = &one.kv
		one.resp = pb.RangeResponse{Header: &one.hdr, Kvs: one.kvs[:], More: r.More, Count: r.Count}
		return &one.resp
	}
	out := &struct {
		resp pb.RangeResponse
		hdr  pb.ResponseHeader
	}{hdr: header(r.Header)}
	out.resp = pb.RangeResponse{Header: &out.hdr, Kvs: ToKVs(r.Kvs), More: r.More, Count: r.Count}
	return &out.resp
}

// FromPut converts a put request.
func FromPut(r *pb.PutRequest) *api.PutRequest {
	return &api.PutRequest{Key: r.Key, Value: r.Value, Lease: r.Lease, PrevKv: r.PrevKv,
		IgnoreValue: r.IgnoreValue, IgnoreLease: r.IgnoreLease}
}

// ToPut converts a put response, allocated with its header.
func ToPut(r *api.PutResponse) *pb.PutResponse {
	out := &struct {
		resp pb.PutResponse
		hdr  pb.ResponseHeader
	}{hdr: header(r.Header)}
	out.resp = pb.PutResponse{Header: &out.hdr, PrevKv: OptionalKV(r.PrevKv)}
	return &out.resp
}

// FromDeleteRange converts a delete request.
func FromDeleteRange(r *pb.DeleteRangeRequest) *api.DeleteRangeRequest {
	return &api.DeleteRangeRequest{Key: r.Key, RangeEnd: r.RangeEnd, PrevKv: r.PrevKv}
}

// ToDeleteRange converts a delete response.
func ToDeleteRange(r *api.DeleteRangeResponse) *pb.DeleteRangeResponse {
	return &pb.DeleteRangeResponse{Header: ToHeader(r.Header), Deleted: r.Deleted, PrevKvs: ToKVs(r.PrevKvs)}
}

// FromCompare converts a transaction's comparison; an unknown result or
// target is an InvalidArgument error (etcd 3.6 takes it, and compares
// nothing: bad input is refused here).
func FromCompare(c *pb.Compare) (api.Compare, error) {
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

// FromRequestOps converts a transaction branch; a RequestOp with nothing
// set is an empty operation, refused as etcd refuses it (errEmptyOp).
func FromRequestOps(ops []*pb.RequestOp) ([]api.RequestOp, error) {
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
			out[i].Range = FromRange(r.RequestRange)
		case *pb.RequestOp_RequestPut:
			if r.RequestPut == nil {
				return nil, errEmptyOp()
			}
			out[i].Put = FromPut(r.RequestPut)
		case *pb.RequestOp_RequestDeleteRange:
			if r.RequestDeleteRange == nil {
				return nil, errEmptyOp()
			}
			out[i].DeleteRange = FromDeleteRange(r.RequestDeleteRange)
		case *pb.RequestOp_RequestTxn:
			if r.RequestTxn == nil {
				return nil, errEmptyOp()
			}
			t, err := FromTxn(r.RequestTxn)
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

// errEmptyOp is etcd's error for an empty operation in a transaction:
// its "key not found" (rpctypes.ErrGRPCKeyNotFound, InvalidArgument),
// which clients match by its words.
func errEmptyOp() error {
	return api.Errorf(api.CodeInvalidArgument, "etcdserver: key not found")
}

// FromTxn converts a transaction request; a missing comparison or an
// empty operation is an InvalidArgument error, as etcd's.
func FromTxn(r *pb.TxnRequest) (*api.TxnRequest, error) {
	t := &api.TxnRequest{}
	if len(r.Compare) > 0 {
		t.Compare = make([]api.Compare, len(r.Compare))
		for i, c := range r.Compare {
			if c == nil {
				return nil, api.Errorf(api.CodeInvalidArgument, "etcdserver: compare %d is empty", i)
			}
			var err error
			if t.Compare[i], err = FromCompare(c); err != nil {
				return nil, err
			}
		}
	}
	var err error
	if t.Success, err = FromRequestOps(r.Success); err != nil {
		return nil, err
	}
	if t.Failure, err = FromRequestOps(r.Failure); err != nil {
		return nil, err
	}
	return t, nil
}

// ToTxn converts a transaction response. The response, its header and
// (for the most common transaction, of one operation) the list of its
// operations' responses are allocated together.
func ToTxn(r *api.TxnResponse) *pb.TxnResponse {
	out := &struct {
		resp pb.TxnResponse
		hdr  pb.ResponseHeader
		ops  [1]*pb.ResponseOp
	}{hdr: header(r.Header)}
	out.resp = pb.TxnResponse{Header: &out.hdr, Succeeded: r.Succeeded}
	if n := len(r.Responses); n > 0 {
		ops := out.ops[:]
		if n > len(ops) {
			ops = make([]*pb.ResponseOp, n)
		}
		for i := range r.Responses {
			ops[i] = ToResponseOp(&r.Responses[i])
		}
		out.resp.Responses = ops
	}
	return &out.resp
}

// ToResponseOp converts the response of one operation of a transaction.
func ToResponseOp(op *api.ResponseOp) *pb.ResponseOp {
	switch {
	case op.Range != nil:
		return &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{ResponseRange: ToRange(op.Range)}}
	case op.Put != nil:
		return &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{ResponsePut: ToPut(op.Put)}}
	case op.DeleteRange != nil:
		return &pb.ResponseOp{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: ToDeleteRange(op.DeleteRange)}}
	case op.Txn != nil:
		return &pb.ResponseOp{Response: &pb.ResponseOp_ResponseTxn{ResponseTxn: ToTxn(op.Txn)}}
	}
	return &pb.ResponseOp{}
}

// clampEnum keeps an enum number past a byte from wrapping onto a valid
// one: it becomes 255, which no enum of the API uses, and is refused.
func clampEnum(v int32) uint8 {
	if v < 0 || v > 255 {
		return 255
	}
	return uint8(v)
}
